"""Scheduled jobs: an explicit list, each run at most once per period across processes.

A job is a plain async function of ``as_of`` (the period it runs for) that is safe to run
twice. Two scheduler processes would still both fire it, so each run first takes a lock
keyed by job and period (``SET lock:<job>:<slot> NX EX ttl``) that is never deleted: the
second process finds the slot taken and skips (stack notes: a lock deleted after the job
does not prevent double runs). Without Redis (the embedded demo) a process-local set does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["Job", "MemoryLock", "PeriodLock", "RedisLock", "build_scheduler", "run_once_per_period"]

log = logging.getLogger("xinbao.jobs")


@dataclass(frozen=True, slots=True)
class Job:
    """``func(as_of)`` every ``every`` (or on ``cron`` in Asia/Shanghai); one run per slot."""

    name: str
    func: Callable[[datetime], Awaitable[Any]]
    every: timedelta | None = None
    cron: str | None = None  # "minute hour day month day_of_week"

    def slot(self, now: datetime) -> datetime:
        """The start of the period ``now`` falls in: the job's ``as_of``."""
        if self.every is not None:
            step = int(self.every.total_seconds())
            return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC)
        return now.replace(second=0, microsecond=0)

    def trigger(self) -> Any:
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone="Asia/Shanghai")
        return IntervalTrigger(seconds=int(self.every.total_seconds()), timezone=UTC)  # type: ignore[union-attr]


class PeriodLock(Protocol):
    async def acquire(self, key: str, ttl_s: int) -> bool: ...


class MemoryLock:
    """Process-local: enough when only one process runs jobs (the demo)."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    async def acquire(self, key: str, ttl_s: int) -> bool:
        if key in self._taken:
            return False
        self._taken.add(key)
        return True


class RedisLock:
    """Shared by every process on the same Redis; keys expire, they are never deleted."""

    def __init__(self, redis: Any, prefix: str = "xinbao:lock") -> None:
        self.redis = redis
        self.prefix = prefix

    async def acquire(self, key: str, ttl_s: int) -> bool:
        return bool(await self.redis.set(f"{self.prefix}:{key}", "1", nx=True, ex=ttl_s))


async def run_once_per_period(job: Job, lock: PeriodLock, now: datetime | None = None) -> bool:
    """Run the job for the period of ``now`` unless some process already has; True if it ran."""
    as_of = job.slot(now or datetime.now(UTC))
    ttl = int(job.every.total_seconds()) * 3 if job.every else 3 * 86400
    if not await lock.acquire(f"{job.name}:{as_of.isoformat()}", max(ttl, 60)):
        log.info("job %s for %s already ran elsewhere", job.name, as_of)
        return False
    log.info("job %s for %s starts", job.name, as_of)
    await job.func(as_of)
    return True


def build_scheduler(jobs: list[Job], lock: PeriodLock) -> AsyncIOScheduler:
    """An AsyncIOScheduler (attaches to the running loop on ``start()``) with every job."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    for job in jobs:
        scheduler.add_job(run_once_per_period, job.trigger(), args=[job, lock], id=job.name,
                          name=job.name, coalesce=True, max_instances=1, misfire_grace_time=300)
    return scheduler
