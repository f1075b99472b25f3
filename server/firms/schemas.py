"""Structs of the firm routes."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from server.objections.schemas import DisputedRecord

__all__ = ["Evaluation", "FirmProfile", "IndustryComparison", "Reason", "ScorePoint"]


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


class IndustryComparison(msgspec.Struct):
    """Where the firm stands among the firms of its industry scored in the same run."""

    code: str  # "C" (section) or "C:34" (division) when the division has enough firms
    name_zh: str
    name_en: str
    firms: int
    percentile: float  # share of the industry's firms scoring below this firm, 0..100
    mean_score: float
    dimensions: dict[str, float]  # the industry's average of each dimension, for the radar


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
