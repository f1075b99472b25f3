"""Keeping the firm-month feature store (``firm_month``, :mod:`scoring.feature_store`) in step
with ``dept_record``, inside the transaction that changes the records.

- :func:`chunk_cells` and :func:`add_cells`: on PostgreSQL, when every row of a chunk was new,
  its cells are computed from the chunk's Arrow columns in the worker thread that prepares the
  chunk (while the previous one is written) and copied into ``firm_month`` in a savepoint: the
  fastest write PostgreSQL has. Only when a cell is stored already (a month that an earlier
  chunk or file began) is the savepoint rolled back and the cells added through a staging table
  and ``INSERT ... ON CONFLICT DO UPDATE``.
- :func:`add_new_rows`: otherwise (SQLite, the row-wise path, a chunk with duplicate keys or
  unknown firms) one SQL statement aggregates the chunk's new rows (``id`` above the mark taken
  before the insert, of this batch) and adds them to the stored cells. A row stored before (a
  duplicate key) is not new, so a resent file adds nothing.
- :func:`rebuild`: after a correction supersedes a record, the cells of that firm and kind are
  recomputed from its current rows (a maximum cannot be taken back by subtraction).

In every case sums and counts are added, maxima and first event days kept.

With the cells, ``feed_arrival`` counts the same new rows per (kind, event day, batch, arrival
time), added the same way (the Arrow path's counts travel with its cells; the SQL path adds a
second aggregate); a correction's new version is counted by :func:`count_batch`. A superseded
version stays counted: lateness is about every row a department sent.

The meter of an electricity row is :func:`scoring.authenticity.meter_key` of its ``attrs``: the
meter number, else "@" and the supply address (stored canonical by ingestion, so the text is
the key), else "".
"""

from __future__ import annotations

import io
from datetime import datetime

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

from scoring.feature_store import CELL_COLUMNS, STORE_KINDS, VALUE_COLUMNS
from server.ingest.pgcopy import binary_copy_payload
from server.ingest.store import BatchWriter
from server.tables.ingest import FeedArrival, FirmMonth

__all__ = ["CellsPayload", "add_cells", "add_new_rows", "chunk_cells", "count_batch", "fill_from_records",
           "is_store_kind", "rebuild"]

#: firm_month's column types, for binary COPY.
_PG_TYPES = {"uscc": "text", "kind": "text", "category": "text", "meter": "text", "month": "int4",
             "rows": "int8", "first_event": "date"}
for _c in VALUE_COLUMNS:
    _PG_TYPES.update({f"{_c}_sum": "float8" if _c == "quantity" else "int8", f"{_c}_n": "int8",
                      f"{_c}_max": "float8" if _c == "quantity" else "int8"})
_CONFLICT = "uscc, kind, category, meter, month"


def is_store_kind(source: str) -> bool:
    return source in STORE_KINDS


def _select(postgres: bool) -> str:
    """SELECT of cells from ``dept_record`` rows (a WHERE clause follows)."""
    if postgres:
        month = "((EXTRACT(YEAR FROM event_date)::int - 1970) * 12 + EXTRACT(MONTH FROM event_date)::int - 1)"
        meter_id, address = "(attrs->>'meter_id')", "(attrs->>'supply_address')"
    else:
        month = ("((CAST(substr(event_date, 1, 4) AS INTEGER) - 1970) * 12 "
                 "+ CAST(substr(event_date, 6, 2) AS INTEGER) - 1)")
        meter_id, address = "json_extract(attrs, '$.meter_id')", "json_extract(attrs, '$.supply_address')"
    meter = (f"(CASE WHEN source = 'utility' AND category = 'electricity' THEN (CASE "
             f"WHEN {meter_id} <> '' THEN {meter_id} "
             f"WHEN {address} <> '' THEN '@' || {address} ELSE '' END) ELSE '' END)")
    values = []
    for c in VALUE_COLUMNS:
        values += [f"COALESCE(SUM({c}), 0)", f"COUNT({c})", f"MAX({c})"]
    return (f"SELECT uscc, source, COALESCE(category, ''), {meter}, {month}, COUNT(*), MIN(event_date), "
            f"{', '.join(values)} FROM dept_record")


def _upsert(postgres: bool, select_where: str) -> str:
    """INSERT of the selected cells, adding to the cells stored."""
    cols = ", ".join(CELL_COLUMNS)
    return (f"INSERT INTO firm_month AS f ({cols}) {_select(postgres)} {select_where} "
            f"GROUP BY 1, 2, 3, 4, 5 ON CONFLICT ({_CONFLICT}) DO UPDATE SET {_sets(postgres)}")


def _sets(postgres: bool) -> str:
    """How a stored cell takes in a new one of the same key."""
    greatest, least = ("GREATEST", "LEAST") if postgres else ("MAX", "MIN")
    sets = ["rows = f.rows + EXCLUDED.rows",
            f"first_event = {least}(f.first_event, EXCLUDED.first_event)"]
    for c in VALUE_COLUMNS:
        sets += [f"{c}_sum = f.{c}_sum + EXCLUDED.{c}_sum", f"{c}_n = f.{c}_n + EXCLUDED.{c}_n",
                 # a NULL maximum (no value yet) gives way to the other
                 f"{c}_max = COALESCE({greatest}(f.{c}_max, EXCLUDED.{c}_max), f.{c}_max, EXCLUDED.{c}_max)"]
    return ", ".join(sets)


#: A chunk's cells, their binary COPY payload and the chunk's arrivals (``feed_arrival`` rows).
CellsPayload = tuple[pa.Table, bytes, pa.Table]

_ARRIVAL_COLUMNS = ("kind", "event_date", "batch_id", "received_at", "rows")
_ARRIVAL_KEY = "kind, event_date, batch_id, received_at"
_ARRIVALS_UPSERT = (f"INSERT INTO feed_arrival AS a ({', '.join(_ARRIVAL_COLUMNS)}) "
                    "SELECT source, event_date, batch_id, received_at, COUNT(*) FROM dept_record {where} "
                    f"GROUP BY 1, 2, 3, 4 ON CONFLICT ({_ARRIVAL_KEY}) DO UPDATE SET rows = a.rows + EXCLUDED.rows")


def _meters(firsts: pa.Table) -> pa.Array:
    """Each row's meter key (``scoring.authenticity.meter_key``): the meter number, else "@"
    and the canonical supply address, else ""; "" for rows that are not electricity."""
    n = firsts.num_rows
    empty = pa.scalar("", pa.string())

    def text(name: str) -> pa.Array:
        col = firsts[name] if name in firsts.column_names else pa.nulls(n, pa.string())
        return pc.fill_null(col.cast(pa.string()), "")

    from server.ingest.fastpath import canonical_addresses

    address = (pc.fill_null(canonical_addresses(firsts["supply_address"]), "")
               if "supply_address" in firsts.column_names else pa.repeat(empty, n))
    by_address = pc.if_else(pc.equal(address, ""), empty, pc.binary_join_element_wise("@", address, ""))
    meter_id = text("meter_id")
    key = pc.if_else(pc.equal(meter_id, ""), by_address, meter_id)
    electricity = pc.fill_null(pc.equal(text("category"), "electricity"), False)
    return pc.if_else(electricity, key, empty)


def chunk_cells(rows: pa.Table, firsts: pa.Table, received_at: datetime) -> CellsPayload | None:
    """The cells of a chunk's rows (``dept_record`` columns), their binary COPY payload and the
    rows' arrivals (all ``received_at``), or None for a kind the store does not keep.
    ``firsts`` are the same rows as validated (their meter fields)."""
    source = rows["source"][0].as_py() if rows.num_rows else None
    if source is None or not is_store_kind(source):
        return None
    days = rows["event_date"].combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False)
    month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int32)
    cols = {
        "uscc": rows["uscc"], "kind": rows["source"],
        "category": pc.fill_null(rows["category"], "") if "category" in rows.column_names
        else pa.repeat(pa.scalar("", pa.string()), rows.num_rows),
        "meter": _meters(firsts) if source == "utility" else pa.repeat(pa.scalar("", pa.string()), rows.num_rows),
        "month": pa.array(month), "event_date": rows["event_date"],
    }
    aggs: list[tuple] = [([], "count_all"), ("event_date", "min")]
    for c in VALUE_COLUMNS:
        if c in rows.column_names:
            cols[c] = rows[c].cast(pa.float64() if c == "quantity" else pa.int64())
            aggs += [(c, "sum"), (c, "count"), (c, "max")]
    grouped = pa.table(cols).group_by(["uscc", "kind", "category", "meter", "month"]).aggregate(aggs)
    out: dict[str, pa.Array] = {k: grouped[k] for k in ("uscc", "kind", "category", "meter", "month")}
    out["rows"] = grouped["count_all"].cast(pa.int64())
    out["first_event"] = grouped["event_date_min"]
    n = grouped.num_rows
    for c in VALUE_COLUMNS:
        kind = pa.float64() if c == "quantity" else pa.int64()
        if c in rows.column_names:
            out[f"{c}_sum"] = pc.fill_null(grouped[f"{c}_sum"], 0).cast(kind)
            out[f"{c}_n"] = grouped[f"{c}_count"].cast(pa.int64())
            out[f"{c}_max"] = grouped[f"{c}_max"].cast(kind)
        else:
            out[f"{c}_sum"] = pa.repeat(pa.scalar(0, kind), n)
            out[f"{c}_n"] = pa.repeat(pa.scalar(0, pa.int64()), n)
            out[f"{c}_max"] = pa.nulls(n, kind)
    table = pa.table({c: out[c] for c in CELL_COLUMNS})
    days = pa.table({"event_date": rows["event_date"], "batch_id": rows["batch_id"]}).group_by(
        ["event_date", "batch_id"]).aggregate([([], "count_all")])
    arrivals = pa.table({"kind": pa.repeat(pa.scalar(source), days.num_rows), "event_date": days["event_date"],
                         "batch_id": days["batch_id"],
                         "received_at": pa.repeat(pa.scalar(received_at, pa.timestamp("us", tz="UTC")),
                                                  days.num_rows),
                         "rows": days["count_all"].cast(pa.int64())})
    return table, binary_copy_payload(table, [_PG_TYPES[c] for c in CELL_COLUMNS]), arrivals


async def add_cells(w: BatchWriter, cells: CellsPayload) -> None:
    """Add a chunk's cells (:func:`chunk_cells`) to the store, on PostgreSQL (in ``w``'s
    transaction): copied in a savepoint, or added through a staging table when a cell of the
    same key is stored already."""
    conn = w.conn  # type: ignore[attr-defined]
    table, payload, arrivals = cells
    columns = list(CELL_COLUMNS)
    # a few rows per chunk (its event days), added in one statement
    await conn.execute(
        f"INSERT INTO feed_arrival AS a ({', '.join(_ARRIVAL_COLUMNS)}) "
        "SELECT * FROM unnest($1::text[], $2::date[], $3::int8[], $4::timestamptz[], $5::int8[]) "
        f"ON CONFLICT ({_ARRIVAL_KEY}) DO UPDATE SET rows = a.rows + EXCLUDED.rows",
        *(arrivals[c].to_pylist() for c in _ARRIVAL_COLUMNS))
    try:
        async with conn.transaction():  # a savepoint inside the chunk's transaction
            await conn.copy_to_table("firm_month", source=io.BytesIO(payload), columns=columns, format="binary")
        return
    except asyncpg.UniqueViolationError:
        pass
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage_firm_month "
                       "(LIKE firm_month INCLUDING DEFAULTS) ON COMMIT DROP")
    await conn.execute("TRUNCATE stage_firm_month")
    await conn.copy_to_table("stage_firm_month", source=io.BytesIO(payload), columns=columns, format="binary")
    names = ", ".join(columns)
    await conn.execute(f"INSERT INTO firm_month AS f ({names}) SELECT {names} FROM stage_firm_month "
                       f"ON CONFLICT ({_CONFLICT}) DO UPDATE SET {_sets(True)}")


async def add_new_rows(w: BatchWriter, source: str, batch_id: int, after_id: int) -> None:
    """Add the rows of ``batch_id`` stored with ``id > after_id`` to the store (in ``w``'s
    transaction); nothing for a kind the store does not keep."""
    if not is_store_kind(source):
        return
    await w.execute(_upsert(w.is_postgres, "WHERE id > ? AND batch_id = ? AND superseded_at IS NULL"),
                    [after_id, batch_id])
    await w.execute(_ARRIVALS_UPSERT.format(where="WHERE id > ? AND batch_id = ?"), [after_id, batch_id])


async def count_batch(batch_id: int, source: str) -> None:
    """Count the arrivals of a batch written row by row (a correction's new version), inside
    the caller's Piccolo transaction; nothing for a kind the store does not keep."""
    if is_store_kind(source):
        await FeedArrival.raw(_ARRIVALS_UPSERT.format(where="WHERE batch_id = {}"), batch_id)


async def fill_from_records(engine: Engine) -> None:
    """Build the store and the arrivals from the records, where they are empty (a database
    whose records were stored before the store existed)."""
    postgres = isinstance(engine, PostgresEngine)
    kinds = ", ".join(f"'{k}'" for k in STORE_KINDS)
    for table, sql in (
            ("firm_month", _upsert(postgres, f"WHERE superseded_at IS NULL AND source IN ({kinds})")),
            ("feed_arrival", _ARRIVALS_UPSERT.format(where=f"WHERE source IN ({kinds})"))):
        if not await engine.run_querystring(QueryString(f"SELECT 1 FROM {table} LIMIT 1"), in_pool=False):
            await engine.run_querystring(QueryString(sql), in_pool=False)


async def rebuild(uscc: str, source: str) -> None:
    """Recompute the cells of one firm and kind from its current rows (inside the caller's
    Piccolo transaction)."""
    if not is_store_kind(source):
        return
    postgres = isinstance(FirmMonth._meta.db, PostgresEngine)
    await FirmMonth.delete().where((FirmMonth.uscc == uscc) & (FirmMonth.kind == source))
    await FirmMonth.raw(_upsert(postgres, "WHERE uscc = {} AND source = {} AND superseded_at IS NULL"),
                        uscc, source)
