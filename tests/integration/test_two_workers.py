"""Two real ``xinbao worker`` processes on one PostgreSQL database and one Redis: every job runs
once per fire time (the ``job_run`` record), and when one worker stops the other carries on.

A hidden setting, ``XINBAO_TEST_JOB_PERIOD_SECONDS``, adds a ``test_heartbeat`` job with that
period which appends "<pid> <as_of>" to the file ``XINBAO_TEST_JOB_LOG``; it is scheduled and
locked exactly like every platform job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url

PERIOD_S = 2
SECRET = "test-secret-not-for-production-0123456789"


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (this test is about PostgreSQL + Redis only)."""
    for url in fresh_database_url("postgres", tmp_path_factory.mktemp("pg")):
        env = {**os.environ, "XINBAO_DATABASE_URL": url, "XINBAO_JWT_SECRET": SECRET}
        done = subprocess.run([str(Path(sys.executable).with_name("xinbao")), "migrate"], env=env,
                              capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        yield url


def _worker(pg_url: str, redis_url: str, log: Path, runs: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XINBAO_DATABASE_URL": pg_url, "XINBAO_REDIS_URL": redis_url,
           "XINBAO_JWT_SECRET": SECRET,
           "XINBAO_TEST_JOB_PERIOD_SECONDS": str(PERIOD_S), "XINBAO_TEST_JOB_LOG": str(runs)}
    with open(log, "wb") as out:
        return subprocess.Popen([str(Path(sys.executable).with_name("xinbao")), "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("a worker did not stop on SIGTERM") from None


def _slots(heartbeat: Path, since: float = 0.0) -> int:
    """How many fire times the heartbeat job ran for, at ``since`` or later."""
    if not heartbeat.exists():
        return 0
    times = {line.split()[1] for line in heartbeat.read_text().splitlines() if line.strip()}
    return sum(datetime.fromisoformat(t).timestamp() >= since for t in times)


def _wait(what: str, ok, procs, seconds: float = 90) -> None:
    """Until ``ok()``; a worker that exits meanwhile fails the test at once. Start-up takes a
    few seconds, more on a loaded machine: the test waits for events, not for a fixed time."""
    deadline = time.monotonic() + seconds
    while not ok():
        for proc, log in procs:
            assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)


def test_two_workers_run_each_job_once_per_period(pg_url: str, redis_url: str, tmp_path: Path):
    heartbeat = tmp_path / "heartbeat.log"
    a = _worker(pg_url, redis_url, tmp_path / "a.log", heartbeat)
    b = _worker(pg_url, redis_url, tmp_path / "b.log", heartbeat)
    procs = [(a, tmp_path / "a.log"), (b, tmp_path / "b.log")]
    try:
        # both started, then three periods run with both up
        _wait("both workers to start", lambda: all("worker started" in log.read_text() for _, log in procs), procs)
        both_up = time.time()
        _wait("three periods with both workers", lambda: _slots(heartbeat, both_up) >= 3, procs)
        a_stopped = time.time()
        assert _stop(a) == 0
        # b alone: two periods after a is gone
        _wait("two periods of b alone", lambda: _slots(heartbeat, a_stopped + PERIOD_S) >= 2, procs[1:])
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                _stop(proc)
    runs: dict[str, list[int]] = {}
    for line in heartbeat.read_text().splitlines():
        pid, as_of = line.split()
        runs.setdefault(as_of, []).append(int(pid))
    slots = sorted(runs, key=datetime.fromisoformat)
    assert len(slots) >= 5, runs
    # exactly one run per period, by one of the two workers
    assert all(len(runs[s]) == 1 for s in slots), runs
    assert {p for s in slots for p in runs[s]} <= {a.pid, b.pid}
    # no period skipped between the first and the last
    times = [datetime.fromisoformat(s).timestamp() for s in slots]
    assert [round(t2 - t1) for t1, t2 in zip(times, times[1:], strict=False)] == [PERIOD_S] * (len(times) - 1)
    # after a stopped, b ran the periods on its own
    after = [s for s, t in zip(slots, times, strict=True) if t >= a_stopped + PERIOD_S]
    assert len(after) >= 2 and all(runs[s] == [b.pid] for s in after), runs
    for log in ("a.log", "b.log"):
        text = (tmp_path / log).read_text()
        assert "Traceback" not in text, text[-3000:]
