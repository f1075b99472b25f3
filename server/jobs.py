"""The platform's scheduled jobs (one explicit list) and the ``xinbao worker`` process."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from piccolo.engine.base import Engine

from alerts.scheduler import Job, PeriodLock, build_scheduler, stop_scheduler
from server.settings import Settings
from server.tables.jobs import JobRun
from server.tables.scores import ModelVersion, ScoringRun

__all__ = ["DatabaseRunLock", "period_lock", "platform_jobs", "run_worker"]

log = logging.getLogger("xinbao.jobs")


def platform_jobs(settings: Settings, engine: Engine, redis: Any = None) -> list[Job]:
    """Every scheduled job of the platform. Each takes ``as_of`` and is safe to run twice.
    ``engine`` and ``redis`` (None without Redis) are the running process's own."""

    async def nightly_rescore(as_of: datetime) -> None:
        """Score every firm on the data known tonight (skipped if this data was scored)."""
        from server.scores.pipeline import score_platform, stored_data_end

        active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
        if active is None:
            log.warning("nightly_rescore: no active model")
            return

        end = await stored_data_end(engine)  # the store's months: no record is read
        if await ScoringRun.exists().where(
            (ScoringRun.model_version == active["version"]) & (ScoringRun.as_of == end.date())
            & (ScoringRun.reason == "nightly")
        ):
            return
        await score_platform(settings, end.date(), active["version"], engine, reason="nightly")

    async def outbox_relay(as_of: datetime) -> None:
        """Deliver due pushes and webhooks (the API relays at once; this is the safety net)."""
        from server.notifications.push import relay_job

        await relay_job(settings, as_of, redis)

    async def daily_digest(as_of: datetime) -> None:
        """One digest notification per digest subscriber, with what was held for it."""
        from server.notifications.digest import daily_digest as write_digests

        await write_digests(as_of)

    async def warning_scan(as_of: datetime) -> None:
        """Every warning rule for every firm, DebtRank contagion, the fund's expected draw."""
        from server.risk.scan import scan

        await scan(engine, settings, as_of)

    async def incremental_rescore(as_of: datetime) -> None:
        """Re-score the firms with records received since their latest score, then re-scan
        them (grade changes are warnings). Many firms at once are left to the nightly run."""
        from server.after_ingest import follow_firms
        from server.risk.scan import INCREMENTAL_LIMIT

        firm_ids = await stale_firms(as_of - STALE_WINDOW)
        if not firm_ids:
            return
        if len(firm_ids) > INCREMENTAL_LIMIT:
            log.info("incremental_rescore: %d firms with new data, left to the nightly run",
                     len(firm_ids))
            return
        await follow_firms(engine, settings, firm_ids, "incremental", as_of)

    async def macro_index(as_of: datetime) -> None:
        """The month's macro risk index per industry section and town."""
        from server.risk.macro import compute_macro_index

        await compute_macro_index(engine, as_of)

    async def psi_drift(as_of: datetime) -> None:
        """PSI of the latest scoring run against the model's training sample (logged, stored)."""
        from server.scores.health import check_drift

        await check_drift(engine, settings)

    async def model_health(as_of: datetime) -> None:
        """AUC/KS, expected vs observed defaults and bad rate by grade on matured outcomes."""
        from server.scores.health import check_model_health

        await check_model_health(engine, settings)

    async def policy_matches(as_of: datetime) -> None:
        """Tell owners whose firm qualifies for an open policy (once per firm and policy)."""

        await notify_policy_matches(engine)

    async def project_tracking(as_of: datetime) -> None:
        """Track every open supported project on the month's data; push deviations and
        milestone reminders (once per project and month, once per milestone)."""
        from server.projects.tracking import track_projects

        await track_projects(engine)

    async def annual_report(as_of: datetime) -> None:
        """Each January: the year just ended's credit-index report, in Chinese and English, kept
        with the data version it was made from."""
        from server.reports.annual.store import annual_pdf

        for lang in ("zh", "en"):
            made = await annual_pdf(as_of.year - 1, lang, settings.min_group_size, force=True,
                                    dask=settings.dask_scheduler)
            log.info("annual_report: %d (%s), %d pages, data %s", made.year, lang, made.pages, made.data_version)

    async def purge_revocations(as_of: datetime) -> None:
        """Forget revoked tokens and sign-ins that have expired anyway."""
        from server.users.security import purge_expired_revocations

        log.info("purge_revocations: %d expired row(s)", await purge_expired_revocations(as_of))

    jobs = [
        Job("nightly_rescore", nightly_rescore, cron="30 2 * * *"),
        Job("purge_revocations", purge_revocations, cron="15 3 * * *"),
        Job("outbox_relay", outbox_relay, every=timedelta(seconds=5), quiet=True),
        Job("daily_digest", daily_digest, cron="0 8 * * *"),
        Job("warning_scan", warning_scan, cron="0 4 * * *"),
        Job("incremental_rescore", incremental_rescore, every=timedelta(minutes=10)),
        Job("macro_index", macro_index, cron="0 5 1 * *"),
        Job("psi_drift", psi_drift, cron="0 6 * * 1"),
        Job("model_health", model_health, cron="30 6 * * 1"),
        Job("policy_matches", policy_matches, cron="0 9 * * *"),
        Job("project_tracking", project_tracking, cron="30 9 * * *"),
        Job("annual_report", annual_report, cron="0 6 2 1 *"),
    ]
    test_period = os.environ.get("XINBAO_TEST_JOB_PERIOD_SECONDS")
    if test_period:  # hidden: a short-period job that records its runs (the two-worker tests)
        jobs.append(Job("test_heartbeat", _heartbeat(os.environ["XINBAO_TEST_JOB_LOG"]),
                        every=timedelta(seconds=int(test_period))))
    return jobs


def _heartbeat(path: str) -> Callable[[datetime], Awaitable[None]]:
    """Appends "<pid> <as_of>" to ``path`` on every run: what really ran, whatever the lock says."""

    async def heartbeat(as_of: datetime) -> None:
        # One short O_APPEND write per run: lines of concurrent processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {as_of.isoformat()}\n".encode())
        finally:
            os.close(fd)

    return heartbeat


#: What the jobs import lazily (``server.jobs`` stays cheap to import for the API): the worker
#: imports it all before its scheduler starts, so no first run blocks the event loop for
#: seconds (long enough, on a busy machine, for another job's fire time to be coalesced away).
JOB_MODULES = ("server.scores.frames", "server.scores.pipeline", "server.scores.rescore",
               "server.notifications.push", "server.notifications.fanout", "server.notifications.digest",
               "server.after_ingest", "server.risk.scan", "server.risk.macro", "server.scores.health", "server.policies.services", "server.users.security",
               "server.tables.users", "server.tables.firms", "server.tables.ingest")

#: How far back ``incremental_rescore`` looks for batches with records not yet scored: three
#: of its periods, so a late or skipped run still sees them; older ones are the nightly run's.
STALE_WINDOW = timedelta(minutes=30)
#: Firms whose policy matches one ``policy_matches`` run evaluates (the owners' firms, by id).
POLICY_MATCH_FIRMS = 2000


async def stale_firms(since: datetime) -> list[int]:
    """Firms with department records received (in batches since ``since``) after their
    latest score was written, or never scored."""
    from piccolo.query.functions.aggregate import Max

    from server.tables.firms import Firm
    from server.tables.ingest import DeptRecord, IngestBatch
    from server.tables.scores import ScoreHistory

    batches = [r["id"] for r in await IngestBatch.select(IngestBatch.id).where(
        IngestBatch.received_at > since)]
    if not batches:
        return []
    received = {r["uscc"]: r["received"] for r in await DeptRecord.select(
        DeptRecord.uscc, Max(DeptRecord.received_at).as_alias("received"),
    ).where(DeptRecord.batch_id.is_in(batches)).group_by(DeptRecord.uscc)}
    if not received:
        return []
    firms = {r["id"]: r["uscc"] for r in await Firm.select(Firm.id, Firm.uscc).where(
        Firm.uscc.is_in(sorted(received)))}
    scored = {r["firm"]: r["at"] for r in await ScoreHistory.select(
        ScoreHistory.firm, Max(ScoreHistory.created_at).as_alias("at"),
    ).where(ScoreHistory.firm.is_in(sorted(firms) or [0])).group_by(ScoreHistory.firm)}
    return sorted(i for i, u in firms.items()
                  if i not in scored or _utc(scored[i]) < _utc(received[u]))


def _utc(value: datetime | str) -> datetime:
    """A timestamp from an aggregate (SQLite returns aggregates of timestamps as text)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def notify_policy_matches(engine: object) -> int:
    """Owners of firms that qualify for an open policy they have not applied to get one
    notification per firm and policy (the dedup key makes a later run repeat nothing);
    eligibility is the policy supermarket's own (``server.policies.services.matches``)."""
    from server.notifications.fanout import notify_users
    from server.policies.services import matches
    from server.tables.users import User
    from server.users.security import load_user

    owners: dict[int, list[int]] = {}
    active_owners = ((User.role == "owner") & User.firm.is_not_null()
                     & (User.is_active == True))  # noqa: E712
    for r in await User.select(User.id, User.firm).where(active_owners).order_by(
            User.firm).order_by(User.id):
        if r["firm"] in owners or len(owners) < POLICY_MATCH_FIRMS:
            owners.setdefault(r["firm"], []).append(r["id"])
    written = 0
    for firm_id, user_ids in owners.items():
        user = await load_user(user_ids[0])
        if user is None:
            continue
        found = await matches(user, engine)  # type: ignore[arg-type]
        for m in found.eligible:
            if m.application_status is not None:
                continue  # applied already
            p = m.policy
            written += await notify_users(
                user_ids, kind="policy", level="blue",
                title_zh=f"您的企业符合政策：{p.title}", title_en=f"Your firm qualifies for: {p.title}",
                body={"policy_id": p.id, "title": p.title, "benefit": p.benefit,
                      "valid_to": p.valid_to.isoformat() if p.valid_to else None,
                      "uscc": found.firm_uscc},
                dedup_key=f"policy:{p.id}:firm:{firm_id}", firm_id=firm_id)
    log.info("policy_matches: %d notification(s) for %d firm(s)", written, len(owners))
    return written


class DatabaseRunLock:
    """A run's row in ``job_run`` is its lock: unique per job and scheduled fire time, so one
    process inserts it, and it stays — a worker that wakes up late sees the run was done.

    No Redis: a Redis lock is lost on a restart without persistence, and while Redis is down
    its client retries for seconds, delaying every run (the chaos test saw a late worker win
    a run this way); the database is needed by every job anyway."""

    def __init__(self) -> None:
        self.worker = f"{socket.gethostname()}:{os.getpid()}"[:128]

    async def acquire(self, job: Job, scheduled_at: datetime) -> bool:
        inserted = await JobRun.insert(
            JobRun(job=job.name, scheduled_at=scheduled_at, worker=self.worker,
                   started_at=datetime.now(UTC)),
        ).on_conflict(action="DO NOTHING").returning(JobRun.id)
        if not inserted:
            return False
        await JobRun.delete().where((JobRun.job == job.name)
                                    & (JobRun.scheduled_at < scheduled_at - run_history(job)))
        return True

    async def finished(self, job: Job, scheduled_at: datetime, error: str | None) -> None:
        await JobRun.update({JobRun.finished_at: datetime.now(UTC),
                             JobRun.status: "failed" if error else "done",
                             JobRun.error: error or ""}).where(
            (JobRun.job == job.name) & (JobRun.scheduled_at == scheduled_at))


def run_history(job: Job) -> timedelta:
    """How long a job's run records are kept: a week, a day for jobs that run more often than
    hourly (the outbox relay runs every 5 s); far longer than any run may start late."""
    if job.every is not None and job.every < timedelta(hours=1):
        return timedelta(days=1)
    return timedelta(days=7)


def period_lock() -> PeriodLock:
    """The platform's job lock: the run's record in the database (every process shares it)."""
    return DatabaseRunLock()


async def run_worker(settings: Settings) -> None:
    """The scheduler alone, until SIGINT/SIGTERM. Production runs one; a second one (a
    failover, or two by mistake) runs nothing twice: each run is recorded in the database."""
    from server import db
    from server.redis_client import ping, redis_client

    engine = await db.open_engine(settings.database_url)
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    if redis is not None:
        await ping(redis, settings.redis_url or "")
    for module in JOB_MODULES:  # imported now, not by a job's first run inside the event loop
        importlib.import_module(module)
    scheduler = build_scheduler(platform_jobs(settings, engine, redis), period_lock())
    scheduler.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started with jobs: %s", [j.id for j in scheduler.get_jobs()])
    try:
        await stop.wait()
    finally:
        await stop_scheduler(scheduler)  # started runs finish before the pool closes
        if redis is not None:
            await redis.aclose()
        await db.close(engine)
