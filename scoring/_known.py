"""The records known at a date, positioned on a firm universe, as plain numpy arrays.

``compute_features`` reads tens of millions of record rows. Hashing the text columns row by
row (``uscc``, ``kind``, ``category``) and copying per-kind sub-frames is what used to cost
seconds, so this module does both once per *run* of rows instead of once per row: feeds are
stored firm by firm and kind by kind, so consecutive rows usually hold the very same string
objects. A run ends wherever any of the three columns changes object (compared by address,
which costs nothing to read); only the first row of each run is looked up, and the results
are repeated over the run. Monthly kinds are then aggregated on (firm x month) grids with
``np.bincount``. Rows of one kind then
become a slice (or an index array) into the record columns, read without copying the frame.

Nothing here depends on that order for correctness, only for speed: equal text held in
different objects starts a new run and is looked up by value like any other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._codes import identity as _identity
from .feature_store import MonthlyCells

__all__ = ["KnownRecords", "Rows"]

_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds
_DAY = 86_400 * 10**9  # nanoseconds


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> slice | np.ndarray:
    """The rows of the runs ``starts[i] .. starts[i] + lengths[i]``: a slice when they are
    contiguous (then columns are read as views), else an index array."""
    if len(starts) == 0:
        return slice(0, 0)
    ends = starts + lengths
    if np.array_equal(starts[1:], ends[:-1]):
        return slice(int(starts[0]), int(ends[-1]))
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return offsets + np.arange(total, dtype=np.int64)


def _chunks(n: int, size: int = 1 << 20) -> list[slice]:
    """Slices of ``size`` rows covering ``n``, to go through big columns with small
    temporaries."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class Rows:
    """Some known rows of one kind: where they sit in the records, their firm position in the
    universe, category code and event date (int64 ns)."""

    __slots__ = ("_src", "cat", "event", "idx", "pos")

    def __init__(self, src: KnownRecords, idx: slice | np.ndarray, pos: np.ndarray,
                 cat: np.ndarray, event: np.ndarray) -> None:
        self._src, self.idx, self.pos, self.cat, self.event = src, idx, pos, cat, event

    def __len__(self) -> int:
        return len(self.pos)

    def where(self, mask: np.ndarray) -> Rows:
        """The rows where ``mask`` holds."""
        if mask.all():
            return self
        keep = np.flatnonzero(mask)
        idx = (keep + self.idx.start) if isinstance(self.idx, slice) else self.idx[keep]
        return Rows(self._src, idx, self.pos[keep], self.cat[keep], self.event[keep])

    def of(self, *categories: str) -> Rows:
        """The rows whose category is one of ``categories``."""
        return self.where(np.isin(self.cat, [self._src.category_code(c) for c in categories]))

    def excluding(self, category: str) -> Rows:
        """The rows whose category is not ``category`` (missing categories included)."""
        return self.where(self.cat != self._src.category_code(category))

    def active(self) -> Rows:
        """Rows still true at as_of: ``end_date`` missing or later."""
        end = self._src.dates("end_date", self.idx)
        return self.where((end == _NAT) | (end > self._src.as_of_ns))

    def since(self, months: int) -> Rows:
        """Rows whose event date is within ``months`` months before as_of."""
        start = (self._src.as_of - pd.DateOffset(months=months)).value
        return self.where(self.event > start)

    def values(self, column: str, at: np.ndarray | None = None) -> np.ndarray:
        """The column as floats (NaN where missing or not a number), of the rows ``at``
        (places among these rows) or of all."""
        if at is None:
            return self._src.values(column, self.idx)
        if 4 * len(at) > len(self):  # most rows: convert the column once, then pick
            return self._src.values(column, self.idx)[at]
        rows = at + self.idx.start if isinstance(self.idx, slice) else self.idx[at]
        return self._src.values(column, rows)

    def objects(self, column: str) -> np.ndarray:
        """The column's raw values."""
        return self._src.records[column].to_numpy()[self.idx]


class KnownRecords:
    """The rows of ``records`` with ``event_date <= as_of`` whose uscc is in ``index`` (by
    default every uscc in ``records``, sorted). With ``cells`` (the feature store's, see
    :mod:`scoring.feature_store`), the monthly kinds' grids are read from them instead."""

    def __init__(self, records: pd.DataFrame, as_of: pd.Timestamp,
                 index: pd.Index | None = None, cells: pd.DataFrame | None = None) -> None:
        if cells is not None and index is None:
            raise ValueError("reading cells needs the universe of firms (index)")
        self.records = records
        self.as_of = as_of
        self.as_of_ns = as_of.value
        self._event = records["event_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        self._rows: dict[str, tuple[slice | np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._windows: dict[tuple[str, str | None, int], tuple[np.ndarray, ...]] = {}

        # Runs of rows holding the same uscc, kind and category objects.
        n_rows = len(records)
        columns = ("uscc", "kind", "category")
        identities = [_identity(records[c]) for c in columns]
        change = np.zeros(n_rows, dtype=bool)
        change[:1] = True
        for ids in identities:
            change[1:] |= ids[1:] != ids[:-1]
        starts = np.flatnonzero(change)
        lengths = np.diff(np.r_[starts, n_rows]).astype(np.intp)

        def distinct(j: int) -> tuple[np.ndarray, np.ndarray]:
            """Each run's code into the column's distinct objects, and those objects (as
            found at some row of theirs); equal values in distinct objects stay apart here."""
            codes, uniq = pd.factorize(identities[j][starts])
            where = np.empty(len(uniq), dtype=np.intp)
            where[codes] = starts  # any row of the object will do
            return codes, records[columns[j]].to_numpy()[where]

        firm_codes, firm_values = distinct(0)
        if index is None:
            index = pd.Index(np.sort(pd.unique(firm_values)), name="uscc")
        self.index = index
        self.n = len(index)
        # Firm positions as int32 when they fit: the per-row copies are the biggest arrays.
        small = self.n < np.iinfo(np.int32).max // 1024
        run_pos = index.get_indexer(firm_values)[firm_codes].astype(np.int32 if small else np.intp)
        kind_codes, kind_values = distinct(1)
        kind_of, kinds = pd.factorize(kind_values)  # merges equal text
        run_kind = kind_of[kind_codes]
        cat_codes, cat_values = distinct(2)
        cat_of, cats = pd.factorize(cat_values)
        self._cat_vocab = {c: i for i, c in enumerate(cats) if isinstance(c, str)}
        is_text = np.array([isinstance(c, str) for c in cats] + [False], dtype=bool)
        cat_of = np.where(is_text[cat_of], cat_of, -1)
        run_cat = cat_of[cat_codes].astype(np.int16)
        self._runs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        for k, name in enumerate(kinds):
            sel = (run_kind == k) & (run_pos >= 0)
            self._runs[str(name)] = (starts[sel], lengths[sel], run_pos[sel], run_cat[sel])
        # The monthly kinds from the feature store's cells, when given (their rows are not read).
        self.cells = None if cells is None else MonthlyCells(cells, self.index, as_of)

    def category_code(self, category: str) -> int:
        return self._cat_vocab.get(category, -2)  # -2 matches no row, not even missing ones

    def dates(self, column: str, idx: slice | np.ndarray) -> np.ndarray:
        if column == "event_date":
            return self._event[idx]
        col = self.records[column]
        return col.to_numpy(dtype="datetime64[ns]")[idx].view(np.int64)

    def values(self, column: str, idx: slice | np.ndarray) -> np.ndarray:
        col = self.records[column]
        part = col.array[idx]
        if pd.api.types.is_numeric_dtype(col.dtype):
            return part.to_numpy(dtype=float, na_value=np.nan)
        return pd.to_numeric(pd.Series(part), errors="coerce").to_numpy(dtype=float,
                                                                         na_value=np.nan)

    def kind(self, kind: str) -> Rows:
        """Known rows of ``kind`` (cached)."""
        cached = self._rows.get(kind)
        if cached is None:
            none = np.empty(0, np.intp)
            starts, lengths, pos, cat = self._runs.get(kind, (none, none, none, none))
            idx = _ranges(starts, lengths)
            event = self._event[idx]
            rows = Rows(self, idx, np.repeat(pos, lengths), np.repeat(cat, lengths), event)
            rows = rows.where((event <= self.as_of_ns) & (event != _NAT))
            # the arrays are cached, not the Rows: a Rows refers to this view, and a view
            # holding its Rows would be a reference cycle, freed only by the cyclic collector
            # (the known records of a county's region: gigabytes kept until it runs)
            self._rows[kind] = cached = (rows.idx, rows.pos, rows.cat, rows.event)
        return Rows(self, *cached)

    def any_rows(self, kind: str) -> np.ndarray:
        """Whether each firm has a known row of ``kind``."""
        if self.cells is not None and kind in self.cells.kinds:
            return self.cells.any_rows(kind)
        return self.count(self.kind(kind)) > 0

    def count(self, rows: Rows) -> np.ndarray:
        """Rows per firm."""
        return np.bincount(rows.pos, minlength=self.n).astype(float)

    def total(self, rows: Rows, column: str) -> np.ndarray:
        """Sum of ``column`` per firm, missing values counting as 0."""
        v = rows.values(column)
        w = np.where(np.isnan(v), 0.0, v)
        return np.bincount(rows.pos, weights=w, minlength=self.n).astype(float, copy=False)

    def monthly(self, kind: str, column: str, category: str | None = None, how: str = "sum",
                months: int = 27) -> np.ndarray:
        """(firms x months) matrix of a monthly kind, lag 0 = the latest month end known at
        as_of; the sum (or max) of the month's values, NaN when it has none."""
        if self.cells is not None and kind in self.cells.kinds:
            return self.cells.monthly(kind, column, category, how, months)
        rows = self.kind(kind)
        at, key, counts = self._window(kind, category, months)
        vals = rows.values(column, at)
        missing = np.isnan(vals)
        if missing.any():
            key, vals, counts = key[~missing], vals[~missing], None
        size = self.n * months
        has = (np.bincount(key, minlength=size) if counts is None else counts) > 0
        if how == "max":
            out = np.full(size, -np.inf)
            np.maximum.at(out, key, vals)
        else:
            out = np.bincount(key, weights=vals, minlength=size).astype(float, copy=False)
        out[~has] = np.nan
        return out.reshape(self.n, months)

    def _window(self, kind: str, category: str | None,
                months: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of ``kind`` (and ``category``) in the last ``months`` months: their places in
        ``kind(kind)``, their cell firm position * months + month lag, and rows per cell
        (cached: several columns of a kind are read over the same rows)."""
        cached = self._windows.get((kind, category, months))
        if cached is not None:
            return cached
        rows = self.kind(kind)
        if category is None:
            as_of = self.as_of
            last = as_of if as_of.is_month_end else as_of - pd.offsets.MonthEnd(1)
            ref = np.datetime64(last, "M")
            # Days of the window, from the first day of month ref-(months-1) to the last of
            # ref, and the month lag of each of them.
            firsts = (ref - np.arange(months - 1, -2, -1)).astype("datetime64[D]").astype(np.int64)
            span = np.uint64(firsts[-1] - firsts[0])
            lag = np.repeat(np.arange(months - 1, -1, -1), np.diff(firsts))
            at, key = np.empty(len(rows), np.intp), np.empty(len(rows), np.intp)
            k = 0
            for part in _chunks(len(rows)):
                day = rows.event[part] // _DAY
                day -= firsts[0]
                inside = np.flatnonzero(day.view(np.uint64) < span)  # days before wrap
                got = slice(k, k + len(inside))
                np.add(inside, part.start, out=at[got])
                np.multiply(rows.pos[part][inside], months, out=key[got], dtype=np.intp)
                key[got] += lag[day[inside]]
                k += len(inside)
            at, key = at[:k], key[:k]
        else:
            at, key, _ = self._window(kind, None, months)
            mine = np.flatnonzero(rows.cat[at] == self.category_code(category))
            at, key = at[mine], key[mine]
        cached = at, key, np.bincount(key, minlength=self.n * months)
        self._windows[(kind, category, months)] = cached
        return cached

    def latest(self, rows: Rows, column: str) -> np.ndarray:
        """``column`` of each firm's row with the latest event date (the later row in record
        order among rows of the same date); NaN for firms without rows."""
        out = np.full(self.n, np.nan)
        if len(rows):
            pos, event = rows.pos, rows.event
            step = np.diff(pos)
            if (step < 0).any() or (np.diff(event)[step == 0] < 0).any():  # else: in order
                order = np.lexsort((event, pos))
                pos = pos[order]
            else:
                order = np.arange(len(pos))
            last = np.r_[pos[1:] != pos[:-1], True]
            out[pos[last]] = rows.values(column, order[last])
        return out
