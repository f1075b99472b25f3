"""Scheduled jobs: an explicit list, each run at most once per scheduled fire time across processes.

A job is a plain async function of ``as_of`` (the fire time it runs for) that is safe to run
twice. Two scheduler processes would still both fire it, so each run first takes a lock keyed
by job and **scheduled fire time** — the time APScheduler scheduled the run for, not the time
it started: a worker stalled past the fire time then wakes up to find the run done (keyed by
the start minute, it ran the job again). Both processes compute the same fire times: cron
triggers are wall-clock, interval triggers are aligned to the Unix epoch.

The lock is a ``PeriodLock``: the platform's records the run in its database (see
``server.jobs``); ``RedisLock`` (``SET NX``, never deleted) and the process-local
``MemoryLock`` are the simple variants.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["FireTimeExecutor", "Job", "MemoryLock", "PeriodLock", "RedisLock", "build_scheduler",
           "run_once_per_period", "stop_scheduler"]

log = logging.getLogger("xinbao.jobs")

#: Interval jobs fire at EPOCH + k × interval in every process, so their fire times agree.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: How late a run may start and still run (APScheduler skips it as missed beyond this).
MISFIRE_GRACE_S = 300

# The scheduled fire time of the run being started; set by FireTimeExecutor for the job's task.
_fire_time: ContextVar[datetime | None] = ContextVar("xinbao_job_fire_time", default=None)


@dataclass(frozen=True, slots=True)
class Job:
    """``func(as_of)`` every ``every`` (or on ``cron`` in Asia/Shanghai); one run per fire time."""

    name: str
    func: Callable[[datetime], Awaitable[Any]]
    every: timedelta | None = None
    cron: str | None = None  # "minute hour day month day_of_week"
    quiet: bool = False  # a frequent routine job (the outbox relay): its runs are logged at DEBUG

    def trigger(self) -> Any:
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone="Asia/Shanghai")
        return IntervalTrigger(seconds=int(self.every.total_seconds()), start_date=EPOCH,  # type: ignore[union-attr]
                               timezone=UTC)

    def slot(self, now: datetime) -> datetime:
        """The latest fire time at or before ``now`` (UTC): the run ``now`` belongs to."""
        if self.every is not None:
            step = int(self.every.total_seconds())
            return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
        trigger = self.trigger()
        window = timedelta(minutes=1)
        while window < timedelta(days=800):  # widen the look-back until a fire time is in it
            fire = trigger.get_next_fire_time(None, now - window)
            if fire is not None and fire <= now:
                while (later := trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))) \
                        is not None and later <= now:
                    fire = later
                return fire.astimezone(UTC)
            window *= 2
        raise ValueError(f"job {self.name} has no fire time before {now}")

    @property
    def lock_ttl_s(self) -> int:
        """How long a Redis lock key must outlive its fire time: three periods, at least the
        misfire grace (a run later than that never starts)."""
        period = int(self.every.total_seconds()) if self.every is not None else 86400
        return max(3 * period, 2 * MISFIRE_GRACE_S)


class PeriodLock(Protocol):
    """Claims the run of a job for one scheduled fire time; one claimant wins, forever."""

    async def acquire(self, job: Job, scheduled_at: datetime) -> bool: ...

    async def finished(self, job: Job, scheduled_at: datetime, error: str | None) -> None: ...


class MemoryLock:
    """Process-local: enough when only one process runs jobs."""

    def __init__(self) -> None:
        self._taken: set[tuple[str, datetime]] = set()

    async def acquire(self, job: Job, scheduled_at: datetime) -> bool:
        if (job.name, scheduled_at) in self._taken:
            return False
        self._taken.add((job.name, scheduled_at))
        return True

    async def finished(self, job: Job, scheduled_at: datetime, error: str | None) -> None:
        return None


class RedisLock:
    """Shared by every process on the same Redis; keys expire, they are never deleted.
    A Redis restart without persistence forgets them: the platform keeps its record in the
    database (``server.jobs.DatabaseRunLock``)."""

    def __init__(self, redis: Any, prefix: str = "xinbao:lock") -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, job: Job, scheduled_at: datetime) -> str:
        return f"{self.prefix}:{job.name}:{scheduled_at.isoformat()}"

    async def acquire(self, job: Job, scheduled_at: datetime) -> bool:
        return bool(await self.redis.set(self.key(job, scheduled_at), "1", nx=True, ex=job.lock_ttl_s))

    async def finished(self, job: Job, scheduled_at: datetime, error: str | None) -> None:
        return None


async def run_once_per_period(job: Job, lock: PeriodLock, now: datetime | None = None, *,
                              scheduled_at: datetime | None = None) -> bool:
    """Run the job for its scheduled fire time unless some process already has; True if it ran.

    The fire time is ``scheduled_at``, else the one the scheduler started this run for, else
    the latest fire time at or before ``now`` (a run started by hand)."""
    if scheduled_at is None and now is None:
        scheduled_at = _fire_time.get()
    if scheduled_at is None:
        scheduled_at = job.slot(now or datetime.now(UTC))
    as_of = scheduled_at.astimezone(UTC)
    level = logging.DEBUG if job.quiet else logging.INFO
    if not await lock.acquire(job, as_of):
        log.log(level, "job %s for %s already ran elsewhere", job.name, as_of.isoformat())
        return False
    log.log(level, "job %s for %s starts", job.name, as_of.isoformat())
    try:
        await job.func(as_of)
    except Exception as exc:
        await _finished(lock, job, as_of, f"{type(exc).__name__}: {exc}"[:2000])
        raise
    await _finished(lock, job, as_of, None)
    return True


async def _finished(lock: PeriodLock, job: Job, as_of: datetime, error: str | None) -> None:
    """Record the outcome; failing to record it must not turn a done run into a failed one."""
    try:
        await lock.finished(job, as_of, error)
    except Exception:  # noqa: BLE001 - the run happened; only its bookkeeping is missing
        log.exception("job %s for %s: could not record its outcome", job.name, as_of.isoformat())


class FireTimeExecutor(AsyncIOExecutor):
    """APScheduler's asyncio executor, telling each run the fire time it was scheduled for.

    APScheduler 3 hands the scheduled run times to the executor only, not to the job. The
    executor creates the job's task inside ``_do_submit_job`` (its extension point), and a
    task copies the context it is created in, so a context variable set around it reaches
    ``run_once_per_period``. Jobs coalesce, so there is one run time: the latest one due."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        token = _fire_time.set(run_times[-1])
        try:
            super()._do_submit_job(job, run_times)
        finally:
            _fire_time.reset(token)

    async def drain(self, timeout_s: float) -> None:
        """Wait for the runs that have started. APScheduler's ``shutdown`` cancels them, and a
        cancelled run is lost: its fire time is already claimed, so no other worker runs it."""
        running = [f for f in self._pending_futures if not f.done()]
        if running:
            await asyncio.wait(running, timeout=timeout_s)


async def stop_scheduler(scheduler: AsyncIOScheduler, timeout_s: float = 60) -> None:
    """Stop starting runs, let the started ones finish (up to ``timeout_s``), then shut down."""
    # AsyncIOScheduler runs pause() and shutdown() on the loop's next turn (call_soon): yield
    # once after each, so no run starts after the pause and the caller sees it stopped.
    scheduler.pause()
    await asyncio.sleep(0)
    executor = scheduler._lookup_executor("default")  # the FireTimeExecutor of build_scheduler
    if isinstance(executor, FireTimeExecutor):
        await executor.drain(timeout_s)
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0)


def build_scheduler(jobs: list[Job], lock: PeriodLock) -> AsyncIOScheduler:
    """An AsyncIOScheduler (attaches to the running loop on ``start()``) with every job."""
    scheduler = AsyncIOScheduler(timezone=UTC, executors={"default": FireTimeExecutor()})
    for job in jobs:
        scheduler.add_job(run_once_per_period, job.trigger(), args=[job, lock], id=job.name,
                          name=job.name, coalesce=True, max_instances=1,
                          misfire_grace_time=MISFIRE_GRACE_S)
    return scheduler
