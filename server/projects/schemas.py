"""Structs of the supported-project routes: the terms a department grants, the reports, the
project as each reader sees it, a department's portfolio and the region's summary."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

__all__ = [
    "AssessmentIn",
    "CloseIn",
    "DeviationOut",
    "MilestoneIn",
    "MilestoneOut",
    "OutcomeIn",
    "OutcomeOut",
    "OutcomeTotal",
    "PortfolioOut",
    "ProjectOut",
    "ProjectSummaryOut",
    "ProjectTerms",
    "ReportOut",
    "SelfEvaluationIn",
    "SummaryDepartment",
    "TrackingOut",
    "TrackRun",
]

MetricCode = Literal["jobs", "tax", "output", "investment"]
_Score = Annotated[int, msgspec.Meta(ge=0, le=100, examples=[80])]
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4000, examples=["设备已安装投产，新增员工8人"])]
_Yuan = Annotated[int, msgspec.Meta(ge=0, le=100_000_000_000, examples=[3_000_000])]


class OutcomeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A promised outcome: ``change`` on top of the firm's baseline by the end (people for
    ``jobs``, yuan a year for ``tax`` and ``output``, yuan for ``investment``)."""

    metric: Annotated[MetricCode, msgspec.Meta(examples=["jobs"])]
    change: Annotated[float, msgspec.Meta(gt=0, le=1e12, examples=[10])]


class MilestoneIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["中期评估"])]
    due_on: Annotated[date, msgspec.Meta(examples=["2027-06-30"])]


class ProjectTerms(msgspec.Struct, forbid_unknown_fields=True):
    """What the department grants with an approval: the money, the period, the promises and
    the milestones (default: one at mid-term and one at the end)."""

    granted_yuan: _Yuan = 0
    starts_on: Annotated[date, msgspec.Meta(
        examples=["2026-07-01"],
        description="default: the first day of this month; at most 24 months back or 12 ahead")] | None = None
    months: Annotated[int, msgspec.Meta(ge=1, le=60, examples=[12])] = 12
    outcomes: Annotated[list[OutcomeIn], msgspec.Meta(max_length=4)] = msgspec.field(default_factory=list)
    milestones: Annotated[list[MilestoneIn], msgspec.Meta(max_length=12)] = msgspec.field(default_factory=list)


class SelfEvaluationIn(msgspec.Struct, forbid_unknown_fields=True):
    """The owner's report at a milestone."""

    milestone: Annotated[int, msgspec.Meta(ge=1, le=12, examples=[1])]
    text: _Text
    score: _Score
    investment_yuan: _Yuan | None = None


class AssessmentIn(msgspec.Struct, forbid_unknown_fields=True):
    """The department's or a third party's assessment of a milestone; ``investment_yuan`` is the
    verified figure (it replaces the firm's own)."""

    milestone: Annotated[int, msgspec.Meta(ge=1, le=12, examples=[1])]
    text: _Text
    score: _Score
    assessor: Annotated[str, msgspec.Meta(max_length=100, examples=["某某会计师事务所"],
                                          description="default: the department")] = ""
    investment_yuan: _Yuan | None = None


class CloseIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(max_length=4000, examples=["就业目标未完成，投资基本到位"])] = ""


class ReportOut(msgspec.Struct):
    kind: str  # self / assessment / result
    milestone: int
    author_role: str
    assessor: str
    score: int | None
    text: str
    figures: dict
    created_at: datetime


class MilestoneOut(msgspec.Struct):
    seq: int
    title: str
    due_on: date
    self_evaluation: ReportOut | None = None
    assessment: ReportOut | None = None


class OutcomeOut(msgspec.Struct):
    metric: str
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    source: str  # the department measuring it, or "reported"
    change: float
    baseline: float | None
    target: float | None
    actual: float | None = None
    achieved: float | None = None  # share of the promised change (None: unknown)
    planned: float | None = None  # share planned by the tracked month
    status: str | None = None  # on_track / behind_plan / off_target / no_data


class DeviationOut(msgspec.Struct):
    kind: str
    metric: str | None
    text_zh: str
    text_en: str
    figures: dict


class TrackingOut(msgspec.Struct):
    month: date
    planned: float
    status: str
    deviations: list[DeviationOut]


class ProjectOut(msgspec.Struct):
    id: int
    application_id: int
    policy_id: int
    title: str
    department_code: str
    department_name_zh: str
    department_name_en: str
    firm_uscc: str
    firm_name: str
    granted_yuan: int
    starts_on: date
    ends_on: date
    status: str  # on_track / behind / failed, then completed / failed
    outcomes: list[OutcomeOut]
    milestones: list[MilestoneOut]
    tracking: TrackingOut | None
    created_at: datetime
    closed_at: datetime | None = None
    score: int | None = None
    result: ReportOut | None = None
    history: list[TrackingOut] = msgspec.field(default_factory=list)  # in the detail only


class OutcomeTotal(msgspec.Struct):
    metric: str
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    promised: float
    achieved: float  # the measured change, summed over the projects (never below 0 each)


class PortfolioOut(msgspec.Struct):
    """A department's projects: how many on track, behind, failed, completed; money granted;
    outcomes promised and achieved; and every project."""

    department_code: str
    projects: int
    by_status: dict[str, int]
    granted_yuan: int
    outcomes: list[OutcomeTotal]
    items: list[ProjectOut]


class SummaryDepartment(msgspec.Struct):
    department_code: str
    department_name_zh: str
    department_name_en: str
    firms: int
    projects: int | None  # None: withheld (fewer firms than the privacy rule allows)
    by_status: dict[str, int] | None
    granted_yuan: int | None
    outcomes: list[OutcomeTotal] | None


class ProjectSummaryOut(msgspec.Struct):
    """The region's supported projects per department, for analysts: a department's figures
    appear only when its projects belong to at least ``k`` firms."""

    k: int
    departments: list[SummaryDepartment]


class TrackRun(msgspec.Struct):
    projects: int
    checks: int
    notified: int
    reminded: int
