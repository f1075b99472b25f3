"""The SQLite engine keeps its connections (server.engines.PooledSQLiteEngine): a kept
connection behaves as a new one would — it sees every commit, holds no transaction between
queries, and one that failed is never handed out again."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from server import db
from server.engines import PooledSQLiteEngine

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(tmp_path: Path, anyio_backend: str):
    engine = await db.open_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    assert isinstance(engine, PooledSQLiteEngine)
    await engine.run_ddl("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    yield engine
    await db.close(engine)


async def _rows(engine: PooledSQLiteEngine, sql: str, *args: object) -> list[dict]:
    from piccolo.querystring import QueryString

    return await engine.run_querystring(QueryString(sql, *args))


async def test_one_connection_serves_query_after_query(engine: PooledSQLiteEngine) -> None:
    await _rows(engine, "INSERT INTO t (v) VALUES ({})", "a")
    kept = list(engine._idle)
    assert len(kept) == 1
    for _ in range(5):
        assert await _rows(engine, "SELECT v FROM t") == [{"v": "a"}]
    assert engine._idle == kept  # the same connection, not a new one per query


async def test_a_kept_connection_sees_what_another_process_committed(engine: PooledSQLiteEngine) -> None:
    assert await _rows(engine, "SELECT count(*) AS n FROM t") == [{"n": 0}]
    path = engine.connection_kwargs["database"]
    with sqlite3.connect(path) as other:  # another writer, outside this engine
        other.execute("INSERT INTO t (v) VALUES ('from outside')")
    assert await _rows(engine, "SELECT v FROM t") == [{"v": "from outside"}]


async def test_between_queries_no_transaction_is_held(engine: PooledSQLiteEngine) -> None:
    await _rows(engine, "INSERT INTO t (v) VALUES ({})", "a")
    with pytest.raises(sqlite3.IntegrityError):
        async with engine.transaction():
            await _rows(engine, "INSERT INTO t (v) VALUES ({})", "b")
            await _rows(engine, "INSERT INTO t (v) VALUES ({})", "a")  # unique: the whole rolls back
    assert await _rows(engine, "SELECT v FROM t ORDER BY v") == [{"v": "a"}]
    # Every kept connection is outside a transaction: another writer is not blocked.
    path = engine.connection_kwargs["database"]
    with sqlite3.connect(path, timeout=0.5) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (v) VALUES ('c')")
    assert [r["v"] for r in await _rows(engine, "SELECT v FROM t ORDER BY v")] == ["a", "c"]


async def test_a_connection_that_failed_is_closed_not_kept(engine: PooledSQLiteEngine) -> None:
    await _rows(engine, "SELECT 1")
    kept = list(engine._idle)
    with pytest.raises(sqlite3.OperationalError):
        await _rows(engine, "SELECT * FROM no_such_table")
    assert not any(c in engine._idle for c in kept)
    assert await _rows(engine, "SELECT 2 AS x") == [{"x": 2}]  # a new connection serves


async def test_a_transaction_that_cannot_begin_gives_its_connection_up(engine: PooledSQLiteEngine) -> None:
    from piccolo.engine.sqlite import TransactionType

    path = engine.connection_kwargs["database"]
    engine.connection_kwargs["timeout"] = 0.2
    await engine.close_idle()  # connections opened from now on wait 0.2 s for a lock
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            async with engine.transaction(transaction_type=TransactionType.immediate):
                pass
        assert engine._idle == []  # the connection whose BEGIN failed was closed
        assert engine.current_transaction.get() is None
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    async with engine.transaction(transaction_type=TransactionType.immediate):
        await _rows(engine, "INSERT INTO t (v) VALUES ({})", "after")
    assert await _rows(engine, "SELECT v FROM t") == [{"v": "after"}]


async def test_concurrent_queries_open_more_and_keep_at_most_pool_size(engine: PooledSQLiteEngine) -> None:
    engine.pool_size = 3
    results = await asyncio.gather(*[_rows(engine, "SELECT {} AS i", i) for i in range(12)])
    assert [r[0]["i"] for r in results] == list(range(12))
    assert 1 <= len(engine._idle) <= 3


def test_a_process_that_never_closes_its_engine_still_exits(tmp_path: Path) -> None:
    code = ("import asyncio\nfrom server import db\n"
            "async def main():\n    e = await db.open_engine('sqlite:///x.db')\n"
            "    await e.run_ddl('CREATE TABLE t (id INTEGER)')\n"
            "    await e.run_ddl('SELECT * FROM t')\n"
            "asyncio.run(main())\nprint('done')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]
