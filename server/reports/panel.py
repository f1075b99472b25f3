"""The firm-month panel the credit index and the annual report read (``PANEL_COLUMNS``), of the
whole region or of one part of its firms, read with set-based queries (through COPY on
PostgreSQL) and put together without a Python step per row: at 120,000 firms the month-end
scores alone are millions of rows (issue 16)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import date, timedelta

import numpy as np
import pandas as pd
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from scoring.credit_index import PANEL_COLUMNS
from server.risk.frames import DEFAULT_DAYS, DEFAULT_SOURCE, LOCAL
from server.scores.frames import among, read_frame

__all__ = ["FIRM_COLUMNS", "read_panel", "scored_month_ends"]

#: The firms' attributes the groupings read, besides their row id (``firm``) and USCC.
FIRM_COLUMNS = ("firm", "industry_section", "industry_division", "town", "size_class")


def _month_end(engine: Engine, column: str) -> str:
    """``column`` (a date) is its month's last day, in the engine's SQL."""
    if isinstance(engine, PostgresEngine):
        return f"{column} = (date_trunc('month', {column}) + interval '1 month' - interval '1 day')::date"
    return f"{column} = date({column}, 'start of month', '+1 month', '-1 day')"


def _firm_filter(engine: Engine, usccs: Collection[str] | None, column: str) -> tuple[str, list]:
    if usccs is None:
        return "", []
    clause, args = among(engine, "f.uscc", usccs)
    return f" AND {column} IN (SELECT f.id FROM firm f WHERE {clause})", args


async def _firms(engine: Engine, usccs: Collection[str] | None) -> pd.DataFrame:
    where, args = ("", []) if usccs is None else among(engine, "uscc", usccs)
    sql = (f"SELECT id AS firm, uscc, {', '.join(FIRM_COLUMNS[1:])} FROM firm"
           f"{' WHERE ' + where if where else ''} ORDER BY id")
    return await read_frame(engine, sql, tuple(args), firms=None if usccs is None else len(usccs))


async def _score_rows(engine: Engine, usccs: Collection[str] | None) -> pd.DataFrame:
    """The month-end rows of the score history (every run's)."""
    where, args = _firm_filter(engine, usccs, "h.firm")
    sql = (f"SELECT h.id, h.firm, h.run, h.as_of, h.score, h.grade FROM score_history h "
           f"WHERE {_month_end(engine, 'h.as_of')}{where}")
    return await read_frame(engine, sql, tuple(args), firms=None if usccs is None else len(usccs))


async def _warning_rows(engine: Engine, usccs: Collection[str] | None) -> pd.DataFrame:
    """The red and yellow warnings, open or closed."""
    where, args = _firm_filter(engine, usccs, "w.firm")
    sql = (f"SELECT w.firm, w.opened_at, w.closed_at FROM risk_warning w "
           f"WHERE w.level IN ('red', 'yellow'){where}")
    return await read_frame(engine, sql, tuple(args), firms=None if usccs is None else len(usccs))


async def _first_defaults(engine: Engine, usccs: Collection[str] | None) -> pd.DataFrame:
    """Each defaulted firm's first default (as ``server.risk.frames.load_first_defaults``)."""
    where, args = ("", []) if usccs is None else among(engine, "uscc", usccs)
    sql = ("SELECT uscc, MIN(event_date) AS default_date FROM dept_record "
           "WHERE source = ? AND days >= ? AND superseded_at IS NULL"
           f"{' AND ' + where if where else ''} GROUP BY uscc")
    return await read_frame(engine, sql, (DEFAULT_SOURCE, DEFAULT_DAYS, *args),
                            firms=None if usccs is None else len(usccs))


def _month_end_scores(rows: pd.DataFrame) -> pd.DataFrame:
    """Each firm's score as of each month's last day; of several runs for the day, the latest's."""
    rows = rows.reindex(columns=["id", "firm", "run", "as_of", "score", "grade"])
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    for name in ("id", "firm", "run", "score"):
        rows[name] = pd.to_numeric(rows[name]).astype(np.int64)
    return (rows.sort_values(["firm", "as_of", "run", "id"], kind="stable")
            .drop_duplicates(["firm", "as_of"], keep="last").reset_index(drop=True))


def _warned(w: pd.DataFrame, scores: pd.DataFrame) -> np.ndarray:
    """Per score row: a red or yellow warning of its firm (``w``) open at its month's end."""
    warned = np.zeros(len(scores), dtype=bool)
    if scores.empty or w.empty:
        return warned
    # instants as naive UTC
    opened = pd.to_datetime(w["opened_at"], utc=True, format="ISO8601").dt.tz_localize(None)
    closed = pd.to_datetime(w["closed_at"], utc=True, format="ISO8601").dt.tz_localize(None)
    # the moment a month ends: midnight after its last day, in the region's calendar
    month_ends = pd.DatetimeIndex(scores["as_of"].unique())
    end_of = pd.Series((month_ends + timedelta(days=1)).tz_localize(LOCAL).tz_convert("UTC").tz_localize(None),
                       index=month_ends)
    ends = scores["as_of"].map(end_of)
    live = (closed.isna() | (closed >= ends.min())).to_numpy()
    w = pd.DataFrame({"firm": pd.to_numeric(w["firm"]).astype(np.int64), "opened": opened, "closed": closed})[live]
    joined = pd.DataFrame({"firm": scores["firm"].to_numpy(), "end": ends.to_numpy(),
                           "pos": np.arange(len(scores))}).merge(w, on="firm")
    open_ = (joined["opened"] < joined["end"]) & (joined["closed"].isna() | (joined["closed"] >= joined["end"]))
    warned[joined.loc[open_, "pos"].to_numpy()] = True
    return warned


def _assemble(firms: pd.DataFrame, score_rows: pd.DataFrame, warnings: pd.DataFrame,
              defaults: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The panel and the firms' attributes from what :func:`read_panel` read."""
    firms = firms.reindex(columns=["firm", "uscc", *FIRM_COLUMNS[1:]])
    firms["firm"] = pd.to_numeric(firms["firm"]).astype(np.int64)
    scores = _month_end_scores(score_rows)
    warned = _warned(warnings, scores)
    defaults = defaults.reindex(columns=["uscc", "default_date"])
    uscc_of = pd.Series(firms["uscc"].to_numpy(), index=firms["firm"].to_numpy())
    first = pd.Series(pd.to_datetime(defaults["default_date"], errors="coerce").to_numpy(),
                      index=defaults["uscc"].to_numpy())
    default_day = pd.to_datetime(scores["firm"].map(uscc_of).map(first))
    month_end = scores["as_of"]
    month_start = month_end - pd.offsets.MonthBegin(1)
    defaulted = (default_day >= month_start) & (default_day <= month_end)
    panel = pd.DataFrame({"firm": scores["firm"].astype("int64"), "month": month_end,
                          "score": scores["score"].astype(float), "grade": scores["grade"].astype(object),
                          "warned": warned, "defaulted": defaulted.to_numpy(dtype=bool)},
                         columns=list(PANEL_COLUMNS))
    return panel, firms.loc[:, list(FIRM_COLUMNS)]


async def read_panel(engine: Engine, usccs: Collection[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The firm-month panel (``PANEL_COLUMNS``) and the firms' attributes (``FIRM_COLUMNS``),
    of the firms ``usccs`` (all when None).

    A firm is in a month when it was scored as of that month's last day; of several runs for
    that day, the latest run's row counts. ``warned``: a red or yellow warning open at the
    month's end; ``defaulted``: its first default (see ``load_first_defaults``) in the month.
    Put together in a worker thread: at 120,000 firms it is seconds of work that an API
    process's event loop must not wait on.
    """
    firms = await _firms(engine, usccs)
    score_rows = await _score_rows(engine, usccs)
    warnings = await _warning_rows(engine, usccs)
    defaults = await _first_defaults(engine, usccs)
    return await asyncio.to_thread(_assemble, firms, score_rows, warnings, defaults)


async def scored_month_ends(engine: Engine, start: date, end: date) -> list[pd.Timestamp]:
    """The month ends from ``start`` to ``end`` as of which some firm was scored, in order."""
    sql = (f"SELECT DISTINCT as_of FROM score_history WHERE as_of >= ? AND as_of <= ? "
           f"AND {_month_end(engine, 'as_of')}")
    args = (start, end) if isinstance(engine, PostgresEngine) else (start.isoformat(), end.isoformat())
    frame = await read_frame(engine, sql, args, firms=1)  # a few rows: fetched, not copied
    return sorted(pd.Timestamp(d) for d in pd.to_datetime(frame["as_of"]))
