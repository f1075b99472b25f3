"""Issue 10, point 9: with two workers and one stalled past the fire time, a job ran twice.

Two real APScheduler schedulers (the platform's ``build_scheduler`` with ``period_lock``, as
``xinbao worker`` builds them) share one database (PostgreSQL, and SQLite, where the demo runs
its scheduler). The job is hourly; the clock APScheduler and the scheduler module read is put
just before the hour, worker A is stalled (paused) across the fire time while B runs the job,
then the clock moves 65 s on — within the misfire grace, so A still starts its missed fire
time — and A resumes. The run of that fire time was done: A must not run it again.

Before the fix (each worker's lock was ``SET NX`` in Redis keyed by the minute the run
started, or a process-local set without Redis) A ran the job a second time, as of 00:01.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent

from alerts.scheduler import Job, build_scheduler
from server.jobs import period_lock

pytestmark = pytest.mark.anyio


class _Clock(datetime):
    """``datetime`` whose ``now()`` runs ``offset`` ahead of the real clock."""

    offset = timedelta(0)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) + cls.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Clock]]:
    """The clock of APScheduler's scheduler and executor and of the scheduler module."""
    import apscheduler.executors.base
    import apscheduler.schedulers.base

    import alerts.scheduler

    for module in (apscheduler.schedulers.base, apscheduler.executors.base, alerts.scheduler):
        monkeypatch.setattr(module, "datetime", _Clock)
    _Clock.offset = timedelta(0)
    yield _Clock
    _Clock.offset = timedelta(0)


def _finished(scheduler: Any) -> tuple[asyncio.Event, list[JobEvent]]:
    """Set once the scheduler has executed (or skipped as missed) a run of a job."""
    done = asyncio.Event()
    events: list[JobEvent] = []

    def listener(event: JobEvent) -> None:
        events.append(event)
        done.set()

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return done, events


async def test_a_worker_stalled_past_the_fire_time_does_not_run_the_job_again(
    engine: object, clock: type[_Clock],
) -> None:
    runs: list[datetime] = []

    async def job_func(as_of: datetime) -> None:
        runs.append(as_of)

    name = f"cron-once-{uuid.uuid4().hex[:8]}"
    job = Job(name, job_func, cron="0 * * * *")
    real_now = datetime.now(UTC)
    fire_time = (real_now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    clock.offset = fire_time - timedelta(seconds=0.4) - real_now

    # Each worker has its own lock object, as two processes would.
    worker_a = build_scheduler([job], period_lock())
    worker_b = build_scheduler([job], period_lock())
    (a_done, a_events), (b_done, _) = _finished(worker_a), _finished(worker_b)
    try:
        worker_a.start(paused=True)  # A is stalled before the fire time
        worker_b.start()
        await asyncio.wait_for(b_done.wait(), 15)
        assert len(runs) == 1, runs

        clock.offset += timedelta(seconds=65)  # A wakes up a minute late (grace is 300 s)
        worker_a.resume()
        await asyncio.wait_for(a_done.wait(), 15)
    finally:
        worker_a.shutdown(wait=False)
        worker_b.shutdown(wait=False)

    # A did start its late run (not dropped as missed) and found it done: the fire time ran
    # exactly once, as of its scheduled time.
    assert [(e.code, e.scheduled_run_time) for e in a_events] == [(EVENT_JOB_EXECUTED, fire_time)]
    assert a_events[0].retval is False  # type: ignore[attr-defined]
    assert runs == [fire_time], runs
