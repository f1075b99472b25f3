"""Issue 16: the full re-score on a Dask cluster equals the re-score in process.

The test starts a real cluster of its own, as separate processes over TCP on 127.0.0.1 (a
scheduler and two workers without nannies, so that each worker is the process the test can
kill). With ``dask_scheduler`` set, ``score_platform`` reads the region, cuts it by USCC hash
and has the workers score the parts: every firm's stored score, grade, PD, dimensions, reasons
and data confidence equal the in-process run's. A worker killed, the other scores every part
to the same result; with no worker left the re-score fails with the reason and writes nothing."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.integration.test_score_from_store import _last_run_and_health, _run_rows

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, timeout: float = 90.0) -> None:
    from distributed import Client

    with Client(address, timeout="30s", set_as_default=False) as client:
        client.wait_for_workers(n, timeout=timeout)


def _workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout="30s", set_as_default=False) as client:
        return len(client.scheduler_info()["workers"])


def _kill(worker: subprocess.Popen, address: str, *, left: int) -> None:
    """SIGKILL a worker process and wait until the scheduler counts ``left`` workers."""
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    deadline = time.monotonic() + 60
    while _workers(address) != left:
        assert time.monotonic() < deadline, "the scheduler still counts a dead worker"
        time.sleep(0.5)


@pytest.fixture
def cluster():
    """(address, [worker processes]) of a scheduler and two single-threaded workers, new for
    each test (the test kills its workers)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    cmd = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*cmd, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    workers = [subprocess.Popen([*cmd, "worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard",
                                 "--memory-limit", "0", "--host", "127.0.0.1"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    procs += workers
    try:
        deadline = time.monotonic() + 60
        while True:  # the scheduler's port opens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise RuntimeError("the Dask scheduler did not start") from None
                time.sleep(0.2)
        _wait_for_workers(address, 2)
        yield address, workers
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


async def test_the_re_score_on_dask_equals_the_re_score_in_process(client, demo, engine, settings, cluster):
    from server.scores.pipeline import score_platform
    from server.tables.scores import ScoringRun

    address, workers = cluster
    here = await score_platform(settings, engine=engine, reason="here")
    here_run, here_health = await _last_run_and_health()
    on_dask = dataclasses.replace(settings, dask_scheduler=address)
    there = await score_platform(on_dask, engine=engine, reason="dask")
    there_run, there_health = await _last_run_and_health()
    assert there_run != here_run and there == here
    want = await _run_rows(here_run)
    assert len(want) > 100
    assert await _run_rows(there_run) == want
    assert there_health == here_health

    # a worker dies (killed, as an out-of-memory kill would): the other scores every part
    _kill(workers[0], address, left=1)
    await score_platform(on_dask, engine=engine, reason="one worker")
    one_run, _ = await _last_run_and_health()
    assert await _run_rows(one_run) == want

    # no worker left: the re-score says so and writes no run
    _kill(workers[1], address, left=0)
    runs = await ScoringRun.count()
    with pytest.raises(RuntimeError, match="no worker"):
        await score_platform(on_dask, engine=engine, reason="no worker")
    assert await ScoringRun.count() == runs
