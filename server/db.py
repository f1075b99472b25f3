"""Opening, binding and migrating the database, on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from server.engines import PooledSQLiteEngine, engine_from_url, sqlite_path_of

__all__ = ["bind", "close", "dollar_params", "engine_key", "migrate", "on_postgres", "open_engine",
           "write_transaction"]

os.environ.setdefault("PICCOLO_CONF", "server.piccolo_conf")


def bind(engine: Engine) -> None:
    """Point every table (ours and Piccolo's migration table) and ``piccolo_conf.DB`` at engine."""
    from piccolo.apps.migrations.tables import Migration

    from server import piccolo_conf
    from server.piccolo_app import TABLES

    piccolo_conf.DB = engine
    for table in [*TABLES, Migration]:
        table._meta.db = engine


def dollar_params(sql: str) -> str:
    """``?`` placeholders (as written for both engines) to asyncpg's ``$1``, ``$2`` ..."""
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def on_postgres() -> bool:
    """Whether the tables are bound to PostgreSQL (row locks, LISTEN/NOTIFY, advisory locks)."""
    from server.tables.firms import Firm  # every table is bound to the same engine

    return isinstance(Firm._meta.db, PostgresEngine)


def write_transaction() -> Any:
    """One transaction on the bound engine (joining the caller's if one is open). On SQLite it
    is taken IMMEDIATE: callers read, then write, and a deferred transaction that later wants
    the write lock fails with "database is locked" under concurrency."""
    from server.tables.firms import Firm  # every table is bound to the same engine

    engine = Firm._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def engine_key(engine: Engine) -> str:
    """Which engine and database, for a per-process cache of data that never changes once
    stored (one process may serve several databases: the tests do). A new engine on the same
    database gets a new key: a miss, never a stale hit."""
    where = getattr(engine, "connection_kwargs", {}).get("database") or repr(getattr(engine, "config", None))
    return f"{id(engine)}:{where}"


async def migrate(engine: Engine) -> None:
    """Run every migration not yet applied (same history on SQLite and PostgreSQL)."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    bind(engine)
    result = await run_forwards(app_name="xinbao")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")


async def open_engine(url: str) -> Engine:
    """Create, bind and (for PostgreSQL) pool an engine for this process; an SQLite file is
    created (with its folder) and put in WAL mode."""
    engine = engine_from_url(url)
    if isinstance(engine, SQLiteEngine):
        path = sqlite_path_of(engine)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers go on while a batch is written; the timeout waits out short locks.
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    bind(engine)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=10)
    return engine


async def close(engine: Engine) -> None:
    if isinstance(engine, PooledSQLiteEngine):
        await engine.close_idle()
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
