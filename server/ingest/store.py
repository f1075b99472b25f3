"""The bulk-write path of ingestion: one transaction per batch, on SQLite or PostgreSQL.

Piccolo is used for ordinary queries; a department batch can be millions of rows, which
Piccolo's per-row inserts cannot carry (stack notes: ~25 s per 100k). Here a batch is written
with SQLite ``executemany`` inside one ``BEGIN IMMEDIATE`` or PostgreSQL ``COPY``, and the
unique key decides what is new (``ON CONFLICT DO NOTHING``), so every good row is stored
exactly once. Writers of the same source are serialised: on SQLite by its write lock, on
PostgreSQL by a session advisory lock that a batch holds from its start to its end
(:class:`hold_source`), so that one batch's chunks can be written two at a time.

Department records on PostgreSQL are written optimistically: ``COPY`` straight into
``dept_record`` inside a savepoint (no staging table, no conflict handling: the fastest bulk
write PostgreSQL has), and only when that meets a key already stored is the savepoint rolled
back and the chunk written through a staging table and ``INSERT ... ON CONFLICT DO NOTHING``.
The caller removes keys repeated within the chunk first, so a conflict always means "stored
before" and the fallback stores exactly what the optimistic write would have.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import aiosqlite
import asyncpg
import pyarrow as pa
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from server.db import dollar_params
from server.engines import sqlite_path_of
from server.ingest.pgcopy import binary_copy_payload

__all__ = ["RECORD_COLUMNS", "RECORD_CONFLICT", "BatchWriter", "end_session", "hold_source", "open_writer",
           "unknown_keys_sql", "writer_for"]

RECORD_COLUMNS = (
    "source", "record_key", "uscc", "event_date", "end_date", "category", "amount_fen",
    "arrears_fen", "quantity", "days", "status", "attrs", "batch_id", "received_at",
)  # fmt: skip
# dept_record's unique key (a department's key never moves between firms; see the migration).
RECORD_CONFLICT = "uscc, source, record_key"

# dept_record's column types (but received_at), for binary COPY.
_RECORD_PG_TYPES = {
    "source": "text", "record_key": "text", "uscc": "text", "event_date": "date", "end_date": "date",
    "category": "text", "amount_fen": "int8", "arrears_fen": "int8", "quantity": "float8", "days": "int4",
    "status": "text", "attrs": "json", "batch_id": "int8",
}  # fmt: skip

# Arrow column type -> PostgreSQL type, for the binary COPY of a registry's columns.
_PG_TYPE_OF = {pa.string(): "text", pa.int64(): "int8", pa.int32(): "int4", pa.date32(): "date",
               pa.float64(): "float8"}

_LOOKUP_CHUNK = 5000


class BatchWriter:
    """A transaction-scoped connection with the few bulk operations ingestion needs."""

    is_postgres = False

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    async def copy_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """Append rows to a table as fast as the engine allows."""
        marks = ", ".join("?" * len(columns))
        await self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def insert_returning_id(self, table: str, values: dict[str, Any]) -> int:
        raise NotImplementedError

    async def insert_ignore(self, table: str, columns: Sequence[str], rows: list[tuple],
                            conflict: str) -> int:
        """Insert rows whose ``conflict`` key is not stored yet; returns how many were new."""
        raise NotImplementedError

    async def copy_records(self, rows: pa.Table, received_at: datetime, payload: bytes | None) -> bool:
        """Write ``rows`` (keys unique among them) only if every key is new: True if they are
        written, False (nothing written) if some key is stored already. PostgreSQL only."""
        raise NotImplementedError

    def record_payload(self, rows: pa.Table, received_at: datetime) -> bytes | None:
        """``rows`` encoded for ``insert_records`` ahead of time (None: nothing to encode).
        Pure, so it can run in a worker thread while the previous chunk is written."""
        return None

    def registry_payload(self, rows: pa.Table, stamp: datetime, stamps: int) -> bytes | None:
        """``rows``, each followed by ``stamps`` columns equal to ``stamp``, encoded for
        ``upsert_table`` ahead of time (None: nothing to encode). Pure, like ``record_payload``."""
        return None

    async def upsert_table(self, table: str, key: str, columns: Sequence[str], rows: pa.Table,
                           payload: bytes | None, stamp: datetime, *, stamped: Sequence[str] = (),
                           insert_only: Sequence[str] = ()) -> tuple[int, int]:
        """``upsert`` of an Arrow table whose columns are ``key`` then ``columns``, no key
        twice; every ``stamped`` and ``insert_only`` column is ``stamp``. ``payload`` is
        ``registry_payload(rows, stamp, len(stamped) + len(insert_only))``."""
        stamps = [[stamp] * rows.num_rows] * (len(stamped) + len(insert_only))
        tuples = list(zip(*[col.to_pylist() for col in rows.columns], *stamps, strict=True))
        return await self.upsert(table, key, columns, tuples, stamped=stamped, insert_only=insert_only)

    async def stage_binary(self, stage: str, columns: Sequence[tuple[str, str]], payload: bytes) -> None:
        """A transaction-local table ``stage`` of ``columns`` (name, PostgreSQL type) holding
        the binary COPY ``payload`` (PostgreSQL only)."""
        raise NotImplementedError

    async def unknown_keys(self, stage: str, columns: Sequence[str], table: str, key: str) -> list[Any]:
        """The values of ``stage``'s ``columns`` that no row of ``table`` has as ``key``."""
        raise NotImplementedError

    async def run(self, sql: str) -> int:
        """Run one INSERT, UPDATE or DELETE; how many rows it wrote."""
        raise NotImplementedError

    def savepoint(self) -> Any:
        """``async with w.savepoint():`` what the block writes is undone if it raises, the
        batch's transaction going on (PostgreSQL only)."""
        raise NotImplementedError

    async def insert_records(self, rows: pa.Table, received_at: datetime, payload: bytes | None) -> int:
        """Insert department records whose key is not stored yet; returns how many were new.

        ``rows`` has ``RECORD_COLUMNS`` (those it lacks stay NULL) but ``received_at`` (the
        batch's, given apart), and no key twice; ``payload`` is ``record_payload(rows, ...)``.
        """
        n = rows.num_rows
        columns = (*rows.column_names, "received_at")
        tuples = list(zip(*[col.to_pylist() for col in rows.columns], [received_at] * n, strict=True))
        return await self.insert_ignore("dept_record", columns, tuples, RECORD_CONFLICT)

    async def max_id(self, table: str, source: str) -> int:
        """The highest ``id`` of ``table``'s rows of ``source`` now, or higher: rows of that
        source written after this have higher ones (ids come from one sequence). On
        PostgreSQL the records are partitioned by source, and the highest id over every
        partition cost about 50 ms a chunk; SQLite keeps one table, whose highest id is at hand."""
        if self.is_postgres:
            found = await self.fetch(f"SELECT COALESCE(MAX(id), 0) FROM {table} WHERE source = ?", (source,))
        else:
            found = await self.fetch(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        return int(found[0][0])

    async def record_keys_in_batch(self, batch_id: int, source: str, keys: Sequence[tuple[str, str]],
                                   up_to_id: int) -> set[tuple[str, str]]:
        """Which (uscc, record_key) of ``keys`` this batch stored in rows with ``id <= up_to_id``
        (its earlier chunks). Probes the unique index, one key at a time."""
        found: set[tuple[str, str]] = set()
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[i : i + _LOOKUP_CHUNK])
            if self.is_postgres:
                rows = await self.fetch(
                    "SELECT k.uscc, k.record_key FROM unnest(?::text[], ?::text[]) AS k(uscc, record_key) "
                    "CROSS JOIN LATERAL (SELECT d.batch_id, d.id FROM dept_record d WHERE d.uscc = k.uscc "
                    "AND d.source = ? AND d.record_key = k.record_key LIMIT 1) AS d "
                    "WHERE d.batch_id = ? AND d.id <= ?",
                    [[u for u, _ in chunk], [k for _, k in chunk], source, batch_id, up_to_id])
            else:
                pairs = ", ".join("(?, ?)" for _ in chunk)
                rows = await self.fetch(
                    f"SELECT uscc, record_key FROM dept_record WHERE source = ? AND batch_id = ? AND id <= ? "
                    f"AND (uscc, record_key) IN (VALUES {pairs})",
                    [source, batch_id, up_to_id, *(v for pair in chunk for v in pair)])
            found.update((u, k) for u, k in rows)
        return found

    async def existing(self, table: str, key_column: str, keys: Sequence[Any],
                       value_column: str | None = None) -> dict[Any, Any]:
        """Which of ``keys`` are stored already (mapped to ``value_column`` or to True).

        PostgreSQL probes the key's unique index once per key (a lateral join): the cost per
        key stays the same at any table size and with any plan the server caches. (``= ANY($1)``
        was planned once as a sequential scan comparing each row with the whole array.)"""
        found: dict[Any, Any] = {}
        out_col = value_column or key_column
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[i : i + _LOOKUP_CHUNK])
            if self.is_postgres:
                # LIMIT 1 (the key is unique) keeps the subquery a per-key index probe: without
                # it the planner flattens it into a hash join over a sequential scan.
                sql = (f"SELECT k.key, t.{out_col} FROM unnest(?::text[]) AS k(key) CROSS JOIN LATERAL "
                       f"(SELECT {out_col} FROM {table} WHERE {key_column} = k.key LIMIT 1) AS t")
                rows = await self.fetch(sql, [chunk])
            else:
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT {key_column}, {out_col} FROM {table} WHERE {key_column} IN ({marks})"
                rows = await self.fetch(sql, chunk)
            for k, v in rows:
                found[k] = v if value_column else True
        return found

    async def upsert(self, table: str, key: str, columns: Sequence[str], rows: list[tuple], *,
                     stamped: Sequence[str] = (), insert_only: Sequence[str] = ()) -> tuple[int, int]:
        """Insert rows whose ``key`` is new and update those whose ``columns`` changed; a row
        equal to the stored one is left alone. ``rows`` are ``(key, *columns, *stamped,
        *insert_only)``: ``stamped`` columns (``updated_at``) are written with a change but not
        compared, ``insert_only`` ones only on insert. Returns (inserted, updated)."""
        stored: dict[Any, tuple] = {}
        keys = [r[0] for r in rows]
        cols = ", ".join(columns)
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            part = keys[i : i + _LOOKUP_CHUNK]
            found = await self.fetch(f"SELECT {key}, {cols} FROM {table} WHERE {key} IN ({', '.join('?' * len(part))})",
                                     part)
            stored.update((r[0], tuple(_normalise(x) for x in r[1:])) for r in found)
        n, m = len(columns), len(columns) + len(stamped)
        new = [r for r in rows if r[0] not in stored]
        changed = [(*r[1 : m + 1], r[0]) for r in rows
                   if r[0] in stored and stored[r[0]] != tuple(_normalise(x) for x in r[1 : n + 1])]
        await self.copy_rows(table, (key, *columns, *stamped, *insert_only), new)
        if changed:
            sets = ", ".join(f"{c} = ?" for c in (*columns, *stamped))
            await self.executemany(f"UPDATE {table} SET {sets} WHERE {key} = ?", changed)
        return len(new), len(changed)


def _normalise(x: Any) -> Any:
    """A stored value as the engine gives it back compared with the value sent (SQLite keeps
    dates as text)."""
    if isinstance(x, date | datetime):
        return x.isoformat()[:10]
    return x


class SQLiteWriter(BatchWriter):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def insert_ignore(self, table: str, columns: Sequence[str], rows: list[tuple],
                            conflict: str) -> int:
        if not rows:
            return 0
        before = self.conn.total_changes
        marks = ", ".join("?" * len(columns))
        await self.conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
            f"ON CONFLICT ({conflict}) DO NOTHING", rows)
        return self.conn.total_changes - before

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.conn.execute(sql, tuple(args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        async with self.conn.execute(sql, tuple(args)) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def insert_returning_id(self, table: str, values: dict[str, Any]) -> int:
        cols = ", ".join(values)
        marks = ", ".join("?" * len(values))
        async with self.conn.execute(
            f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(values.values())
        ) as cur:
            return int(cur.lastrowid)


class PostgresWriter(BatchWriter):
    is_postgres = True

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.conn.execute(dollar_params(sql), *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(dollar_params(sql), list(rows))

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return [tuple(r) for r in await self.conn.fetch(dollar_params(sql), *args)]

    async def copy_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if rows:
            await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def insert_ignore(self, table: str, columns: Sequence[str], rows: list[tuple],
                            conflict: str) -> int:
        # COPY into a transaction-local staging table, then one INSERT ... ON CONFLICT: the
        # unique index decides what is new, one probe per row, whatever the table's size.
        if not rows:
            return 0
        stage = await self._stage(table)
        await self.conn.copy_records_to_table(stage, records=rows, columns=list(columns))
        return await self._insert_from_stage(table, stage, columns, conflict)

    async def upsert(self, table: str, key: str, columns: Sequence[str], rows: list[tuple], *,
                     stamped: Sequence[str] = (), insert_only: Sequence[str] = ()) -> tuple[int, int]:
        # Staged by COPY, then one INSERT ... ON CONFLICT DO UPDATE that touches only rows
        # whose values differ: one index probe per row, whatever the table's size.
        if not rows:
            return 0, 0
        stage = await self._stage(table)
        every = (key, *columns, *stamped, *insert_only)
        await self.conn.copy_records_to_table(stage, records=rows, columns=list(every))
        return await self._upsert_from_stage(table, stage, key, columns, stamped, insert_only)

    def registry_payload(self, rows: pa.Table, stamp: datetime, stamps: int) -> bytes | None:
        types = [_PG_TYPE_OF[col.type] for col in rows.columns]
        return binary_copy_payload(rows, types, stamp if stamps else None, constant_columns=stamps)

    async def upsert_table(self, table: str, key: str, columns: Sequence[str], rows: pa.Table,
                           payload: bytes | None, stamp: datetime, *, stamped: Sequence[str] = (),
                           insert_only: Sequence[str] = ()) -> tuple[int, int]:
        # As ``upsert``, staged by a binary COPY built from the columns (no Python row objects).
        if not rows.num_rows:
            return 0, 0
        if payload is None:
            payload = self.registry_payload(rows, stamp, len(stamped) + len(insert_only))
        stage = await self._stage(table)
        every = (key, *columns, *stamped, *insert_only)
        await self.conn.copy_to_table(stage, source=io.BytesIO(payload), columns=list(every), format="binary")
        return await self._upsert_from_stage(table, stage, key, columns, stamped, insert_only)

    async def _upsert_from_stage(self, table: str, stage: str, key: str, columns: Sequence[str],
                                 stamped: Sequence[str], insert_only: Sequence[str]) -> tuple[int, int]:
        names = ", ".join((key, *columns, *stamped, *insert_only))
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*columns, *stamped))
        old = ", ".join(f"{table}.{c}" for c in columns)
        new = ", ".join(f"EXCLUDED.{c}" for c in columns)
        found = await self.conn.fetchrow(
            f"WITH written AS (INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
            f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE ({old}) IS DISTINCT FROM ({new}) "
            f"RETURNING (xmax = 0) AS inserted) "
            f"SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written")
        return int(found[0]), int(found[1])

    def record_payload(self, rows: pa.Table, received_at: datetime) -> bytes | None:
        return binary_copy_payload(rows, [_RECORD_PG_TYPES[c] for c in rows.column_names], received_at)

    async def insert_records(self, rows: pa.Table, received_at: datetime, payload: bytes | None) -> int:
        if not rows.num_rows:
            return 0
        if payload is None:
            payload = self.record_payload(rows, received_at)
        if await self.copy_records(rows, received_at, payload):
            return rows.num_rows
        # some key is stored already: let the index decide
        columns = [*rows.column_names, "received_at"]
        stage = await self._stage("dept_record")
        await self.conn.copy_to_table(stage, source=io.BytesIO(payload), columns=columns, format="binary")
        return await self._insert_from_stage("dept_record", stage, columns, RECORD_CONFLICT)

    async def copy_records(self, rows: pa.Table, received_at: datetime, payload: bytes | None) -> bool:
        if payload is None:
            payload = self.record_payload(rows, received_at)
        columns = [*rows.column_names, "received_at"]
        try:
            async with self.conn.transaction():  # a savepoint inside the chunk's transaction
                await self.conn.copy_to_table("dept_record", source=io.BytesIO(payload), columns=columns,
                                              format="binary")
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def stage_binary(self, stage: str, columns: Sequence[tuple[str, str]], payload: bytes) -> None:
        names = ", ".join(f"{name} {typ}" for name, typ in columns)
        await self.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ({names}) ON COMMIT DROP")
        await self.conn.execute(f"TRUNCATE {stage}")
        await self.conn.copy_to_table(stage, source=io.BytesIO(payload), columns=[c for c, _ in columns],
                                      format="binary")

    async def unknown_keys(self, stage: str, columns: Sequence[str], table: str, key: str) -> list[Any]:
        return [r[0] for r in await self.fetch(unknown_keys_sql(stage, columns, table, key))]

    async def run(self, sql: str) -> int:
        status = await self.conn.execute(sql)
        return int(status.rsplit(" ", 1)[1])

    def savepoint(self) -> Any:
        return self.conn.transaction()  # nested in the batch's transaction: a savepoint

    async def _stage(self, table: str) -> str:
        """An empty transaction-local table shaped like ``table``."""
        stage = f"stage_{table}"
        await self.conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        await self.conn.execute(f"TRUNCATE {stage}")
        return stage

    async def _insert_from_stage(self, table: str, stage: str, columns: Sequence[str], conflict: str) -> int:
        cols = ", ".join(columns)
        status = await self.conn.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({conflict}) DO NOTHING")
        return int(status.rsplit(" ", 1)[1])

    async def insert_returning_id(self, table: str, values: dict[str, Any]) -> int:
        cols = ", ".join(values)
        marks = ", ".join(f"${i + 1}" for i in range(len(values)))
        return int(await self.conn.fetchval(
            f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING id", *values.values()
        ))


def unknown_keys_sql(stage: str, columns: Sequence[str], table: str, key: str) -> str:
    """PostgreSQL: the distinct values of ``stage``'s ``columns`` that no row of ``table`` has
    as ``key``, each probing the key's unique index once (LIMIT 1: see ``existing``)."""
    values = " UNION ".join(f"SELECT {c} AS k FROM {stage}" for c in columns)
    return (f"SELECT v.k FROM ({values}) AS v LEFT JOIN LATERAL "
            f"(SELECT 1 AS found FROM {table} WHERE {key} = v.k LIMIT 1) AS t ON true WHERE t.found IS NULL")


def writer_for(engine: Engine) -> BatchWriter:
    """A writer without a connection, for its pure encoding (``record_payload``) off the loop."""
    return PostgresWriter(None) if isinstance(engine, PostgresEngine) else SQLiteWriter(None)  # type: ignore[arg-type]


class open_writer:  # noqa: N801 - used as ``async with open_writer(engine) as w``
    """One transaction on its own connection; commits on success, rolls back on any error."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None
        self._tx: Any = None
        self._release: Any = None

    async def __aenter__(self) -> BatchWriter:
        if isinstance(self.engine, PostgresEngine):
            if self.engine.pool is not None:
                self._conn = await self.engine.pool.acquire()
                self._release = self.engine.pool.release
            else:
                self._conn = await self.engine.get_new_connection()
            self._tx = self._conn.transaction()
            await self._tx.start()
            return PostgresWriter(self._conn)
        self._conn = await aiosqlite.connect(
            sqlite_path_of(self.engine), timeout=30, isolation_level=None
        )
        await self._conn.execute("PRAGMA foreign_keys = 1")
        await self._conn.execute("BEGIN IMMEDIATE")
        return SQLiteWriter(self._conn)

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if isinstance(self.engine, PostgresEngine):
                if exc_type is None:
                    await self._tx.commit()
                else:
                    await self._tx.rollback()
            else:
                await self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            if self._release is not None:
                await self._release(self._conn)
            else:
                await self._conn.close()


class hold_source:  # noqa: N801 - used as ``async with hold_source(engine, source)``
    """One batch of a source at a time, from its start to its end. PostgreSQL: a session
    advisory lock on a connection of its own, waited for (another batch of the source finishes
    first) and gone with the connection, so a writer that dies frees it. SQLite: nothing (its
    write lock serialises every chunk, and its chunks are written one at a time).

    A batch's chunks, each its own transaction, can then be written two at a time
    (``services._ingest_arrow``) without meeting another batch's uncommitted rows of the same
    keys, and a batch's progress is never interleaved with another's."""

    def __init__(self, engine: Engine, source: str) -> None:
        self.engine = engine
        self.key = zlib.crc32(source.encode())
        self._conn: Any = None

    async def __aenter__(self) -> None:
        if isinstance(self.engine, PostgresEngine):
            self._conn = await self.engine.get_new_connection()
            try:
                await self._conn.execute("SELECT pg_advisory_lock($1)", self.key)
            except BaseException:
                self._conn.terminate()
                raise

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await end_session(self._conn)


async def end_session(conn: Any) -> None:
    """Close a connection that holds session locks: they go with the session (and went with
    it already if the server went away)."""
    try:
        await conn.close()
    except Exception:  # noqa: BLE001 - the server went away: so did the locks
        conn.terminate()


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ += ["utcnow"]
