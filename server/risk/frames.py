"""Reading what the warning scan needs out of the database as the frames ``scoring.risk`` and
``scoring.graph`` take: guarantees, firm-person relations, score history, open warnings."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from piccolo.query.functions.aggregate import Min

from scoring.graph import GUARANTEE_COLUMNS, RELATION_COLUMNS
from server.tables.firms import FirmPerson, Guarantee
from server.tables.ingest import DeptRecord
from server.tables.risk import RiskSnapshot, Warning
from server.tables.scores import ScoreHistory

__all__ = ["LOCAL", "OPEN_COLUMNS", "latest_snapshot", "load_first_defaults", "load_guarantees",
           "load_open_warnings",
           "load_relations", "load_scores", "region_day", "to_json"]

#: The region's calendar.
LOCAL = ZoneInfo("Asia/Shanghai")


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _dates(frame: pd.DataFrame, *names: str) -> pd.DataFrame:
    for name in names:
        frame[name] = pd.to_datetime(frame[name], errors="coerce")
    return frame


async def load_guarantees() -> pd.DataFrame:
    """Every firm-to-firm guarantee: ``GUARANTEE_COLUMNS`` plus ``record_key`` (fen; the
    analyses take the ones active on their date)."""
    rows = await Guarantee.select(
        Guarantee.guarantor.uscc.as_alias("guarantor_uscc"),
        Guarantee.guaranteed.uscc.as_alias("guaranteed_uscc"),
        Guarantee.amount_fen, Guarantee.start_date, Guarantee.end_date, Guarantee.record_key,
    ).order_by(Guarantee.id)
    frame = _dates(_frame(rows, [*GUARANTEE_COLUMNS, "record_key"]), "start_date", "end_date")
    frame["amount_fen"] = pd.to_numeric(frame["amount_fen"]).astype("int64")
    return frame


async def load_relations() -> pd.DataFrame:
    """Every person's role in a firm: ``RELATION_COLUMNS`` (``person_id`` is the person's row
    id as text, which ties the same person across firms)."""
    rows = await FirmPerson.select(
        FirmPerson.firm.uscc.as_alias("uscc"), FirmPerson.person.as_alias("person_id"),
        FirmPerson.role, FirmPerson.start_date, FirmPerson.end_date,
    ).order_by(FirmPerson.id)
    frame = _dates(_frame(rows, list(RELATION_COLUMNS)), "start_date", "end_date")
    frame["person_id"] = frame["person_id"].astype(str)
    return frame


async def load_scores(since: date, firm_ids: Collection[int] | None = None) -> pd.DataFrame:
    """Score history from ``since`` on: ``uscc, as_of, score, grade, pd``, oldest first and,
    within a date, in the order written (so a re-score of the same date comes last)."""
    query = ScoreHistory.select(
        ScoreHistory.firm.uscc.as_alias("uscc"), ScoreHistory.as_of, ScoreHistory.score,
        ScoreHistory.grade, ScoreHistory.pd,
    ).where(ScoreHistory.as_of >= since)
    if firm_ids is not None:
        if not firm_ids:
            return _dates(_frame([], ["uscc", "as_of", "score", "grade", "pd"]), "as_of")
        query = query.where(ScoreHistory.firm.is_in(sorted(firm_ids)))
    rows = await query.order_by(ScoreHistory.as_of).order_by(ScoreHistory.id)
    return _dates(_frame(rows, ["uscc", "as_of", "score", "grade", "pd"]), "as_of")


#: What counts as a default: a bank loan 90 days or more overdue (a record not superseded).
DEFAULT_SOURCE, DEFAULT_DAYS = "bank_loan", 90


async def load_first_defaults() -> pd.DataFrame:
    """Each defaulted firm's first default: ``uscc, default_date`` (the macro index and the
    credit index count defaults by it)."""
    first = await DeptRecord.select(
        DeptRecord.uscc, Min(DeptRecord.event_date).as_alias("default_date"),
    ).where((DeptRecord.source == DEFAULT_SOURCE) & (DeptRecord.days >= DEFAULT_DAYS)
            & DeptRecord.superseded_at.is_null()).group_by(DeptRecord.uscc)
    return _dates(_frame(first, ["uscc", "default_date"]), "default_date")


OPEN_COLUMNS = ("id", "firm", "uscc", "rule_code", "level", "kind", "evidence", "first_seen",
                "opened_at")


async def load_open_warnings(firm_ids: Collection[int] | None = None,
                             rule_codes: Collection[str] | None = None,
                             level: str | None = None) -> list[dict[str, Any]]:
    """Open warnings (of some firms, rules or one level), evidence decoded: what
    ``scoring.risk.reconcile`` compares findings with."""
    query = Warning.select(
        Warning.id, Warning.firm, Warning.firm.uscc.as_alias("uscc"), Warning.rule_code,
        Warning.level, Warning.kind, Warning.evidence, Warning.first_seen, Warning.opened_at,
    ).where(Warning.closed_at.is_null())
    if firm_ids is not None:
        if not firm_ids:
            return []
        query = query.where(Warning.firm.is_in(sorted(firm_ids)))
    if rule_codes is not None:
        query = query.where(Warning.rule_code.is_in(sorted(rule_codes)))
    if level is not None:
        query = query.where(Warning.level == level)
    rows = await query.order_by(Warning.id)
    for r in rows:
        if isinstance(r["evidence"], str | bytes):
            r["evidence"] = json.loads(r["evidence"] or "{}")
    return rows


def region_day(as_of: date | datetime | None) -> date:
    """The scan's date: a datetime is read in Asia/Shanghai (the region's calendar)."""
    if as_of is None:
        return datetime.now(LOCAL).date()
    if isinstance(as_of, datetime):
        return (as_of.astimezone(LOCAL) if as_of.tzinfo else as_of).date()
    return as_of


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


async def latest_snapshot(*kinds: str) -> dict[str, Any] | None:
    row = await RiskSnapshot.select(
        RiskSnapshot.kind, RiskSnapshot.as_of, RiskSnapshot.data, RiskSnapshot.created_at,
    ).where(RiskSnapshot.kind.is_in(list(kinds))).order_by(
        RiskSnapshot.created_at, ascending=False).order_by(
        RiskSnapshot.id, ascending=False).first()
    if row is not None and isinstance(row["data"], str | bytes):
        row["data"] = json.loads(row["data"] or "{}")
    return row
