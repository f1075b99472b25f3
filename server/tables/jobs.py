"""The record of scheduled job runs: one row per job and scheduled fire time.

Inserting the row is the run's lock (the unique pair lets exactly one process insert it), so a
worker that wakes up late, or a Redis that lost its keys, cannot start a run that was done.
"""

from __future__ import annotations

from piccolo.columns import Text, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["JobRun"]


class JobRun(Table, tablename="job_run"):
    """A job's run for one scheduled fire time (UTC): who ran it, when, and how it ended.

    ``status`` is ``running`` until the job returns (``done``) or raises (``failed``); a run
    whose process died stays ``running``. Old rows are pruned by the scheduler. A unique
    index ``job_run_once`` on (job, scheduled_at) (migration 2026-12-03T09:50) makes the
    insert the lock.
    """

    job = Varchar(length=64)
    scheduled_at = Timestamptz()
    worker = Varchar(length=128, default="")
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    status = Varchar(length=16, default="running")
    error = Text(default="")
