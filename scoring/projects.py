"""Supported projects followed to the end: promises against what department data shows.

A policy grant becomes a *project*: the firm promises outcomes (new jobs, added tax, added
output, investment made) to be reached between ``starts_on`` and ``ends_on``, and reports on
itself at milestones. This module is the dynamic tracking model, pure like the rest of
``scoring``:

* :func:`monthly_measures` reads, per month, what the departments show for each data-backed
  outcome: ``jobs`` is the insured (pension) headcount; ``tax`` the tax paid over the last 12
  months (VAT and income tax); ``output`` the sales that VAT implies over the last 12 months
  (VAT / 13 %, the general rate). A 12-month window needs at least 6 months with records and is
  scaled to a year; a month without the metric's own record is unknown, never a carry-over.
* :func:`track` compares each promise with its plan (a straight line from the baseline, the
  value in the month before the start, to the target at the end) and names the deviations:
  ``behind_plan`` (less than 70 % of the change planned by now), ``off_target`` (moving away
  from the promise: below the baseline by more than 10 % of the promised change), ``no_data``
  (the department shows nothing for the month: missing data never counts as progress),
  ``milestone_overdue`` (a milestone passed without the firm's self-evaluation) and
  ``firm_in_trouble`` (a red warning, grade D, or the firm no longer active).
* :func:`result_score` closes a project: the share of every promise achieved (unknown = 0,
  capped at 100 %), weighted 70 %, and the assessor's score 30 % when there is one.

``investment`` has no department feed: its figure is the one the firm reports in its
self-evaluation, replaced by the assessor's verified figure when an assessment gives one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BEHIND_SHARE",
    "METRICS",
    "Deviation",
    "Metric",
    "OutcomeProgress",
    "Promise",
    "Result",
    "Tracking",
    "baseline_month",
    "month_end",
    "monthly_measures",
    "planned_share",
    "rating",
    "result_score",
    "track",
]

#: VAT rate that turns VAT paid into implied sales (the general rate).
VAT_RATE = 0.13
#: Progress below this share of the planned progress is behind plan.
BEHIND_SHARE = 0.7
#: Below the baseline by more than this share of the promised change is off target.
OFF_TARGET_SHARE = 0.1
#: A project is not judged behind before this share of its time has passed.
GRACE_SHARE = 0.15
#: Months a 12-month window needs with records to be read.
MIN_WINDOW_MONTHS = 6
#: Weight of the assessor's score in the result (the rest is the outcomes achieved).
ASSESSMENT_WEIGHT = 0.3
#: The result at or above which a project is completed, below which it failed.
PASS_SCORE = 60


@dataclass(frozen=True, slots=True)
class Metric:
    code: str
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    source: str  # the department whose data measures it, or "reported"


METRICS: dict[str, Metric] = {m.code: m for m in (
    Metric("jobs", "新增就业", "New jobs", "人", "people", "hrss"),
    Metric("tax", "新增税收", "Added tax", "元/年", "yuan a year", "tax"),
    Metric("output", "新增产值", "Added output", "元/年", "yuan a year", "tax"),
    Metric("investment", "完成投资", "Investment made", "元", "yuan", "reported"),
)}

#: Metrics read from department data (the others are reported by the firm).
DATA_METRICS = tuple(m for m, spec in METRICS.items() if spec.source != "reported")


def month_end(day: date | pd.Timestamp) -> date:
    return (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()


def baseline_month(starts_on: date) -> date:
    """The month whose figures are the baseline: the last full month before the start."""
    return (pd.Timestamp(starts_on).replace(day=1) - pd.Timedelta(days=1)).date()


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + (b.month - a.month)


def planned_share(starts_on: date, ends_on: date, month: date) -> float:
    """The share of the promised change planned by the end of ``month`` (0 before the start,
    1 from the end month on): months elapsed over the project's months."""
    total = max(1, _months_between(baseline_month(starts_on), month_end(ends_on)))
    done = _months_between(baseline_month(starts_on), month_end(month))
    return float(min(1.0, max(0.0, done / total)))


# --- what the departments show -----------------------------------------------------------

def monthly_measures(records: pd.DataFrame, uscc: str, months: Sequence[date]) -> pd.DataFrame:
    """One row per month (month ends, in the order given, each once), one column per data
    metric; NaN where the department shows nothing for the month."""
    index = pd.DatetimeIndex(list(dict.fromkeys(pd.Timestamp(month_end(m)) for m in months)))  # each month once
    out = pd.DataFrame(index=index, columns=list(DATA_METRICS), dtype=float)
    if index.empty:
        return out
    mine = records[records["uscc"] == uscc]
    period = pd.to_datetime(mine["event_date"]).dt.to_period("M")

    pension = mine[(mine["kind"] == "social_insurance") & (mine["category"] == "pension")]
    heads = pension.assign(p=period[pension.index]).groupby("p")["quantity"].last()
    out["jobs"] = [float(heads.get(ts.to_period("M"), np.nan)) for ts in index]

    tax = mine[mine["kind"] == "tax_monthly"]
    paid = tax.assign(p=period[tax.index], a=pd.to_numeric(tax["amount_fen"], errors="coerce"))
    total = paid.groupby("p")["a"].sum(min_count=1) / 100.0
    vat = paid[paid["category"] == "vat"].groupby("p")["a"].sum(min_count=1) / 100.0
    for col, series, scale in (("tax", total, 1.0), ("output", vat, 1.0 / VAT_RATE)):
        values = []
        for ts in index:
            p = ts.to_period("M")
            if p not in series.index or pd.isna(series.get(p)):
                values.append(np.nan)
                continue
            window = series[(series.index > p - 12) & (series.index <= p)].dropna()
            values.append(float(window.mean() * 12 * scale) if len(window) >= MIN_WINDOW_MONTHS
                          else np.nan)
        out[col] = values
    return out


# --- the tracking model ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Promise:
    """An outcome the firm promised: ``change`` on top of its baseline by the end."""

    metric: str
    change: float
    baseline: float | None = None  # None: not known at the start (no data in the baseline month)

    @property
    def target(self) -> float | None:
        if METRICS[self.metric].source == "reported":
            return self.change
        return None if self.baseline is None else self.baseline + self.change

    def start(self) -> float:
        """The value progress is counted from: the baseline (0 for reported metrics)."""
        if METRICS[self.metric].source == "reported":
            return 0.0
        return float(self.baseline) if self.baseline is not None else float("nan")


@dataclass(slots=True)
class OutcomeProgress:
    metric: str
    baseline: float | None
    target: float | None
    planned: float  # the share of the change planned by now
    actual: float | None  # the value the data (or the report) shows; None unknown
    achieved: float | None  # the share of the promised change achieved; None unknown
    status: str  # on_track / behind_plan / off_target / no_data

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "baseline": self.baseline, "target": self.target,
                "planned": round(self.planned, 4), "actual": self.actual,
                "achieved": None if self.achieved is None else round(self.achieved, 4),
                "status": self.status}


@dataclass(slots=True)
class Deviation:
    kind: str  # behind_plan / off_target / no_data / milestone_overdue / firm_in_trouble
    metric: str | None
    figures: dict[str, Any]
    text_zh: str
    text_en: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metric": self.metric, "figures": self.figures,
                "text_zh": self.text_zh, "text_en": self.text_en}


@dataclass(slots=True)
class Tracking:
    month: date
    planned: float
    status: str  # on_track / behind / failed
    outcomes: list[OutcomeProgress]
    deviations: list[Deviation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month.isoformat(), "planned": round(self.planned, 4),
                "status": self.status, "outcomes": [o.as_dict() for o in self.outcomes],
                "deviations": [d.as_dict() for d in self.deviations]}


def _num(value: float) -> str:
    return f"{value:,.0f}"


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _progress(p: Promise, actual: float | None, planned: float) -> OutcomeProgress:
    start = p.start()
    if actual is None or np.isnan(actual) or np.isnan(start) or p.change <= 0:
        return OutcomeProgress(p.metric, p.baseline, p.target, planned, None, None, "no_data")
    achieved = (actual - start) / p.change
    if achieved < -OFF_TARGET_SHARE:
        status = "off_target"
    elif planned >= GRACE_SHARE and achieved < BEHIND_SHARE * planned:
        status = "behind_plan"
    else:
        status = "on_track"
    return OutcomeProgress(p.metric, p.baseline, p.target, planned, float(actual), float(achieved), status)


def _outcome_deviation(o: OutcomeProgress, month: date) -> Deviation | None:
    spec = METRICS[o.metric]
    ym_zh, ym_en = f"{month.year}年{month.month}月", pd.Timestamp(month).strftime("%B %Y")
    if o.status == "no_data":
        if spec.source == "reported":
            return None  # reported at milestones: an overdue report is its own deviation
        return Deviation("no_data", o.metric, {"month": month.isoformat()},
                         f"{spec.name_zh}：{ym_zh}没有部门数据，按未完成计",
                         f"{spec.name_en}: no department data for {ym_en}; counted as not achieved")
    figures = {"baseline": o.baseline, "target": o.target, "actual": o.actual,
               "achieved": round(o.achieved or 0.0, 4), "planned": round(o.planned, 4),
               "expected": None if o.target is None else round(
                   (o.baseline or 0.0) + o.planned * (o.target - (o.baseline or 0.0)), 2)}
    if o.status == "off_target":
        return Deviation("off_target", o.metric, figures,
                         f"{spec.name_zh}偏离目标：{ym_zh}为{_num(o.actual or 0)}{spec.unit_zh}，"
                         f"低于起点{_num(o.baseline or 0)}{spec.unit_zh}（目标{_num(o.target or 0)}）",
                         f"{spec.name_en} off target: {_num(o.actual or 0)} {spec.unit_en} in {ym_en}, "
                         f"below the starting {_num(o.baseline or 0)} (target {_num(o.target or 0)})")
    if o.status == "behind_plan":
        return Deviation("behind_plan", o.metric, figures,
                         f"{spec.name_zh}落后于计划：截至{ym_zh}应完成{_pct(o.planned)}，"
                         f"实际完成{_pct(max(0.0, o.achieved or 0.0))}"
                         f"（{_num(o.actual or 0)}{spec.unit_zh}，目标{_num(o.target or 0)}）",
                         f"{spec.name_en} behind plan: {_pct(o.planned)} planned by {ym_en}, "
                         f"{_pct(max(0.0, o.achieved or 0.0))} achieved "
                         f"({_num(o.actual or 0)} {spec.unit_en}, target {_num(o.target or 0)})")
    return None


def track(promises: Sequence[Promise], starts_on: date, ends_on: date, month: date,
          measures: pd.DataFrame, *, reported: Mapping[str, float] | None = None,
          overdue: Sequence[tuple[str, date]] = (), trouble: Sequence[tuple[str, str, str]] = (),
          firm_closed: bool = False) -> Tracking:
    """The project's state in ``month``: each promise against its plan, and the deviations.

    ``measures``: :func:`monthly_measures` (the month's row is read); ``reported``: the latest
    reported figure of reported metrics; ``overdue``: milestones (title, due date) passed
    without a self-evaluation; ``trouble``: (code, text_zh, text_en) of the firm's troubles;
    ``firm_closed``: the firm is revoked or cancelled (the project fails)."""
    month = month_end(month)
    planned = planned_share(starts_on, ends_on, month)
    row = measures.loc[pd.Timestamp(month)] if pd.Timestamp(month) in measures.index else None
    outcomes = []
    for p in promises:
        if METRICS[p.metric].source == "reported":
            actual = (reported or {}).get(p.metric)
        else:
            actual = None if row is None else row.get(p.metric)
        outcomes.append(_progress(p, None if actual is None else float(actual), planned))
    deviations = [d for o in outcomes if (d := _outcome_deviation(o, month)) is not None]
    for title, due in overdue:
        deviations.append(Deviation(
            "milestone_overdue", None, {"milestone": title, "due_on": due.isoformat()},
            f"节点「{title}」已于{due.isoformat()}到期，尚未提交自评报告",
            f"Milestone \"{title}\" was due on {due.isoformat()}; no self-evaluation yet"))
    for code, zh, en in trouble:
        deviations.append(Deviation("firm_in_trouble", None, {"signal": code}, zh, en))
    if firm_closed:
        status = "failed"
    elif deviations:
        status = "behind"
    else:
        status = "on_track"
    return Tracking(month=month, planned=planned, status=status, outcomes=outcomes,
                    deviations=deviations)


# --- the result ------------------------------------------------------------------------------

@dataclass(slots=True)
class Result:
    score: int
    rating: str  # excellent / good / pass / fail
    achievement: float  # mean share of the promises achieved (each capped at 1, unknown = 0)
    assessment: int | None
    outcomes: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return self.score >= PASS_SCORE

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "rating": self.rating, "achievement": round(self.achievement, 4),
                "assessment": self.assessment, "outcomes": self.outcomes}


def rating(score: int) -> str:
    return "excellent" if score >= 90 else "good" if score >= 75 else "pass" if score >= PASS_SCORE else "fail"


def result_score(outcomes: Sequence[OutcomeProgress], assessment: int | None) -> Result:
    """The project's result: promises achieved (70 %) and the assessor's score (30 %); with no
    assessment, the promises alone. A project without promises rests on the assessment."""
    shares = [min(1.0, max(0.0, o.achieved)) if o.achieved is not None else 0.0 for o in outcomes]
    achievement = float(np.mean(shares)) if shares else 0.0
    if assessment is None:
        value = 100 * achievement if shares else 0.0
    elif not shares:
        value = float(assessment)
    else:
        value = (1 - ASSESSMENT_WEIGHT) * 100 * achievement + ASSESSMENT_WEIGHT * assessment
    score = int(round(value))
    return Result(score=score, rating=rating(score), achievement=achievement, assessment=assessment,
                  outcomes=[{**o.as_dict(), "counted": s} for o, s in zip(outcomes, shares, strict=True)])
