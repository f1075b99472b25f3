"""Training a model from the back office: ``POST /api/models/train`` starts a run in the API
process and answers at once; ``GET /api/models/training`` says how it went.

One run at a time across every API process, held by the database: the run is a row of the job
table in a fixed slot (job ``train``, a sentinel time), inserted with ON CONFLICT DO NOTHING or
taken over by a compare-and-set on its owner token once the previous run has ended, or has been
"running" so long that its process must have died. The row is also the run's status: running,
then done or failed with the reason. The fits run in a worker thread, so the API keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar.exceptions import ClientException

from server import db
from server.audit.services import Actor, record
from server.scores.pipeline import train_platform_model
from server.scores.schemas import TrainingOut
from server.settings import Settings
from server.tables.jobs import JobRun
from server.tables.scores import ModelVersion
from server.texts import say, t

__all__ = ["STALE_AFTER", "TRAIN_JOB", "start_training", "stop_training", "training_status"]

log = logging.getLogger("xinbao.scores")

TRAIN_JOB = "train"  # not a scheduled job's name: the scheduler's pruning never touches its row
_SLOT = datetime(1970, 1, 1, tzinfo=UTC)  # the one slot: a second run cannot insert its row
STALE_AFTER = timedelta(hours=2)  # a run "running" this long died with its process
_STOPPED = "the API stopped during the run"


def _slot() -> Any:
    return (JobRun.job == TRAIN_JOB) & (JobRun.scheduled_at == _SLOT)


async def _claim(user_id: int) -> str:
    """Take the training slot for a new run; its owner token, or 409 while a run goes on."""
    token = f"admin:{user_id}:{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    inserted = await JobRun.insert(
        JobRun(job=TRAIN_JOB, scheduled_at=_SLOT, worker=token, started_at=now, status="running"),
    ).on_conflict(action="DO NOTHING").returning(JobRun.id)
    if inserted:
        return token
    row = await JobRun.select(JobRun.worker, JobRun.status, JobRun.started_at).where(_slot()).first()
    if row is None:  # the row was deleted between the two statements: try once more
        return await _claim(user_id)
    if row["status"] == "running" and row["started_at"] > now - STALE_AFTER:
        raise ClientException(status_code=409, detail=t(
            "training: a run started at {started} UTC is still running; wait for it (GET /api/models/training)",
            started=f"{row['started_at']:%Y-%m-%d %H:%M}"))
    taken = await JobRun.update({
        JobRun.worker: token, JobRun.status: "running", JobRun.started_at: now, JobRun.finished_at: None,
        JobRun.error: "",
    }).where(_slot() & (JobRun.worker == row["worker"]) & (JobRun.status == row["status"])).returning(JobRun.id)
    if not taken:
        raise ClientException(status_code=409, detail=t("training: another admin started a run just now"))
    return token


async def _run(settings: Settings, engine: Any, token: str, review: bool, as_of: date | None) -> None:
    error = ""
    try:
        version = await train_platform_model(settings, as_of, engine, hold=review)
        log.info("training run %s made %s", token, version)
    except asyncio.CancelledError:
        error = _STOPPED
        raise
    except Exception as exc:  # noqa: BLE001 - the run fails, recorded with its reason; the API stands
        log.exception("training run %s failed", token)
        error = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        await JobRun.update({JobRun.finished_at: datetime.now(UTC), JobRun.status: "failed" if error else "done",
                             JobRun.error: error}).where(_slot() & (JobRun.worker == token))


async def start_training(settings: Settings, engine: Any, runs: set[asyncio.Task[Any]], user: Actor,
                         review: bool, as_of: date | None) -> TrainingOut:
    """Start a training run in this process (409 while another runs anywhere). ``runs``: the
    app's running tasks (``app.state.training_runs``), which keeps each from the garbage
    collector until it ends and lets the lifespan stop them."""
    async with db.write_transaction():  # the slot taken and the request audited together
        token = await _claim(user.id)
        await record(user, "model.train", "model", {"review": review, "as_of": as_of})
    task = asyncio.create_task(_run(settings, engine, token, review, as_of), name=token)
    runs.add(task)
    task.add_done_callback(runs.discard)
    return await training_status()


async def stop_training(runs: set[asyncio.Task[Any]]) -> None:
    """Cancel the app's runs and wait until each has recorded itself as failed; the API's
    lifespan calls it before closing the database, so a restart mid-run frees the slot at once
    instead of leaving a "running" row that blocks training for ``STALE_AFTER``."""
    running = list(runs)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    if running:  # a task cancelled before its first step never ran its own ``finally``
        await JobRun.update({JobRun.finished_at: datetime.now(UTC), JobRun.status: "failed",
                             JobRun.error: _STOPPED}).where(
            _slot() & JobRun.worker.is_in([t.get_name() for t in running]) & (JobRun.status == "running"))


async def training_status() -> TrainingOut:
    """The latest run: idle (never), running, done (with the version it made) or failed."""
    row = await JobRun.select(JobRun.worker, JobRun.status, JobRun.started_at, JobRun.finished_at,
                              JobRun.error).where(_slot()).first()
    if row is None:
        return TrainingOut(status="idle")
    parts = row["worker"].split(":")
    by = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
    if row["status"] == "running" and row["started_at"] <= datetime.now(UTC) - STALE_AFTER:
        # Its process died (killed, not stopped): the slot is free, as ``_claim`` sees it.
        return TrainingOut(status="failed", started_at=row["started_at"], requested_by=by,
                           error=say("the run's process stopped before it ended"))
    version = None
    if row["status"] == "done":  # the version stored during the run (not one trained since, by the CLI)
        made = await ModelVersion.select(ModelVersion.version).where(
            (ModelVersion.created_at >= row["started_at"]) & (ModelVersion.created_at <= row["finished_at"]),
        ).order_by(ModelVersion.created_at, ascending=False).first()
        version = made["version"] if made else None
    error = row["error"] or None
    if error == _STOPPED:  # our own words (stored in English): the reader's; an exception's stay as they are
        error = say("the API stopped during the run")
    return TrainingOut(status=row["status"], started_at=row["started_at"], finished_at=row["finished_at"],
                       error=error, version=version, requested_by=by)
