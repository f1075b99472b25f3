"""The platform's scheduled jobs (one explicit list) and the ``xinbao worker`` process."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import datetime

from alerts.scheduler import Job, MemoryLock, PeriodLock, RedisLock, build_scheduler
from server.scores.tables import ModelVersion, ScoringRun
from server.settings import Settings

__all__ = ["platform_jobs", "run_worker"]

log = logging.getLogger("xinbao.jobs")


def platform_jobs(settings: Settings) -> list[Job]:
    """Every scheduled job of the platform. Each takes ``as_of`` and is safe to run twice."""

    async def nightly_rescore(as_of: datetime) -> None:
        """Score every firm on the data known tonight (skipped if this data was scored)."""
        from server.scores.frames import load_records
        from server.scores.pipeline import data_end, score_platform

        active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
        if active is None:
            log.warning("nightly_rescore: no active model")
            return
        from server.piccolo_conf import DB

        end = data_end(await load_records(DB))
        if await ScoringRun.exists().where(
            (ScoringRun.model_version == active["version"]) & (ScoringRun.as_of == end.date())
            & (ScoringRun.reason == "nightly")
        ):
            return
        await score_platform(settings, end.date(), active["version"], DB, reason="nightly")

    return [
        Job("nightly_rescore", nightly_rescore, cron="30 2 * * *"),
    ]


def period_lock(redis: object | None) -> PeriodLock:
    return RedisLock(redis) if redis is not None else MemoryLock()


async def run_worker(settings: Settings) -> None:
    """The scheduler alone, until SIGINT/SIGTERM (production runs exactly one of these)."""
    from server import db

    engine = await db.open_engine(settings.database_url)
    redis = None
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
    scheduler = build_scheduler(platform_jobs(settings), period_lock(redis))
    scheduler.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started with jobs: %s", [j.id for j in scheduler.get_jobs()])
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        if redis is not None:
            await redis.aclose()
        await db.close(engine)



