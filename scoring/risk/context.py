"""What the warning rules read: records known at ``as_of``, laid out per firm, and the
references back to the rows that make a warning's evidence.

One :class:`Context` is built per evaluation and shared by every rule, so monthly grids,
statements and score history are computed once. Every array has one entry per firm of the
universe (``index``); a rule's answer for a firm depends on that firm's rows only, which is
why evaluating a subset of firms gives the same findings for them as a full scan. Only
records with ``event_date <= as_of`` are read (:class:`scoring._known.KnownRecords`), only
scores with ``as_of <=`` the evaluation date, only red partners red by then.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .._codes import month_numbers
from .._known import KnownRecords, Rows
from ..feature_store import CELL_ONLY_KINDS

__all__ = ["MONTHS", "Context", "Hits", "RedPartners", "Statements"]

MONTHS = 27  # months of monthly history kept per firm (lag 0 = latest month end)
_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
_STATEMENT_ITEMS = ("year", "revenue", "cost_of_sales", "net_profit", "total_assets",
                    "total_liabilities", "current_assets", "current_liabilities", "inventory",
                    "receivables", "equity", "operating_cash_flow", "interest_expense")
_REF_COLUMNS = ("end_date", "category", "amount_fen", "arrears_fen", "quantity", "days", "status")

Refs = list[list[dict[str, Any]]]


def timestamp(d: date | str | pd.Timestamp) -> pd.Timestamp:
    """A naive, day-precision timestamp (timezone-aware input is read in UTC)."""
    t = pd.Timestamp(d)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.normalize()


def _naive_dates(values: object) -> pd.Series:
    s = pd.to_datetime(pd.Series(values), errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.astype("datetime64[ns]")


@dataclass(frozen=True, slots=True)
class RedPartners:
    """Facts the contagion rules need, supplied by the caller (they span firms beyond any
    subset being evaluated).

    ``red`` names the firms that are red, with the date each turned red (``None``: red now);
    a firm red only after ``as_of`` does not count. ``guarantees`` has columns
    ``guarantor_uscc, guaranteed_uscc, amount_fen, start_date, end_date`` (and optionally
    ``record_key``); ``relations`` has ``uscc, person_id, role, start_date, end_date``.
    """

    red: Mapping[str, date | str | pd.Timestamp | None] | Iterable[str]
    guarantees: pd.DataFrame | None = None
    relations: pd.DataFrame | None = None

    def red_since(self) -> pd.Series:
        """Date each red firm turned red (NaT: unknown, taken as red already), by uscc."""
        if isinstance(self.red, pd.Series):
            s = self.red
        elif isinstance(self.red, Mapping):
            s = pd.Series(dict(self.red), dtype=object)
        else:
            s = pd.Series(None, index=list(self.red), dtype=object)
        out = _naive_dates(s.to_numpy())
        out.index = pd.Index(s.index.astype(str), name="uscc")
        return out[~out.index.duplicated(keep="first")]


@dataclass(slots=True)
class Hits:
    """The firms one rule fires for: positions in the universe, and per firing firm its
    figures (arrays aligned with ``pos``), record references and start date."""

    pos: np.ndarray
    figures: dict[str, np.ndarray]
    refs: Refs | None
    since: np.ndarray | None  # datetime64[ns], NaT = unknown


@dataclass(slots=True)
class Statements:
    """Latest and previous annual statement per firm (filed within 36 months)."""

    latest: dict[str, np.ndarray]
    prev: dict[str, np.ndarray]
    latest_row: np.ndarray  # absolute row in the records frame, -1 = none
    prev_row: np.ndarray
    filed: np.ndarray  # datetime64[ns] filing date of the latest, NaT = none
    max_year: np.ndarray  # latest fiscal year of any statement known (not only 36 months)


class Context:
    """The records known at ``as_of`` for the firms of ``index``, plus score history and red
    partners; caches what several rules read."""

    def __init__(self, records: pd.DataFrame, as_of: date | str | pd.Timestamp, index: pd.Index,
                 firms: pd.DataFrame | None = None, scores: pd.DataFrame | None = None,
                 partners: RedPartners | None = None, cells: pd.DataFrame | None = None,
                 known: KnownRecords | None = None) -> None:
        self.as_of = timestamp(as_of)
        self.as_of_ns = int(self.as_of.value)
        self.index = index
        self.n = len(index)
        self.records = records
        # with the feature store's cells, the monthly kinds are read from them
        # ``known``: the same, built already for these records, date, firms and cells
        self.known = known if known is not None else KnownRecords(records, self.as_of, index, cells=cells)
        self.cells = self.known.cells
        # With cells, the kinds whose rows the caller may have left out (the store replaces
        # them) and those of them a rule read rows of since ``touched`` was last cleared: a
        # scan in two passes runs such a rule's firms again with their rows (``scan_passes``).
        self._cell_only = frozenset(CELL_ONLY_KINDS) if cells is not None else frozenset()
        self.touched: set[str] = set()
        last = self.as_of if self.as_of.is_month_end else self.as_of - pd.offsets.MonthEnd(1)
        self.ref_month = int(np.datetime64(last, "M").astype(np.int64))
        self.firms = None if firms is None else (
            firms.drop_duplicates("uscc").set_index("uscc").reindex(index))
        self._scores = scores
        self.partners = partners
        self._cache: dict[object, Any] = {}

    def memo(self, key: object, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key and context: what several rules read."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- monthly grids -------------------------------------------------------------------------

    def monthly(self, kind: str, column: str, category: str | None = None,
                how: str = "sum") -> np.ndarray:
        """(firms x MONTHS) grid of a monthly kind, lag 0 = the latest month end at as_of;
        NaN where the month has no record."""
        key = ("monthly", kind, column, category, how)
        if key not in self._cache:
            self._cache[key] = self.known.monthly(kind, column, category, how, MONTHS)
        return self._cache[key]

    def has_month(self, kind: str, category: str | None = None) -> np.ndarray:
        """(firms x MONTHS) whether the month has any record of the kind (any value)."""
        key = ("has", kind, category)
        if key not in self._cache and self.cells is not None and kind in self.cells.kinds:
            # from the cells: a month has a cell exactly when it has a row
            self._cache[key] = self.cells.has_month(kind, category, MONTHS)
        if key not in self._cache:
            rows = self.rows(kind)
            if category is not None:
                rows = rows.of(category)
            lag = self.ref_month - self.month_of(rows.event)
            ok = (lag >= 0) & (lag < MONTHS)
            grid = np.zeros(self.n * MONTHS, dtype=bool)
            grid[rows.pos[ok].astype(np.intp) * MONTHS + lag[ok]] = True
            self._cache[key] = grid.reshape(self.n, MONTHS)
        return self._cache[key]

    def month_of(self, ns: np.ndarray) -> np.ndarray:
        """Months since 1970-01 of int64-nanosecond dates."""
        return month_numbers(ns.view("datetime64[ns]"))

    def month_end(self, lag: np.ndarray | int) -> np.ndarray:
        """Month-end dates (datetime64[D]) of lags."""
        m = (self.ref_month - np.asarray(lag, dtype=np.int64) + 1).astype("datetime64[M]")
        return m.astype("datetime64[D]") - np.timedelta64(1, "D")

    @staticmethod
    def latest_lag(grid: np.ndarray, within: int = 3) -> np.ndarray:
        """Lag of each firm's most recent month with a value among the last ``within``
        (-1 when none)."""
        has = ~np.isnan(grid[:, :within])
        return np.where(has.any(axis=1), has.argmax(axis=1), -1)

    @staticmethod
    def at(grid: np.ndarray, lag: np.ndarray) -> np.ndarray:
        """Each firm's value at its own lag (NaN where the lag is negative)."""
        ok = lag >= 0
        v = grid[np.arange(len(grid)), np.where(ok, lag, 0)]
        return np.where(ok, v, np.nan)

    # -- event rows ------------------------------------------------------------------------------

    def rows(self, kind: str) -> Rows:
        """Rows of ``kind`` known at as_of (event_date <= as_of)."""
        if kind in self._cell_only:
            self.touched.add(kind)
        return self.known.kind(kind)

    def within_days(self, rows: Rows, days: float) -> Rows:
        """Rows whose event date is less than ``days`` days before as_of."""
        return rows.where(rows.event > self.as_of_ns - int(days * _DAY))

    def ends(self, rows: Rows) -> np.ndarray:
        """int64 ns end dates of the rows (NaT as int64 min)."""
        return self.known.dates("end_date", rows.idx)

    def count(self, rows: Rows) -> np.ndarray:
        return self.known.count(rows)

    def total(self, rows: Rows, column: str) -> np.ndarray:
        return self.known.total(rows, column)

    def first_event(self, rows: Rows) -> np.ndarray:
        """Earliest event date per firm as datetime64[ns] (NaT when none)."""
        out = np.full(self.n, np.iinfo(np.int64).max)
        np.minimum.at(out, rows.pos, rows.event)
        out[out == np.iinfo(np.int64).max] = _NAT
        return out.view("datetime64[ns]")

    def last_event(self, rows: Rows) -> np.ndarray:
        """Latest event date per firm as datetime64[ns] (NaT when none)."""
        out = np.full(self.n, _NAT)
        np.maximum.at(out, rows.pos, rows.event)
        return out.view("datetime64[ns]")

    def absolute(self, rows: Rows, at: np.ndarray | None = None) -> np.ndarray:
        """Row numbers in the records frame of ``rows`` (or of the places ``at`` among them)."""
        if isinstance(rows.idx, slice):
            base = np.arange(len(rows), dtype=np.int64) if at is None else at.astype(np.int64)
            return base + rows.idx.start
        return rows.idx if at is None else rows.idx[at]

    # -- firms, statements, scores -------------------------------------------------------------

    def firm_column(self, name: str) -> np.ndarray:
        """A column of the firms frame aligned with the universe (None/NaN when unknown)."""
        if self.firms is None or name not in self.firms.columns:
            return np.full(self.n, None, dtype=object)
        return self.firms[name].to_numpy()

    def statements(self) -> Statements:
        """Latest and previous statement per firm, ranked as :mod:`scoring.features` does:
        by fiscal year (missing last), then filing date, then record order."""
        if "statements" in self._cache:
            return self._cache["statements"]
        every = self.rows("financial_statement")
        latest = {k: np.full(self.n, np.nan) for k in _STATEMENT_ITEMS}
        prev = {k: np.full(self.n, np.nan) for k in _STATEMENT_ITEMS}
        latest_row, prev_row = np.full(self.n, -1, np.int64), np.full(self.n, -1, np.int64)
        filed = np.full(self.n, _NAT)
        max_year = np.full(self.n, np.nan)
        if len(every):
            all_items = _items([a if type(a) is dict else _attrs(a)
                                for a in every.objects("attrs")])
            np.fmax.at(max_year, every.pos, all_items[:, 0])
        start = (self.as_of - pd.DateOffset(months=36)).value
        recent = every.event > start
        g = every.where(recent)
        if len(g):
            items = all_items[recent]
            year = items[:, 0]
            order = np.lexsort((g.event, np.where(np.isnan(year), np.inf, year), g.pos))
            pos, yr = g.pos[order], year[order]
            same = (pos[1:] == pos[:-1]) & ((yr[1:] == yr[:-1])
                                            | (np.isnan(yr[1:]) & np.isnan(yr[:-1])))
            kept = order[np.r_[~same, True]]
            pos = g.pos[kept]
            group_end = np.flatnonzero(np.r_[pos[1:] != pos[:-1], True])
            group_id = np.repeat(np.arange(len(group_end)), np.diff(np.r_[-1, group_end]))
            rank = group_end[group_id] - np.arange(len(kept))
            for which, out, rows_out in ((0, latest, latest_row), (1, prev, prev_row)):
                sel = kept[rank == which]
                for j, k in enumerate(_STATEMENT_ITEMS):
                    out[k][g.pos[sel]] = items[sel, j]
                rows_out[g.pos[sel]] = self.absolute(g, sel)
                if which == 0:
                    filed[g.pos[sel]] = g.event[sel]
        st = Statements(latest, prev, latest_row, prev_row, filed.view("datetime64[ns]"),
                        max_year)
        self._cache["statements"] = st
        return st

    def scores(self) -> pd.DataFrame | None:
        """Score history known at as_of for the universe: uscc, as_of, score, grade, pos;
        sorted by firm and date."""
        if "scores" in self._cache:
            return self._cache["scores"]
        out = None
        if self._scores is not None and len(self._scores):
            s = pd.DataFrame({
                "uscc": self._scores["uscc"].astype(str).to_numpy(),
                "as_of": _naive_dates(self._scores["as_of"].to_numpy()).to_numpy(),
                "score": pd.to_numeric(self._scores["score"], errors="coerce").to_numpy(),
                "grade": self._scores["grade"].to_numpy(dtype=object),
            })
            s["pos"] = self.index.get_indexer(s["uscc"])
            s = s[(s["pos"] >= 0) & (s["as_of"] <= self.as_of)]
            out = s.sort_values(["pos", "as_of"], kind="stable").reset_index(drop=True)
        self._cache["scores"] = out
        return out

    # -- hits and evidence ---------------------------------------------------------------------

    def hits(self, mask: np.ndarray, figures: Mapping[str, np.ndarray] | None = None,
             refs: Callable[[np.ndarray], Refs] | None = None,
             since: np.ndarray | None = None) -> Hits:
        """The firing firms of ``mask`` with their figures (full-length arrays, picked here),
        record references (built for the firing firms only) and start dates."""
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        figs = {k: np.asarray(v)[pos] for k, v in (figures or {}).items()}
        r = refs(pos) if refs is not None and len(pos) else None
        s = None if since is None else np.asarray(since).astype("datetime64[ns]")[pos]
        return Hits(pos, figs, r, s)

    def refs(self, kind: str, rows: Rows, pos: np.ndarray, *, limit: int = 5,
             lag: np.ndarray | None = None) -> Refs:
        """References to the rows of the firms at ``pos``, newest first, at most ``limit``
        per firm; with ``lag`` (aligned with ``pos``) only rows of that month."""
        slot = np.full(self.n, -1, np.int64)
        slot[pos] = np.arange(len(pos))
        at = np.flatnonzero(slot[rows.pos] >= 0)
        s, event = slot[rows.pos[at]], rows.event[at]
        if lag is not None:
            same = self.ref_month - self.month_of(event) == np.asarray(lag)[s]
            at, s, event = at[same], s[same], event[same]
        order = np.lexsort((-event, s))
        at, s = at[order], s[order]
        first = np.searchsorted(s, s, side="left")
        within = np.arange(len(s)) - first < limit
        at, s = at[within], s[within]
        dicts = self.describe(kind, self.absolute(rows, at))
        out: Refs = [[] for _ in range(len(pos))]
        for k, d in zip(s.tolist(), dicts, strict=True):
            out[k].append(d)
        return out

    def row_refs(self, kind: str, rows_abs: np.ndarray) -> Refs:
        """One reference (or none, for -1) per entry of absolute row numbers."""
        ok = rows_abs >= 0
        dicts = iter(self.describe(kind, rows_abs[ok]))
        return [[next(dicts)] if o else [] for o in ok.tolist()]

    def describe(self, kind: str, rows_abs: np.ndarray) -> list[dict[str, Any]]:
        """JSON-ready descriptions of records: kind, dates, identifiers and figures."""
        if not len(rows_abs):
            return []
        rec = self.records
        cols: dict[str, list[Any]] = {"event_date": _column(rec["event_date"], rows_abs)}
        for c in ("record_id", "record_key", *_REF_COLUMNS):
            if c in rec.columns:
                cols[c] = _column(rec[c], rows_abs)
        if "record_key" not in cols and "attrs" in rec.columns:
            keys = [a.get("record_key") if isinstance(a, dict) else None
                    for a in rec["attrs"].to_numpy()[rows_abs]]
            if any(k is not None for k in keys):
                cols["record_key"] = keys
        names = list(cols)
        out = []
        for values in zip(*(cols[c] for c in names), strict=True):
            d: dict[str, Any] = {"kind": kind}
            for c, v in zip(names, values, strict=True):
                if v is not None:
                    d[c] = v
            out.append(d)
        return out


def join_refs(*parts: Refs | None) -> Refs:
    """Element-wise concatenation of reference lists."""
    parts_ = [p for p in parts if p is not None]
    if not parts_:
        return []
    return [sum(group, []) for group in zip(*parts_, strict=True)]


def _attrs(a: object) -> dict[str, Any]:
    if isinstance(a, dict):
        return a
    if isinstance(a, str | bytes) and a:
        try:
            v = json.loads(a)
        except ValueError:
            return {}
        return v if isinstance(v, dict) else {}
    return {}


def _number(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return np.nan


def _items(attrs: list[dict[str, Any]]) -> np.ndarray:
    """(statements x items) floats; NaN where an item is missing or not a number."""
    try:  # the common case: every item present, numbers or None
        raw = list(map(operator.itemgetter(*_STATEMENT_ITEMS), attrs))
        return np.array(raw, dtype=float).reshape(len(attrs), len(_STATEMENT_ITEMS))
    except (KeyError, TypeError, ValueError, OverflowError):
        pass
    return np.array([[_number(a.get(k)) for k in _STATEMENT_ITEMS] for a in attrs],
                    dtype=float).reshape(len(attrs), len(_STATEMENT_ITEMS))


def _column(col: pd.Series, rows: np.ndarray) -> list[Any]:
    """JSON-ready values of a column at some rows: ISO dates, ints, floats, text; None when
    missing."""
    dtype = col.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        v = pd.DatetimeIndex(col.array[rows])
        return [None if pd.isna(x) else x.date().isoformat() for x in v]
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        arr = col.array[rows]
        return [None if pd.isna(x) else int(x) for x in arr]
    if pd.api.types.is_float_dtype(dtype):
        arr = np.asarray(col.array[rows], dtype=float)
        return [None if np.isnan(x) else float(x) for x in arr.tolist()]
    raw = col.to_numpy()[rows]
    out: list[Any] = []
    for x in raw:
        if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NaT or x is pd.NA:
            out.append(None)
        elif isinstance(x, pd.Timestamp | date):
            out.append(pd.Timestamp(x).date().isoformat())
        elif isinstance(x, np.generic):
            out.append(x.item())
        else:
            out.append(x)
    return out
