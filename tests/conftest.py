"""Shared fixtures: real databases (SQLite always; PostgreSQL and Redis on 127.0.0.1).

PostgreSQL and Redis tests are skipped when the servers are unreachable on a developer's
machine, but with ``XINBAO_REQUIRE_SERVICES=1`` (set by ``.ci/run``) an unreachable server is
an error, so CI can never pass without really running them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("XINBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("XINBAO_REQUIRE_SERVICES") == "1"

# The scheduler's INFO lines would land after pytest's summary (Litestar's queue handler
# flushes at exit); CI reads that closing line.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (XINBAO_REQUIRE_SERVICES=1: CI must run these tests)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def fresh_database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A brand-new empty database of the given kind; dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'xinbao.db'}"
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"xinbao_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database per test module, on each engine."""
    yield from fresh_database_url(request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="module")
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture(scope="module")
async def engine(db_url: str, anyio_backend: str) -> AsyncIterator[object]:
    """An open, migrated engine bound to every table."""
    from server import db

    eng = await db.open_engine(db_url)
    await db.migrate(eng)
    try:
        yield eng
    finally:
        await db.close(eng)
