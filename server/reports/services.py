"""The monthly credit index from stored data: the firm-month panel read from the score
history, the warnings and the default records, handed to :func:`scoring.credit_index`."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from litestar.exceptions import ValidationException

from scoring.credit_index import PANEL_COLUMNS, CreditIndexWeights, credit_index
from server.privacy import min_firms
from server.reports.schemas import CreditIndexOut, CreditIndexPoint, CreditIndexSeries
from server.reports.thematic import data_key
from server.risk.frames import LOCAL, load_first_defaults
from server.tables.firms import Firm
from server.tables.risk import Warning
from server.tables.scores import ScoreHistory
from server.texts import t

__all__ = ["FIRM_COLUMNS", "credit_index_report", "load_panel", "parse_month"]

FIRM_COLUMNS = ("firm", "industry_section", "industry_division", "town", "size_class")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _is_month_end(d: date) -> bool:
    return (d + timedelta(days=1)).day == 1


def _end_instant(month_end: date) -> datetime:
    """The moment a month ends: midnight after its last day, in the region's calendar."""
    return datetime.combine(month_end + timedelta(days=1), time.min, LOCAL)


async def load_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The firm-month panel (``PANEL_COLUMNS``) and the firms' attributes (``FIRM_COLUMNS``).

    A firm is in a month when it was scored as of that month's last day; of several runs for
    that day, the latest run's row counts. ``warned``: a red or yellow warning open at the
    month's end; ``defaulted``: its first default (see ``load_first_defaults``) in the month.
    """
    rows = await ScoreHistory.select(
        ScoreHistory.firm, ScoreHistory.firm.uscc.as_alias("uscc"), ScoreHistory.run,
        ScoreHistory.as_of, ScoreHistory.score, ScoreHistory.grade,
    ).order_by(ScoreHistory.id)
    scores = pd.DataFrame(rows, columns=["firm", "uscc", "run", "as_of", "score", "grade"])
    scores = scores[[_is_month_end(d) for d in scores["as_of"]]] if len(scores) else scores
    scores = (scores.sort_values(["firm", "as_of", "run"], kind="stable")
              .drop_duplicates(["firm", "as_of"], keep="last").reset_index(drop=True))
    firms = pd.DataFrame(await Firm.select(
        Firm.id.as_alias("firm"), Firm.industry_section, Firm.industry_division, Firm.town,
        Firm.size_class,
    ).order_by(Firm.id), columns=list(FIRM_COLUMNS))

    warned = np.zeros(len(scores), dtype=bool)
    if len(scores):
        ends = [_end_instant(d) for d in scores["as_of"]]
        first_end = _end_instant(min(scores["as_of"]))
        wrows = await Warning.select(
            Warning.firm, Warning.opened_at, Warning.closed_at,
        ).where(Warning.level.is_in(["red", "yellow"])
                & (Warning.closed_at.is_null() | (Warning.closed_at >= first_end)))
        if wrows:
            w = pd.DataFrame(wrows, columns=["firm", "opened_at", "closed_at"])
            w["opened_at"] = pd.to_datetime(w["opened_at"], utc=True)
            w["closed_at"] = pd.to_datetime(w["closed_at"], utc=True)
            joined = scores[["firm"]].assign(end=pd.to_datetime(ends, utc=True).to_numpy(),
                                             pos=np.arange(len(scores))).merge(w, on="firm")
            open_ = (joined["opened_at"] < joined["end"]) & (
                joined["closed_at"].isna() | (joined["closed_at"] >= joined["end"]))
            warned[joined.loc[open_, "pos"].to_numpy()] = True

    defaults = await load_first_defaults()
    first = dict(zip(defaults["uscc"], defaults["default_date"], strict=True))
    default_day = pd.to_datetime(scores["uscc"].map(first))
    month_end = pd.to_datetime(scores["as_of"])
    month_start = month_end - pd.offsets.MonthBegin(1)
    defaulted = (default_day >= month_start) & (default_day <= month_end)

    panel = pd.DataFrame({"firm": scores["firm"].astype("int64"), "month": month_end,
                          "score": scores["score"].astype(float), "grade": scores["grade"],
                          "warned": warned, "defaulted": defaulted.to_numpy(dtype=bool)},
                         columns=list(PANEL_COLUMNS))
    return panel, firms


# The index of each grouping, kept while the data it was computed from is unchanged (the analyst's
# screens ask for it again and again; it reads every month-end score): {(by, min firms, weights)}.
_index_cache: tuple[tuple[Any, ...], dict[tuple[Any, ...], Any]] = ((), {})


async def _credit_index(by: str, need: int, weights: CreditIndexWeights) -> Any:
    """``credit_index`` of the platform's panel, computed once per state of the data. Callers
    must not modify what it returns."""
    global _index_cache
    key = await data_key()
    if _index_cache[0] != key:
        _index_cache = (key, {})
    found = _index_cache[1]
    what = (by, need, tuple(asdict(weights).items()))
    if what not in found:
        panel, firms = await load_panel()
        found[what] = credit_index(panel, firms, by=by, min_firms=need, weights=weights)
    return found[what]


def parse_month(field: str, value: str | None) -> date | None:
    """A ``YYYY-MM`` query value as that month's last day (400 naming ``field`` otherwise)."""
    if value is None:
        return None
    m = _MONTH.fullmatch(value.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise ValidationException(t("{field}: a month as YYYY-MM, not {got!r}", field=field,
                                    got=value))
    first = date(int(m.group(1)), int(m.group(2)), 1)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


async def credit_index_report(by: str, group: str | None, start: str | None, end: str | None,
                              k: int) -> CreditIndexOut:
    """The credit index of every group of ``by`` (or the one ``group``) with at least K firms
    besides one reader, its points between the months ``start`` and ``end`` (``YYYY-MM``,
    both included). The index is always chained from the base month, so a window never
    changes a month's value."""
    lo, hi = parse_month("from", start), parse_month("to", end)
    if lo is not None and hi is not None and hi < lo:
        raise ValidationException(t("to: must not be before from ({start})", start=start))
    need = min_firms(k)
    weights = CreditIndexWeights()
    base, series = await _credit_index(by, need, weights)
    out: list[CreditIndexSeries] = []
    for code, points in series.items():
        if group is not None and code != group:
            continue
        shown = [p for p in points
                 if (lo is None or p["month"].date() >= lo) and (hi is None or p["month"].date() <= hi)]
        if not shown:
            continue
        out.append(CreditIndexSeries(group=code, firms_last=int(shown[-1]["firms"]), points=[
            CreditIndexPoint(month=p["month"].strftime("%Y-%m"), index=p["index"],
                             firms=p["firms"], matched=p["matched"], restart=p["restart"],
                             components=p["components"]) for p in shown]))
    return CreditIndexOut(base_month=None if base is None else base.strftime("%Y-%m"), k=k,
                          min_firms=need, by=by,
                          weights=asdict(weights), series=out)
