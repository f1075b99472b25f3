"""Database engines from URLs: a Piccolo engine for ``sqlite:///...`` or ``postgresql://...``.
Nothing here opens or creates anything; :mod:`server.db` opens, binds and migrates."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlparse

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

__all__ = ["PooledSQLiteEngine", "engine_from_url", "sqlite_path", "sqlite_path_of"]


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, keeping its connections open between queries.

    Piccolo opens a new connection (and its thread) for every query outside a transaction and
    closes it after: most of the time of a small query (a signed-in request's user lookup, say).
    Here a query outside a transaction takes an idle connection, runs and commits exactly as
    Piccolo's does, and gives it back; at most ``max_idle`` are kept. A query that fails (or is
    cancelled) closes its connection instead, so no half-done transaction is ever reused.
    Transactions (``engine.transaction()``/``atomic()``) open their own connection as before.
    The connections' threads are daemons: an idle connection holds no transaction, and a
    process must be able to exit without closing the engine."""

    def __init__(self, *args: Any, max_idle: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_idle = max_idle
        self._idle: list[aiosqlite.Connection] = []
        self._pid = os.getpid()

    async def _take(self) -> aiosqlite.Connection:
        if self._pid != os.getpid():  # a forked child never shares its parent's connections
            self._idle, self._pid = [], os.getpid()
        if self._idle:
            return self._idle.pop()
        pending = aiosqlite.connect(**self.connection_kwargs)
        pending._thread.daemon = True  # not started until awaited
        connection = await pending
        connection.row_factory = dict_factory  # type: ignore[assignment]
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def _run_in_new_connection(self, query: str, args: list[Any] | None = None,
                                     query_type: str = "generic", table: Any = None) -> Any:
        connection = await self._take()
        try:
            async with connection.execute(query, args or []) as cursor:
                await connection.commit()
                if query_type == "insert" and self.get_version_sync() < 3.35:
                    assert table is not None
                    pk = await self._get_inserted_pk(cursor, table)
                    rows: Any = [{table._meta.primary_key._meta.db_column_name: pk}]
                else:
                    rows = await cursor.fetchall()
        except BaseException:
            try:
                await connection.close()
            except BaseException:  # noqa: BLE001, S110 - the first error is the one to raise
                pass
            raise
        if len(self._idle) < self.max_idle and self._pid == os.getpid():
            self._idle.append(connection)
        else:
            await connection.close()
        return rows

    async def close_idle(self) -> None:
        """Close the kept connections (the engine stays usable: it opens new ones)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


def sqlite_path(url: str) -> str:
    """The file of an ``sqlite:///relative.db`` or ``sqlite:////abs/path.db`` URL."""
    path = url.split(":///", 1)[1] if ":///" in url else "xinbao.db"
    return unquote(path) or "xinbao.db"


def engine_from_url(url: str) -> Engine:
    """A Piccolo engine for an ``sqlite:///...`` or ``postgresql://...`` URL. Nothing is opened
    or created until the engine is used (``open_engine`` prepares an SQLite file)."""
    if url.startswith("sqlite"):
        return PooledSQLiteEngine(path=sqlite_path(url), timeout=30)
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlparse(url)
        config = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "database": (parts.path or "/xinbao").lstrip("/") or "xinbao",
        }
        if parts.password:
            config["password"] = unquote(parts.password)
        return PostgresEngine(config=config)
    raise ValueError(f"XINBAO_DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}")


def sqlite_path_of(engine: Engine) -> str:
    """The database file of an SQLite engine."""
    return str(engine.connection_kwargs["database"])  # type: ignore[attr-defined]
