"""PostgreSQL crashes in the middle of a department's ingest batch (issue 10, must-show 2).

The real API (``xinbao serve``) runs on the test's own PostgreSQL cluster. A tax operator
posts a large batch; while its transaction is open (its per-source advisory lock is held)
the cluster is stopped with ``-m immediate`` — a crash, every backend gone, WAL recovery at
the next start — and started again. Then: nothing of the batch is stored (all or nothing),
the same API process answers reads again without a restart (its pool reconnects), and
resending the batch stores every row exactly once.
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
ROWS = 150_000  # a batch that stays in its transaction for a while, even on a fast machine
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


def test_a_crash_mid_ingest_stores_nothing_and_the_resend_stores_each_row_once(pg_cluster, api_server):
    url = pg_cluster.new_database()
    database = url.rsplit("/", 1)[1]
    api = api_server(url).url
    asyncio.run(_seed(url))
    market, tax = _login(api, "13900000020"), _login(api, "13900000021")
    r = httpx.post(f"{api}/api/ingest/firms", content=_firms_csv(),
                   headers={**market, "content-type": "text/csv"}, timeout=60)
    assert r.status_code == 200 and r.json()["accepted"] == FIRMS, r.text
    batch = _tax_csv()

    def ingest_in_progress() -> bool:
        # the batch's transaction holds its source's advisory lock until it commits
        return _count(pg_cluster, "postgres",
                      "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                      f"WHERE l.locktype = 'advisory' AND d.datname = '{database}'") > 0

    def post_batch() -> httpx.Response | Exception:
        try:
            return httpx.post(f"{api}/api/ingest/tax_monthly", content=batch,
                              headers={**tax, "content-type": "text/csv"}, timeout=120)
        except httpx.HTTPError as exc:
            return exc

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post_batch)
        wait_until(ingest_in_progress, 60, "the ingest transaction to start", interval=0.02)
        pg_cluster.kill()
        answer = first.result(timeout=120)
    # the batch was cut off: the caller is told to retry (503), never "accepted", never a 500
    assert isinstance(answer, httpx.Response) and answer.status_code == 503, answer
    # while the database is down the API answers, with 503s a client may retry
    assert httpx.get(f"{api}/api/health", timeout=10).status_code == 503
    down = httpx.get(f"{api}/api/me", headers=tax, timeout=10)
    assert down.status_code == 503 and down.headers.get("retry-after"), down.text
    pg_cluster.start()

    # all or nothing: no record and no batch row of the interrupted batch
    assert _count(pg_cluster, database, "SELECT count(*) FROM dept_record WHERE source = 'tax_monthly'") == 0
    assert _count(pg_cluster, database, "SELECT count(*) FROM ingest_batch WHERE source = 'tax_monthly'") == 0
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
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (ROWS, 0, []), body
    assert _count(pg_cluster, database, "SELECT count(*) FROM dept_record WHERE source = 'tax_monthly'") == ROWS
    assert _count(pg_cluster, database,
                  "SELECT count(DISTINCT record_key) FROM dept_record WHERE source = 'tax_monthly'") == ROWS
    assert _count(pg_cluster, database, "SELECT count(*) FROM ingest_batch WHERE source = 'tax_monthly'") == 1
