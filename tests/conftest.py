"""Shared fixtures: real databases (SQLite always; PostgreSQL and Redis on 127.0.0.1).

PostgreSQL and Redis tests are skipped when the servers are unreachable on a developer's
machine, but with ``XINBAO_REQUIRE_SERVICES=1`` (set by ``.ci/run``) an unreachable server is
an error, so CI can never pass without really running them.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import pickle
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("XINBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("XINBAO_REQUIRE_SERVICES") == "1"
# Still argon2id, at its smallest cost: the suite signs in thousands of times, and at the
# production cost (~0.2 s of both cores each) that was a large part of its time. Servers the
# tests start inherit it. The tests of hashing itself use the production profile
# (tests/security/test_hashing_off_loop.py, tests/unit/server/test_passwords.py).
os.environ.setdefault("XINBAO_PASSWORD_PROFILE", "cheapest-for-tests")

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


def fresh_database_url(kind: str, tmp_path: Path, *, template: str | None = None) -> Iterator[str]:
    """A brand-new database of the given kind, empty or a copy of ``template`` (a database URL
    of the same kind that nothing is connected to); dropped afterwards."""
    if kind == "sqlite":
        path = tmp_path / "xinbao.db"
        if template:
            _sqlite_copy(template.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"xinbao_test_{uuid.uuid4().hex[:12]}"
    if template:
        source = template.rsplit("/", 1)[1]
        # Cloning needs the template to itself: end any connection left over from its build.
        _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  f"WHERE datname = '{source}' AND pid <> pg_backend_pid()")
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    else:
        _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite_copy(source: str, target: Path) -> None:
    import sqlite3

    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)  # a consistent copy, whatever the template's WAL holds
    finally:
        src.close()
        dst.close()


# -- the demo region, built once per engine per run ---------------------------------------------
# Building a demo region (generate, ingest, train, score, scan) takes seconds; about twenty
# modules need one. Each engine's region is built once per run, by whichever xdist worker first
# needs it (the others wait on a file lock and read what it left), into a template database; every
# module that uses the ``demo`` fixture starts from its own copy (SQLite's backup API;
# PostgreSQL's CREATE DATABASE ... TEMPLATE), so modules stay isolated. The run's controller
# drops the PostgreSQL templates when the run ends.

DEMO_FIRMS = 300
DEMO_SEED = 7


def _run_root(factory: pytest.TempPathFactory) -> Path:
    """The folder every process of this run shares: the controller's base temp (an xdist
    worker's base temp is a folder in it)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _template_name(root: Path, kind: str) -> str:
    return f"xinbao_tpl_{kind}_{hashlib.sha1(str(root).encode()).hexdigest()[:12]}"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class DemoTemplates:
    """Per engine kind: the template database's URL, what ``prepare_demo`` reported, and the
    folder of the model it trained (the registry lives beside the database, in ``data_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = root / "demo-templates"
        self.root.mkdir(parents=True, exist_ok=True)
        self.built: dict[str, tuple[str, Any, Path]] = {}
        self.copies: dict[str, tuple[Any, Path]] = {}  # module database URL -> (DemoInfo, model dir)

    def template(self, kind: str) -> tuple[str, Any, Path]:
        if kind not in self.built:
            with _file_lock(self.root / f"{kind}.lock"):
                done = self.root / f"{kind}.pickle"
                if not done.exists():
                    done.write_bytes(pickle.dumps(self._build(kind)))
                self.built[kind] = pickle.loads(done.read_bytes())
        return self.built[kind]

    def _build(self, kind: str) -> tuple[str, Any, Path]:
        from server.demo.setup import prepare_demo
        from server.settings import Settings

        folder = self.root / kind
        folder.mkdir(exist_ok=True)
        if kind == "sqlite":
            url = f"sqlite:///{folder / 'xinbao.db'}"
        else:
            require_service("PostgreSQL", "127.0.0.1", 5432)
            name = _template_name(self.root.parent, kind)
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _pg_admin(f'CREATE DATABASE "{name}"')
            url = f"{PG_URL.rsplit('/', 1)[0]}/{name}"
        settings = Settings(database_url=url, jwt_secret="test-secret-not-for-production-0123456789",
                            data_dir=folder / "data", demo=True, model_bags=4, model_regularization=0.1)
        info = asyncio.run(prepare_demo(settings, n_firms=DEMO_FIRMS, seed=DEMO_SEED))
        return url, info, settings.model_dir


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or a run without workers) drops the run's PostgreSQL demo template."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not _reachable("127.0.0.1", 5432):
        return
    root = _run_root(session.config._tmp_path_factory)  # type: ignore[attr-defined]
    if (root / "demo-templates" / "postgres.pickle").exists():
        _pg_admin(f'DROP DATABASE IF EXISTS "{_template_name(root, "postgres")}" WITH (FORCE)')


@pytest.fixture(scope="session")
def demo_templates(tmp_path_factory: pytest.TempPathFactory) -> DemoTemplates:
    return DemoTemplates(_run_root(tmp_path_factory))


def _module_uses_demo(request: pytest.FixtureRequest) -> bool:
    """Whether a collected test of the requesting module needs the demo region (directly or
    through another fixture: ``fixturenames`` is the whole closure)."""
    return any(getattr(item, "module", None) is request.module and "demo" in getattr(item, "fixturenames", ())
               for item in request.session.items)


def module_database_url(kind: str, request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for the requesting module: a copy of the demo region if the module uses
    it, else empty."""
    if not _module_uses_demo(request):
        yield from fresh_database_url(kind, tmp_path_factory.mktemp("db"))
        return
    templates: DemoTemplates = request.getfixturevalue("demo_templates")
    template, info, model_dir = templates.template(kind)
    for url in fresh_database_url(kind, tmp_path_factory.mktemp("db"), template=template):
        templates.copies[url] = (info, model_dir)
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database per test module, on each engine (holding the demo region if the module
    uses the ``demo`` fixture)."""
    yield from module_database_url(request.param, request, tmp_path_factory)


@pytest.fixture
def password_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], None]]:
    """Switch the argon2 profile for one test (None: the production default); the suite's own
    comes back afterwards."""
    from server.users.security import password_hasher

    def use(name: str | None) -> None:
        if name is None:
            monkeypatch.delenv("XINBAO_PASSWORD_PROFILE", raising=False)
        else:
            monkeypatch.setenv("XINBAO_PASSWORD_PROFILE", name)
        password_hasher.cache_clear()

    yield use
    password_hasher.cache_clear()  # monkeypatch then restores the variable; the next use reads it


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


# The longest modules, first: ``make test`` hands modules to its workers in collection order
# (``--dist loadscope --no-loadscope-reorder``), so these start at once on separate workers
# while the short ones fill in around them, instead of one of them running alone at the end.
LONGEST_FIRST = ("tests/e2e/test_app_browser.py", "tests/e2e/test_app_back_office_browser.py",
                 "tests/e2e/test_api_fuzz.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its place


# -- where the suite's CPU goes (XINBAO_TEST_CPU_REPORT=file.jsonl) ------------------------------
# Per test module: CPU seconds of the worker process and of the processes it started and reaped
# (servers, browsers, CLIs), and wall seconds. Each worker appends its lines at the end of the
# run; ``python -m tests.cpu_report file.jsonl`` sums them. Off unless the variable is set.
CPU_REPORT = os.environ.get("XINBAO_TEST_CPU_REPORT")
_cpu: dict[str, list[float]] = {}


def _cpu_now() -> tuple[float, float, float]:
    import resource
    import time

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime, time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if not CPU_REPORT:
        return (yield)
    before = _cpu_now()
    try:
        return (yield)
    finally:
        after = _cpu_now()
        row = _cpu.setdefault(item.nodeid.split("::", 1)[0], [0.0, 0.0, 0.0])
        for i in range(3):
            row[i] += after[i] - before[i]


def pytest_unconfigure(config: pytest.Config) -> None:
    if CPU_REPORT and _cpu:
        import json

        with open(CPU_REPORT, "a", encoding="utf-8") as out:
            for module, (own, kids, wall) in _cpu.items():
                out.write(json.dumps({"module": module, "cpu_own_s": round(own, 2),
                                      "cpu_children_s": round(kids, 2), "wall_s": round(wall, 2)}) + "\n")
