"""A Dask cluster of the test's own (issue 16): a scheduler and two single-threaded workers,
separate processes over TCP on 127.0.0.1, without nannies, so that each worker is the process
the test can kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

__all__ = ["cluster_modules", "dask_cluster", "kill_while_running", "kill_worker", "worker_count"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, timeout: float = 90.0) -> None:
    from distributed import Client

    with Client(address, timeout="30s", set_as_default=False) as client:
        client.wait_for_workers(n, timeout=timeout)


def _imported(names: tuple[str, ...]) -> list[str]:
    import sys

    return [n for n in names if n in sys.modules]


def cluster_modules(address: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    """Of ``names``, the modules the scheduler (key ``"scheduler"``) and each worker (key: its
    address) have imported; nothing is run on them but this look."""
    from distributed import Client

    with Client(address, timeout="30s", set_as_default=False) as client:
        return {"scheduler": client.run_on_scheduler(_imported, names), **client.run(_imported, names)}


def worker_count(address: str) -> int:
    from distributed import Client

    with Client(address, timeout="30s", set_as_default=False) as client:
        return len(client.scheduler_info()["workers"])


def kill_worker(worker: subprocess.Popen, address: str, *, left: int) -> None:
    """SIGKILL a worker process and wait until the scheduler counts ``left`` workers."""
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    deadline = time.monotonic() + 60
    while worker_count(address) != left:
        assert time.monotonic() < deadline, "the scheduler still counts a dead worker"
        time.sleep(0.5)


@pytest.fixture
def dask_cluster():
    """(address, [worker processes]) of a scheduler and two single-threaded workers, new for
    each test (the test kills its workers)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    cmd = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*cmd, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                               "--preload", "server.dask_preload"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    workers = [subprocess.Popen([*cmd, "worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard",
                                 "--memory-limit", "0", "--host", "127.0.0.1", "--preload", "server.dask_preload"],
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


async def kill_while_running(address: str, worker: subprocess.Popen, job: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``job`` and SIGKILL ``worker`` once the scheduler shows a task of it running on that
    worker (the job must still be going then); the job's result."""
    from distributed import Client

    def running(client: Any) -> int:
        def count(dask_scheduler: Any, pid: int = worker.pid) -> int:
            return sum(len(ws.processing) for ws in dask_scheduler.workers.values() if ws.pid == pid)

        return client.run_on_scheduler(count)

    done: list[Any] = []
    with Client(address, timeout="30s", set_as_default=False) as client:
        async with anyio.create_task_group() as tg:
            async def run() -> None:
                done.append(await job())

            tg.start_soon(run)
            with anyio.fail_after(120):
                while not await anyio.to_thread.run_sync(running, client):
                    assert not done, "the job ended before the worker got a task"
                    await anyio.sleep(0.01)
            await anyio.to_thread.run_sync(lambda: kill_worker(worker, address, left=1))
    return done[0]
