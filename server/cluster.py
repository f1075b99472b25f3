"""Batch work on a Dask cluster (issue 16): ``XINBAO_DASK_SCHEDULER`` names its scheduler.

Two ways in, both from the process that reads the region (the CLI, the nightly job), which
submits and merges and does not compute:

- :func:`connect`: a client on the cluster, refused when the cluster has no worker (a batch
  job then fails with the reason; it does not quietly compute here instead).
- :class:`PartStream`: parts handed to the workers *as they are read*, at most a few in flight,
  so the reading process holds a few parts, never the region. A part travels inside its task,
  and what every part shares (the firms, the scores) inside a task of its own, sent once; the
  scheduler keeps a task's inputs until its result is taken, so when a worker dies it runs
  the task again on another (scattered data would die with the worker). Results come back in
  the order the parts were put.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

__all__ = ["CONNECT_TIMEOUT", "ClusterUnavailable", "PartStream", "connect", "held", "large_tasks", "stream_parts", "submit_held",
           "worker_threads"]

CONNECT_TIMEOUT = "20s"
#: Parts in flight per worker thread: one running and one waiting, so no worker idles while
#: the next part is read.
IN_FLIGHT_PER_THREAD = 2


def worker_threads(client: Any) -> int:
    return sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())


class ClusterUnavailable(RuntimeError):
    """The Dask cluster cannot take the work now: its scheduler does not answer, or it has no
    worker. A route answers 503 with ``Retry-After`` (``server.app``); a batch job fails with
    the reason."""


def _client(address: str) -> Any:
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:  # distributed: "Timed out trying to connect to ..."
        raise ClusterUnavailable(f"the Dask scheduler at {address} does not answer: {exc}") from exc
    if not worker_threads(client):
        client.close()
        raise ClusterUnavailable(f"the Dask cluster at {address} has no worker")
    return client


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """A ``distributed.Client`` on the scheduler at ``address`` with at least one worker
    (blocking: open it in a worker thread)."""
    client = _client(address)
    try:
        yield client
    finally:
        client.close()


@contextlib.asynccontextmanager
async def stream_parts(address: str, fn: Callable[..., Any], shared: dict[str, Any] | None = None,
                       **kwargs: Any) -> AsyncIterator[PartStream]:
    """A :class:`PartStream` on the cluster at ``address``, from async code."""
    client = await asyncio.to_thread(_client, address)
    try:
        yield await asyncio.to_thread(PartStream, client, fn, shared, **kwargs)
    finally:
        await asyncio.to_thread(client.close)


def held(value: Any) -> Any:
    """A value as a task's result (see :class:`PartStream`)."""
    return value


@contextlib.contextmanager
def large_tasks() -> Iterator[None]:
    """Values meant to travel inside their tasks (see the module docstring): Dask's warning
    about large graphs, which suggests scattering them, does not apply."""
    import dask

    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "64GiB"}):
        yield


def submit_held(client: Any, value: Any) -> Any:
    """``value`` on the cluster as a task that returns it: made again on another worker when
    the worker holding it dies (scattered data would be lost)."""
    with large_tasks():
        return client.submit(held, value, pure=False)


class PartStream:
    """``fn(*args, **shared, **kwargs, **kw)`` for each part :meth:`put` as ``(*args, **kw)``,
    on the cluster's workers.

    ``shared`` (name → value) goes to the cluster once, each value as a task that returns it, and
    every part's task reads it there; ``kwargs`` are small and go with every task. Open it in a
    worker thread, then use it from async code: its blocking calls run in worker threads.
    """

    def __init__(self, client: Any, fn: Callable[..., Any], shared: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        self.client = client
        self.fn = fn
        self.kwargs = kwargs
        self.depth = max(1, worker_threads(client) * IN_FLIGHT_PER_THREAD)
        # Each shared value is a task of its own that returns it, not scattered data: the
        # scheduler keeps a task's inputs, so when the worker holding the value dies, it is
        # made again on another; scattered data would be lost with it (Dask's memory manager
        # drops a broadcast's extra copies), and so every part's task that needs it.
        self.shared = {k: None if v is None else submit_held(client, v) for k, v in (shared or {}).items()}
        self._futures: list[Any] = []
        self._results: list[Any] = []

    def _submit(self, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        with large_tasks():
            return self.client.submit(self.fn, *args, pure=False, **self.shared, **self.kwargs, **kw)

    async def put(self, *args: Any, **kw: Any) -> None:
        """Hand one part to the cluster; waits while ``depth`` parts are in flight."""
        self._futures.append(await asyncio.to_thread(self._submit, args, kw))
        await self._collect(self.depth - 1)

    async def _collect(self, keep: int) -> None:
        """Take the results of the oldest parts (in put order) until at most ``keep`` are in
        flight."""
        while self._futures and (self._futures[0].done()
                                 or sum(not f.done() for f in self._futures) > keep):
            future = self._futures.pop(0)
            self._results.append(await asyncio.to_thread(future.result))
            future.release()

    async def results(self) -> list[Any]:
        """Every part's result, in the order the parts were put."""
        await self._collect(0)
        return self._results
