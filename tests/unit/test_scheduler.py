"""The job scheduler: fire times, the lock keyed on them, and the database record of runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from alerts.scheduler import Job, MemoryLock, build_scheduler, run_once_per_period, stop_scheduler

pytestmark = pytest.mark.anyio


async def _noop(as_of: datetime) -> None:
    return None


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


async def test_a_late_run_is_keyed_on_its_scheduled_time_not_on_when_it_starts():
    seen: list[datetime] = []

    async def func(as_of: datetime) -> None:
        seen.append(as_of)

    job = Job("nightly", func, cron="30 2 * * *")  # 02:30 Asia/Shanghai = 18:30 UTC
    lock = MemoryLock()
    fire = datetime(2026, 3, 1, 18, 30, tzinfo=UTC)
    assert await run_once_per_period(job, lock, scheduled_at=fire)
    # a worker stalled past the fire time starts the same run 65 s (or 4 min) late
    assert not await run_once_per_period(job, lock, scheduled_at=fire)
    assert not await run_once_per_period(job, lock, fire + timedelta(minutes=4))
    assert seen == [fire]


@pytest.mark.parametrize(("cron", "now", "fire"), [
    ("30 2 * * *", datetime(2026, 3, 2, 1, 0, tzinfo=UTC), datetime(2026, 3, 1, 18, 30, tzinfo=UTC)),
    ("30 2 * * *", datetime(2026, 3, 1, 18, 30, tzinfo=UTC), datetime(2026, 3, 1, 18, 30, tzinfo=UTC)),
    ("*/5 * * * *", datetime(2026, 3, 1, 10, 14, 59, tzinfo=UTC), datetime(2026, 3, 1, 10, 10, tzinfo=UTC)),
    ("0 5 1 * *", datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 2, 28, 21, 0, tzinfo=UTC)),
])
def test_the_slot_of_a_cron_job_is_its_latest_fire_time(cron: str, now: datetime, fire: datetime):
    assert Job("c", _noop, cron=cron).slot(now) == fire


def test_interval_fire_times_agree_between_processes():
    """Each process builds its trigger when it starts; the fire times must still be equal."""
    job = Job("i", _noop, every=timedelta(seconds=7))
    now = datetime.now(UTC)
    first = job.trigger().get_next_fire_time(None, now)
    later = job.trigger().get_next_fire_time(None, now)
    assert first == later and first.timestamp() % 7 == 0
    assert job.slot(first + timedelta(seconds=3)) == first


async def test_the_scheduler_hands_each_run_its_scheduled_fire_time():
    from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent

    seen: list[datetime] = []
    events: list[JobExecutionEvent] = []
    ran = asyncio.Event()

    async def func(as_of: datetime) -> None:
        await asyncio.sleep(0.3)  # starts on time, finishes after it: as_of stays the fire time
        seen.append(as_of)

    def listener(event: JobExecutionEvent) -> None:
        events.append(event)
        ran.set()

    scheduler = build_scheduler([Job("tick", func, every=timedelta(seconds=1))], MemoryLock())
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), 5)
    finally:
        scheduler.shutdown(wait=False)
    assert seen == [events[0].scheduled_run_time]
    assert seen[0].tzinfo is not None and seen[0].microsecond == 0


async def test_stopping_lets_a_started_run_finish_instead_of_cancelling_it():
    """A worker told to stop (SIGTERM) mid-run: APScheduler's shutdown cancels the run, whose
    fire time is already claimed, so no worker would ever run it; stop_scheduler waits."""
    started, finished = asyncio.Event(), asyncio.Event()

    async def func(as_of: datetime) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.set()

    scheduler = build_scheduler([Job("slow", func, every=timedelta(seconds=1))], MemoryLock())
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await stop_scheduler(scheduler, timeout_s=5)
    assert finished.is_set()
    assert not scheduler.running


async def test_scheduler_registers_every_job_once():
    jobs = [Job("a", _noop, every=timedelta(minutes=5)), Job("b", _noop, cron="30 2 * * *")]
    scheduler = build_scheduler(jobs, MemoryLock())
    assert sorted(j.id for j in scheduler.get_jobs()) == ["a", "b"]


async def test_the_database_record_lets_exactly_one_of_many_workers_run(engine: object):
    """Twenty workers (own lock objects, no Redis) claim one fire time at once: one runs; the
    record says who and how it ended, and stays for a late worker."""
    from server.jobs import DatabaseRunLock
    from server.tables.jobs import JobRun

    runs: list[datetime] = []

    async def func(as_of: datetime) -> None:
        runs.append(as_of)

    job = Job("db-once", func, every=timedelta(minutes=10))
    fire = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    ran = await asyncio.gather(*(run_once_per_period(job, DatabaseRunLock(), scheduled_at=fire)
                                 for _ in range(20)))
    assert sorted(ran) == [False] * 19 + [True]
    assert runs == [fire]
    assert not await run_once_per_period(job, DatabaseRunLock(), fire + timedelta(minutes=4))
    rows = await JobRun.select().where(JobRun.job == "db-once")
    assert len(rows) == 1 and rows[0]["status"] == "done" and rows[0]["finished_at"] is not None
    assert rows[0]["scheduled_at"] == fire


async def test_a_failed_run_is_recorded_and_old_records_are_pruned(engine: object):
    from server.jobs import DatabaseRunLock, run_history
    from server.tables.jobs import JobRun

    async def boom(as_of: datetime) -> None:
        raise RuntimeError("no model")

    job = Job("db-fail", boom, every=timedelta(seconds=5))
    fire = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(RuntimeError):
        await run_once_per_period(job, DatabaseRunLock(), scheduled_at=fire)
    row = await JobRun.select().where(JobRun.job == "db-fail").first()
    assert row["status"] == "failed" and "no model" in row["error"]

    later = fire + run_history(job) + timedelta(seconds=5)
    with pytest.raises(RuntimeError):
        await run_once_per_period(job, DatabaseRunLock(), scheduled_at=later)
    assert [r["scheduled_at"] for r in await JobRun.select().where(JobRun.job == "db-fail")] == [later]
