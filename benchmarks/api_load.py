"""Requests per second of the API against its framework's ceiling (issue 16).

A demo region (``--firms``, 2,000 by default) is built on a fresh PostgreSQL database with the
real CLI (``xinbao demo --no-serve``); then the platform is served with ``xinbao serve --workers
N`` on that database and Redis, and beside it a trivial Litestar app with one JSON route
(``benchmarks/trivial_app.py``) by uvicorn with the same options and the same number of
workers. Both are loaded the same way in the same run: ``--clients`` keep-alive connections
(spread over ``--client-procs`` processes) send one request after another for ``--seconds``
per endpoint, in ``--rounds`` slices, each slice beside a slice of the trivial app of the same
length (the order swapped every round), so that both see the machine at the same speed.

Prints one JSON line per endpoint:
``{"name": "api_load", "endpoint", "rps", "p50_ms", "p99_ms", "ratio", "errors", ...}``, where
``ratio`` is the endpoint's requests over the trivial app's in the slices beside its own
(``trivial_rps_paired``). The endpoints:

- ``trivial``: the trivial app's route (the ceiling, ratio 1; its figure is over all its slices);
- ``health``: ``GET /api/health`` (database and Redis status);
- ``me``: ``GET /api/me`` as the owner: what every signed-in request costs at least (the token
  checked, the account and the token's revocation: kept by the process on PostgreSQL and
  dropped when the database's change log says so, ``server/changes.py``);
- ``evaluation``: ``GET /api/firms/{uscc}/evaluation`` as the firm's owner (its scores, reasons,
  place among its peers, data confidence);
- ``search``: ``GET /api/firms?q=...`` (name search);
- ``match``: ``POST /api/financing/match`` as the owner (every product ranked for a need).

Targets (issue 16): health and evaluation >= 0.5 of the trivial app, match >= 0.25, 0 errors.

The load client is a small asyncio HTTP/1.1 keep-alive loop (below), not a general client:
a benchmark's client must cost far less than the server it measures, and the same client
measures both apps.

    python benchmarks/api_load.py [--firms 2000] [--workers 2] [--clients 32] [--seconds 8] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("XINBAO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
TARGETS = {"health": 0.5, "evaluation": 0.5, "match": 0.25}
OWNER, PASSWORD = "13800000001", "demo1234"


# -- the load client ---------------------------------------------------------------------------

async def _connection(host: str, port: int, request: bytes, stop_at: float,
                      latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, chunked = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while size := int((await reader.readline()).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readline()
            elif length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            if status >= 400:
                errors.append(status)
    finally:
        writer.close()


def _client_process(host: str, port: int, request: bytes, connections: int, seconds: float,
                    out: mp.Queue) -> None:
    async def main() -> tuple[list[float], list[int]]:
        latencies: list[float] = []
        errors: list[int] = []
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(_connection(host, port, request, stop_at, latencies, errors)
                               for _ in range(connections)))
        return latencies, errors

    try:
        import uvloop

        out.put(uvloop.run(main()))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        out.put(asyncio.run(main()))


def _load_raw(url: str, method: str, headers: dict[str, str] | None, body: bytes | None, *, clients: int,
              procs: int, seconds: float) -> tuple[list[float], list[int]]:
    """The latencies (s) of every request answered in ``seconds``, and the error statuses."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"{method} {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
    out: mp.Queue = mp.Queue()
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [mp.Process(target=_client_process, args=(host, port, request, n, seconds, out)) for n in per if n]
    for w in workers:
        w.start()
    latencies: list[float] = []
    errors: list[int] = []
    for _ in workers:
        lat, err = out.get()
        latencies += lat
        errors += err
    for w in workers:
        w.join()
    return latencies, errors


def _summary(latencies: list[float], errors: list[int], seconds: float) -> dict:
    latencies = sorted(latencies)
    if not latencies:
        return {"rps": 0, "p50_ms": None, "p99_ms": None, "errors": len(errors) or 1}
    return {"rps": round(len(latencies) / seconds), "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
            "errors": len(errors), "error_statuses": sorted(set(errors))[:5]}


def load(url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None,
         *, clients: int = 32, procs: int = 2, seconds: float = 8.0) -> dict:
    """Requests/s, p50 and p99 (ms) and errors (status >= 400 or a broken connection)."""
    return _summary(*_load_raw(url, method, headers, body, clients=clients, procs=procs, seconds=seconds), seconds)


def paired(target: tuple, ceiling: tuple, *, rounds: int, clients: int, procs: int,
           seconds: float) -> tuple[dict, tuple[list[float], list[int]]]:
    """``target`` measured in ``rounds`` slices of ``seconds / rounds``, each beside a slice of
    the ``ceiling`` (the trivial app) of the same length, the order swapped every round: a
    drift of the machine's speed (other tenants, the clock) then moves both alike. Returns the
    target's summary with the ratio of its requests to the ceiling's over the paired slices,
    and the ceiling's raw slices."""
    piece = seconds / rounds
    mine: tuple[list[float], list[int]] = ([], [])
    theirs: tuple[list[float], list[int]] = ([], [])
    for r in range(rounds):
        for which, into in ((target, mine), (ceiling, theirs))[:: 1 if r % 2 == 0 else -1]:
            lat, err = _load_raw(*which, clients=clients, procs=procs, seconds=piece)
            into[0].extend(lat)
            into[1].extend(err)
    row = _summary(*mine, seconds)
    row["trivial_rps_paired"] = round(len(theirs[0]) / seconds)
    row["ratio"] = round(len(mine[0]) / len(theirs[0]), 3) if theirs[0] else None
    return row, theirs


# -- the servers -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 120, log: Path | None = None) -> None:
    """Until ``url`` answers; a server that exits first ends the benchmark (with its log's tail)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = f":\n{log.read_text()[-3000:]}" if log is not None and log.exists() else ""
            raise SystemExit(f"server exited ({proc.returncode}) before answering {url}{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"no answer from {url} within {seconds:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _call(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method),
                                timeout=30) as r:
        return json.load(r)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0, help="measured per endpoint (and as long for its trivial slices)")
    ap.add_argument("--rounds", type=int, default=4, help="slices per endpoint, each beside a trivial slice")
    ap.add_argument("--database-url", default="", help="serve this prepared database instead of building one")
    args = ap.parse_args()
    xinbao = str(Path(sys.executable).with_name("xinbao"))
    work = Path(tempfile.mkdtemp(prefix="xinbao-api-load-"))
    env = {**os.environ, "XINBAO_DEMO": "1", "XINBAO_DATA_DIR": str(work / "data"), "XINBAO_REDIS_URL": REDIS,
           "XINBAO_MODEL_BAGS": "4", "XINBAO_SCHEDULER": "0", "PYTHONPATH": str(ROOT)}
    database = None
    procs: list[subprocess.Popen] = []
    try:
        if args.database_url:
            env["XINBAO_DATABASE_URL"] = args.database_url
        else:
            import asyncpg

            database = f"xinbao_api_load_{uuid.uuid4().hex[:8]}"

            async def create() -> None:
                admin = await asyncpg.connect(PG_ADMIN)
                await admin.execute(f'CREATE DATABASE "{database}"')
                await admin.close()

            asyncio.run(create())
            env["XINBAO_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
            t = time.perf_counter()
            subprocess.run([xinbao, "demo", "--firms", str(args.firms), "--no-serve"], env=env, check=True,
                           stdout=subprocess.DEVNULL, cwd=work)
            print(json.dumps({"name": "api_load_region", "firms": args.firms,
                              "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        api_port, trivial_port = free_port(), free_port()
        log = open(work / "serve.log", "wb")  # noqa: SIM115 - closed with the folder
        procs.append(subprocess.Popen([xinbao, "serve", "--port", str(api_port), "--workers", str(args.workers)],
                                      env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT))
        from server.cli import UVICORN_OPTIONS

        flags = ["--log-level", UVICORN_OPTIONS["log_level"], "--no-access-log", "--no-proxy-headers"]
        assert UVICORN_OPTIONS["access_log"] is False and UVICORN_OPTIONS["proxy_headers"] is False
        procs.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "benchmarks.trivial_app:app",
                                       "--port", str(trivial_port), "--workers", str(args.workers), *flags],
                                      env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        api, trivial = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{trivial_port}"
        wait_until_up(f"{api}/api/health", procs[0])
        wait_until_up(f"{trivial}/api/health", procs[1])
        token = _call("POST", f"{api}/api/auth/login", {"phone": OWNER, "password": PASSWORD})["access_token"]
        uscc = _call("GET", f"{api}/api/me", token=token)["firm_uscc"]
        name = _call("GET", f"{api}/api/firms/{uscc}", token=token)["name"]
        auth = {"authorization": f"Bearer {token}"}
        query = urllib.parse.quote(name[2:4])  # a piece of a real name: many firms share it
        endpoints = {
            "trivial": (f"{trivial}/api/health", "GET", {}, None),
            "health": (f"{api}/api/health", "GET", {}, None),
            # the floor of every signed-in request: the token, the account and its revocation
            # (kept per process until change_log reports a change: a logout refuses the next request)
            "me": (f"{api}/api/me", "GET", auth, None),
            "evaluation": (f"{api}/api/firms/{uscc}/evaluation", "GET", auth, None),
            "search": (f"{api}/api/firms?q={query}", "GET", auth, None),
            "match": (f"{api}/api/financing/match", "POST", auth,
                      json.dumps({"amount_yuan": 800_000, "term_months": 24, "purpose": "采购原材料"}).encode()),
        }
        def warm(endpoint: str) -> None:
            load(*endpoints[endpoint], clients=args.clients, procs=args.client_procs, seconds=1.0)

        # Each endpoint is measured in slices, each beside a slice of the trivial app
        # (``paired``): on a small shared machine the trivial app's own figure moves by a
        # quarter between minutes, and a ratio of figures taken minutes apart moves with it.
        warm("trivial")
        found: dict[str, dict] = {}
        ceiling_raw: tuple[list[float], list[int]] = ([], [])
        for endpoint in list(endpoints)[1:]:
            warm(endpoint)
            row, theirs = paired(endpoints[endpoint], endpoints["trivial"], rounds=args.rounds,
                                 clients=args.clients, procs=args.client_procs, seconds=args.seconds)
            found[endpoint] = row
            ceiling_raw[0].extend(theirs[0])
            ceiling_raw[1].extend(theirs[1])
        trivial = _summary(*ceiling_raw, args.seconds * len(found))
        found = {"trivial": {**trivial, "ratio": 1.0}, **found}
        for endpoint, row in found.items():
            print(json.dumps({"name": "api_load", "endpoint": endpoint, **row,
                              "target_ratio": TARGETS.get(endpoint), "workers": args.workers,
                              "clients": args.clients, "firms": args.firms, "engine": "postgres",
                              "redis": True}, ensure_ascii=False), flush=True)
        below = [e for e, target in TARGETS.items() if not found[e]["ratio"] or found[e]["ratio"] < target]
        print(json.dumps({"name": "api_load_summary", "below_target": below,
                          "with_errors": [e for e, row in found.items() if row["errors"]]}), flush=True)
    finally:
        for proc in procs:
            stop(proc)
        if database:
            import asyncpg

            async def drop() -> None:
                admin = await asyncpg.connect(PG_ADMIN)
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await admin.close()

            asyncio.run(drop())
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
