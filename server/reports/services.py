"""The monthly credit index from stored data: the firm-month panel read from the score
history, the warnings and the default records, handed to :func:`scoring.credit_index`."""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import pandas as pd
from litestar.exceptions import ValidationException

from scoring.credit_index import CreditIndexWeights, credit_index
from server.privacy import min_firms
from server.reports.panel import FIRM_COLUMNS, read_panel
from server.reports.schemas import CreditIndexOut, CreditIndexPoint, CreditIndexSeries
from server.reports.thematic import data_key
from server.tables.scores import ScoreHistory
from server.texts import t

__all__ = ["FIRM_COLUMNS", "credit_index_report", "load_panel", "parse_month"]

_MONTH = re.compile(r"(\d{4})-(\d{2})")


async def load_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The region's firm-month panel and firms' attributes (:func:`server.reports.panel.read_panel`)."""
    return await read_panel(ScoreHistory._meta.db)


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
        found[what] = await asyncio.to_thread(credit_index, panel, firms, by=by, min_firms=need, weights=weights)
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
