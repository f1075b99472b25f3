"""Chaos fixtures: real processes the tests may kill and restart (never the shared services).

- ``redis_proc`` (per test): a ``redis-server`` on a free port with no persistence, in its own
  folder. ``.url``, ``.port``, ``.kill()`` (SIGKILL, returns once the port is closed),
  ``.start()`` (same port, returns once PING answers), ``.restart()``.
- ``pg_cluster`` (per session): a PostgreSQL cluster of its own (``initdb`` into a temporary
  folder, trust auth, 127.0.0.1 on a free port). ``.port``, ``.admin_url``,
  ``.new_database() -> url``, ``.kill()`` (``pg_ctl stop -m immediate``: a crash, recovered
  from WAL at the next start), ``.start()`` (returns once it accepts connections),
  ``.restart()``. initdb/postgres refuse to run as root, so as root they run as the
  ``postgres`` OS user on a folder it owns.
- ``api_server`` (per test): a factory ``api_server(database_url, redis_url=None, env=None)``
  that migrates the database with ``xinbao migrate``, starts ``xinbao serve`` on a free port
  and returns once ``/api/health`` answers 200; ``.url``, ``.process``, ``.log()``,
  ``.stop()``.
- ``worker_process`` (per test): a factory ``worker_process(database_url, redis_url, env=None)``
  starting ``xinbao worker``; ``.process``, ``.log()``, ``.stop()``.

Helpers: ``migrate(database_url, data_dir)`` (``xinbao migrate``), ``wait_until(check, timeout,
what)``, ``free_port()``. Every process is killed at teardown, whatever the test did (a
stopped one is sent SIGCONT first). A missing binary fails the test
with the name of what to install. Every test here is marked ``@pytest.mark.chaos``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["ApiServer", "PgCluster", "RedisProc", "WorkerProcess", "free_port", "wait_until"]

JWT_SECRET = "chaos-test-secret-not-for-production-0123456789"
BIN = Path(sys.executable).parent  # the venv's bin: xinbao, uvicorn


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``check`` until it is true; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a check that raises is "not yet"
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(interval)


def _binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"chaos tests need `{name}` on PATH ({hint})", pytrace=False)
    return path


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM (SIGCONT first, in case a test left it stopped), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- Redis -------------------------------------------------------------------------------------


@dataclass
class RedisProc:
    """A ``redis-server`` of the test's own, without persistence (a restart loses everything)."""

    binary: str
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "redis-server already runs"
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--protected-mode", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(lambda: self.process is not None and self.process.poll() is None and self._ping(),
                   15, f"redis-server on port {self.port}: {_tail(self.folder / 'redis.log')}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        wait_until(lambda: not port_open(self.port), 10, f"port {self.port} to close")

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            _stop_process(self.process)


@contextlib.contextmanager
def running_redis(folder: Path) -> Iterator[RedisProc]:
    """A fresh ``redis-server`` on a free port with its files in ``folder``, killed on exit
    (also used by tests/security modules that need a Redis they may kill)."""
    binary = _binary("redis-server", "apt-get install redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    proc = RedisProc(binary, free_port(), folder)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisProc]:
    """A fresh ``redis-server`` on a free port, killed at teardown."""
    with running_redis(tmp_path / "redis") as proc:
        yield proc


# --- PostgreSQL --------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.fail("chaos tests need PostgreSQL's server binaries (initdb, pg_ctl, postgres) under "
                    "/usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)", pytrace=False)
    return Path(initdb).parent


@dataclass
class PgCluster:
    """A PostgreSQL cluster of the test session's own, run by ``pg_ctl``."""

    bindir: Path
    folder: Path  # holds data/ and the server log; owned by the OS user running postgres
    port: int
    as_user: list[str] = field(default_factory=list)  # ["runuser", "-u", "postgres", "--"] as root

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def logfile(self) -> Path:
        return self.folder / "postgres.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([*self.as_user, *args], cwd=self.folder, capture_output=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(args[:2])} failed ({done.returncode}): "
                        f"{(done.stdout + done.stderr).decode(errors='replace')[-2000:]}\n"
                        f"{_tail(self.logfile)}", pytrace=False)
        return done

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            # Its own port and socket folder (never the shared server's); no fsync: the tests
            # crash the server process, not the machine, so the OS cache keeps every write.
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.folder}'\nfsync = off\n"
                       "max_connections = 100\n")

    def accepts(self) -> bool:
        done = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", "postgres", "-t", "1"], capture_output=True, check=False)
        return done.returncode == 0

    def start(self) -> None:
        """Start (crash recovery included) and return once it accepts connections."""
        if self.accepts():
            return
        self._run(str(self.bindir / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.logfile),
                  "-w", "-t", "60")
        wait_until(self.accepts, 30, f"PostgreSQL on port {self.port}: {_tail(self.logfile)}")

    def kill(self) -> None:
        """A crash: every backend is ended at once, nothing is checkpointed."""
        if self.running():
            self._run(str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w")
        wait_until(lambda: not port_open(self.port), 10, f"port {self.port} to close")

    def restart(self) -> None:
        self.kill()
        self.start()

    def running(self) -> bool:
        done = subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)],
                              cwd=self.folder, capture_output=True, check=False)
        return done.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run([str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-At",
                               "-c", sql], capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            pytest.fail(f"psql {sql!r}: {done.stderr.decode(errors='replace')}", pytrace=False)
        return done.stdout.decode().strip()

    def new_database(self) -> str:
        """A fresh empty database on this cluster (the cluster is started if a test left it down)."""
        self.start()
        name = f"chaos_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of the session's own; stopped and removed at the end."""
    bindir = _pg_bindir()
    for name in ("initdb", "pg_ctl", "postgres", "pg_isready", "psql"):
        if not (bindir / name).exists() and shutil.which(name) is None:
            pytest.fail(f"chaos tests need PostgreSQL's `{name}` in {bindir}", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="xinbao-chaos-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse root: run them as the postgres OS user on its own folder.
        runuser = _binary("runuser", "util-linux")
        import pwd

        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, the chaos tests need a `postgres` OS user to run "
                        "PostgreSQL as", pytrace=False)
        os.chown(folder, pg_user.pw_uid, pg_user.pw_gid)
        as_user = [runuser, "-u", "postgres", "--"]
    cluster = PgCluster(bindir, folder, free_port(), as_user)
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            if cluster.running():
                subprocess.run([*as_user, str(bindir / "pg_ctl"), "stop", "-D", str(cluster.data),
                                "-m", "immediate", "-w"], cwd=folder, capture_output=True,
                               timeout=60, check=False)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# --- the API and the worker --------------------------------------------------------------------


def _xinbao() -> str:
    path = BIN / "xinbao"
    if not path.exists():
        pytest.fail(f"chaos tests need the `xinbao` command at {path} (pip install -e .)", pytrace=False)
    return str(path)


def _env(database_url: str, redis_url: str | None, data_dir: Path, extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINBAO_")}
    env.update({"XINBAO_DATABASE_URL": database_url, "XINBAO_JWT_SECRET": JWT_SECRET,
                "XINBAO_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    if redis_url:
        env["XINBAO_REDIS_URL"] = redis_url
    env.update(extra or {})
    return env


def migrate(database_url: str, data_dir: Path) -> None:
    """``xinbao migrate`` on the database (what a deployment runs before starting the API)."""
    done = subprocess.run([_xinbao(), "migrate"], env=_env(database_url, None, data_dir, None),
                          capture_output=True, timeout=180, check=False)
    if done.returncode != 0:
        pytest.fail(f"xinbao migrate failed: {done.stderr.decode(errors='replace')[-3000:]}", pytrace=False)


@dataclass
class ApiServer:
    """``xinbao serve`` in a subprocess."""

    url: str
    process: subprocess.Popen[bytes]
    logfile: Path

    def log(self) -> str:
        return _tail(self.logfile, 20000)

    def stop(self) -> None:
        # A short grace: uvicorn would otherwise wait for background tasks the test left running.
        _stop_process(self.process, timeout=3)


@dataclass
class WorkerProcess:
    """``xinbao worker`` in a subprocess."""

    process: subprocess.Popen[bytes]
    logfile: Path

    def log(self) -> str:
        return _tail(self.logfile, 20000)

    def stop(self) -> int:
        _stop_process(self.process, timeout=20)
        return int(self.process.returncode)


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[Callable[..., ApiServer]]:
    """Factory: ``api_server(database_url, redis_url=None, env=None)`` -> a running API."""
    import httpx

    started: list[ApiServer] = []

    def start(database_url: str, redis_url: str | None = None, env: dict[str, str] | None = None) -> ApiServer:
        folder = tmp_path / f"api{len(started)}"
        folder.mkdir()
        migrate(database_url, folder / "data")
        port = free_port()
        logfile = folder / "api.log"
        with open(logfile, "wb") as out:
            process = subprocess.Popen(
                [_xinbao(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=_env(database_url, redis_url, folder / "data", env), stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        server = ApiServer(f"http://127.0.0.1:{port}", process, logfile)
        started.append(server)

        def healthy() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the API exited with {process.returncode}:\n{server.log()[-3000:]}",
                            pytrace=False)
            return httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200

        wait_until(healthy, 60, f"/api/health of the API on port {port}", interval=0.2)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: ``worker_process(database_url, redis_url=None, env=None)`` -> a running
    ``xinbao worker`` (the database must be migrated: see ``migrate``)."""
    started: list[WorkerProcess] = []

    def start(database_url: str, redis_url: str | None = None, env: dict[str, str] | None = None) -> WorkerProcess:
        folder = tmp_path / f"worker{len(started)}"
        folder.mkdir()
        logfile = folder / "worker.log"
        with open(logfile, "wb") as out:
            process = subprocess.Popen([_xinbao(), "worker"],
                                       env=_env(database_url, redis_url, folder / "data", env),
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        worker = WorkerProcess(process, logfile)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
