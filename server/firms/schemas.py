"""Structs of the firm routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec

from server.objections.schemas import DisputedRecord

__all__ = ["DataConfidence", "DataFinding", "Evaluation", "Feed", "FirmProfile", "GradeBand", "IndustryComparison", "Reason",
           "ScorePoint"]


class Reason(msgspec.Struct):
    code: str
    text_zh: str
    text_en: str
    tip_zh: str = ""
    tip_en: str = ""
    points: float = 0.0


class ScorePoint(msgspec.Struct):
    as_of: date
    score: int
    grade: str


class FirmProfile(msgspec.Struct):
    uscc: str
    name: str
    industry_section: str
    industry_division: str
    town: str
    founded_on: date
    size_class: str
    status: str
    grade: str | None = None
    registered_capital_yuan: int | None = None  # public registration data
    legal_representative: str | None = None  # the current legal representative's name (one firm's profile only)


class IndustryComparison(msgspec.Struct):
    """Where the firm stands among the firms scored in the same run: its industry division,
    else its section, else the whole region, the narrowest group holding at least K firms
    besides this one that the platform may publish (``level`` says which)."""

    code: str  # "C:34" (division), "C" (section) or "all" (the whole region)
    name_zh: str
    name_en: str
    firms: int
    percentile: float  # share of the group's firms scoring below this firm, 0..100
    mean_score: float
    dimensions: dict[str, float]  # the group's average of each dimension, for the radar
    level: Literal["division", "section", "region"] = "section"
    min_group_size: int = 5  # K: the group holds at least K firms besides this one


class Feed(msgspec.Struct):
    """A department feed as a firm would name it, and the department that sends it."""

    kind: str
    name_zh: str
    name_en: str
    department_zh: str
    department_en: str


class DataFinding(msgspec.Struct):
    """One authenticity check that doubts the firm's data (``scoring.authenticity``), with
    the figures behind it."""

    check: str  # under_declaration / shared_meter / agent_exports / property_assets
    text_zh: str
    text_en: str
    plausibility: float | None  # 1 = the sources agree, 0 = they contradict each other
    figures: dict[str, Any]


class DataConfidence(msgspec.Struct):
    """How much of the firm the platform sees and how far it can be believed: the share of
    the coverage feeds (tax, social insurance, utilities, financial statements, the legal
    representative's credit) reporting on it, the departments the data rests on, and the
    cross-source checks that doubt it. ``level`` is the lower of coverage and authenticity.
    A thin file is stated, not rewarded."""

    share: float
    level: Literal["high", "medium", "low"]
    sources: int  # coverage feeds counted
    reporting: int  # of which report on the firm
    missing: list[Feed]
    coverage_level: Literal["high", "medium", "low"] | None = None
    departments: list[str] = msgspec.field(default_factory=list)  # department codes
    summary_zh: str = ""
    summary_en: str = ""
    findings: list[DataFinding] = msgspec.field(default_factory=list)


class GradeBand(msgspec.Struct):
    """The firm's grade as the fixed scale defines it: the PD band and the scores that earn it
    (``*_to`` None: open-ended). Read from the model version that scored the firm."""

    grade: str
    pd_from: float
    pd_to: float | None
    score_from: int
    score_to: int | None


class Evaluation(msgspec.Struct):
    uscc: str
    name: str
    as_of: date
    score: int
    grade: str
    pd: float
    model_version: str
    weight_profile_version: str | None
    dimensions: dict[str, float]
    reasons: list[Reason]
    history: list[ScorePoint]
    scored_at: datetime
    industry: IndustryComparison | None = None
    # Records under an open objection (异议): shown as disputed until the department decides.
    disputed: list[DisputedRecord] = msgspec.field(default_factory=list)
    data_confidence: DataConfidence | None = None  # None: scored before it was stored
    grade_band: GradeBand | None = None
