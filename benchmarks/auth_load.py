"""Sign-up load: does argon2 hashing starve the event loop?

Starts the real API the way it is deployed (``xinbao migrate`` then ``xinbao serve``: uvicorn,
one worker) on a free local port with a temporary SQLite database in demo mode, then measures
``GET /api/health`` latency twice: unloaded, and while ``--registrations`` (default 20) sign-ups
run at once (each hashes a password with argon2, ~0.2-0.4 s of one core). The server hashes in
worker threads, at most ``XINBAO_HASH_CONCURRENCY`` at a time, so health should barely move.

Prints one JSON line: ``{"name": "auth_load", "health_unloaded_ms": {"p50", "p99"},
"health_loaded_ms": {"p50", "p99"}, "value": <loaded p99>, "unit": "ms", "target": 100, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 100.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(_percentile(values, 0.5), 1), "p99": round(_percentile(values, 0.99), 1),
            "n": len(values)}


def _start_server(tmp: Path, port: int, hash_concurrency: int | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XINBAO_DEMO": "1", "XINBAO_DATA_DIR": str(tmp / "data"),
           "XINBAO_DATABASE_URL": f"sqlite:///{tmp / 'auth_load.db'}"}
    env.pop("XINBAO_REDIS_URL", None)
    if hash_concurrency is not None:
        env["XINBAO_HASH_CONCURRENCY"] = str(hash_concurrency)
    xinbao = [sys.executable, "-c", "from server.cli import main; main()"]
    subprocess.run([*xinbao, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
    return subprocess.Popen([*xinbao, "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("the API server exited during start-up")
        try:
            if (await client.get("/api/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the API server did not answer within 60 s")


async def _health_ms(client: httpx.AsyncClient) -> float:
    start = time.perf_counter()
    r = await client.get("/api/health")
    r.raise_for_status()
    return (time.perf_counter() - start) * 1000


async def measure(registrations: int, unloaded_samples: int, hash_concurrency: int | None) -> dict[str, object]:
    """Health latency unloaded and under concurrent registrations, against a fresh server."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="xinbao-auth-load-") as tmp_dir:
        proc = _start_server(Path(tmp_dir), port, hash_concurrency)
        try:
            limits = httpx.Limits(max_connections=registrations + 5)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                         limits=limits) as client:
                await _wait_ready(client, proc)
                for _ in range(5):  # warm-up: connections, first-query caches
                    await _health_ms(client)
                unloaded = [await _health_ms(client) for _ in range(unloaded_samples)]

                register_ms: list[float] = []
                statuses: list[int] = []

                async def register(i: int) -> None:
                    start = time.perf_counter()
                    r = await client.post("/api/auth/register", json={
                        "phone": f"1390000{i:04d}", "password": "a-benchmark-passphrase-7"})
                    register_ms.append((time.perf_counter() - start) * 1000)
                    statuses.append(r.status_code)

                tasks = [asyncio.create_task(register(i)) for i in range(registrations)]
                await asyncio.sleep(0)  # let every registration be sent before polling health
                loaded: list[float] = []
                while not all(t.done() for t in tasks):
                    loaded.append(await _health_ms(client))
                await asyncio.gather(*tasks)
        finally:
            proc.terminate()
            proc.wait(30)
    return {
        "name": "auth_load",
        "health_unloaded_ms": _summary(unloaded),
        "health_loaded_ms": _summary(loaded),
        "value": round(_percentile(loaded, 0.99), 1),
        "unit": "ms",
        "target": TARGET_P99_MS,
        "registrations": registrations,
        "registrations_accepted": statuses.count(202),
        "register_ms": _summary(register_ms),
        "hash_concurrency": hash_concurrency or int(os.environ.get("XINBAO_HASH_CONCURRENCY", "2")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=20)
    parser.add_argument("--unloaded-samples", type=int, default=100)
    parser.add_argument("--hash-concurrency", type=int, default=None,
                        help="XINBAO_HASH_CONCURRENCY for the server (default: its own default)")
    args = parser.parse_args()
    result = asyncio.run(measure(args.registrations, args.unloaded_samples, args.hash_concurrency))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
