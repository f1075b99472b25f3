"""Reading firms and department records out of the database as the frames ``scoring`` takes."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, TypeVar

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from scoring._codes import factorize_objects, is_text
from scoring.authenticity import meter_ids, split_shared_meters
from scoring.feature_store import CELL_COLUMNS, CELL_ONLY_KINDS, split_cells
from scoring.partitioned import linked_groups
from scoring.records import FIRM_COLUMNS, RECORD_COLUMNS
from server.db import dollar_params
from server.engines import sqlite_path_of
from server.scores.cell_packs import PACK_COLUMNS, PackedCells

__all__ = ["PART_RECORDS", "ROW_KINDS_PREDICATE", "among", "event_dates", "firms_per_part", "in_parts", "latest_months",
           "load_arrivals", "load_cells",
           "load_firms", "load_record_history", "load_records", "load_redeclared_history", "load_row_kinds",
           "load_scalar", "load_scoring_inputs", "meter_groups", "packed_cells", "read_frame",
           "records_in_parts"]

T = TypeVar("T")

_RECORD_SELECT = (
    "SELECT uscc, source AS kind, event_date, end_date, category, amount_fen, arrears_fen, "
    "quantity, days, status, attrs{keys} FROM dept_record WHERE superseded_at IS NULL"
)
_RECORD_SQL = _RECORD_SELECT.format(keys="")
#: The record's identity, for warnings' evidence to cite (left out of scoring's frames: 24M
#: key strings would cost gigabytes the features never read).
_RECORD_KEYS = ("record_id", "record_key")
_FIRM_SQL = f"SELECT id, {', '.join(FIRM_COLUMNS)} FROM firm"


#: Reads of at most this many firms' rows are fetched row by row: a COPY through a temporary
#: file costs about 5 ms more per read (one firm's 287 records: 11.7 ms against 6.5 ms), and
#: saves only when the rows are many (2,000 firms' 405,529: 0.9 s against 1.7 s).
FETCH_UP_TO_FIRMS = 50


async def _query(engine: Engine, sql: str, args: tuple = (), *, firms: int | None = None,
                 streamed: bool = False, expect: int = 1 << 16) -> pd.DataFrame:
    """The rows of ``sql`` as a frame; ``firms``: how many firms' rows it reads (None: all);
    ``streamed``: framed while the COPY arrives (:func:`_pg_frame_streamed`), in arrays made
    for ``expect`` rows at first."""
    if isinstance(engine, PostgresEngine):
        if firms is not None and firms <= FETCH_UP_TO_FIRMS:
            return await _pg_rows(engine, dollar_params(sql), args)
        if streamed:
            return await _pg_frame_streamed(engine, dollar_params(sql), args, expect)
        return await _pg_frame(engine, dollar_params(sql), args)

    path = sqlite_path_of(engine)

    def read() -> pd.DataFrame:
        with sqlite3.connect(path, timeout=30) as conn:
            return pd.read_sql_query(sql, conn, params=args)

    return await asyncio.to_thread(read)


async def read_frame(engine: Engine, sql: str, args: tuple = (), *, firms: int | None = None) -> pd.DataFrame:
    """The rows of ``sql`` (``?`` placeholders) as a frame, on either engine: through COPY on
    PostgreSQL (fetched as records for a read of at most ``FETCH_UP_TO_FIRMS`` firms), through
    ``pandas.read_sql_query`` on SQLite. Dates come as ``datetime64`` from PostgreSQL and as ISO
    text from SQLite: the caller converts."""
    return await _query(engine, sql, args, firms=firms)


# PostgreSQL types of the frames' columns, as Arrow reads their COPY text.
_PG_ARROW = {"text": pa.string(), "varchar": pa.string(), "bpchar": pa.string(), "json": pa.string(),
             "jsonb": pa.string(), "date": pa.date32(), "int2": pa.int64(), "int4": pa.int64(),
             "int8": pa.int64(), "float4": pa.float64(), "float8": pa.float64(), "bool": pa.bool_(),
             "timestamptz": pa.timestamp("us", tz="UTC"), "timestamp": pa.timestamp("us")}


@asynccontextmanager
async def _connection(engine: PostgresEngine) -> AsyncIterator[Any]:
    """A connection of the engine's pool (or a new one without a pool), given back after."""
    conn = await (engine.pool.acquire() if engine.pool else engine.get_new_connection())
    try:
        yield conn
    finally:
        if engine.pool:
            await engine.pool.release(conn)
        else:
            await conn.close()


@asynccontextmanager
async def _given(conn: Any) -> AsyncIterator[Any]:
    """A connection the caller holds, as :func:`_connection` gives one."""
    yield conn


async def _pg_rows(engine: PostgresEngine, sql: str, args: tuple) -> pd.DataFrame:
    """A few rows, fetched as records: the same frame as :func:`_pg_frame` gives."""
    async with _connection(engine) as conn:
        stmt = await conn.prepare(sql)
        rows = await stmt.fetch(*args)
        cols = [a.name for a in stmt.get_attributes()]
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=cols)


async def _pg_frame(engine: PostgresEngine, sql: str, args: tuple) -> pd.DataFrame:
    """A query's rows as a frame, read with ``COPY (query) TO STDOUT`` into a temporary file
    and converted by Arrow block by block into arrays made once at their full length: no
    Python object per row or per value, and no second copy of the frame. A region's 24 million
    records fetched as asyncpg records took more than 14 GiB (issue 16: ``xinbao train`` died at
    14.5 GB); here the frame's own arrays are most of it, and repeated texts (codes, a meter's
    attrs every month) share one Python string."""
    with tempfile.TemporaryFile(prefix="xinbao-frame-") as fh:
        columns, rows = await _copy_out(engine, sql, args, fh)
        return await asyncio.to_thread(_frame_from_copy, fh, columns, rows)


async def _copy_out(engine: PostgresEngine, sql: str, args: tuple, fh: Any) -> tuple[list[tuple[str, str]], int]:
    """``COPY (sql) TO STDOUT`` as CSV with a header into ``fh`` (rewound after): the query's
    columns (name, PostgreSQL type) and its row count."""
    async with _connection(engine) as conn:
        columns = await _columns(conn, sql)
        rows = await _copy(conn, sql, args, fh)
    fh.seek(0)
    return columns, rows


async def _columns(conn: Any, sql: str) -> list[tuple[str, str]]:
    """The columns (name, PostgreSQL type) of a query."""
    stmt = await conn.prepare(sql)
    return [(a.name, a.type.name) for a in stmt.get_attributes()]


async def _copy(conn: Any, sql: str, args: tuple, output: Any) -> int:
    """``COPY (sql) TO STDOUT`` as CSV with a header into ``output`` (a file or a coroutine
    function), dates and times in ISO form and UTC; its row count."""
    async with conn.transaction(readonly=True):
        await conn.execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'")
        status = await conn.copy_from_query(sql, *args, output=output, format="csv", header=True)
    return int(status.split()[-1])  # "COPY <rows>"


def _frame_from_copy(fh: Any, columns: list[tuple[str, str]], rows: int) -> pd.DataFrame:
    """Columns as the asyncpg path gave them, in memory-lean form: texts as Python strings
    (None for NULL; one object per distinct value of a repetitive column), integers as
    ``int64`` (``Int64`` where NULL occurs), dates as ``datetime64[ns]`` (NaT for NULL and for
    dates pandas cannot hold, as ``pd.to_datetime(errors="coerce")`` gives), times as
    ``datetime64[ns, UTC]``, booleans as ``bool``."""
    types = {name: _PG_ARROW.get(kind, pa.string()) for name, kind in columns}
    reader = _csv_reader(fh, types)
    frame = _frame_from_batches(reader, columns, types, rows)
    del reader
    pa.default_memory_pool().release_unused()  # Arrow's blocks: back to the system now
    return frame


def _csv_reader(fh: Any, types: dict[str, pa.DataType], block_size: int = 1 << 24) -> Any:
    """Arrow's block-by-block reader of a ``COPY ... (FORMAT csv, HEADER)`` file."""
    return pacsv.open_csv(
        fh, read_options=pacsv.ReadOptions(block_size=block_size),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"]))


def _frame_from_batches(batches: Any, columns: list[tuple[str, str]], types: dict[str, pa.DataType],
                        rows: int) -> pd.DataFrame:
    """Arrow record batches of ``rows`` rows in all, as :func:`_frame_from_copy` frames them."""
    sinks = {name: _Sink(types[name], rows) for name, _ in columns}
    at = _fill(sinks, batches, grow=False)
    assert at == rows, (at, rows)
    return pd.DataFrame({name: sink.result() for name, sink in sinks.items()}, copy=False)


def _fill(sinks: dict[str, _Sink], batches: Any, *, grow: bool) -> int:
    """Each batch's columns into the sinks, in order; ``grow``: the sinks make room as the
    rows come. The rows written."""
    at = 0
    for batch in batches:
        n = batch.num_rows
        for name, sink in sinks.items():
            if grow:
                sink.reserve(at + n)
            sink.put(batch.column(name), at, n)
        at += n
    return at


def _split_copy(fh: Any, types: dict[str, pa.DataType], part_of: dict[str, int], folder: str,
                parts: int) -> tuple[list[int], int]:
    """The rows of a COPY file, by their ``uscc``'s part, into one Arrow stream file per part
    (``folder/<part>.arrow``), each part's rows in the file's order; the rows per part, and
    the rows read in all (those of no part included). One pass, a block in memory at a time."""
    writers: dict[int, Any] = {}
    counts = [0] * parts
    read = 0
    try:
        for batch in _csv_reader(fh, types):
            read += batch.num_rows
            encoded = batch.column("uscc").dictionary_encode()
            of_code = np.array([part_of.get(u, -1) for u in encoded.dictionary.to_pylist()], dtype=np.int64)
            row_part = of_code[encoded.indices.to_numpy(zero_copy_only=False)]
            order = np.argsort(row_part, kind="stable")
            ordered = batch.take(pa.array(order))
            sizes = np.bincount(row_part[row_part >= 0], minlength=parts)
            start = int((row_part < 0).sum())  # rows of no part (none when the query asks for the parts' firms)
            for k in np.flatnonzero(sizes).tolist():
                n = int(sizes[k])
                if k not in writers:
                    writers[k] = pa.ipc.new_stream(f"{folder}/{k}.arrow", batch.schema)
                writers[k].write_batch(ordered.slice(start, n))
                counts[k] += n
                start += n
    finally:
        for writer in writers.values():
            writer.close()
    pa.default_memory_pool().release_unused()
    return counts, read


async def _copy_streamed(engine: PostgresEngine, sql: str, args: tuple,
                         consume: Callable[[Any, dict[str, pa.DataType]], tuple[T, int]],
                         conn: Any = None) -> tuple[list[tuple[str, str]], dict[str, pa.DataType], T]:
    """``COPY (sql) TO STDOUT`` as CSV with a header, handed *while it arrives* to
    ``consume(file, arrow types)``, which returns its result and the rows it read: the rows go
    through a pipe to ``consume`` in a thread of its own, so Arrow's parse overlaps the server's
    work instead of following it (the server produces the COPY on one core). The pipe's flow
    control holds the COPY back when ``consume`` falls behind, so no more than a pipe's worth
    waits in memory. Either side failing fails the call with its own error. The query's columns
    (name, PostgreSQL type), their Arrow types and ``consume``'s result; the rows it read are
    checked against the COPY's own count. ``conn``: on this connection (in its transaction),
    not one of the pool's."""
    loop = asyncio.get_running_loop()
    async with (_given(conn) if conn is not None else _connection(engine)) as conn:
        columns = await _columns(conn, sql)
        types = {name: _PG_ARROW.get(kind, pa.string()) for name, kind in columns}
        read_fd, write_fd = os.pipe()

        def read() -> tuple[T, int]:
            with os.fdopen(read_fd, "rb") as fh:  # closed on failure too: the COPY's writes then fail
                return consume(fh, types)

        reading = asyncio.ensure_future(asyncio.to_thread(read))
        try:
            transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                                os.fdopen(write_fd, "wb", buffering=0))
        except BaseException:
            os.close(write_fd)
            await asyncio.gather(reading, return_exceptions=True)
            raise
        writer = asyncio.StreamWriter(transport, protocol, None, loop)

        async def sink(chunk: bytes) -> None:
            writer.write(chunk)
            await writer.drain()

        try:
            rows = await _copy(conn, sql, args, sink)
        except BaseException:
            writer.close()
            failed = (await asyncio.gather(reading, return_exceptions=True))[0]
            if isinstance(failed, Exception):  # the reader's own failure, not the broken pipe it left
                raise failed from None
            raise
        writer.close()  # flushes what is left, then the end of the pipe: the reader's end of file
        result, read_rows = await reading
    if read_rows != rows:  # the pipe lost or added rows: never pass a partial read on
        raise RuntimeError(f"the COPY's reader read {read_rows} rows of its {rows}")
    return columns, types, result


async def _copy_split(engine: PostgresEngine, sql: str, args: tuple, part_of: dict[str, int], folder: str,
                      parts: int) -> tuple[list[tuple[str, str]], dict[str, pa.DataType], list[int]]:
    """``COPY (sql)`` split by part (:func:`_split_copy`) while it arrives
    (:func:`_copy_streamed`): at 300 firms of 18,000 records, the split after the COPY took
    4.4 s of a 15.7 s scan. The query's columns, their Arrow types and the rows per part."""
    return await _copy_streamed(engine, sql, args,
                                lambda fh, types: _split_copy(fh, types, part_of, folder, parts))


async def _pg_frame_streamed(engine: PostgresEngine, sql: str, args: tuple, expect: int = 1 << 16,
                             conn: Any = None) -> pd.DataFrame:
    """:func:`_pg_frame`'s frame, framed while the COPY arrives (:func:`_copy_streamed`). Its
    arrays grow as the rows come (by a quarter at a time, so at most a quarter more than the
    rows is held) instead of being made once at the COPY's count: for the feature store's
    cells (at 10,000 firms 1.9 M, framed in 1.5 s), not for the records, whose frame is the
    largest thing training holds."""
    _columns, _types, frame = await _copy_streamed(
        engine, sql, args, lambda fh, types: _frame_from_stream(fh, types, start=max(1, expect)), conn)
    return frame


def _frame_from_stream(fh: Any, types: dict[str, pa.DataType], block_size: int = 1 << 24,
                       start: int = 1 << 16) -> tuple[pd.DataFrame, int]:
    """The rows of a COPY (CSV with a header) as :func:`_frame_from_copy` frames them, with
    arrays made for ``start`` rows that grow as the blocks come; and the rows read."""
    sinks = {name: _Sink(kind, start) for name, kind in types.items()}
    at = _fill(sinks, _csv_reader(fh, types, block_size), grow=True)
    for sink in sinks.values():
        sink.trim(at)
    frame = pd.DataFrame({name: sink.result() for name, sink in sinks.items()}, copy=False)
    pa.default_memory_pool().release_unused()
    return frame, at


def _part_frame(folder: str, k: int, columns: list[tuple[str, str]], types: dict[str, pa.DataType],
                rows: int) -> pd.DataFrame:
    """One part's rows written by :func:`_split_copy`, framed (and its file removed)."""
    path = f"{folder}/{k}.arrow"
    if not rows:
        return _frame_from_batches([], columns, types, 0)
    with pa.OSFile(path, "rb") as source:
        frame = _frame_from_batches(pa.ipc.open_stream(source), columns, types, rows)
    os.unlink(path)
    pa.default_memory_pool().release_unused()
    return frame


# The days (since 1970-01-01) pandas' nanosecond timestamps can hold.
_MIN_DAY = int(pd.Timestamp.min.ceil("D").value // 86_400_000_000_000)
_MAX_DAY = int(pd.Timestamp.max.floor("D").value // 86_400_000_000_000)
_DAY_US = 86_400_000_000


class _Sink:
    """One column's values, written block by block into arrays of the full length."""

    def __init__(self, kind: pa.DataType, rows: int) -> None:
        self.kind = kind
        self.nulls = np.zeros(rows, dtype=bool)
        if pa.types.is_string(kind):
            self.values = np.empty(rows, dtype=object)
            self.strings: dict[str, str] = {}  # one object per distinct text, across blocks
        elif pa.types.is_date32(kind) or pa.types.is_timestamp(kind):
            self.values = np.empty(rows, dtype="datetime64[ns]")
        elif pa.types.is_boolean(kind):
            self.values = np.zeros(rows, dtype=bool)
        elif pa.types.is_integer(kind):
            self.values = np.zeros(rows, dtype="int64")
        else:
            self.values = np.full(rows, np.nan)

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` values: the arrays grown by at least a quarter (in place where the
        allocator can). No view of them may be alive (``put`` holds one only while it runs)."""
        if rows > len(self.values):
            self._resize(max(rows, len(self.values) + len(self.values) // 4))

    def trim(self, rows: int) -> None:
        """The arrays cut to the ``rows`` values written."""
        if rows != len(self.values):
            self._resize(rows)

    def _resize(self, rows: int) -> None:
        for name in ("values", "nulls"):
            a = getattr(self, name)
            if a.base is None and a.flags.owndata:
                a.resize(rows, refcheck=False)  # new room is zeros; ``put`` writes every value
            else:
                grown = np.zeros(rows, dtype=a.dtype)
                grown[:min(rows, len(a))] = a[:rows]
                setattr(self, name, grown)

    def put(self, col: pa.Array, at: int, n: int) -> None:
        kind, out = self.kind, self.values[at:at + n]
        if col.null_count:
            self.nulls[at:at + n] = col.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_string(kind):
            encoded = col.dictionary_encode()
            if len(encoded.dictionary) > n // 2:  # mostly distinct (keys): one string per row
                out[:] = col.to_pylist()
                return
            keep = self.strings.setdefault
            values = np.array([*(keep(v, v) for v in encoded.dictionary.to_pylist()), None], dtype=object)
            out[:] = values[encoded.indices.fill_null(len(values) - 1).to_numpy()]
        elif pa.types.is_date32(kind):
            days = col.fill_null(0).cast(pa.int32()).to_numpy().astype("int64")
            bad = (days < _MIN_DAY) | (days > _MAX_DAY)
            out[:] = days.astype("datetime64[D]")
            out[bad] = np.datetime64("NaT")
        elif pa.types.is_timestamp(kind):
            micros = col.cast(pa.int64()).fill_null(0).to_numpy()
            bad = (micros < _MIN_DAY * _DAY_US) | (micros >= (_MAX_DAY + 1) * _DAY_US)
            out[:] = micros.astype("datetime64[us]")
            out[bad] = np.datetime64("NaT")
        elif pa.types.is_boolean(kind):
            out[:] = col.fill_null(False).to_numpy(zero_copy_only=False)
        elif pa.types.is_integer(kind):
            out[:] = col.fill_null(0).to_numpy()
        else:
            out[:] = col.to_numpy(zero_copy_only=False)  # floats: NaN for NULL

    def result(self) -> Any:
        kind, values, nulls = self.kind, self.values, self.nulls
        if pa.types.is_date32(kind) or pa.types.is_timestamp(kind):
            values[nulls] = np.datetime64("NaT")
            if pa.types.is_timestamp(kind) and kind.tz is not None:  # timestamptz: aware, in UTC
                return pd.Series(values).dt.tz_localize("UTC")
            return values
        if pa.types.is_boolean(kind) and nulls.any():
            out = values.astype(object)
            out[nulls] = None
            return out
        if pa.types.is_integer(kind) and nulls.any():
            return pd.arrays.IntegerArray(values, nulls)
        return values


async def load_records(engine: Engine, as_of: date | None = None,
                       usccs: list[str] | None = None, *, with_keys: bool = False,
                       kinds: tuple[str, ...] | None = None, dense: bool = False) -> pd.DataFrame:
    """Department records known by ``as_of`` (all if None), in ``RECORD_COLUMNS`` form, with
    the readings of electricity meters shared by several firms split among them
    (``scoring.authenticity.split_shared_meters``; for a subset of firms, with the other
    firms on their meters); ``with_keys`` adds ``record_id`` (the row's id) and
    ``record_key`` (the department's key); ``kinds``: only those kinds (all if None).
    ``dense``: the firms may hold many records each, so a few firms' rows are read through
    COPY too (fetched as records, 90,000 rows of 5 firms at 18,000 each took 0.2 s per part)."""
    if usccs is not None and not usccs:
        return normalise_records(pd.DataFrame(
            columns=[*RECORD_COLUMNS, *(_RECORD_KEYS if with_keys else ())]))
    sql, args = _records_query(engine, as_of, usccs, with_keys, kinds)
    df = normalise_records(await _query(engine, sql, args, firms=None if usccs is None or dense else len(usccs)))
    return await _split_meters(engine, _stored_order(df), usccs, as_of)


def _stored_order(df: pd.DataFrame) -> pd.DataFrame:
    """Records with their keys in the order they were stored (by id). A warning cites the
    first rows of a month, and the order a query returns rows in is the table's physical
    order, which PostgreSQL does not keep from one scan to the next (synchronised scans of a
    large table start where another scan is): the same data must cite the same rows."""
    if "record_id" not in df.columns or df["record_id"].is_monotonic_increasing:
        return df
    return df.sort_values("record_id", kind="stable", ignore_index=True)


def among(engine: Engine, column: str, values: Collection[str], *, negate: bool = False) -> tuple[str, list]:
    """``column`` among ``values`` (or not), as a clause and its arguments on either engine."""
    if isinstance(engine, PostgresEngine):
        return f"{column} {'<> ALL' if negate else '= ANY'}(?)", [list(values)]
    return f"{column} {'NOT IN' if negate else 'IN'} ({', '.join('?' * len(values))})", list(values)


def _records_query(engine: Engine, as_of: date | None, usccs: list[str] | None, with_keys: bool,
                   kinds: tuple[str, ...] | None) -> tuple[str, tuple]:
    """The SQL and arguments of :func:`load_records`."""
    sql = _RECORD_SELECT.format(keys=", id AS record_id, record_key") if with_keys else _RECORD_SQL
    args: list = []
    if as_of is not None:
        sql += " AND event_date <= ?"
        args.append(as_of if isinstance(engine, PostgresEngine) else as_of.isoformat())
    if kinds is not None:
        sql += f" AND source IN ({', '.join('?' * len(kinds))})"
        args.extend(kinds)
    if usccs is not None:
        clause, values = among(engine, "uscc", usccs)
        sql += f" AND {clause}"
        args += values
    return sql, tuple(args)


#: Records a part of a whole-region pass holds at once (the warning scan, the re-score of the
#: firms a batch touched): as many firms as this many records make at the region's average per
#: firm. Measured on 300 firms at Weihai's 18,000 records per firm (a full warning scan, 5.4 M
#: records of about 440 bytes each in memory): one part peaked at 2.4 GB, parts of 1 M records
#: at 1.3 GB, of 500,000 at 1.1 GB. At the demo's density a pass is one part.
PART_RECORDS = 500_000


async def firms_per_part(engine: Engine, part_records: int = PART_RECORDS) -> int:
    """Firms per part: ``part_records`` at the region's average records per firm (every stored
    version counted, so never fewer than there are)."""
    top = float(await load_scalar(engine, "SELECT COALESCE(MAX(id), 0) FROM dept_record") or 0)
    firms = int(await load_scalar(engine, "SELECT COUNT(*) FROM firm") or 0)
    return max(1, int(part_records // max(1.0, top / max(firms, 1))))


def in_parts(usccs: list[str], size: int) -> list[list[str]]:
    """``usccs`` in consecutive parts of ``size``, their order kept (at least one part)."""
    return [usccs[i:i + size] for i in range(0, len(usccs), size)] or [[]]


async def records_in_parts(engine: Engine, as_of: date | None, parts: list[list[str]], *,
                           with_keys: bool = False, every_firm: bool = False, dense: bool = False
                           ) -> AsyncIterator[tuple[list[str], pd.DataFrame]]:
    """Each part of firms with its records, as ``load_records(engine, as_of, part, ...)`` gives
    them, one part in memory at a time. ``every_firm``: the parts hold every firm of the region
    (no list of firms is sent); ``dense``: as :func:`load_records`'s, for a read part by part.

    On PostgreSQL the records are read in one pass, whatever the parts: one query's COPY, its
    rows written by part into Arrow files as they arrive (:func:`_copy_split`), then each part
    framed in turn.
    A query per part would read each heap page again for every part, since a month's rows of
    every firm share the pages (measured at 1,000 firms of 18,000 records: 124 s in 38 parts
    against about 48 s in one). SQLite (the embedded default, small regions) queries by part."""
    if len(parts) == 1 or not isinstance(engine, PostgresEngine):
        for part in parts:
            whole = every_firm and len(parts) == 1
            yield part, await load_records(engine, as_of, None if whole else part, with_keys=with_keys,
                                           dense=dense)
        return
    sql, args = _records_query(engine, as_of, None if every_firm else [u for p in parts for u in p],
                               with_keys, None)
    sql = dollar_params(sql)
    part_of = {u: k for k, part in enumerate(parts) for u in part}
    with tempfile.TemporaryDirectory(prefix="xinbao-parts-") as folder:
        columns, types, counts = await _copy_split(engine, sql, args, part_of, folder, len(parts))
        on_shared = await _firms_on_shared_meters(engine)
        for k, part in enumerate(parts):
            df = normalise_records(await asyncio.to_thread(_part_frame, folder, k, columns, types, counts[k]))
            yield part, await _split_those(engine, _stored_order(df), [u for u in part if u in on_shared], as_of)
            del df


async def _firms_on_shared_meters(engine: Engine) -> set[str]:
    """The firms that ever read an electricity meter another firm reads too (the feature store's
    cells, kept with the records, say who reads which meter each month): the only firms whose
    rows a shared meter's split can change."""
    df = await _query(engine, "SELECT DISTINCT uscc FROM firm_month WHERE meter IN ("
                              "SELECT meter FROM firm_month WHERE meter <> '' AND kind = 'utility' "
                              "AND category = 'electricity' GROUP BY meter HAVING COUNT(DISTINCT uscc) > 1)")
    return set(df["uscc"].astype(str))


async def _split_those(engine: Engine, df: pd.DataFrame, usccs: list[str], as_of: date | None) -> pd.DataFrame:
    """``df`` with the shared meters of ``usccs`` split as the whole region's split gives them
    (:func:`_split_meters` of their rows alone); the other firms' rows, on meters nobody else
    reads, are as read. The split reads meter keys row by row, so a part's hundreds of
    thousands of electricity rows are left out of it."""
    if not usccs:
        return df
    mine = df["uscc"].isin(usccs).to_numpy()
    rows = df[mine].reset_index(drop=True)
    split = await _split_meters(engine, rows, usccs, as_of)
    if split is rows:
        return df
    quantity = df["quantity"].to_numpy(dtype=float, copy=True)
    quantity[mine] = split["quantity"].to_numpy(dtype=float)
    attrs = df["attrs"].to_numpy(dtype=object, copy=True)
    attrs[mine] = split["attrs"].to_numpy(dtype=object)
    out = df.copy(deep=False)
    out["quantity"] = quantity
    out["attrs"] = pd.Series(attrs, index=out.index, dtype=object, copy=False)
    return out


async def _split_meters(engine: Engine, df: pd.DataFrame, usccs: list[str] | None,
                        as_of: date | None) -> pd.DataFrame:
    """The readings of electricity meters shared by several firms split among them; for a
    subset of firms (``usccs``), exactly as the whole region's split gives them.

    A shared meter's reading is split by each firm's headcount times its electricity per head
    on meters of its own (``split_shared_meters``). So a subset's split reads, besides its own
    rows, the other firms on its meters (their electricity and pension rows: their headcount
    and their own meters' months) and, on those firms' other meters, who else reads them that
    month (whether a month is a meter of their own)."""
    if usccs is None:
        return split_shared_meters(df)
    mine = set(usccs)
    keys = _electricity_meters(df)
    if not keys:
        return df
    # a meter key is a meter number, or "@" and the supply address as stored (canonical)
    partners = await _meter_rows(engine, keys, as_of, besides=sorted(mine))
    if partners.empty:
        return split_shared_meters(df)
    tied = sorted(set(partners["uscc"].astype(str)))
    theirs = await _electricity_and_pension(engine, tied, as_of)
    # on the partners' other meters, anyone else that reads them makes those months shared
    more = sorted(_electricity_meters(theirs) - keys)
    others = await _meter_rows(engine, more, as_of, besides=sorted(mine | set(tied))) if more else theirs.iloc[:0]
    both = split_shared_meters(pd.concat([df, theirs, others], ignore_index=True))
    return both.iloc[:len(df)].reset_index(drop=True)


def _electricity_meters(df: pd.DataFrame) -> set[str]:
    """The meter keys of the electricity rows of ``df``."""
    electricity = (df["category"] == "electricity").to_numpy()
    return {m for m in meter_ids(df)[electricity].tolist() if m}


async def _electricity_and_pension(engine: Engine, usccs: list[str], as_of: date | None) -> pd.DataFrame:
    """The current electricity and pension rows of ``usccs`` known by ``as_of``: what the split
    of a meter they share reads of them."""
    sql, args = _records_query(engine, as_of, usccs, False, ("utility", "social_insurance"))
    sql += " AND category IN ('electricity', 'pension')"
    return normalise_records(await _query(engine, sql, args, firms=len(usccs)))


async def _meter_rows(engine: Engine, keys: Collection[str], as_of: date | None,
                      besides: list[str] | None = None) -> pd.DataFrame:
    """Current electricity rows read on any of the meters ``keys`` (a meter number, or "@" and
    the supply address as stored; the partial indexes on both answer it), of firms other than
    ``besides``."""
    meters = [k for k in keys if not k.startswith("@")]
    addresses = [k[1:] for k in keys if k.startswith("@")]
    pg = isinstance(engine, PostgresEngine)
    clauses, args = [], []
    for attr, values in (("meter_id", meters), ("supply_address", addresses)):
        if not values:
            continue
        clause, given = among(engine, f"(attrs->>'{attr}')" if pg else f"json_extract(attrs, '$.{attr}')", values)
        clauses.append(clause)
        args += given
    sql = _RECORD_SELECT.format(keys="") + " AND source = 'utility' AND (" + " OR ".join(clauses) + ")"
    if as_of is not None:
        sql += " AND event_date <= ?"
        args.append(as_of if pg else as_of.isoformat())
    if besides:  # the subset's own readings are read already: only the other firms' on its meters
        clause, given = among(engine, "uscc", besides, negate=True)
        sql += f" AND {clause}"
        args += given
    # a few meters' readings: the firms on them
    df = normalise_records(await _query(engine, sql, tuple(args), firms=len(meters) + len(addresses)))
    return df[df["category"] == "electricity"]


_HISTORY_SQL = (
    "SELECT r.uscc, r.source AS kind, r.event_date, r.end_date, r.category, r.amount_fen, "
    "r.arrears_fen, r.quantity, r.days, r.status, r.attrs, r.received_at, r.superseded_at, "
    "b.backfill FROM dept_record r JOIN ingest_batch b ON b.id = r.batch_id"
)


async def load_record_history(engine: Engine, usccs: list[str] | None = None,
                              kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every version of every department record with ``HISTORY_COLUMNS``: a row is known from
    the moment it arrived, or, from a back-filled archive, from its event date; it stops being
    the valid version when a correction supersedes it. For training on past dates
    (``scoring.records.known_at``) and the re-declaration check; times are UTC, without zone.
    ``usccs`` / ``kinds``: only these firms' / feeds' rows."""
    sql, args = _HISTORY_SQL, []
    clauses = []
    for column, values in (("r.uscc", usccs), ("r.source", kinds)):
        if values is not None:
            clause, given = among(engine, column, values)
            clauses.append(clause)
            args += given
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    df = await _query(engine, sql, tuple(args), firms=None if usccs is None else len(usccs))
    received = _utc_naive(df["received_at"])
    superseded = _utc_naive(df["superseded_at"])
    backfill = df["backfill"].astype(bool).to_numpy()
    out = normalise_records(df)  # takes the record columns only
    del df
    out["known_from"] = received.where(~backfill, out["event_date"])
    out["superseded_at"] = superseded
    return split_shared_meters(out)


def _utc_naive(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)


def normalise_records(df: pd.DataFrame) -> pd.DataFrame:
    """Dtypes as ``scoring.records`` documents them, whichever engine the rows came from;
    ``record_id`` / ``record_key`` are kept when the rows have them."""
    keys = [c for c in _RECORD_KEYS if c in df.columns]
    if df.empty:
        df = pd.DataFrame(columns=[*RECORD_COLUMNS, *keys])
    # column by column into a new frame that shares what needs no conversion: a region's
    # records are gigabytes, and a frame-wide selection or assignment would copy them
    cols: dict[str, Any] = {c: df[c] for c in (*RECORD_COLUMNS, *keys)}
    for col in ("event_date", "end_date"):
        if cols[col].dtype != _NS:  # datetimes already: to_datetime would hash and map them all
            cols[col] = pd.to_datetime(cols[col], errors="coerce")
    for col in ("amount_fen", "arrears_fen", "days", *(["record_id"] if "record_id" in keys else [])):
        cols[col] = pd.array(cols[col], dtype="Int64", copy=False)
    cols["quantity"] = pd.to_numeric(cols["quantity"], errors="coerce").astype(float, copy=False)
    cols["attrs"] = pd.Series(_parsed_attrs(cols["attrs"]), index=df.index, dtype=object)
    if "record_key" in keys:
        cols["record_key"] = cols["record_key"].astype(object, copy=False)
    return pd.DataFrame(cols, index=df.index, copy=False)


def _parsed_attrs(values: pd.Series) -> Any:
    """Each row's ``attrs`` as a dict, parsed once per distinct JSON text: rows repeating the
    same text (a meter's every month) share one dict, read-only like every attrs in scoring
    (which makes new dicts when it adds to one). 24 million rows would otherwise be 24 million
    dicts. The texts are told apart by ``pd.factorize`` (hashing in C, not a Python loop per
    row); a missing value stays as it was."""
    raw = values.to_numpy(dtype=object)
    try:
        codes, texts = pd.factorize(raw)
    except TypeError:  # values parsed already (unhashable dicts): one by one
        return _parsed_one_by_one(raw)
    parsed = np.empty(len(texts) + 1, dtype=object)
    parsed[:-1] = [_json_object(t) if isinstance(t, str) else t for t in texts]
    out = parsed[codes]  # a missing value (code -1) takes the spare last slot: put it back
    missing = codes < 0
    if missing.any():
        out[missing] = raw[missing]
    return out


_decode = msgspec.json.Decoder().decode
_NS = np.dtype("datetime64[ns]")


def _json_object(text: str) -> Any:
    """``json.loads(text)``, by ``msgspec`` (a third of the time: a region's financial
    statements are hundreds of thousands of texts); what only ``json`` reads (``NaN``, an
    integer beyond 64 bits) is read by ``json``."""
    try:
        return _decode(text)
    except (msgspec.DecodeError, ValueError):
        return json.loads(text)


def _parsed_one_by_one(values: Any) -> list[Any]:
    parsed: dict[str, Any] = {}
    out = []
    for a in values:
        if isinstance(a, str):
            d = parsed.get(a)
            if d is None:
                d = parsed[a] = _json_object(a)
            out.append(d)
        else:
            out.append(a)
    return out


async def load_firms(engine: Engine) -> pd.DataFrame:
    """All firms in ``FIRM_COLUMNS`` form, plus their database ``id``."""
    df = await _query(engine, _FIRM_SQL)
    df["founded_on"] = pd.to_datetime(df["founded_on"], errors="coerce")
    df["registered_capital_fen"] = pd.array(df["registered_capital_fen"], dtype="Int64")
    return df


_CELLS_SQL = f"SELECT {', '.join(CELL_COLUMNS)} FROM firm_month"
#: The cells a shared meter's split reads of the other firms on it: their electricity by meter
#: and their pension (headcount).
_SPLIT_CELLS = ("((kind = 'utility' AND category = 'electricity') "
                "OR (kind = 'social_insurance' AND category = 'pension'))")


async def _cells(engine: Engine, where: str = "", args: tuple = (), firms: int | None = None,
                 *, expect: int = 1 << 16, conn: Any = None) -> pd.DataFrame:
    """The cells' rows ``where`` (SQL with ``?`` placeholders), as stored; ``expect``: about how
    many (the arrays are made for that many and grow); ``conn``: read on this PostgreSQL
    connection, in its transaction."""
    if not where and isinstance(engine, PostgresEngine):  # every cell: as many as the planner counts
        expect = max(expect, int((await _cells_counted(engine)) * 1.02))
    if conn is not None:
        df = await _pg_frame_streamed(engine, dollar_params(_CELLS_SQL + where), args, expect, conn)
    else:
        df = await _query(engine, _CELLS_SQL + where, args, firms=firms, streamed=True, expect=expect)
    # the columns as they are, not consolidated into 2-D blocks: a copy of every cell (about
    # 1 s for 1.9 M cells) that nothing reading the cells column by column needs
    out = pd.DataFrame({c: df[c] for c in CELL_COLUMNS}, copy=False)
    for c in ("uscc", "kind", "category", "meter"):
        out[c] = out[c].astype(object)
    out["first_event"] = pd.to_datetime(out["first_event"]).astype("datetime64[ns]")
    for c in CELL_COLUMNS[7:]:
        out[c] = pd.to_numeric(out[c]).astype(np.int64 if c.endswith("_n") else float)
    out["month"] = out["month"].astype(np.int64)
    out["rows"] = out["rows"].astype(np.int64)
    return out


async def _cells_counted(engine: PostgresEngine) -> int:
    """The planner's count of the cells' rows (``pg_class.reltuples``; 0 before the first
    ANALYZE)."""
    counted = await load_scalar(engine, "SELECT reltuples::bigint FROM pg_class WHERE oid = 'firm_month'::regclass")
    return max(0, int(counted or 0))


async def packed_cells(engine: Engine) -> int:
    """How many cells the packs hold (``firm_pack.n`` summed): once every firm is packed, what
    a whole-region read of the store frames. 0 on SQLite, which keeps no packs."""
    if not isinstance(engine, PostgresEngine):
        return 0
    return int(await load_scalar(engine, "SELECT COALESCE(SUM(n), 0) FROM firm_pack") or 0)


async def load_cells(engine: Engine, *, split: bool = True, usccs: Collection[str] | None = None) -> pd.DataFrame:
    """The feature store's cells (``scoring.feature_store``), every month of every firm (of
    ``usccs``: of those firms), with the readings of electricity meters shared by several firms
    split among them (``split_cells``: a firm's reading per head is measured over all its
    months, so none is left out); ``split=False``: as stored. A subset's split is the whole
    region's, as :func:`_split_meters` gives the records'. On PostgreSQL the cells of more than
    ``FETCH_UP_TO_FIRMS`` firms are read from their packs (:func:`_packed_and_marked`)."""
    postgres = isinstance(engine, PostgresEngine)
    if usccs is None:
        cells = await (_packed_and_marked(engine) if postgres else _cells(engine))
        return split_cells(cells, in_place=True) if split else cells  # the frame is this read's own
    mine = sorted(set(usccs))
    if postgres and len(mine) > FETCH_UP_TO_FIRMS:
        cells = await _packed_and_marked(engine, mine)
    else:
        where, args = among(engine, "uscc", mine)
        cells = await _cells(engine, f" WHERE {where}", tuple(args), firms=len(mine))
    return await _split_subset(engine, cells, mine) if split else cells


#: Packs fetched per round trip while they are decoded (at Weihai's density 2,000 firms hold
#: about 0.4 M cells: 5 MB as fetched, 48 MB decoded).
PACKS_PER_FETCH = 2_000
_NOT_MARKED = "NOT EXISTS (SELECT 1 FROM firm_pack_dirty d WHERE d.uscc = p.uscc)"


async def _packed_and_marked(engine: PostgresEngine, usccs: list[str] | None = None) -> pd.DataFrame:
    """The cells (of ``usccs``; all if None) as stored, read in one snapshot: from their packs
    (``server.scores.cell_packs``) for the firms whose pack is current, as rows for the firms
    marked changed since (``firm_pack_dirty``)."""
    mine = "" if usccs is None else " AND p.uscc = ANY($1)"
    args: tuple = () if usccs is None else (usccs,)
    counted = await _cells_counted(engine)
    async with _connection(engine) as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        # the packs to read and their cells; the marked firms (of ``usccs``); about how many
        # firms the region holds (a marked firm with an old pack counts twice: close enough)
        packs, cells, marked, region = await conn.fetchrow(
            f"SELECT COUNT(*), COALESCE(SUM(n), 0), (SELECT COUNT(*) FROM firm_pack_dirty d"
            f"{'' if usccs is None else ' WHERE d.uscc = ANY($1)'}), "
            f"(SELECT COUNT(*) FROM firm_pack) + (SELECT COUNT(*) FROM firm_pack_dirty) "
            f"FROM firm_pack p WHERE {_NOT_MARKED}{mine}", *args)
        packed = PackedCells(int(cells))
        if packs:
            cursor = await conn.cursor(f"SELECT {', '.join(PACK_COLUMNS)} FROM firm_pack p "
                                       f"WHERE {_NOT_MARKED}{mine}", *args)
            while rows := await cursor.fetch(PACKS_PER_FETCH):
                await asyncio.to_thread(packed.add, rows)
        rows_of = None
        if marked:
            # about the marked firms' share of the cells' rows, for the arrays' first size
            share = min(1.0, marked / max(1, region))
            where = " WHERE uscc IN (SELECT uscc FROM firm_pack_dirty)"
            where += "" if usccs is None else " AND uscc = ANY(?)"
            rows_of = await _cells(engine, where, args, expect=max(1 << 16, int(counted * share * 1.02)), conn=conn)
    frame = await asyncio.to_thread(packed.frame)
    if rows_of is None or rows_of.empty:
        return frame
    if frame.empty:
        return rows_of
    return pd.concat([frame, rows_of], ignore_index=True)


async def _split_subset(engine: Engine, cells: pd.DataFrame, usccs: list[str]) -> pd.DataFrame:
    """``cells`` (of ``usccs``) split as the whole region's split gives them: besides their own
    cells, the split reads the other firms on their meters (their electricity and pension: their
    headcount and their own meters' months) and, on those firms' other meters, who else reads
    them (whether a month is a meter of their own)."""
    keys = _cell_meters(cells)
    tied = await _firms_on_meters(engine, keys, besides=usccs) if keys else []
    if not tied:
        return split_cells(cells, in_place=True)  # the frame is the caller's read, its own
    where, args = among(engine, "uscc", tied)
    theirs = await _cells(engine, f" WHERE {where} AND {_SPLIT_CELLS}", tuple(args), firms=len(tied))
    more = sorted(_cell_meters(theirs) - keys)
    others = await _cells_on_meters(engine, more, besides=[*usccs, *tied]) if more else theirs.iloc[:0]
    both = split_cells(pd.concat([cells, theirs, others], ignore_index=True), in_place=True)
    return both.iloc[:len(cells)].reset_index(drop=True)


def _cell_meters(cells: pd.DataFrame) -> set[str]:
    """The meter keys of the electricity cells of ``cells``."""
    # by the codes the packs' decoding handed over (``is_text``), the meters compared on the
    # electricity cells alone: a part's cells are millions, its electricity cells a tenth
    elec = np.flatnonzero(is_text(cells["kind"], "utility") & is_text(cells["category"], "electricity"))
    meters = pd.unique(cells["meter"].to_numpy(dtype=object)[elec])
    return {str(m) for m in meters.tolist() if m != ""}


async def _firms_on_meters(engine: Engine, keys: Collection[str], besides: list[str]) -> list[str]:
    """The firms other than ``besides`` with electricity cells on any of the meters ``keys``. On
    PostgreSQL from ``firm_meter`` (a row per firm and meter, kept by a trigger on the cells;
    migration 2026-12-07T09): at most a few firms more, whose cells left the meter since, which
    the split then reads for nothing; asking the cells instead read every month of every meter
    of ``keys``, the firms' own almost all (or the whole store, as the planner chose on a small
    region), for each part of a re-score on Dask."""
    if not isinstance(engine, PostgresEngine):
        found = await _cells_on_meters(engine, keys, besides)
        return sorted(set(found["uscc"].astype(str)))
    on = await read_frame(engine, "SELECT DISTINCT uscc FROM firm_meter WHERE meter = ANY(?)", (sorted(keys),),
                          firms=len(keys))
    mine = set(besides)  # left out here, not in SQL: ``<> ALL`` compares each row with every one
    return sorted({u for u in on["uscc"].astype(str).tolist() if u not in mine})


async def meter_groups(engine: Engine, usccs: Sequence[str]) -> np.ndarray:
    """Each firm's group of firms tied by shared electricity meters, directly or through other
    firms (``scoring.partitioned.linked_groups``): parts cut by them (a re-score's parts, in this
    process or on Dask) split their meters' readings with no firm of another part to read. On
    PostgreSQL from ``firm_meter`` (a pair whose firm left the meter ties the firms still: a
    part only larger), on SQLite from the cells."""
    if isinstance(engine, PostgresEngine):
        pairs = await read_frame(engine, "SELECT uscc, meter FROM firm_meter")
    else:
        pairs = await read_frame(engine, "SELECT DISTINCT uscc, meter FROM firm_month WHERE meter <> '' "
                                         "AND kind = 'utility' AND category = 'electricity'")
    return linked_groups(usccs, pairs["uscc"].to_numpy(), pairs["meter"].to_numpy())


async def _cells_on_meters(engine: Engine, keys: Collection[str], besides: list[str]) -> pd.DataFrame:
    """The electricity cells on any of the meters ``keys`` of firms other than ``besides``
    (the partial index ``firm_month_meter`` finds them)."""
    on, args = among(engine, "meter", sorted(keys))
    other, more = among(engine, "uscc", besides, negate=True)
    return await _cells(engine, f" WHERE meter <> '' AND {on} AND kind = 'utility' "
                                f"AND category = 'electricity' AND {other}", (*args, *more), firms=len(keys))


#: The current rows scoring reads one by one when it has the feature store's cells: every kind
#: but ``CELL_ONLY_KINDS``. Written out exactly as the partial index ``dept_record_row_kinds``
#: (migration 2026-12-06) states it, so that the planner sees the query implies the index.
ROW_KINDS_PREDICATE = ("superseded_at IS NULL AND source NOT IN ("
                       + ", ".join(f"'{k}'" for k in sorted(CELL_ONLY_KINDS)) + ")")


def event_dates(cells: pd.DataFrame, records: pd.DataFrame | None = None) -> pd.DataFrame:
    """``uscc``, ``kind`` and ``event_date`` of the cells (their first event: a month and
    whether it has a row by a date are all these readers ask) and of ``records``; of the cells
    alone, their ``month`` too (their first event's, which ``feed_health`` then reads)."""
    frame = pd.DataFrame({"uscc": cells["uscc"], "kind": cells["kind"], "event_date": cells["first_event"]},
                         copy=False)
    if records is None:
        frame["month"] = cells["month"].to_numpy()
        return frame
    return pd.concat([frame, records[["uscc", "kind", "event_date"]]], ignore_index=True)


def latest_months(cells: pd.DataFrame, end: pd.Timestamp) -> dict[str, int]:
    """Per kind, the latest month (months since 1970-01) of the cells with a row by ``end``:
    where the feed-health lateness starts reading arrivals (``load_arrivals``). The parts of a
    region give the region's by taking each kind's maximum."""
    first = cells["first_event"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    known = first <= pd.Timestamp(end).value  # two columns read, not the frame copied
    known &= first != np.iinfo(np.int64).min  # NaT: no row
    codes, kinds = factorize_objects(cells["kind"])  # by the texts' identities: no text hashed per cell
    month = cells["month"].to_numpy()
    # a masked maximum per kind (a few) over one reused mask: no copy of a column per cell,
    # where a group-by made several (at 120,000 firms 2.1 s, most of it faulting in new pages)
    out: dict[str, int] = {}
    mine = np.empty(len(codes), dtype=bool)
    for k, kind in enumerate(kinds):
        np.equal(codes, k, out=mine)
        mine &= known
        if mine.any():
            out[str(kind)] = int(month.max(where=mine, initial=np.iinfo(np.int64).min))
    return out


async def load_row_kinds(engine: Engine, as_of: date | None = None,
                         usccs: Collection[str] | None = None, *, with_keys: bool = False) -> pd.DataFrame:
    """The current records of the kinds the cells do not replace (``ROW_KINDS_PREDICATE``),
    known by ``as_of`` (all if None), of ``usccs`` (all if None), in ``RECORD_COLUMNS`` form:
    with :func:`load_cells`, everything a re-score reads. At a real region's density they are a
    small share of the records, found by the partial index. ``with_keys``: with ``record_id``
    and ``record_key``, in the order they were stored (as :func:`load_records` gives them)."""
    keys = ", id AS record_id, record_key" if with_keys else ""
    sql = _RECORD_SELECT.format(keys=keys).replace("WHERE superseded_at IS NULL", f"WHERE {ROW_KINDS_PREDICATE}")
    args: list = []
    if as_of is not None:
        sql += " AND event_date <= ?"
        args.append(as_of if isinstance(engine, PostgresEngine) else as_of.isoformat())
    if usccs is not None:
        clause, values = among(engine, "uscc", sorted(set(usccs)))
        sql += f" AND {clause}"
        args += values
    # framed while the COPY arrives (Arrow's parse beside the server's work): at 120,000 firms
    # 3.2 M rows in 5.2-5.4 s, against 7.2-8.5 s written to a file first and parsed after
    df = normalise_records(await _query(engine, sql, tuple(args), firms=None if usccs is None else len(set(usccs)),
                                        streamed=True))
    return _stored_order(df) if with_keys else df


async def load_scoring_inputs(engine: Engine, as_of: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(cells, rows)``: what scoring reads of the whole region, as of ``as_of`` (all if None),
    without the monthly feeds' rows: the feature store's cells (``compute_features(rows, ...,
    cells=cells)``, ``score_region(..., cells=cells)`` read their grids as of any date) and the
    current rows of the other kinds."""
    return await load_cells(engine), await load_row_kinds(engine, as_of)


async def load_redeclared_history(engine: Engine, usccs: list[str] | None = None) -> pd.DataFrame:
    """Every version of the tax declarations of the firms (of ``usccs``, or all) that have a
    replaced one (the partial index ``dept_record_replaced`` finds them): all the
    re-declaration check reads of a history (``scoring.authenticity.redeclaration`` compares a
    replaced declaration with its month's current one, and a firm with none has no figure)."""
    sql, args = ("SELECT DISTINCT uscc FROM dept_record "
                 "WHERE superseded_at IS NOT NULL AND source = 'tax_monthly'"), ()
    if usccs is not None:
        clause, given = among(engine, "uscc", usccs)
        sql += f" AND {clause}"
        args = tuple(given)
    found = await _query(engine, sql, args)
    return await load_record_history(engine, usccs=sorted(found["uscc"].astype(str)), kinds=("tax_monthly",))


async def load_arrivals(engine: Engine, kinds: tuple[str, ...], since: date, until: date) -> pd.DataFrame:
    """How many rows of each of ``kinds`` (monthly kinds: ``feed_arrival`` counts those) dated
    each day from ``since`` to ``until`` arrived when, every version counted (``kind``,
    ``event_date``, ``known_from``, ``rows``): the lateness figures of
    ``scoring.authenticity.feed_health`` without the rows themselves. A back-filled archive's
    rows are known from their event day, as in a history frame."""
    pg = isinstance(engine, PostgresEngine)
    clause, given = among(engine, "a.kind", kinds)
    sql = ("SELECT a.kind, a.event_date, a.received_at, b.backfill, SUM(a.rows) AS rows "
           f"FROM feed_arrival a JOIN ingest_batch b ON b.id = a.batch_id WHERE {clause} "
           "AND a.event_date >= ? AND a.event_date <= ? "
           "GROUP BY a.kind, a.event_date, a.received_at, b.backfill")
    args = given + ([since, until] if pg else [since.isoformat(), until.isoformat()])
    df = await _query(engine, sql, tuple(args))
    event = pd.to_datetime(df["event_date"], errors="coerce")
    received = _utc_naive(df["received_at"])
    backfill = df["backfill"].astype(bool).to_numpy()
    return pd.DataFrame({"kind": df["kind"].astype(object), "event_date": event,
                         "known_from": received.where(~backfill, event),
                         "rows": pd.to_numeric(df["rows"]).astype(np.int64)})


async def load_scalar(engine: Engine, sql: str) -> Any:
    """The one value of ``sql`` (None when NULL), as the engine's driver gives it (a date is a
    ``date`` on PostgreSQL, its ISO text on SQLite). Fetched as a record: through COPY, one NULL
    in one column is an empty line, which the CSV reader skips."""
    df = await _query(engine, sql, firms=1)
    value = df.iat[0, 0] if len(df) else None
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value
