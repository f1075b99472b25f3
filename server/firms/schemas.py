"""Structs of the firm routes."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

__all__ = ["Evaluation", "FirmProfile", "Reason", "ScorePoint"]


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
