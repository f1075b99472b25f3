"""The feature store's cells kept one row per firm as well (issue 16, must-show 2): ``firm_pack``.

``firm_month`` holds one row per cell: at Weihai's density 189 cells per firm, 22.7 M rows at
120,000 firms, and a COPY client spends about 1.4 µs receiving each (``docs/scale.md``), so a
whole-region read cannot come near the re-score's 10 s. ``firm_pack`` holds, per firm, the same
cells as a block of 8-byte columns (:data:`FIELDS`) in one ``bytea``, compressed (:data:`CODEC`), with the firm's (kind, category, meter) texts beside them: at 10,000 firms
46 MB read in about 0.25 s where the cells' rows are 576 MB read in 3.5 s
(``benchmarks/store_layout.py``).

The cells stay the truth; a pack is a copy, and only a copy that is known to be current is
read:

- triggers on ``firm_month`` (insert, update, delete; every writer, COPY included) mark each
  changed firm in ``firm_pack_dirty`` in the writer's own transaction, with a new number of the
  sequence ``firm_pack_change``;
- a reader, in one snapshot, reads the packs of the firms not marked and the cells' rows of the
  marked ones (:func:`server.scores.frames.load_cells`);
- :func:`server.scores.packing.pack_dirty` re-packs the marked firms and clears a mark only if
  its number is still the one it read, so a change committed meanwhile leaves the firm marked.

PostgreSQL only (migration 2026-12-07): on SQLite, the embedded default for a small region,
the cells are read as rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from scoring._codes import factorize_objects, remember_codes
from scoring.feature_store import CELL_COLUMNS

__all__ = ["CODEC", "FIELDS", "PACK_COLUMNS", "PackedCells", "encode"]

#: The numeric columns of a cell, after its key, month, rows and first event.
_VALUES = CELL_COLUMNS[7:]

#: A firm's cells as a block of columns of 8 bytes each, one after the other: ``key`` indexes
#: the firm's own (kind, category, meter) texts; ``first_event`` is the frame's nanoseconds;
#: the values are stored as the cells' frame holds them (counts as integers, sums and maxima as
#: floats, NaN for a missing maximum), so a decoded cell is the read one bit for bit. Columns,
#: not records: decoding is one concatenation of the firms' blocks, and each column of the
#: result is a contiguous row of it, where records would need a strided copy per column.
FIELDS: tuple[str, ...] = ("key", "month", "first_event", "rows", *_VALUES)
_FLOATS = frozenset(c for c in _VALUES if not c.endswith("_n"))

#: The blocks' compression (LZ4 frames, through Arrow): done here rather than by the server's
#: TOAST, which sends what it stores decompressed. At 10,000 firms (1.89 M cells, 242 MB of
#: columns) the packs arrive in 0.07-0.12 s, against 0.6 s and more for records compressed by
#: the server; decompressing them takes about 0.1 s.
CODEC = "lz4"

#: The text columns whose codes a read hands over (``scoring._codes.remember_codes``), and the
#: width of their codes: far more distinct texts than any region has (a read with more keeps
#: none for that column).
_CODED = {"uscc": np.int32, "kind": np.int8, "category": np.int16}

#: ``firm_pack``'s columns, in the order :func:`encode` gives them.
PACK_COLUMNS = ("uscc", "n", "kinds", "categories", "meters", "cells")


def encode(cells: pd.DataFrame) -> list[tuple[str, int, list[str], list[str], list[str], bytes]]:
    """Each firm's cells (a frame as :func:`server.scores.frames.load_cells` reads them with
    ``split=False``) as one ``firm_pack`` row: USCC, number of cells, the firm's distinct kinds,
    categories and meters (one entry per key), and the cells' :data:`FIELDS`, compressed."""
    if cells.empty:
        return []
    firm, _firms = factorize_objects(cells["uscc"])
    text = [factorize_objects(cells[c])[0] for c in ("kind", "category", "meter")]
    month = cells["month"].to_numpy(dtype=np.int64)
    order = np.lexsort((month, *text[::-1], firm))
    firm = firm[order]
    text = [t[order] for t in text]
    n = len(order)
    firm_starts = np.flatnonzero(np.r_[True, firm[1:] != firm[:-1]])
    changed = firm[1:] != firm[:-1]
    for t in text:
        changed |= t[1:] != t[:-1]
    new_key = np.r_[True, changed]
    key_id = np.cumsum(new_key) - 1
    block = np.empty((len(FIELDS), n), dtype=np.int64)
    block[0] = key_id - np.repeat(key_id[firm_starts], np.diff(np.r_[firm_starts, n]))
    block[1] = month[order]
    block[2] = cells["first_event"].to_numpy(dtype="datetime64[ns]")[order].view(np.int64)
    block[3] = cells["rows"].to_numpy(dtype=np.int64)[order]
    for i, c in enumerate(_VALUES, start=4):
        if c in _FLOATS:
            block[i].view(np.float64)[:] = cells[c].to_numpy(dtype=np.float64)[order]
        else:
            block[i] = cells[c].to_numpy(dtype=np.int64)[order]
    key_rows = order[new_key]  # a row of each key, in key order
    kinds, categories, meters, usccs = (cells[c].to_numpy(dtype=object)
                                        for c in ("kind", "category", "meter", "uscc"))
    bounds = np.r_[firm_starts, n].tolist()
    key_bounds = np.r_[key_id[firm_starts], len(key_rows)].tolist()
    packed = []
    for i, start in enumerate(bounds[:-1]):
        end = bounds[i + 1]
        rows = key_rows[key_bounds[i]:key_bounds[i + 1]]
        packed.append((usccs[order[start]], end - start, kinds[rows].tolist(), categories[rows].tolist(),
                       meters[rows].tolist(),
                       pa.compress(np.ascontiguousarray(block[:, start:end]).tobytes(), codec=CODEC, asbytes=True)))
    return packed


class PackedCells:
    """The cells of ``firm_pack`` rows, decoded chunk by chunk into one block made once for
    ``cells`` cells (the packs' own count), then framed as the cells' rows are read."""

    def __init__(self, cells: int) -> None:
        self.at = 0
        # every field but the key (which only places the texts, chunk by chunk): the frame's
        # columns, one row each
        self.block = np.empty((len(FIELDS) - 1, cells), dtype=np.int64)
        self.usccs = np.empty(cells, dtype=object)
        self.texts = {c: np.empty(cells, dtype=object) for c in ("kind", "category", "meter")}
        self._one: dict[str, str] = {}  # one object per distinct text, across chunks
        # The codes ``pd.factorize`` would give the USCCs, kinds and categories (by first
        # appearance), made as they are decoded and handed to ``scoring._codes`` with the frame:
        # the re-score's readers code these columns six times. The meters are coded by no reader
        # of the whole column, so not here.
        self.codes = {c: np.empty(cells, dtype=t) for c, t in _CODED.items()}
        self._code_of: dict[str, dict[str, int]] = {c: {} for c in _CODED}

    def add(self, rows: list[Any]) -> None:
        """Decode fetched ``(uscc, n, kinds, categories, meters, cells)`` rows."""
        if not rows:
            return
        counts = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        total = int(counts.sum())
        at, end = self.at, self.at + total
        if end > self.block.shape[1]:
            raise RuntimeError(f"the packs hold more cells than their count ({end} > {self.block.shape[1]})")
        width = len(FIELDS) * 8
        blocks = [np.frombuffer(pa.decompress(r[5], decompressed_size=r[1] * width, codec=CODEC, asbytes=True),
                                dtype=np.int64).reshape(len(FIELDS), r[1]) for r in rows]
        np.concatenate([b[1:] for b in blocks], axis=1, out=self.block[:, at:end])
        keys = np.concatenate([b[0] for b in blocks]) if blocks else np.empty(0, np.int64)
        firms = np.array([r[0] for r in rows], dtype=object)
        self.usccs[at:end] = np.repeat(firms, counts)
        self._code("uscc", firms[counts > 0], counts[counts > 0], at, end)
        key_counts = np.fromiter((len(r[2]) for r in rows), np.int64, len(rows))
        offsets = np.r_[0, np.cumsum(key_counts)[:-1]]
        key = np.repeat(offsets, counts) + keys
        keep = self._one.setdefault
        for c, i in (("kind", 2), ("category", 3), ("meter", 4)):
            values = np.array([keep(v, v) for r in rows for v in r[i]], dtype=object)
            self.texts[c][at:end] = values[key]
            if c in self.codes:
                # each key holds at least one cell, in key order: the keys' texts appear in the
                # order the cells' texts do
                self._code(c, values, None, at, end, key)
        self.at = end

    def _code(self, column: str, values: np.ndarray, counts: np.ndarray | None, at: int, end: int,
              key: np.ndarray | None = None) -> None:
        """The codes of the cells ``at:end`` of ``column``: ``values`` repeated ``counts``
        times, or taken at ``key``. A text new to the read takes the next code, in the order
        ``values`` first hold it (``pd.factorize``'s first appearance, chunk after chunk)."""
        codes = self.codes.get(column)
        if codes is None:
            return
        local, uniques = pd.factorize(values)
        known = self._code_of[column]
        to_global = np.fromiter((known.setdefault(u, len(known)) for u in uniques.tolist()), np.int64, len(uniques))
        if len(known) > np.iinfo(codes.dtype).max:  # more distinct texts than the codes hold
            del self.codes[column]
            return
        to_global = np.append(to_global, -1)  # a missing text (-1) stays -1
        local = to_global[local]
        codes[at:end] = np.repeat(local, counts) if key is None else local[key]

    def frame(self) -> pd.DataFrame:
        """The decoded cells, as ``load_cells(split=False)`` frames the cells' rows: each
        numeric column a row of the block (no copy)."""
        n = self.at
        block = self.block[:, :n] if n < self.block.shape[1] else self.block
        columns: dict[str, Any] = {"uscc": self.usccs[:n], **{c: v[:n] for c, v in self.texts.items()},
                                   "month": block[0], "first_event": block[1].view("datetime64[ns]"),
                                   "rows": block[2]}
        for i, c in enumerate(_VALUES, start=3):
            columns[c] = block[i].view(np.float64) if c in _FLOATS else block[i]
        if n:
            for c, codes in self.codes.items():
                uniques = np.empty(len(self._code_of[c]), dtype=object)
                uniques[:] = list(self._code_of[c])  # in code order (dicts keep insertion order)
                remember_codes(columns[c], codes[:n], uniques)
        return pd.DataFrame({c: columns[c] for c in CELL_COLUMNS}, copy=False)
