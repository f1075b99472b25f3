"""Supported projects (issue 15, section 3): a granted policy application followed to its result.

A project has its promised outcomes and milestones; each month the tracking model
(``scoring.projects``) compares the promises with what department data shows and a
``project_check`` row keeps what it found (one per project and month, unique); owners write a
self-evaluation per milestone, a department or third party an assessment, and the department
closes the project with the result (``project_report`` rows, one of each kind per milestone).
"""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.firms import Firm
from server.tables.ingest import Department
from server.tables.policies import Policy, PolicyApplication


class Project(Table, tablename="project"):
    """One per approved application (unique). ``status``: on_track / behind / failed while it
    runs, then completed or failed when closed. ``outcomes``: the promises, each
    ``{metric, change, baseline}``; ``tracking``: the latest month's finding."""

    application = ForeignKey(references=PolicyApplication, on_delete=OnDelete.cascade, unique=True)
    policy = ForeignKey(references=Policy, on_delete=OnDelete.cascade, index=True)
    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict, index=True)
    title = Varchar(length=200)
    granted_fen = BigInt(default=0)
    starts_on = Date()
    ends_on = Date()
    outcomes = JSON(default=[])
    status = Varchar(length=12, default="on_track")
    tracking = JSON(null=True, default=None)
    tracked_month = Date(null=True, default=None)
    created_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    score = Integer(null=True, default=None)


class ProjectMilestone(Table, tablename="project_milestone"):
    """A point at which the owner reports on the project (``seq`` from 1, in date order)."""

    project = ForeignKey(references=Project, on_delete=OnDelete.cascade, index=True)
    seq = Integer()
    title = Varchar(length=100)
    due_on = Date()
    reminded_at = Timestamptz(null=True, default=None)


class ProjectReport(Table, tablename="project_report"):
    """A self-evaluation (``self``, the owner's), an assessment (``assessment``, by the department
    or the third party it names in ``assessor``) of a milestone, or the closing ``result``
    (milestone 0). Unique per project, kind and milestone (index ``project_report_once``)."""

    project = ForeignKey(references=Project, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=12)
    milestone = Integer(default=0)
    author = Integer()
    author_role = Varchar(length=20)
    assessor = Varchar(length=100, default="")
    score = Integer(null=True, default=None)
    text = Text(default="")
    figures = JSON(default={})
    created_at = Timestamptz()


class ProjectCheck(Table, tablename="project_check"):
    """What the tracking model found for a project in a month (unique on the pair, index
    ``project_check_once``): the status, the deviations and each promise's progress."""

    project = ForeignKey(references=Project, on_delete=OnDelete.cascade, index=True)
    month = Date()
    status = Varchar(length=12)
    finding = JSON(default={})
    created_at = Timestamptz()
