"""PostgreSQL crashes in the middle of a department's ingest batch (issue 10 must-show 2,
issue 17 must-show 2).

The real API (``xinbao serve``) runs on the test's own PostgreSQL cluster. A tax operator
posts a large batch, committed in chunks of 20,000 rows; once some chunks are committed the
cluster is stopped with ``-m immediate`` — a crash, every backend gone, WAL recovery at the
next start — and started again. Then: exactly the committed chunks are stored and the batch
says so (its rows and counts are committed with them), the same API process answers reads
again without a restart (its pool reconnects), and resending the file resumes the same batch
after its last committed chunk: every row stored exactly once, counted once.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import httpx
import pytest

from server.uscc import make_uscc
from tests.chaos.conftest import PgCluster, wait_until

pytestmark = pytest.mark.chaos

FIRMS = 1000
ROWS = 150_000  # a batch that takes a while, even on a fast machine
CHUNK = 20_000  # rows per committed chunk (XINBAO_INGEST_CHUNK_ROWS)
PASSWORD = "chaos-pass-1234"


def _firms_csv() -> bytes:
    lines = ["uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status"]
    lines += [f"{make_uscc(9000 + i)},测试企业{i}号有限公司,34,百官街道,1000000,2015-01-01,small,active"
              for i in range(FIRMS)]
    return ("\n".join(lines) + "\n").encode()


def _tax_csv() -> bytes:
    """ROWS monthly tax records: each firm, month ends back from the last full month."""
    months: list[date] = []
    first = date.today().replace(day=1)
    while len(months) < ROWS // FIRMS + 1:
        months.append(first - timedelta(days=1))
        first = months[-1].replace(day=1)
    usccs = [make_uscc(9000 + i) for i in range(FIRMS)]
    lines = ["record_key,uscc,event_date,category,amount_yuan,arrears_yuan"]
    lines += [f"T-{n},{usccs[n % FIRMS]},{months[n // FIRMS].isoformat()},vat,{1000 + n % 997}.50,0"
              for n in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


async def _seed(database_url: str) -> None:
    """Departments and the two operators, written straight to the database."""
    from server import db
    from server.tables.ingest import Department
    from tests.integration.conftest import make_user

    engine = await db.open_engine(database_url)
    try:
        await Department.insert(Department(code="market", name_zh="市场监管局", name_en="Market regulation"),
                                Department(code="tax", name_zh="税务局", name_en="Tax bureau"))
        await make_user("13900000020", "dept_operator", department="market", password=PASSWORD)
        await make_user("13900000021", "dept_operator", department="tax", password=PASSWORD)
    finally:
        await db.close(engine)


def _login(api: str, phone: str) -> dict[str, str]:
    r = httpx.post(f"{api}/api/auth/login", json={"phone": phone, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _count(cluster: PgCluster, database: str, sql: str) -> int:
    return int(cluster.psql(sql, database=database))


def test_a_crash_mid_ingest_keeps_whole_chunks_and_the_resend_resumes_storing_each_row_once(pg_cluster,
                                                                                              api_server):
    url = pg_cluster.new_database()
    database = url.rsplit("/", 1)[1]
    api = api_server(url, env={"XINBAO_INGEST_CHUNK_ROWS": str(CHUNK)}).url
    asyncio.run(_seed(url))
    market, tax = _login(api, "13900000020"), _login(api, "13900000021")
    r = httpx.post(f"{api}/api/ingest/firms", content=_firms_csv(),
                   headers={**market, "content-type": "text/csv"}, timeout=60)
    assert r.status_code == 200 and r.json()["accepted"] == FIRMS, r.text
    batch = _tax_csv()

    def committed_rows() -> int:
        found = pg_cluster.psql("SELECT COALESCE(MAX(rows), 0) FROM ingest_batch WHERE source = 'tax_monthly'",
                                database=database)
        return int(found or 0)

    def post_batch() -> httpx.Response | Exception:
        try:
            return httpx.post(f"{api}/api/ingest/tax_monthly", content=batch,
                              headers={**tax, "content-type": "text/csv"}, timeout=120)
        except httpx.HTTPError as exc:
            return exc

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post_batch)
        wait_until(lambda: committed_rows() > 0, 60, "the first chunk to commit", interval=0.02)
        pg_cluster.kill()
        answer = first.result(timeout=120)
    # the batch was cut off: the caller is told to retry (503), never "accepted", never a 500
    assert isinstance(answer, httpx.Response) and answer.status_code == 503, answer
    # while the database is down the API answers, with 503s a client may retry
    assert httpx.get(f"{api}/api/health", timeout=10).status_code == 503
    down = httpx.get(f"{api}/api/me", headers=tax, timeout=10)
    assert down.status_code == 503 and down.headers.get("retry-after"), down.text
    pg_cluster.start()

    # whole chunks only, and the batch's own account of them is exactly what is stored
    kept = committed_rows()
    assert 0 < kept < ROWS, kept
    assert pg_cluster.psql("SELECT state || ',' || rows || ',' || accepted FROM ingest_batch "
                           "WHERE source = 'tax_monthly'", database=database) == f"running,{kept},{kept}"
    assert _count(pg_cluster, database, "SELECT count(*) FROM dept_record WHERE source = 'tax_monthly'") == kept
    assert _count(pg_cluster, database, "SELECT count(*) FROM firm") == FIRMS

    # the same API process answers again: its pool replaced the connections the crash closed
    deadline = time.monotonic() + 15
    statuses: list[int] = []
    while time.monotonic() < deadline and statuses[-3:] != [200, 200, 200]:
        statuses.append(httpx.get(f"{api}/api/health", timeout=10).status_code)
        time.sleep(0.1)
    assert statuses[-3:] == [200, 200, 200], statuses
    me = httpx.get(f"{api}/api/me", headers=tax, timeout=10)
    assert me.status_code == 200, me.text

    again = httpx.post(f"{api}/api/ingest/tax_monthly", content=batch,
                       headers={**tax, "content-type": "text/csv"}, timeout=120)
    assert again.status_code == 200, again.text
    body = again.json()
    # the same batch, resumed: its totals count every row once
    assert (body["accepted"], body["duplicates"], body["rejected"], body["rows"]) == (ROWS, 0, [], ROWS), body
    assert _count(pg_cluster, database, "SELECT count(*) FROM dept_record WHERE source = 'tax_monthly'") == ROWS
    assert _count(pg_cluster, database,
                  "SELECT count(DISTINCT record_key) FROM dept_record WHERE source = 'tax_monthly'") == ROWS
    assert pg_cluster.psql("SELECT id || ',' || state || ',' || rows || ',' || accepted FROM ingest_batch "
                           "WHERE source = 'tax_monthly'", database=database) == f"{body['batch_id']},done,{ROWS},{ROWS}"
