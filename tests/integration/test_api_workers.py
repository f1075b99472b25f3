"""``xinbao serve --workers N`` (issue 16): N API processes on one port, on PostgreSQL and
Redis. Both workers serve; a worker killed with SIGKILL is replaced while the other keeps
answering. And the combinations that cannot work are refused before anything starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from server.cli import main
from tests.conftest import REDIS_URL, fresh_database_url, require_service
from tests.e2e.browser import stop_server

SECRET = "test-secret-not-for-production-0123456789"


@pytest.mark.parametrize(("env", "args", "says"), [
    ({"XINBAO_DATABASE_URL": "sqlite:///x.db", "XINBAO_REDIS_URL": "redis://127.0.0.1:6379/15"},
     ["--workers", "2"], "--workers needs PostgreSQL"),
    ({"XINBAO_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x"}, ["--workers", "2"],
     "--workers needs Redis"),
    ({"XINBAO_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/x", "XINBAO_REDIS_URL": "redis://x"},
     ["--workers", "2", "--scheduler"], "xinbao worker"),
])
def test_combinations_that_cannot_work_are_refused(env, args, says, monkeypatch):
    monkeypatch.delenv("XINBAO_REDIS_URL", raising=False)
    monkeypatch.setenv("XINBAO_JWT_SECRET", SECRET)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["serve", "--port", "1", *args])
    assert result.exit_code == 2 and says in result.output, result.output


def _children(pid: int) -> set[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if b"resource_tracker" not in cmdline:
                found.add(int(child))
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(proc: subprocess.Popen, base: str, log: Path, n: int) -> set[int]:
    """The supervisor's ``n`` workers, once it has exactly ``n`` and the port answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        kids = _children(proc.pid)
        try:
            ok = httpx.get(f"{base}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok and len(kids) == n:
            return kids
        time.sleep(0.2)
    raise AssertionError(f"not {n} workers serving: {log.read_text()[-3000:]}")


def test_two_workers_serve_and_a_killed_one_is_replaced(tmp_path):
    require_service("Redis", "127.0.0.1", 6379)
    xinbao = str(Path(sys.executable).with_name("xinbao"))
    for url in fresh_database_url("postgres", tmp_path):
        env = {**os.environ, "XINBAO_DATABASE_URL": url, "XINBAO_REDIS_URL": REDIS_URL,
               "XINBAO_JWT_SECRET": SECRET, "XINBAO_DATA_DIR": str(tmp_path / "data")}
        env.pop("XINBAO_DEMO", None)
        subprocess.run([xinbao, "migrate"], env=env, check=True, capture_output=True)
        port = _free_port()
        log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([xinbao, "serve", "--port", str(port), "--workers", "2"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            workers = _serving(proc, base, tmp_path / "serve.log", 2)
            # new connections spread over both processes; every one is answered
            answers = [httpx.get(f"{base}/api/health", timeout=5) for _ in range(40)]
            assert all(a.status_code == 200 and a.json()["redis"] == "up" for a in answers)

            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            statuses = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the survivor answers while the supervisor replaces it
                statuses.append(httpx.get(f"{base}/api/health", timeout=5).status_code)
                kids = _children(proc.pid)
                if len(kids) == 2 and victim not in kids:
                    break
                time.sleep(0.1)
            assert set(statuses) == {200}, statuses
            replaced = _serving(proc, base, tmp_path / "serve.log", 2)
            assert victim not in replaced and len(replaced - workers) == 1, (workers, replaced)
        finally:
            stop_server(proc, log)
