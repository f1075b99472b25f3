"""The bulk-write path of ingestion: one transaction per batch, on SQLite or PostgreSQL.

Piccolo is used for ordinary queries; a department batch can be millions of rows, which
Piccolo's per-row inserts cannot carry (stack notes: ~25 s per 100k). Here a batch is written
with SQLite ``executemany`` inside one ``BEGIN IMMEDIATE`` or PostgreSQL ``COPY``, and keys
already stored are looked up first, so every good row is stored exactly once. Writers of the
same source are serialised (SQLite's write lock; a PostgreSQL advisory lock), which makes
that look-up race-free.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from server.db import sqlite_path_of

__all__ = ["RECORD_COLUMNS", "BatchWriter", "open_writer"]

RECORD_COLUMNS = (
    "source", "record_key", "uscc", "event_date", "end_date", "category", "amount_fen",
    "arrears_fen", "quantity", "days", "status", "attrs", "batch_id", "received_at",
)  # fmt: skip

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

    async def lock_source(self, source: str) -> None:
        """Serialise writers of one source for the rest of the transaction."""

    async def existing(self, table: str, key_column: str, keys: Sequence[Any],
                       where: str = "", args: Sequence[Any] = (), value_column: str | None = None
                       ) -> dict[Any, Any]:
        """Which of ``keys`` are stored already (mapped to ``value_column`` or to True)."""
        found: dict[Any, Any] = {}
        out_col = value_column or key_column
        for i in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[i : i + _LOOKUP_CHUNK])
            cond = f"{where} AND " if where else ""
            if self.is_postgres:
                sql = f"SELECT {key_column}, {out_col} FROM {table} WHERE {cond}{key_column} = ANY(?)"
                rows = await self.fetch(sql, [*args, chunk])
            else:
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT {key_column}, {out_col} FROM {table} WHERE {cond}{key_column} IN ({marks})"
                rows = await self.fetch(sql, [*args, *chunk])
            for k, v in rows:
                found[k] = v if value_column else True
        return found


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


def _pg(sql: str) -> str:
    """``?`` placeholders to asyncpg's ``$n``."""
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


class PostgresWriter(BatchWriter):
    is_postgres = True

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.conn.execute(_pg(sql), *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(_pg(sql), list(rows))

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return [tuple(r) for r in await self.conn.fetch(_pg(sql), *args)]

    async def copy_rows(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if rows:
            await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def insert_ignore(self, table: str, columns: Sequence[str], rows: list[tuple],
                            conflict: str) -> int:
        # COPY into a transaction-local staging table, then one INSERT ... ON CONFLICT: the
        # unique index decides what is new, one probe per row, whatever the table's size.
        if not rows:
            return 0
        stage = f"stage_{table}"
        await self.conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        await self.conn.execute(f"TRUNCATE {stage}")
        await self.conn.copy_records_to_table(stage, records=rows, columns=list(columns))
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

    async def lock_source(self, source: str) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", zlib.crc32(source.encode()))


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


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ += ["utcnow"]
