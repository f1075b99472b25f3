"""The request caches and the change feed behind them (``server/changes.py``, issue 16).

On PostgreSQL each API process keeps the signed-in user per token and each firm's evaluation,
and drops them when ``change_log`` (written by triggers) says their rows changed. What must
hold, and is shown here on the real database:

- every statement on a followed table logs its topic and keys, whoever runs it;
- a change committed before a request is applied before the request uses a copy, even when
  its transaction took its id before another that committed first;
- every ``sync`` waits for a read that started after it was called, and callers share reads;
- a copy read before a change lands is not kept;
- across two API processes (``xinbao serve --workers 2``), a logout, a revocation or a
  disabled account written in one place refuses the next request in the other process, and
  a new score shows at the next evaluation.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from server.changes import ChangeFeed
from tests.conftest import REDIS_URL, module_database_url, require_service
from tests.e2e.browser import stop_server

pytestmark = pytest.mark.anyio
SECRET = "test-secret-not-for-production-0123456789"


@pytest.fixture(scope="module")
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """PostgreSQL only: SQLite has no change log (one process, no request caches)."""
    yield from module_database_url("postgres", request, tmp_path_factory)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _log(conn: asyncpg.Connection) -> list[tuple[str, str | None]]:
    rows = await conn.fetch("SELECT topic, key FROM change_log ORDER BY id")
    await conn.execute("DELETE FROM change_log")
    return [(r["topic"], r["key"]) for r in rows]


async def test_every_statement_on_a_followed_table_logs_its_topic_and_keys(engine, db_url, demo):
    conn = await asyncpg.connect(_plain(db_url))
    try:
        await conn.execute("DELETE FROM change_log")
        user = await conn.fetchval("SELECT id FROM app_user WHERE phone = '13800000001'")
        firms = [r["id"] for r in await conn.fetch("SELECT id FROM firm ORDER BY id LIMIT 3")]
        await conn.execute("UPDATE app_user SET language = 'en' WHERE id = $1", user)
        assert await _log(conn) == [("user", str(user))]
        await conn.execute("INSERT INTO revoked_token (jti, expires_at) VALUES ('sid:abc', now())")
        assert await _log(conn) == [("token", "sid:abc")]
        await conn.execute("UPDATE firm SET name = name WHERE id = ANY($1)", firms[:2])
        assert sorted(await _log(conn)) == sorted(("firm", str(f)) for f in firms[:2])
        await conn.execute("UPDATE department SET name_zh = name_zh")
        assert await _log(conn) == [("department", None)]
        # a statement that changes many firms' scores: one row for the whole topic
        scored = await conn.fetchval("SELECT count(DISTINCT firm) FROM score_history")
        assert scored > 256  # the demo region: more firms than the triggers list one by one
        await conn.execute("UPDATE score_history SET grade = grade")
        assert await _log(conn) == [("score", None)]
        await conn.execute("UPDATE score_history SET grade = grade WHERE firm = $1", firms[0])
        assert await _log(conn) == [("score", str(firms[0]))]
        await conn.execute("UPDATE scoring_run SET as_of = as_of WHERE false")
        assert await _log(conn) == [("score", None)]
        # a statement that changes nothing keyed logs nothing
        await conn.execute("UPDATE firm SET name = name WHERE false")
        assert await _log(conn) == []
    finally:
        await conn.close()


async def test_a_transaction_that_took_its_id_first_but_commits_last_is_not_missed(engine, db_url, demo):
    feed = ChangeFeed(engine)
    cache = feed.cache(("user", "token"))
    await feed.sync()  # the baseline
    early, late = await asyncpg.connect(_plain(db_url)), await asyncpg.connect(_plain(db_url))
    try:
        users = [r["id"] for r in await early.fetch("SELECT id FROM app_user ORDER BY id LIMIT 2")]
        for u in users:
            cache.put(("u", u), f"copy of {u}", [("user", str(u))], cache.ticket())
        slow = early.transaction()
        await slow.start()
        await early.execute("UPDATE app_user SET language = language WHERE id = $1", users[0])  # the smaller id
        await late.execute("UPDATE app_user SET language = language WHERE id = $1", users[1])  # commits first
        await feed.sync()
        assert cache.get(("u", users[1])) is None and cache.get(("u", users[0])) == f"copy of {users[0]}"
        await slow.commit()
        await feed.sync()
        assert cache.get(("u", users[0])) is None  # read by transaction, not by id: not skipped
        # rows read twice (their transaction is still at or above the watermark) count once
        changes = cache.ticket()
        await feed.sync()
        assert cache.ticket() == changes
    finally:
        await early.close()
        await late.close()
        await feed.close()


async def test_every_sync_waits_for_a_read_that_started_after_it_and_callers_share_reads(engine, demo):
    feed = ChangeFeed(engine)
    started: list[float] = []
    read = feed._read

    async def timed(index: int) -> None:
        started.append(time.perf_counter())
        await read(index)

    feed._read = timed  # type: ignore[method-assign]
    done: list[tuple[float, int]] = []

    async def one() -> None:
        called = time.perf_counter()
        await feed.sync()
        done.append((called, feed.reads))

    for wave in range(5):
        await asyncio.gather(*(one() for _ in range(40)))
        await asyncio.sleep(0.001 * wave)
    assert len(done) == 200
    for called, reads_then in done:
        # some read that had finished when the call returned started after the call
        assert any(s > called for s in started[:reads_then]), (called, started[:reads_then])
    assert feed.reads < 40, feed.reads  # 200 callers, a few shared reads
    await feed.close()


@contextlib.asynccontextmanager
async def _feed(engine, db_url: str, topics: tuple[str, ...]):
    """A synced feed with one cache of ``topics``, and a connection of the test's own."""
    feed = ChangeFeed(engine)
    cache = feed.cache(topics)
    await feed.sync()
    conn = await asyncpg.connect(_plain(db_url))
    try:
        yield feed, cache, conn
    finally:
        await conn.close()
        await feed.close()


async def test_a_copy_read_before_a_change_lands_is_not_kept(engine, db_url, demo):
    async with _feed(engine, db_url, ("firm",)) as (feed, cache, conn):
        firm = await conn.fetchval("SELECT id FROM firm ORDER BY id LIMIT 1")
        ticket = cache.ticket()  # a request takes its ticket, then reads the firm ...
        name = await conn.fetchval("SELECT name FROM firm WHERE id = $1", firm)
        await conn.execute("UPDATE firm SET name = name || '·' WHERE id = $1", firm)  # ... renamed meanwhile
        await feed.sync()  # another request applies the change before the first one stores its copy
        assert not cache.put(("firm", firm), name, [("firm", str(firm))], ticket)
        assert cache.get(("firm", firm)) is None
        await conn.execute("UPDATE firm SET name = left(name, -1) WHERE id = $1", firm)


async def test_a_feed_whose_database_connection_is_killed_reconnects_and_misses_nothing(engine, db_url, demo):
    async with _feed(engine, db_url, ("user",)) as (feed, cache, conn):
        user = await conn.fetchval("SELECT id FROM app_user ORDER BY id LIMIT 1")
        assert cache.put("u", "copy", [("user", str(user))], cache.ticket())
        victim = feed._conn.get_server_pid()
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", victim)  # the server process ends
        await conn.execute("UPDATE app_user SET language = language WHERE id = $1", user)
        try:
            await feed.sync()  # may fail (a request would answer 503) ...
        except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError):
            assert cache.get("u") == "copy" and feed._conn is None  # ... and then nothing was applied
            await feed.sync()  # ... the next one opens a new connection
        assert cache.get("u") is None and feed._conn.get_server_pid() != victim


async def test_a_match_sees_a_listing_a_suspension_and_a_new_score_written_behind_its_back(client, tokens, db_url):
    """The match keeps its inputs per firm and day; each write below goes around the API."""
    owner = tokens["owner"]
    need = {"amount_yuan": 300_000, "term_months": 12, "purpose": "采购原材料"}
    first = (await client.post("/api/financing/match", json=need, headers=owner)).json()
    assert first["dishonest_listed"] is False
    conn = await asyncpg.connect(_plain(db_url))
    try:
        await conn.execute(
            "INSERT INTO dept_record (source, record_key, uscc, event_date, batch_id, received_at) "
            "VALUES ('dishonest_debtor', 'cache-test-1', $1, CURRENT_DATE - 1, 0, now())", first["firm_uscc"])
        listed = (await client.post("/api/financing/match", json=need, headers=owner)).json()
        assert listed["dishonest_listed"] is True
        await conn.execute("DELETE FROM dept_record WHERE record_key = 'cache-test-1'")
        assert (await client.post("/api/financing/match", json=need, headers=owner)).json()["dishonest_listed"] is False

        covered = next(m for m in first["matches"] if m["product"]["fund_covered"])
        bank = covered["product"]["bank_id"]
        await conn.execute("UPDATE bank SET suspended_at = now() WHERE id = $1", bank)
        suspended = (await client.post("/api/financing/match", json=need, headers=owner)).json()
        mine = next(m for m in suspended["matches"] if m["product"]["id"] == covered["product"]["id"])
        assert first["grade"] in ("A", "B", "C") and covered["fund_share_pct"] > 0  # the demo owner's firm
        assert "bank_suspended" not in [r["code"] for r in covered["reasons"]]
        assert "bank_suspended" in [r["code"] for r in mine["reasons"]]
        await conn.execute("UPDATE bank SET suspended_at = NULL WHERE id = $1", bank)

        firm = await conn.fetchval("SELECT id FROM firm WHERE uscc = $1", first["firm_uscc"])
        await conn.execute(
            "INSERT INTO score_history (firm, as_of, score, grade, pd, dimensions, reasons, model_version, "
            "weight_profile_version, created_at, run, data_confidence) "
            "SELECT firm, as_of + 1, score, 'D', pd, dimensions, reasons, model_version, weight_profile_version, "
            "now(), run, data_confidence FROM score_history WHERE firm = $1 ORDER BY as_of DESC, id DESC LIMIT 1",
            firm)
        regraded = (await client.post("/api/financing/match", json=need, headers=owner)).json()
        assert regraded["grade"] == "D" and regraded["grade_as_of"] > first["grade_as_of"]
    finally:
        await conn.close()


# -- two API processes ---------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(int(child))
            except OSError:
                continue
    return found


def _serving_pid(client_port: int, server_port: int, workers: set[int]) -> int | None:
    """The worker process holding the server end of the connection from ``client_port``."""
    want_local, want_remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[1] == want_local and parts[2] == want_remote:
            inode = parts[9]
    if inode is None:
        return None
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def _one_client_per_worker(base: str, port: int, workers: set[int], headers: dict[str, str]) -> dict[int, httpx.Client]:
    """A kept-alive connection to each worker process, each having answered ``headers``' owner."""
    clients: dict[int, httpx.Client] = {}
    for _ in range(200):
        client = httpx.Client(base_url=base, limits=httpx.Limits(max_connections=1), timeout=10)
        r = client.get("/api/me", headers=headers)
        assert r.status_code == 200, r.text
        addr = r.extensions["network_stream"].get_extra_info("client_addr")
        pid = _serving_pid(addr[1], port, workers)
        if pid is not None and pid not in clients:
            clients[pid] = client
        else:
            client.close()
        if len(clients) == len(workers):
            return clients
    raise AssertionError(f"connections reached only {sorted(clients)} of {sorted(workers)}")


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_revocation_in_one_place_refuses_the_next_request_in_every_process(db_url, demo, tmp_path):
    require_service("Redis", "127.0.0.1", 6379)
    xinbao = str(Path(sys.executable).with_name("xinbao"))
    env = {**os.environ, "XINBAO_DATABASE_URL": db_url, "XINBAO_REDIS_URL": REDIS_URL,
           "XINBAO_JWT_SECRET": SECRET, "XINBAO_DATA_DIR": str(tmp_path / "data")}
    env.pop("XINBAO_DEMO", None)
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed by stop_server
    proc = subprocess.Popen([xinbao, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    clients: dict[int, httpx.Client] = {}

    async def sql(statement: str, *args: object) -> None:
        conn = await asyncpg.connect(_plain(db_url))
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200 and len(_workers(proc.pid)) == 2:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        workers = _workers(proc.pid)
        assert len(workers) == 2

        def sign_in() -> tuple[dict[str, str], str]:
            r = httpx.post(f"{base}/api/auth/login", json={"phone": "13800000001", "password": "demo1234"})
            assert r.status_code == 200, r.text
            return {"authorization": f"Bearer {r.json()['access_token']}"}, r.json()["access_token"]

        # 1. logout through one process: the other refuses the token at once
        auth, _ = sign_in()
        clients = _one_client_per_worker(base, port, workers, auth)
        (a, one), (b, other) = sorted(clients.items())
        for client in (one, other):  # both hold the copy now
            assert client.get("/api/me", headers=auth).status_code == 200
        assert one.post("/api/auth/logout", headers=auth).status_code in (200, 204)
        assert other.get("/api/me", headers=auth).status_code == 401
        assert one.get("/api/me", headers=auth).status_code == 401

        # 2. a sign-in revoked by hand in the database (not through the API)
        auth, token = sign_in()
        for client in (one, other):
            assert client.get("/api/me", headers=auth).status_code == 200
        asyncio.run(sql("INSERT INTO revoked_token (jti, expires_at) VALUES ($1, now() + interval '1 day')",
                        "sid:" + _claims(token)["extras"]["sid"]))
        for client in (other, one):
            assert client.get("/api/me", headers=auth).status_code == 401

        # 3. an account disabled in the database
        auth, _ = sign_in()
        for client in (one, other):
            assert client.get("/api/me", headers=auth).status_code == 200
        asyncio.run(sql("UPDATE app_user SET is_active = false WHERE phone = '13800000001'"))
        try:
            for client in (one, other):
                assert client.get("/api/me", headers=auth).status_code == 401
        finally:
            asyncio.run(sql("UPDATE app_user SET is_active = true WHERE phone = '13800000001'"))

        # 4. a new score written to the database shows at the next evaluation, in both processes
        auth, _ = sign_in()
        uscc = one.get("/api/me", headers=auth).json()["firm_uscc"]
        before = {pid: c.get(f"/api/firms/{uscc}/evaluation", headers=auth).json() for pid, c in clients.items()}
        assert len({e["score"] for e in before.values()}) == 1
        asyncio.run(sql(
            "INSERT INTO score_history (firm, as_of, score, grade, pd, dimensions, reasons, model_version, "
            "weight_profile_version, created_at, run, data_confidence) "
            "SELECT firm, as_of + 1, score + 7, grade, pd, dimensions, reasons, model_version, "
            "weight_profile_version, now(), run, data_confidence FROM score_history "
            "WHERE firm = (SELECT id FROM firm WHERE uscc = $1) ORDER BY as_of DESC, id DESC LIMIT 1", uscc))
        old = next(iter(before.values()))["score"]
        for client in (other, one):
            assert client.get(f"/api/firms/{uscc}/evaluation", headers=auth).json()["score"] == old + 7
    finally:
        for client in clients.values():
            client.close()
        stop_server(proc, log)


async def test_a_connection_left_mid_operation_answers_503_not_500(app, client, tokens, demo, monkeypatch):
    """asyncpg's ``InternalClientError`` ("cannot switch to state ...; another operation is in
    progress": a protocol left mid-operation when the server ended the connection, as the feed
    test above can meet) is the database being unavailable: a 503 to retry, not a 500."""
    from server.firms.services import Evaluations

    async def broken(self, *args, **kwargs):
        raise asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")

    owner = tokens["owner"]
    uscc = (await client.get("/api/me", headers=owner)).json()["firm_uscc"]
    assert (await client.get(f"/api/firms/{uscc}/evaluation", headers=owner)).status_code == 200
    monkeypatch.setattr(Evaluations, "response", broken)
    import httpx  # a client that lets a 5xx through (the suite's own fails any)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"accept-language": "en"}) as plain:
        r = await plain.get(f"/api/firms/{uscc}/evaluation", headers=owner)
    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
    assert "temporarily unavailable" in r.json()["detail"]


async def test_a_kept_evaluation_is_sent_again_as_made_and_every_view_is_still_logged(app, client, tokens, demo):
    """The evaluation's answer is kept with its copy (``server.responses.KeptResponse``): the next
    request sends the same answer, made once, with the route's headers. Who may see it is still
    decided, and a view by anyone but the owner logged, on every request."""
    from server.firms.services import HISTORY_MONTHS
    from server.tables.consent import AccessLog

    owner, admin = tokens["owner"], tokens["admin"]
    uscc = (await client.get("/api/me", headers=owner)).json()["firm_uscc"]
    path = f"/api/firms/{uscc}/evaluation"
    first = await client.get(path, headers=owner)
    evaluations = app.state.evaluations
    kept = evaluations.cache.get((uscc, HISTORY_MONTHS, evaluations.min_group_size))
    assert kept is not None and kept.response is not None
    answer, made = kept.response, kept.response._asgi
    second = await client.get(path, headers=owner)
    assert (second.status_code, second.content) == (200, first.content)
    assert second.headers["cache-control"] == "no-store, private" == first.headers["cache-control"]
    assert second.headers["content-type"] == "application/json"
    assert kept.response is answer and answer._asgi is made  # sent again, not made again

    firm_id = kept.firm["id"]
    before = await AccessLog.count().where(AccessLog.firm == firm_id)
    for _ in range(2):
        seen = await client.get(path, headers=admin)
        assert seen.content == first.content
    assert await AccessLog.count().where(AccessLog.firm == firm_id) == before + 2
    # a bank sees the kept answer only while the firm's consent is active
    bank = tokens["bank_manager"]
    bank_id = (await client.get("/api/me", headers=bank)).json()["bank_id"]
    for c in (await client.get("/api/consents", headers=owner)).json():
        if c["bank_id"] == bank_id and c["active"]:
            assert (await client.delete(f"/api/consents/{c['id']}", headers=owner)).status_code == 204
    assert (await client.get(path, headers=bank)).status_code == 403
    granted = (await client.post("/api/consents", json={"bank_id": bank_id, "days": 1}, headers=owner)).json()
    seen = await client.get(path, headers=bank)
    assert (seen.status_code, seen.content) == (200, first.content)
    assert (await client.delete(f"/api/consents/{granted['id']}", headers=owner)).status_code == 204
    assert evaluations.cache.get((uscc, HISTORY_MONTHS, evaluations.min_group_size)) is kept  # still kept
    assert (await client.get(path, headers=bank)).status_code == 403  # and refused at once
    assert await AccessLog.count().where(AccessLog.firm == firm_id) == before + 3
