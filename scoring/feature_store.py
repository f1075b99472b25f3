"""The firm-month feature store: what the indicators read of the monthly feeds, per firm and month.

The monthly feeds (``RecordKind.monthly``: tax, social insurance, utilities, customs, bank loans)
are most of a region's records, and at a real region's density (thousands of declarations,
meter reads and invoices per firm) almost all of them. The indicators never read those rows one
by one: :meth:`scoring._known.KnownRecords.monthly` sums (or takes the maximum of) each column
per firm, kind, category and month. A *cell* holds exactly those figures for one
(firm, kind, category, meter, month): its rows, and per numeric column the sum, the maximum and
how many rows had a value, plus the first event day. Cells combine by addition (sums, counts),
maximum and minimum, so a store is maintained incrementally: the cells of a new batch of rows
are added to the stored ones (:func:`combine_cells`); a correction recomputes the cells it
touches from the rows then current.

Reading cells instead of rows gives the same grids (:class:`MonthlyCells`), for any ``as_of``:
a monthly grid ends at the last month end on or before ``as_of``, so every row of its months is
known at ``as_of``; whether a firm has *any* row of a kind by ``as_of`` is read from the first
event day of the current month's cell. Sums of integer columns (money in fen) are exact; a sum
of several non-integer quantities in one cell may differ from the row-by-row sum in the last
bit (a different order of additions).

Electricity is kept per meter (``meter`` = :func:`scoring.authenticity.meter_key` of the row's
``attrs``), because a meter several firms report in a month is split among them
(:func:`split_cells`, the same rule as :func:`scoring.authenticity.split_shared_meters`, applied to
each firm's monthly reading of the meter rather than to each reading row).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ._codes import factorize_objects, is_text, month_numbers
from .records import RECORD_KINDS

__all__ = ["CELL_COLUMNS", "CELL_KEY", "CELL_ONLY_KINDS", "STORE_KINDS", "VALUE_COLUMNS", "MonthlyCells",
           "cells_of", "combine_cells", "split_cells"]

#: The kinds kept as cells: one record per firm (and category) per month, read as monthly grids.
STORE_KINDS: tuple[str, ...] = tuple(k for k, kind in RECORD_KINDS.items() if kind.monthly)

#: The kinds whose rows scoring never reads when it has the cells (the hard rules read each
#: firm's latest bank-loan report, so bank loans stay rows too).
CELL_ONLY_KINDS: tuple[str, ...] = tuple(k for k in STORE_KINDS if k != "bank_loan")

#: The record columns a cell sums, counts and takes the maximum of.
VALUE_COLUMNS: tuple[str, ...] = ("amount_fen", "arrears_fen", "quantity", "days")

#: A cell's key: ``category`` and ``meter`` are "" where the rows have none; ``month`` counts
#: months since 1970-01 (``datetime64[M]``).
CELL_KEY: tuple[str, ...] = ("uscc", "kind", "category", "meter", "month")

#: Every column of a cells frame, in order.
CELL_COLUMNS: tuple[str, ...] = (
    *CELL_KEY, "rows", "first_event",
    *(f"{c}_{agg}" for c in VALUE_COLUMNS for agg in ("sum", "n", "max")),
)

_ELECTRICITY = "electricity"


def _month(values: pd.Series | np.ndarray) -> np.ndarray:
    return month_numbers(values)


def _floats(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def cells_of(records: pd.DataFrame) -> pd.DataFrame:
    """The cells of the store kinds' rows in ``records`` (a ``RECORD_COLUMNS`` frame; rows of
    other kinds and rows without an event date are left out)."""
    from .authenticity import meter_ids

    kind = records["kind"].to_numpy(dtype=object)
    keep = np.isin(kind, STORE_KINDS) & records["event_date"].notna().to_numpy()
    rows = records[keep]
    meter = np.full(len(rows), "", dtype=object)
    elec = ((rows["kind"].to_numpy(dtype=object) == "utility")
            & (rows["category"].to_numpy(dtype=object) == _ELECTRICITY))
    if elec.any():
        keys = meter_ids(rows[elec])
        meter[np.flatnonzero(elec)] = np.where(keys == None, "", keys)  # noqa: E711
    frame = pd.DataFrame({
        "uscc": rows["uscc"].to_numpy(dtype=object),
        "kind": rows["kind"].to_numpy(dtype=object),
        "category": rows["category"].fillna("").to_numpy(dtype=object),
        "meter": meter,
        "month": _month(rows["event_date"]),
        "event": rows["event_date"].to_numpy(dtype="datetime64[ns]"),
    })
    for c in VALUE_COLUMNS:
        v = _floats(rows[c])
        frame[f"{c}_sum"] = np.where(np.isnan(v), 0.0, v)
        frame[f"{c}_n"] = (~np.isnan(v)).astype(np.int64)
        frame[f"{c}_max"] = v
    frame["rows"] = 1
    return _reduce(frame.rename(columns={"event": "first_event"}))


def _reduce(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells with the same key folded into one (sums and counts added, maxima and first
    events kept)."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in CELL_COLUMNS})
    how: dict[str, str] = {"rows": "sum", "first_event": "min"}
    for c in VALUE_COLUMNS:
        how.update({f"{c}_sum": "sum", f"{c}_n": "sum", f"{c}_max": "max"})
    out = frame.groupby(list(CELL_KEY), sort=True, observed=True).agg(how).reset_index()
    return out[list(CELL_COLUMNS)]


def _dtype(column: str) -> str:
    if column in ("uscc", "kind", "category", "meter"):
        return "object"
    if column == "first_event":
        return "datetime64[ns]"
    if column.endswith("_n") or column in ("month", "rows"):
        return "int64"
    return "float64"


def combine_cells(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Cells of several batches of rows as the cells of all of them."""
    frames = [p for p in parts if len(p)]
    if not frames:
        return _reduce(pd.DataFrame(columns=list(CELL_COLUMNS)))
    return _reduce(pd.concat(frames, ignore_index=True))


def split_cells(cells: pd.DataFrame, *, in_place: bool = False) -> pd.DataFrame:
    """``cells`` with each shared electricity meter's monthly reading split among the firms on
    it, by :func:`scoring.authenticity.split_shared_meters`: one electricity row per firm, meter
    and month (its summed reading) and one pension row per firm and month (its highest insured
    headcount, what the split weighs by) go through the same rule. Adds ``meter_firms``: the
    firms on the cell's meter that month (1 where it is not shared).

    ``in_place``: the split readings are written into ``cells``' own quantity columns (where
    they are writable ``float64``), not into copies of them: for a reader that owns the frame
    it just read (``server.scores.frames.load_cells``). At 120,000 firms the two copies were
    362 MB of the re-score's peak."""
    from .authenticity import shared_meter_months, split_shared_meters

    # the kinds and categories from their codes where a read handed them over (``is_text``),
    # the meters compared on the electricity cells alone
    counted = cells["quantity_n"].to_numpy() > 0
    elec = np.flatnonzero(is_text(cells["kind"], "utility") & is_text(cells["category"], _ELECTRICITY) & counted)
    elec = elec[cells["meter"].to_numpy(dtype=object)[elec] != ""]
    if not len(elec):
        return cells
    pension = np.flatnonzero(is_text(cells["kind"], "social_insurance") & is_text(cells["category"], "pension")
                             & counted)
    # Only the firms ever on a shared meter take part in the split (their own meters' months
    # give their electricity per head, their pension cells their headcount): the rule reads
    # those alone, so the others' cells are left out before any attrs are built for them.
    usccs = cells["uscc"].to_numpy(dtype=object)
    shared, firm_code, firm_usccs = shared_meter_months(cells["meter"].to_numpy(dtype=object)[elec],
                                                        cells["month"].to_numpy()[elec], usccs[elec])
    involved = np.unique(firm_code[shared])
    elec = elec[np.isin(firm_code, involved)]
    pension = pension[pd.Index(firm_usccs[involved]).get_indexer(usccs[pension]) >= 0]
    both = np.r_[elec, pension]
    month = cells["month"].to_numpy()[both].astype("datetime64[M]").astype("datetime64[ns]")
    attrs = np.empty(len(both), dtype=object)
    attrs[: len(elec)] = [{"meter_id": m} for m in cells["meter"].to_numpy()[elec].tolist()]
    pseudo = pd.DataFrame({
        "uscc": usccs[both],
        "kind": cells["kind"].to_numpy()[both],
        "category": cells["category"].to_numpy()[both],
        "event_date": month,
        "quantity": np.r_[cells["quantity_sum"].to_numpy()[elec],
                          cells["quantity_max"].to_numpy()[pension]],
        "attrs": attrs,
    })
    split = split_shared_meters(pseudo)
    # A new frame of the same columns, with new arrays for the ones the split changes: a copy
    # of every cell (``cells.copy()``) cost about 1 s at 1.9 M cells and changed nothing else.
    columns: dict[str, Any] = {c: cells[c] for c in cells.columns}
    firms_on = np.ones(len(cells), dtype=np.int64)
    if split is not pseudo:
        q = split["quantity"].to_numpy()[: len(elec)]
        changed = q != pseudo["quantity"].to_numpy()[: len(elec)]
        rows = elec[changed]
        for c in ("quantity_sum", "quantity_max"):
            values = cells[c].to_numpy()
            if not (in_place and values.dtype == np.float64 and values.flags.writeable):
                values = cells[c].to_numpy(dtype=float, copy=True)
            values[rows] = q[changed]
            columns[c] = values
        firms_on[elec] = [a.get("meter_firms", 1) if isinstance(a, dict) else 1
                          for a in split["attrs"].to_numpy()[: len(elec)]]
    columns["meter_firms"] = firms_on
    return pd.DataFrame(columns, index=cells.index, copy=False)


#: The code of a kind or category no cell has: it matches none (``pd.factorize`` gives -1 to
#: missing values, so -2).
_NO_CODE = -2


class _Groups:
    """The places of an integer key's rows grouped by key, each group in the rows' order.

    Keys of 16 bits are sorted as such (a stable sort of them is a radix sort: linear) and
    kept so: at 120,000 firms a key per cell is 45 MB as ``int16`` and 181 MB as ``int64``,
    and each such array is fresh memory the kernel faults in page by page."""

    def __init__(self, key: np.ndarray) -> None:
        if len(key) and -(1 << 15) <= key.min() and key.max() < (1 << 15):
            key = key.astype(np.int16, copy=False)
        self.order = np.argsort(key, kind="stable")
        self.keys = key[self.order]

    def of(self, k: int) -> np.ndarray:
        info = np.iinfo(self.keys.dtype)
        if not info.min <= k <= info.max:
            return self.order[:0]  # no key of this width is k
        lo = int(np.searchsorted(self.keys, self.keys.dtype.type(k)))
        hi = len(self.keys) if k == info.max else int(np.searchsorted(self.keys, self.keys.dtype.type(k + 1)))
        return self.order[lo:hi]


def _group_key(kind: np.ndarray, n_cats: int, cat: np.ndarray) -> np.ndarray:
    """``kind * n_cats + cat + 1`` per cell, computed in 16 bits when every key fits (a few kinds
    and categories: always, in practice), else in 64."""
    n_kinds = int(kind.max()) + 1 if len(kind) else 0
    wide = np.int16 if (n_kinds + 1) * n_cats < (1 << 15) else np.int64
    key = kind.astype(wide)
    key *= n_cats
    key += cat.astype(wide, copy=False)
    key += 1
    return key


class MonthlyCells:
    """The grids of the store kinds for a firm universe, read from cells, as
    :meth:`scoring._known.KnownRecords.monthly` reads them from rows."""

    def __init__(self, cells: pd.DataFrame, index: pd.Index, as_of: pd.Timestamp) -> None:
        # codes by the objects' identities: a read gives one object per distinct text
        firm_codes, usccs = factorize_objects(cells["uscc"])
        # firm positions as int32 when they fit, and no copy when every cell is of the universe
        # (a whole region's read): at 120,000 firms each copy is 181 MB of fresh memory
        found = index.get_indexer(usccs).astype(np.int32 if len(index) < np.iinfo(np.int32).max else np.intp)
        pos = found[firm_codes] if len(cells) else np.empty(0, found.dtype)
        self.n = len(index)
        self.as_of = as_of
        if (found >= 0).all():
            self._pos, self._cells = pos, cells
        else:
            mine = pos >= 0
            self._pos, self._cells = pos[mine], cells[mine]
        # kinds and categories as integer codes: each grid selects its cells by comparing
        # integers, not millions of strings
        self._kind, kinds = factorize_objects(self._cells["kind"])
        self._cat, cats = factorize_objects(self._cells["category"])
        self._kind_code = {k: i for i, k in enumerate(kinds)}
        self._cat_code = {c: i for i, c in enumerate(cats)}
        self._month = self._cells["month"].to_numpy(dtype=np.int64)
        last = as_of if as_of.is_month_end else as_of - pd.offsets.MonthEnd(1)
        self._ref = int(np.datetime64(last, "M").astype(np.int64))
        self.kinds = frozenset(STORE_KINDS)
        # The cells' places grouped by kind, and by kind and category, each group in the cells'
        # order (stable sorts): a grid reads its own group's cells, not every cell of the region,
        # and in the order the cells come, so its sums add in the same order.
        self._n_cats = len(cats) + 1  # the category code -1 (none) takes group 0
        self._by_kind = _Groups(self._kind)
        self._by_kind_cat = _Groups(_group_key(self._kind, self._n_cats, self._cat))
        # each selection's cells and their places in a grid, made once: the grids of one kind
        # (and category) share them (a kind's amounts, arrears and counts)
        self._keyed: dict[tuple[str, str | None, int], tuple[np.ndarray, np.ndarray]] = {}
        self._grids: dict[tuple[str, str, str | None, str, int], np.ndarray] = {}
        self._buffer = np.empty(0, dtype=np.float64)

    def _of(self, kind: str, category: str | None) -> np.ndarray:
        """The places of the cells of ``kind`` (of ``category``), in the cells' order."""
        k = self._kind_code.get(kind)
        if k is None:
            return np.empty(0, dtype=np.intp)
        if category is None:
            return self._by_kind.of(k)
        c = self._cat_code.get(category)
        return np.empty(0, dtype=np.intp) if c is None else self._by_kind_cat.of(k * self._n_cats + c + 1)

    def _grid_places(self, kind: str, category: str | None, months: int) -> tuple[np.ndarray, np.ndarray]:
        """The cells of ``kind`` (of ``category``) in the last ``months`` months and each one's
        place in a (firms x months) grid, flattened."""
        found = self._keyed.get((kind, category, months))
        if found is None:
            # the cells whose month lies in the window, with one gather of the months and the lags
            # computed in place (each temporary per selected cell is fresh memory the kernel
            # faults in: at 120,000 firms the grids' selections are millions of cells each)
            at = self._of(kind, category)
            lag = self._month.take(at)
            np.subtract(self._ref, lag, out=lag)
            inside = lag.view(np.uint64) < months  # a lag below 0 wraps to a large unsigned
            at, lag = at[inside], lag[inside]
            key = self._pos.take(at).astype(np.intp)
            key *= months
            key += lag
            found = self._keyed[(kind, category, months)] = (at, key)
        return found

    def _gathered(self, column: str, at: np.ndarray) -> np.ndarray:
        """``column`` of the cells ``at``, as floats, in a buffer this object reuses (valid until
        the next call): the grids' weights, read without a new array per grid."""
        if len(self._buffer) < len(at):
            self._buffer = np.empty(len(at), dtype=np.float64)
        out = self._buffer[:len(at)]
        values = self._cells[column].to_numpy()
        if values.dtype != np.float64:  # counts: gathered as they are, then made floats in place
            np.take(values.astype(np.int64, copy=False), at, out=out.view(np.int64), mode="clip")
            out[:] = out.view(np.int64)
        else:
            np.take(values, at, out=out, mode="clip")  # (``raise`` would buffer the output)
        return out

    def monthly(self, kind: str, column: str, category: str | None = None, how: str = "sum",
                months: int = 27) -> np.ndarray:
        """(firms x months) matrix, lag 0 = the latest month end on or before as_of: the sum
        (or max) of the month's values, NaN when no row of the month has one. Read-only and
        made once per question: the indicators and the checks ask for several of the same
        grids (at 120,000 firms each reads millions of cells)."""
        asked = (kind, column, category, how, months)
        grid = self._grids.get(asked)
        if grid is None:
            grid = self._grids[asked] = self._monthly(kind, column, category, how, months)
            grid.flags.writeable = False
        return grid

    def _monthly(self, kind: str, column: str, category: str | None, how: str, months: int) -> np.ndarray:
        at, key = self._grid_places(kind, category, months)
        size = self.n * months
        has = np.bincount(key, weights=self._gathered(f"{column}_n", at), minlength=size) > 0
        if how == "max":
            out = np.full(size, -np.inf)
            vals = self._gathered(f"{column}_max", at)
            ok = ~np.isnan(vals)
            np.maximum.at(out, key[ok], vals[ok])
        else:
            out = np.bincount(key, weights=self._gathered(f"{column}_sum", at),
                              minlength=size).astype(float, copy=False)
        out[~has] = np.nan
        return out.reshape(self.n, months)

    def has_month(self, kind: str, category: str | None = None, months: int = 27) -> np.ndarray:
        """(firms x months) whether the month has a row of the kind (of the category), lag 0 =
        the latest month end on or before as_of: every row of those months is known by then."""
        grid = np.zeros(self.n * months, dtype=bool)
        grid[self._grid_places(kind, category, months)[1]] = True
        return grid.reshape(self.n, months)

    def _known(self, kind: str, months: int | None) -> np.ndarray:
        """Cells of ``kind`` with a row on or before as_of (of the last ``months`` months)."""
        at = self._of(kind, None)
        sel = self._cells["first_event"].to_numpy(dtype="datetime64[ns]")[at] <= np.datetime64(self.as_of.value, "ns")
        if months is not None:
            sel &= self._ref - self._month[at] < months
        return at[sel]

    def any_rows(self, kind: str, months: int | None = None) -> np.ndarray:
        """Whether each firm has a row of ``kind`` with an event on or before as_of (in the
        last ``months`` months: the current one, if as_of is not a month end, and the
        ``months`` before)."""
        return np.bincount(self._pos[self._known(kind, months)], minlength=self.n) > 0

    def meters(self, months: int) -> tuple[np.ndarray, np.ndarray]:
        """The electricity cells of the last ``months`` months: their firm positions and the
        firms on their meter that month (``split_cells``'s ``meter_firms``)."""
        at = self._known("utility", months)
        at = at[self._cat[at] == self._cat_code.get(_ELECTRICITY, _NO_CODE)]
        firms = (self._cells["meter_firms"].to_numpy(dtype=np.int64)[at]
                 if "meter_firms" in self._cells.columns else np.ones(len(at), np.int64))
        return self._pos[at], firms
