"""Write a generated region as the department feed files of ``docs/feeds.md``.

Tens of millions of rows have to be written in seconds, so every column is converted to an
Arrow array once and formatted with Arrow compute kernels; nothing loops over rows in Python.
Money goes out as yuan with two decimals (a ``decimal128`` built from the fen integers, so no
float rounding), dates as ``YYYY-MM-DD``, missing values as empty cells (CSV) or ``null``
(JSON Lines).

With a ``DensityPlan`` (``xinbao generate --density``) the monthly feeds whose value is a sum
over the month are written in parts, as departments report them, and written chunk by chunk:
a region of 180 million rows never has more than one chunk of them in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from scoring.records import RECORD_KINDS, STATEMENT_ITEMS

if TYPE_CHECKING:
    from server.demo.synth import Region

__all__ = [
    "FEED_SOURCES",
    "PART_WEIGHTS",
    "DensityPlan",
    "feed_columns",
    "plan_density",
    "record_keys",
    "write_feeds",
]

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
#: Parts built and written at a time under a ``DensityPlan``: about 80 MB above the region's
#: own memory (2,000 firms at 2,000 records per firm peaked at 441 MB against 379 MB without
#: parts; 1 << 20 took 670 MB and was no faster). The split's random draws are made per
#: chunk, so changing this changes the files a seed gives.
_PART_CHUNK_ROWS = 1 << 18
_DAY = np.timedelta64(1, "D")


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
# density: monthly sums written in parts

#: The monthly feeds whose value is a sum over the month (tax paid, use, exports), which
#: departments really report in parts: invoice lines and declarations, meter reads, export
#: declarations. The weight is how many parts a row of each gets relative to the others:
#: invoice lines outnumber meter reads, which outnumber export declarations. The other feeds
#: hold levels (headcount, a loan's balance) or events, which do not add up, and stay as they are.
PART_WEIGHTS: dict[str, float] = {"tax_monthly": 4.0, "utility": 2.0, "customs_export": 1.0}


@dataclass(frozen=True, slots=True)
class DensityPlan:
    """How many parts ``write_feeds`` writes each monthly row of the ``PART_WEIGHTS`` feeds as.

    ``parts`` is the mean number of parts per monthly row of each feed (at least 1); row ``i``
    of a feed gets ``floor((i + 1) * k) - floor(i * k)`` of them, so a feed of ``n`` rows is
    written as exactly ``floor(n * k)`` records. ``records`` counts every record written.
    """

    parts: dict[str, float]
    records: int
    firms: int
    seed: int = 0

    @property
    def records_per_firm(self) -> float:
        return self.records / self.firms


def _parts_total(n_rows: int, k: float) -> int:
    return int(np.floor(np.float64(n_rows) * k))


def plan_density(region: Region, records_per_firm: int, seed: int = 0) -> DensityPlan:
    """The parts per monthly row that bring ``region`` to about ``records_per_firm`` records
    per firm; ``seed`` drives the split (same seed, same files)."""
    n_firms = len(region.firms)
    counts = region.records["kind"].value_counts()
    rows = {kind: int(counts.get(kind, 0)) for kind in PART_WEIGHTS}
    base = len(region.records)
    extra = records_per_firm * n_firms - base
    if extra < 0:
        raise ValueError(f"the region already has {base / n_firms:,.0f} records per firm; "
                         f"a density below that cannot be reached by splitting rows")
    weighted = sum(PART_WEIGHTS[kind] * n for kind, n in rows.items())
    unit = extra / weighted if weighted else 0.0
    parts = {kind: 1.0 + PART_WEIGHTS[kind] * unit for kind in PART_WEIGHTS}
    records = base + sum(_parts_total(n, parts[kind]) - n for kind, n in rows.items())
    return DensityPlan(parts=parts, records=records, firms=n_firms, seed=seed)


def _split_ints(total: np.ndarray, frac: np.ndarray, grp: np.ndarray,
                first: np.ndarray) -> np.ndarray:
    """Integers of ``total[grp]`` cut at the cumulative fractions ``frac`` (1 at each group's
    last part): the parts of a group are >= 0 and add up to its total exactly."""
    cut = np.floor(total[grp] * frac).astype(np.int64)
    last = np.r_[first[1:] - 1, len(frac) - 1]
    cut[last] = total  # exactly, whatever the float product gave
    parts = np.diff(cut, prepend=0)
    parts[first] = cut[first]
    return parts


def _decimal_units(q: np.ndarray) -> np.ndarray:
    """The number of decimals each quantity was rounded to (0..6; 6 if none fits)."""
    digits = np.full(len(q), 6, dtype=np.int64)
    for d in range(6, -1, -1):
        scaled = q * 10.0**d
        exact = np.abs(scaled - np.round(scaled)) <= 1e-12 * np.maximum(1.0, np.abs(scaled))
        digits = np.where(exact, d, digits)
    return digits


def _parts_table(kind: str, rows: pd.DataFrame, counts: np.ndarray, founded: np.ndarray,
                 rng: np.random.Generator) -> pa.Table:
    """The feed table of ``rows`` (monthly rows of ``kind``), row ``r`` written as
    ``counts[r]`` parts.

    Each part keeps the row's uscc, category, status and attributes (the meter), takes the
    row's key plus ``#p<j>``, and a day of the row's month, not before the firm's founding nor
    after the row's own date (the month end). Money is cut in whole fen and quantity in whole
    units of the row's rounding (1 kWh, 0.1 m³), so the parts add up to the row exactly in
    decimal; a float sum of the quantity parts may still differ from the row in the last bit.
    """
    base = _record_table(kind, rows)
    n = len(rows)
    grp = np.repeat(np.arange(n), counts)
    take = pa.array(grp)
    first = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    j = np.arange(len(grp)) - first[grp]

    # random weights per part, as cumulative fractions within each row (exactly 1 at the end)
    cum = np.cumsum(rng.standard_exponential(len(grp)))
    before = np.r_[0.0, cum][first]
    within = cum - before[grp]
    frac = within / within[np.r_[first[1:] - 1, len(grp) - 1]][grp]

    cols: dict[str, pa.Array] = {}
    for name in base.column_names:
        if name == "record_key":
            suffix = pc.binary_join_element_wise(
                "#p", pa.array(j + 1).cast(pa.string()), "")
            cols[name] = pc.binary_join_element_wise(
                base.column(name).combine_chunks().take(take), suffix, "")
        elif name == "event_date":
            event = rows["event_date"].to_numpy().astype("datetime64[D]")
            start = event.astype("datetime64[M]").astype("datetime64[D]")
            start = np.where(np.isnat(founded) | (founded < start), start,
                             np.minimum(founded, event))
            span = ((event - start) // _DAY + 1)[grp]
            offset = np.floor(rng.random(len(grp)) * span).astype(np.int64)
            offset = offset[np.lexsort((offset, grp))]  # in date order within each row
            cols[name] = _dates(start[grp] + offset * _DAY)
        elif name in ("amount_yuan", "arrears_yuan"):
            fen = rows[name.replace("_yuan", "_fen")]
            missing = fen.isna().to_numpy()
            total = fen.to_numpy(dtype="int64", na_value=0)
            cols[name] = _yuan(_split_ints(total, frac, grp, first), missing[grp])
        elif name == "quantity":
            q = rows["quantity"].to_numpy(dtype=np.float64)
            missing = np.isnan(q)
            digits = _decimal_units(np.where(missing, 0.0, q))
            units = np.round(np.where(missing, 0.0, q) * 10.0**digits).astype(np.int64)
            part_units = _split_ints(units, frac, grp, first)
            values = part_units / 10.0**digits[grp]  # correctly rounded: prints as the decimal
            cols[name] = _floats(np.where(missing[grp], np.nan, values))
        else:
            cols[name] = base.column(name).combine_chunks().take(take)
    return pa.table(cols)


def _parts_tables(kind: str, rows: pd.DataFrame, plan: DensityPlan,
                  firms: pd.DataFrame) -> Iterator[pa.Table]:
    """``rows`` of ``kind`` in parts, a chunk of about ``_PART_CHUNK_ROWS`` parts at a time."""
    k = plan.parts[kind]
    step = max(1, int(_PART_CHUNK_ROWS // np.ceil(k)))
    founded_at = pd.Index(firms["uscc"])
    founded_on = firms["founded_on"].to_numpy().astype("datetime64[D]")
    kind_no = list(RECORD_KINDS).index(kind)
    for chunk_no, lo in enumerate(range(0, len(rows), step)):
        hi = min(lo + step, len(rows))
        chunk = rows.iloc[lo:hi]
        edges = np.floor(np.arange(lo, hi + 1, dtype=np.float64) * k).astype(np.int64)
        founded = founded_on[founded_at.get_indexer(chunk["uscc"])]
        rng = np.random.default_rng([plan.seed, kind_no, chunk_no])
        yield _parts_table(kind, chunk, np.diff(edges), founded, rng)


# ---------------------------------------------------------------------------------------------
# writers


# No quoting: every value is plain (codes, Chinese names, numbers); Arrow raises if not.
_CSV_OPTIONS = pcsv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=1 << 16)


def _write_csv(table: pa.Table, path: Path) -> None:
    pcsv.write_csv(table, path, _CSV_OPTIONS)


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
        _jsonl_into(table, out)


def _jsonl_into(table: pa.Table, out: IO[bytes]) -> None:
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


def _write_stream(tables: Iterator[pa.Table], path: Path, fmt: str) -> None:
    """Write tables of one schema into one file as they come, holding one at a time."""
    if fmt == "jsonl":
        with path.open("wb") as out:
            for table in tables:
                _jsonl_into(table, out)
        return
    writer: pcsv.CSVWriter | None = None
    try:
        for table in tables:
            if writer is None:
                writer = pcsv.CSVWriter(path, table.schema, write_options=_CSV_OPTIONS)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def write_feeds(region: Region, out_dir: Path, fmt: str = "csv",
                density: DensityPlan | None = None) -> dict[str, Path]:
    """Write every feed of ``region`` into ``out_dir`` as ``<source>.csv`` (or ``.jsonl``).

    Returns the path of each source's file, in ``FEED_SOURCES`` order (load them in that
    order: firms first). Hidden columns such as ``latent_health`` are never written. With
    ``density`` (see ``plan_density``) the ``PART_WEIGHTS`` feeds are written in parts, chunk
    by chunk; without it the files are exactly those of the region's rows.
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
        if density is not None and kind in density.parts and len(rows):
            _write_stream(_parts_tables(kind, rows, density, region.firms), paths[kind], fmt)
        else:
            write(_record_table(kind, rows), paths[kind])
    return {s: paths[s] for s in FEED_SOURCES}
