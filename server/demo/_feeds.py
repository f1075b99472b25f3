"""Write a generated region as the department feed files of ``docs/feeds.md``.

Tens of millions of rows have to be written in seconds, so every column is converted to an
Arrow array once and formatted with Arrow compute kernels; nothing loops over rows in Python.
Money goes out as yuan with two decimals (a ``decimal128`` built from the fen integers, so no
float rounding), dates as ``YYYY-MM-DD``, missing values as empty cells (CSV) or ``null``
(JSON Lines).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from scoring.records import RECORD_KINDS, STATEMENT_ITEMS

if TYPE_CHECKING:
    from server.demo.synth import Region

__all__ = ["FEED_SOURCES", "feed_columns", "record_keys", "write_feeds"]

#: Every source a region is written to, in the order a loader should ingest them.
FEED_SOURCES: tuple[str, ...] = ("firms", "relations", "guarantees", *RECORD_KINDS)

_REGISTRY_COLUMNS: dict[str, tuple[str, ...]] = {
    "firms": ("uscc", "name", "industry_division", "town", "registered_capital_yuan",
              "founded_on", "size_class", "status"),
    "relations": ("record_key", "uscc", "person_id", "person_name", "role", "share_pct",
                  "start_date", "end_date"),
    "guarantees": ("record_key", "guarantor_uscc", "guaranteed_uscc", "amount_yuan",
                   "start_date", "end_date"),
}
_MONEY_ITEMS = tuple(i for i in STATEMENT_ITEMS if i != "year")
_CHUNK_ROWS = 1 << 20


def feed_columns(source: str) -> tuple[str, ...]:
    """Header of the feed file for ``source``.

    Record sources carry the shared fields a kind uses (per ``RECORD_KINDS``), so a tax file
    has no ``days`` column; ``financial_statement`` adds the ``STATEMENT_ITEMS``.
    """
    if source in _REGISTRY_COLUMNS:
        return _REGISTRY_COLUMNS[source]
    kind = RECORD_KINDS[source]
    cols = ["record_key", "uscc", "event_date"]
    cols += ["end_date"] if kind.has_end else []
    cols += ["category"] if kind.categories else []
    cols += ["amount_yuan"] if kind.amount else []
    cols += ["arrears_yuan"] if kind.arrears else []
    cols += ["quantity"] if kind.quantity else []
    cols += ["days"] if kind.days else []
    cols += ["status"] if kind.statuses else []
    if source == "financial_statement":
        cols += list(STATEMENT_ITEMS)
    cols += list(kind.attr_fields)  # optional text fields kept in attrs (utility: meter_id)
    return tuple(cols)


# ---------------------------------------------------------------------------------------------
# column conversion


def _yuan(fen: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Integer fen as a ``decimal128(20, 2)`` array, i.e. yuan with exactly two decimals."""
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    words = np.empty((len(fen), 2), dtype=np.int64)
    words[:, 0] = fen
    words[:, 1] = fen >> 63  # sign extension to 128 bits
    validity = None
    null_count = 0
    if missing is not None and missing.any():
        validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
        null_count = int(missing.sum())
    return pa.Array.from_buffers(pa.decimal128(20, 2), len(fen),
                                 [validity, pa.py_buffer(words)], null_count=null_count)


def _money(col: pd.Series) -> pa.Array:
    missing = col.isna().to_numpy()
    return _yuan(col.to_numpy(dtype="int64", na_value=0), missing)


def _dates(col: pd.Series | np.ndarray) -> pa.Array:
    values = np.asarray(col).astype("datetime64[D]")
    return pa.array(values, type=pa.date32(), from_pandas=True)


def _strings(col: pd.Series | np.ndarray) -> pa.Array:
    return pa.array(np.asarray(col, dtype=object), type=pa.string(), from_pandas=True)


def _ints(col: pd.Series) -> pa.Array:
    missing = col.isna().to_numpy()
    return pa.array(col.to_numpy(dtype="int64", na_value=0), mask=missing)


def _floats(col: pd.Series | np.ndarray) -> pa.Array:
    return pa.array(np.asarray(col, dtype=np.float64), type=pa.float64(), from_pandas=True)


def _number_strings(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded strings (``202401``, ``20240131``)."""
    return pc.utf8_lpad(pa.array(values).cast(pa.string()), width, "0")


def record_keys(kind: str, rows: pd.DataFrame) -> pa.Array:
    """Stable, unique-per-source keys for records of one ``kind``.

    Monthly kinds: ``<uscc>-[<category>-]<YYYYMM>``, one row per firm, category and month.
    Others: ``<uscc>-<YYYYMMDD>-[<category>-]<n>``, ``n`` counting same-day rows of a firm.
    """
    day = rows["event_date"].to_numpy().astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    mnum = month.astype(np.int64)
    yyyymm = (mnum // 12 + 1970) * 100 + mnum % 12 + 1
    uscc = _strings(rows["uscc"])
    has_cat = bool(RECORD_KINDS[kind].categories)
    cat = _strings(rows["category"].fillna("none")) if has_cat else None
    if RECORD_KINDS[kind].monthly:
        parts = [uscc, cat, _number_strings(yyyymm, 6)] if has_cat else \
            [uscc, _number_strings(yyyymm, 6)]
        return pc.binary_join_element_wise(*parts, "-")
    dom = (day - month.astype("datetime64[D]")).astype(np.int64) + 1
    yyyymmdd = yyyymm * 100 + dom
    group_cols = [rows["uscc"].to_numpy(), yyyymmdd] + ([rows["category"].to_numpy()]
                                                         if has_cat else [])
    seq = pd.DataFrame({f"k{i}": c for i, c in enumerate(group_cols)}).groupby(
        [f"k{i}" for i in range(len(group_cols))], sort=False, dropna=False).cumcount() + 1
    parts = [uscc, _number_strings(yyyymmdd, 8)] + ([cat] if has_cat else [])
    parts.append(pa.array(seq.to_numpy()).cast(pa.string()))
    return pc.binary_join_element_wise(*parts, "-")


def _attr_strings(attrs: pd.Series, name: str) -> pa.Array:
    """One text field of each row's ``attrs`` (null where absent). Rows of a kind share few
    distinct dicts (one per meter), so each distinct object is read once."""
    values = attrs.to_numpy()
    ids = np.fromiter((id(a) for a in values), dtype=np.int64, count=len(values))
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    read = np.array([a.get(name) if isinstance(a, dict) else None for a in values[first]],
                    dtype=object)
    return _strings(read[inverse])


def _record_table(kind: str, rows: pd.DataFrame) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for name in feed_columns(kind):
        if name == "record_key":
            cols[name] = record_keys(kind, rows)
        elif name == "uscc" or name in ("category", "status"):
            cols[name] = _strings(rows[name])
        elif name in ("event_date", "end_date"):
            cols[name] = _dates(rows[name])
        elif name == "amount_yuan":
            cols[name] = _money(rows["amount_fen"])
        elif name == "arrears_yuan":
            cols[name] = _money(rows["arrears_fen"])
        elif name == "quantity":
            cols[name] = _floats(rows["quantity"])
        elif name == "days":
            cols[name] = _ints(rows["days"])
        elif name in RECORD_KINDS[kind].attr_fields:
            cols[name] = _attr_strings(rows["attrs"], name)
    if kind == "financial_statement":
        items = pd.DataFrame.from_records(
            [a if isinstance(a, dict) else {} for a in rows["attrs"]],
            columns=list(STATEMENT_ITEMS))
        cols["year"] = _ints(items["year"].astype("Int64"))
        for item in _MONEY_ITEMS:
            cols[item] = _money(items[item].astype("Int64"))
    return pa.table(cols)


def _registry_tables(region: Region) -> dict[str, pa.Table]:
    firms = region.firms
    rel = region.relations
    guar = region.guarantees
    return {
        "firms": pa.table({
            "uscc": _strings(firms["uscc"]),
            "name": _strings(firms["name"]),
            "industry_division": _strings(firms["industry_division"]),
            "town": _strings(firms["town"]),
            "registered_capital_yuan": _money(firms["registered_capital_fen"]),
            "founded_on": _dates(firms["founded_on"]),
            "size_class": _strings(firms["size_class"]),
            "status": _strings(firms["status"]),
        }),
        "relations": pa.table({
            "record_key": _strings(rel["record_key"]),
            "uscc": _strings(rel["uscc"]),
            "person_id": _strings(rel["person_id"]),
            "person_name": _strings(rel["person_name"]),
            "role": _strings(rel["role"]),
            "share_pct": _floats(rel["share_pct"]),
            "start_date": _dates(rel["start_date"]),
            "end_date": _dates(rel["end_date"]),
        }),
        "guarantees": pa.table({
            "record_key": _strings(guar["record_key"]),
            "guarantor_uscc": _strings(guar["guarantor_uscc"]),
            "guaranteed_uscc": _strings(guar["guaranteed_uscc"]),
            "amount_yuan": _money(guar["amount_fen"]),
            "start_date": _dates(guar["start_date"]),
            "end_date": _dates(guar["end_date"]),
        }),
    }


# ---------------------------------------------------------------------------------------------
# writers


def _write_csv(table: pa.Table, path: Path) -> None:
    # No quoting: every value is plain (codes, Chinese names, numbers); Arrow raises if not.
    options = pcsv.WriteOptions(quoting_style="none", quoting_header="none",
                                batch_size=1 << 16)
    pcsv.write_csv(table, path, options)


def _json_value(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """JSON text of each value (strings and dates quoted), null where missing."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_date(t):
        text = arr.cast(pa.string())
        if pc.any(pc.match_substring_regex(text, r'["\\\x00-\x1f]')).as_py():
            raise ValueError("string needs JSON escaping; the demo vocabulary never does")
        return pc.binary_join_element_wise('"', text, '"', "")  # all plain string
    if pa.types.is_floating(t):
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, t), arr)
    return arr.cast(pa.string())


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _write_jsonl(table: pa.Table, path: Path) -> None:
    with path.open("wb") as out:
        for start in range(0, max(table.num_rows, 1), _CHUNK_ROWS):
            part = table.slice(start, _CHUNK_ROWS)
            if part.num_rows == 0:
                break
            pieces: list[pa.Array | str] = []
            for i, name in enumerate(part.column_names):
                value = _json_value(part.column(name)).cast(pa.large_string())
                field = pc.binary_join_element_wise(_text(f'"{name}":'), value, _text(""))
                pieces += [_text("," if i else "{"),
                           pc.fill_null(field, _text(f'"{name}":null'))]
            pieces.append(_text("}\n"))
            lines = pc.binary_join_element_wise(*pieces, _text(""))
            # the value buffer of a string array is exactly its strings back to back
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
            first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
            out.write(memoryview(lines.buffers()[2])[first:last])


def write_feeds(region: Region, out_dir: Path, fmt: str = "csv") -> dict[str, Path]:
    """Write every feed of ``region`` into ``out_dir`` as ``<source>.csv`` (or ``.jsonl``).

    Returns the path of each source's file, in ``FEED_SOURCES`` order (load them in that
    order: firms first). Hidden columns such as ``latent_health`` are never written.
    """
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"fmt must be 'csv' or 'jsonl', got {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write = _write_csv if fmt == "csv" else _write_jsonl
    paths: dict[str, Path] = {}

    for source, table in _registry_tables(region).items():
        paths[source] = out_dir / f"{source}.{fmt}"
        write(table, paths[source])

    records = region.records
    codes, kinds = pd.factorize(records["kind"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(kinds)))]
    where = {k: (bounds[i], bounds[i + 1]) for i, k in enumerate(kinds)}
    for kind in RECORD_KINDS:
        lo, hi = where.get(kind, (0, 0))
        idx = order[lo:hi]
        contiguous = len(idx) > 0 and idx[-1] - idx[0] == len(idx) - 1
        rows = (records.iloc[idx[0]: idx[-1] + 1] if contiguous
                else records.iloc[idx])
        paths[kind] = out_dir / f"{kind}.{fmt}"
        write(_record_table(kind, rows), paths[kind])
    return {s: paths[s] for s in FEED_SOURCES}
