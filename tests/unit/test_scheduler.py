"""The job scheduler's periods and locks (process-local variant; Redis in integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.scheduler import Job, MemoryLock, build_scheduler, run_once_per_period

pytestmark = pytest.mark.anyio


async def test_a_job_runs_once_per_period_and_again_in_the_next():
    seen: list[datetime] = []

    async def func(as_of: datetime) -> None:
        seen.append(as_of)

    job = Job("j", func, every=timedelta(hours=1))
    lock = MemoryLock()
    t = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    assert await run_once_per_period(job, lock, t)
    assert not await run_once_per_period(job, lock, t + timedelta(minutes=30))
    assert await run_once_per_period(job, lock, t + timedelta(hours=1))
    assert seen == [datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 1, 11, tzinfo=UTC)]


async def test_scheduler_registers_every_job_once():
    async def func(as_of: datetime) -> None:
        return None

    jobs = [Job("a", func, every=timedelta(minutes=5)), Job("b", func, cron="30 2 * * *")]
    scheduler = build_scheduler(jobs, MemoryLock())
    assert sorted(j.id for j in scheduler.get_jobs()) == ["a", "b"]
