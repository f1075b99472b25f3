"""Database engines from URLs: a Piccolo engine for ``sqlite:///...`` or ``postgresql://...``.
Nothing here opens or creates anything; :mod:`server.db` opens, binds and migrates."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote, urlparse

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

__all__ = ["PooledSQLiteEngine", "engine_from_url", "reading", "sqlite_path", "sqlite_path_of", "url_of"]


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, keeping its connections for the next query.

    Piccolo opens a new connection (and an aiosqlite thread) for every query and every
    transaction: measured 1.2 ms for a one-row select against 0.2 ms on a kept connection, most
    of it the thread start and re-reading the schema. Here up to ``pool_size`` idle connections
    are kept. Nothing else changes: Piccolo connects in autocommit mode (``isolation_level``
    None), so a connection between statements holds no transaction, and a connection that
    failed in a query, a commit or a rollback is closed, never handed out again. Nothing is
    opened until the first query; :func:`server.db.close` closes the idle ones.

    Each connection's thread is a daemon: an idle connection holds no write, and a process that
    ends without closing its engine must still end.
    """

    def __init__(self, path: str, *, pool_size: int = 8, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self.pool_size = pool_size
        self._idle: list[aiosqlite.Connection] = []

    async def get_connection(self) -> aiosqlite.Connection:
        if self._idle:
            return self._idle.pop()
        connection = aiosqlite.connect(**self.connection_kwargs)
        thread = getattr(connection, "_thread", None)  # aiosqlite starts it on the first await
        if thread is not None:
            thread.daemon = True
        connection = await connection
        connection.row_factory = dict_factory
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def release(self, connection: aiosqlite.Connection) -> None:
        """Keep ``connection`` for the next query (it holds no transaction)."""
        if len(self._idle) < self.pool_size:
            self._idle.append(connection)
        else:
            await self.discard(connection)

    async def discard(self, connection: aiosqlite.Connection) -> None:
        """Close ``connection`` (one that failed, or one more than the pool keeps)."""
        with contextlib.suppress(Exception):  # it is being thrown away
            await connection.close()

    async def close_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await self.discard(connection)

    async def _run_in_new_connection(self, query: str, args: list[Any] | None = None,
                                     query_type: str = "generic", table: Any = None) -> Any:
        connection = await self.get_connection()
        try:
            async with connection.execute(query, args or []) as cursor:
                if query_type == "insert" and self.get_version_sync() < 3.35:  # no RETURNING
                    assert table is not None
                    pk = await self._get_inserted_pk(cursor, table)
                    rows = [{table._meta.primary_key._meta.db_column_name: pk}]
                else:
                    rows = await cursor.fetchall()
        except BaseException:
            await self.discard(connection)
            raise
        await self.release(connection)
        return rows

    def transaction(self, transaction_type: TransactionType = TransactionType.deferred,
                    allow_nested: bool = True) -> SQLiteTransaction:
        return _PooledTransaction(engine=self, transaction_type=transaction_type,
                                  allow_nested=allow_nested)


class _PooledTransaction(SQLiteTransaction):
    """A transaction on a kept connection, given back after COMMIT or ROLLBACK (closed if
    either fails, or if BEGIN does)."""

    __slots__ = ()
    engine: PooledSQLiteEngine

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            await self.begin()
        except BaseException:
            await self.engine.discard(self.connection)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        ended = False
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
            ended = True
        finally:
            self.engine.current_transaction.reset(self.context)
            if ended:
                await self.engine.release(self.connection)
            else:
                await self.engine.discard(self.connection)
        return exception is None


def sqlite_path(url: str) -> str:
    """The file of an ``sqlite:///relative.db`` or ``sqlite:////abs/path.db`` URL."""
    path = url.split(":///", 1)[1] if ":///" in url else "xinbao.db"
    return unquote(path) or "xinbao.db"


def engine_from_url(url: str) -> Engine:
    """A Piccolo engine for an ``sqlite:///...`` or ``postgresql://...`` URL. Nothing is opened
    or created until the engine is used (``open_engine`` prepares an SQLite file)."""
    if url.startswith("sqlite"):
        return PooledSQLiteEngine(sqlite_path(url), timeout=30)
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


def url_of(engine: Engine) -> str:
    """The URL of the database ``engine`` reads, for another process to open it
    (:func:`engine_from_url` gives an engine on the same database): an SQLite file by its
    absolute path, since the other process may run in another folder."""
    if isinstance(engine, PostgresEngine):
        c = engine.config
        user = quote(str(c.get("user") or "postgres"), safe="")
        password = f":{quote(str(c['password']), safe='')}" if c.get("password") else ""
        return (f"postgresql://{user}{password}@{c.get('host') or '127.0.0.1'}:{c.get('port') or 5432}/"
                f"{c.get('database') or 'xinbao'}")  # as engine_from_url reads it: not unquoted
    return "sqlite:///" + quote(os.path.abspath(sqlite_path_of(engine)), safe="/")


@contextlib.asynccontextmanager
async def reading(url: str) -> AsyncIterator[Engine]:
    """An engine on the existing database at ``url`` (from :func:`url_of`), for a process that
    reads what another wrote, such as a Dask worker; its connections are closed after. A missing
    SQLite file is refused (``FileNotFoundError``), not created: its reader would find the
    region empty."""
    engine = engine_from_url(url)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=1)
    elif not os.path.exists(sqlite_path_of(engine)):
        raise FileNotFoundError(f"the worker cannot see the database file {sqlite_path_of(engine)}")
    try:
        yield engine
    finally:
        if isinstance(engine, PostgresEngine):
            await engine.close_connection_pool()
        elif isinstance(engine, PooledSQLiteEngine):
            await engine.close_idle()
