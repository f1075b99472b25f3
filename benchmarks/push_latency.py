"""Push latency end to end: how soon a change reaches a connected user's live stream (SSE).

The figures the integration tests used to assert on wall time (the project's rule: tests never
do; ``tests/integration/test_risk_push_e2e.py`` and ``test_owner_told.py`` check who gets what):

- Issue 5, must-show 2 (target 1 s): a chain of guarantees H2 -> H1 -> G -> B is fed through
  ``/api/ingest/firms`` and ``/api/ingest/guarantees`` by operators of the departments "market"
  and "bank"; H1 has a pending loan application at the bank manager's bank (ICBC-SY) and a
  watcher follows H2 (``POST /api/subscriptions``); then a ``bank_loan`` batch puts G 95 days
  overdue. Measured from the moment the ingest batch is sent to the arrival of the
  ``C01_CONTAGION`` push on the manager's and the watcher's SSE stream (both connected over the
  whole run): the batch's own request, then the re-score, scan and contagion that follow its
  answer, then the outbox relay's push. (The issue counts from the batch's answer; counting from
  the send includes the request, so the figure is an upper bound.) Repeated ``--rounds``
  times on fresh chains (new USCCs), each batch sent ``SETTLE_S`` after the chain's own
  batches (so their follow-up runs are done); p50 and max are over the rounds:
  ``risk_push_manager_p50_s``, ``risk_push_manager_max_s``, ``risk_push_watcher_p50_s``,
  ``risk_push_watcher_max_s`` (target 1.0), and ``risk_push_ingest_p50_s`` (the batch's own
  request, for context).
- Issue 18, must-show 1 (target 2 s): the demo owner's stream gets each change within 2 s of
  the request that caused it: the loan approval (``owner_told_application_approved_s``), the
  court's dishonest-debtor listing (``owner_told_risk_listed_s``, a red warning), the loan in
  default (``owner_told_loan_default_s``), the tax office's rejection of an objection
  (``owner_told_objection_rejected_s``), the court's correction of the listing
  (``owner_told_objection_corrected_s``) and the red warning cleared by it
  (``owner_told_risk_cleared_s``), and the largest of them (``owner_told_max_s``). One sample
  of each per run: the steps change the owner's firm for good (a firm is listed once, a loan
  defaults once), so repeating them would measure other paths; run the script again for more.

Everything runs on one demo region (``xinbao demo --firms N --no-serve``, as
``benchmarks/api_load.py`` builds it) on a fresh database: PostgreSQL when ``--database-url``
(an admin URL) is given, a database ``xinbao_push_latency_<hex>`` created on that server and
dropped at the end; otherwise SQLite in a temporary folder. The platform is served by
``xinbao serve`` in a subprocess (no scheduler: every push is live), with Redis channels when
``--redis-url`` is given. Accounts beyond the demo's are created in this process on the same
database. The commit -> delivery fan-out to many subscribers is ``benchmarks/push_fanout.py``.

Prints one JSON object per line: ``{"name", "value", "unit", "target", ...context}``. Every
latency is from the moment the causing request is sent (some pushes commit inside the request
and arrive before its answer; counted from the send, every figure includes the whole request).

    python benchmarks/push_latency.py [--rounds 5] [--firms 200] [--database-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.api_load import free_port, stop, wait_until_up  # noqa: E402 (the servers, as api_load runs them)

__all__ = ["measure"]

SECRET = "benchmark-secret-not-for-production-0123456789"
PASSWORD = "push-latency-bench-7391"  # the accounts this benchmark adds
OWNER, MANAGER = "13800000001", "13800000002"  # demo accounts (server.demo.setup.DEMO_ACCOUNTS)
PHONES = {"market": "13900090001", "bank": "13900090002", "manager": "13900090003",
          "watcher": "13900090004", "court": "13900090005", "tax": "13900090006",
          "other_manager": "13900090007"}
RISK_TARGET_S, OWNER_TARGET_S = 1.0, 2.0
WAIT_S = 30.0  # a push not here by then is counted as missed
# Before each measured batch the server is left this long to finish the runs that follow the
# chain's own batches (one run at a time per process): the figure is a batch on an idle server.
SETTLE_S = 2.0
# The issue-5 chain (tests/integration/test_risk_e2e.py): guarantor --amount--> guaranteed.
CAPITAL_YUAN = {"G": 5_000_000, "B": 3_000_000, "H1": 1_000_000, "H2": 2_000_000}
NAMES = {"G": "延迟基准甲{r}担保有限公司", "B": "延迟基准乙{r}有限公司", "H1": "延迟基准丙{r}有限公司",
         "H2": "延迟基准丁{r}有限公司"}


# -- a live stream -----------------------------------------------------------------------------

class Stream:
    """A user's ``/api/notifications/stream`` read in the background: every ``notification``
    event's data with its arrival time (``time.perf_counter()``)."""

    def __init__(self, base: str, token: str) -> None:
        self.url, self.token = f"{base}/api/notifications/stream", token
        self.events: list[tuple[dict[str, Any], float]] = []
        self.ready = asyncio.Event()
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Stream:
        self._task = asyncio.create_task(self._read())
        ready = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait([self._task, ready], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self._task in done:
            self._task.result()  # raises what stopped it
        if not self.ready.is_set():
            raise RuntimeError("the stream did not say it was ready within 30 s")
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http, http.stream(
                "GET", self.url, headers=headers) as response:
            response.raise_for_status()
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if fields.get("event") == "notification":
                        self.events.append((json.loads(fields["data"]), time.perf_counter()))
                        self.changed.set()
                    fields = {}
                elif line.startswith(":"):
                    if line[1:].strip() == "ready":
                        self.ready.set()
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value

    async def first(self, match: Callable[[dict[str, Any]], bool], *, after: int = 0,
                    timeout: float = WAIT_S) -> tuple[dict[str, Any], float] | None:
        """The first event from index ``after`` on that ``match``es, or None if none came in time."""
        deadline = time.perf_counter() + timeout
        seen = after
        while True:
            for data, at in self.events[seen:]:
                if match(data):
                    return data, at
            seen = max(seen, len(self.events))
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


# -- the server and the database ---------------------------------------------------------------

def _pg_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


async def _user(phone: str, role: str, *, bank_code: str | None = None, department: str | None = None) -> None:
    """An account with PASSWORD, unless the phone has one already."""
    from server.tables.financing import Bank
    from server.tables.ingest import Department
    from server.tables.users import User
    from server.users.services import create_user

    if await User.exists().where(User.phone == phone):
        return
    bank_id = dept_id = None
    if bank_code:
        bank_id = (await Bank.select(Bank.id).where(Bank.code == bank_code).first())["id"]
    if department:
        dept_id = (await Department.select(Department.id).where(Department.code == department).first())["id"]
    await create_user(phone, PASSWORD, role, f"bench {role}", bank_id=bank_id, department_id=dept_id)


async def _token(http: Any, phone: str, password: str = PASSWORD) -> str:
    r = await http.post("/api/auth/login", json={"phone": phone, "password": password})
    r.raise_for_status()
    return r.json()["access_token"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _ok(response: Any, *statuses: int) -> dict[str, Any]:
    if response.status_code not in (statuses or (200,)):
        raise RuntimeError(f"{response.request.method} {response.request.url} -> "
                           f"{response.status_code}: {response.text[:500]}")
    return response.json()


# -- issue 5: the guarantor's default pushed to the bank and the watcher -----------------------

async def _feed(http: Any, token: str, source: str, lines: list[str]) -> None:
    r = await http.post(f"/api/ingest/{source}", content="\n".join(lines).encode(),
                        headers={**_auth(token), "content-type": "text/csv"})
    report = await _ok(r)
    if report.get("rejected"):
        raise RuntimeError(f"{source}: rejected {report['rejected'][:3]}")


async def _fresh_usccs(serial: int, n: int) -> tuple[list[str], int]:
    """``n`` valid USCCs of firms not in the region yet, from ``serial`` on; the next serial."""
    from server.tables.firms import Firm
    from server.uscc import make_uscc

    out: list[str] = []
    while len(out) < n:
        uscc = make_uscc(serial)
        serial += 1
        if not await Firm.exists().where(Firm.uscc == uscc):
            out.append(uscc)
    return out, serial


async def risk_push(base: str, rounds: int) -> dict[str, list[float]]:
    """Issue 5's scenario ``rounds`` times on fresh chains; the latencies (s) from the batch's send."""
    import httpx

    from server.tables.financing import Bank, LoanApplication, LoanProduct
    from server.tables.firms import Firm

    await _user(PHONES["market"], "dept_operator", department="market")
    await _user(PHONES["bank"], "dept_operator", department="bank")
    await _user(PHONES["manager"], "bank_manager", bank_code="ICBC-SY")
    await _user(PHONES["watcher"], "subscriber")
    bank = await Bank.select(Bank.id).where(Bank.code == "ICBC-SY").first()
    product = await LoanProduct.select(LoanProduct.id).where(LoanProduct.bank == bank["id"]).first()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    month = (today.replace(day=1) - timedelta(days=1)).isoformat()  # the last month's end
    found: dict[str, list[float]] = {"manager": [], "watcher": [], "ingest": [], "missed_manager": [],
                                     "missed_watcher": []}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        tokens = {k: await _token(http, PHONES[k]) for k in ("market", "bank", "manager", "watcher")}
        async with Stream(base, tokens["manager"]) as manager, Stream(base, tokens["watcher"]) as watcher:
            serial = 930_000
            for r in range(1, rounds + 1):
                usccs, serial = await _fresh_usccs(serial, 4)
                u = dict(zip(("G", "B", "H1", "H2"), usccs, strict=True))
                await _feed(http, tokens["market"], "firms", [
                    "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status",
                    *(f"{u[k]},{NAMES[k].format(r=r)},34,百官街道,{CAPITAL_YUAN[k]},2015-03-01,small,active"
                      for k in u)])
                await _feed(http, tokens["bank"], "guarantees", [
                    "record_key,guarantor_uscc,guaranteed_uscc,amount_yuan,start_date,end_date",
                    f"PL{r}-G-B,{u['G']},{u['B']},300000,2025-01-01,2028-12-31",
                    f"PL{r}-H1-G,{u['H1']},{u['G']},800000,2025-01-01,2028-12-31",
                    f"PL{r}-H2-H1,{u['H2']},{u['H1']},500000,2025-01-01,2028-12-31"])
                # H1 borrows from the manager's bank (so the bank watches it); the watcher follows H2
                h1 = await Firm.select(Firm.id).where(Firm.uscc == u["H1"]).first()
                await LoanApplication(firm=h1["id"], product=product["id"], amount_fen=50_000_000,
                                      term_months=12, purpose="流动资金", status="pending",
                                      created_at=datetime.now(UTC)).save()
                await _ok(await http.post("/api/subscriptions", json={"uscc": u["H2"]},
                                          headers=_auth(tokens["watcher"])), 201)
                await asyncio.sleep(SETTLE_S)
                marks = len(manager.events), len(watcher.events)
                sent = time.perf_counter()
                await _feed(http, tokens["bank"], "bank_loan", [
                    "record_key,uscc,event_date,amount_yuan,arrears_yuan,days",
                    f"PL{r}-LOAN-G-{month},{u['G']},{month},2000000,35000,95"])
                found["ingest"].append(time.perf_counter() - sent)
                for who, stream, mark, uscc in (("manager", manager, marks[0], u["H1"]),
                                                ("watcher", watcher, marks[1], u["H2"])):
                    got = await stream.first(lambda d, uscc=uscc: d.get("firm_uscc") == uscc and d.get(
                        "body", {}).get("rule_code") == "C01_CONTAGION", after=mark)
                    if got is None:
                        found[f"missed_{who}"].append(r)
                    else:
                        found[who].append(got[1] - sent)
    return found


# -- issue 18: the owner is told each change ---------------------------------------------------

async def owner_told(base: str) -> dict[str, float | None]:
    """Issue 18's changes to the demo owner's firm, once each; the latencies (s) from the send
    of the request that caused each (None: not pushed within WAIT_S)."""
    import httpx

    from server.demo.setup import DEMO_PASSWORD
    from server.tables.financing import Bank

    out: dict[str, float | None] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        owner = _auth(await _token(http, OWNER, DEMO_PASSWORD))
        manager = _auth(await _token(http, MANAGER, DEMO_PASSWORD))
        uscc = (await _ok(await http.get("/api/me", headers=owner)))["firm_uscc"]
        bank_id = (await _ok(await http.get("/api/me", headers=manager)))["bank_id"]
        async with Stream(base, owner["Authorization"].split()[1]) as stream:
            taken: set[int] = set()

            async def told(name: str, kind: str, level: str | None, since: float, mark: int) -> dict | None:
                """The first push of ``kind`` (and level) since ``mark`` not counted yet."""
                got = await stream.first(lambda d: d["kind"] == kind and (level is None or d["level"] == level)
                                         and d["id"] not in taken, after=mark)
                if got is None:
                    out[name] = None
                    return None
                taken.add(got[0]["id"])
                out[name] = got[1] - since
                return got[0]

            # 1. the owner applies to the manager's bank (another if it has no fitting product); approved
            need = {"amount_yuan": 300_000, "term_months": 12, "purpose": "备货"}
            matched = await _ok(await http.post("/api/financing/match", json=need, headers=owner))
            fits = [m["product"] for m in matched["matches"] if m["fits"]]
            product = next((p for p in fits if p["bank_id"] == bank_id), fits[0])
            if product["bank_id"] != bank_id:
                code = (await Bank.select(Bank.code).where(Bank.id == product["bank_id"]).first())["code"]
                await _user(PHONES["other_manager"], "bank_manager", bank_code=code)
                manager = _auth(await _token(http, PHONES["other_manager"]))
            applied = await _ok(await http.post("/api/applications", headers=owner, json={
                **need, "product_ids": [product["id"]], "confirm_consent": True}), 201)
            app_id = applied["applications"][0]["id"]
            mark, sent = len(stream.events), time.perf_counter()
            await _ok(await http.post(f"/api/applications/{app_id}/decision", headers=manager, json={
                "decision": "approve", "amount_yuan": 300_000, "rate_bp": 450, "term_months": 12}))
            await told("owner_told_application_approved_s", "application", "blue", sent, mark)

            # 2. the court lists the firm as a dishonest debtor: a red warning on it
            await _user(PHONES["court"], "dept_operator", department="court")
            court = _auth(await _token(http, PHONES["court"]))
            csv = f"record_key,uscc,event_date,amount_yuan\nPUSH-LATENCY-1,{uscc},{datetime.now(UTC).date()},120000\n"
            mark, sent = len(stream.events), time.perf_counter()
            listed = await _ok(await http.post("/api/ingest/dishonest_debtor", content=csv.encode(),
                                               headers={**court, "content-type": "text/csv"}))
            if listed.get("accepted") != 1:
                raise RuntimeError(f"the listing was not accepted: {listed}")
            warned = await told("owner_told_risk_listed_s", "risk", "red", sent, mark)

            # 3. the bank reports the loan in default
            mark, sent = len(stream.events), time.perf_counter()
            await _ok(await http.post(f"/api/loans/{app_id}/default", headers=manager,
                                      json={"outstanding_yuan": 280_000, "note": "90 days past due"}))
            await told("owner_told_loan_default_s", "loan", "red", sent, mark)

            # 4. the owner disputes a tax record; the tax office rejects the objection
            records = (await _ok(await http.get("/api/objections/records", params={"source": "tax_monthly"},
                                                headers=owner)))["items"]
            if records:
                record = records[0]
                filed = await _ok(await http.post("/api/objections", headers=owner, json={
                    "record_id": record["id"], "reason": "金额有误，少录一位"}), 200, 201)
                await _user(PHONES["tax"], "dept_operator", department=record["department"])
                tax = _auth(await _token(http, PHONES["tax"]))
                mark, sent = len(stream.events), time.perf_counter()
                await _ok(await http.post(f"/api/objections/{filed['objection']['id']}/resolution", headers=tax,
                                          json={"decision": "reject", "reason": "经核对申报表，金额无误"}))
                await told("owner_told_objection_rejected_s", "objection", "yellow", sent, mark)

            # 5. the owner disputes the listing (lifted the same day); the court corrects it and the
            # red warning clears
            if warned is not None:
                listing = next(r for r in (await _ok(await http.get("/api/objections/records", params={
                    "source": "dishonest_debtor"}, headers=owner)))["items"] if r["record_key"] == "PUSH-LATENCY-1")
                filed = await _ok(await http.post("/api/objections", headers=owner, json={
                    "record_id": listing["id"], "reason": "判决已履行，法院当日撤销失信",
                    "proposed": {"end_date": listing["event_date"]}}), 200, 201)
                mark, since = len(stream.events), time.perf_counter()
                await _ok(await http.post(f"/api/objections/{filed['objection']['id']}/resolution",
                                          headers=court,
                                          json={"decision": "correct", "reason": "已核实撤销 / lifted, checked"}))
                await told("owner_told_objection_corrected_s", "objection", None, since, mark)
                # the re-scored grade may clear other warnings too, each its own push: wait for this one
                got = await stream.first(lambda d: d["kind"] == "risk" and d["level"] == "blue" and d["body"].get(
                    "warning_id") == warned["body"]["warning_id"], after=mark)
                out["owner_told_risk_cleared_s"] = None if got is None else got[1] - since
    return out


# -- the run -----------------------------------------------------------------------------------

async def measure(url: str, base: str, rounds: int) -> tuple[dict[str, list[float]], dict[str, float | None]]:
    """Both scenarios against the server at ``base`` serving the database at ``url``."""
    from server import db

    engine = await db.open_engine(url)
    try:
        risk = await risk_push(base, rounds)
        owner = await owner_told(base)
    finally:
        await db.close(engine)
    return risk, owner


def _rows(risk: dict[str, list[float]], owner: dict[str, float | None], context: dict[str, Any],
          rounds: int) -> list[dict[str, Any]]:
    def row(name: str, value: float | None, target: float | None, **extra: Any) -> dict[str, Any]:
        return {"name": name, "value": None if value is None else round(value, 4), "unit": "s",
                "target": target, **extra, **context}

    rows = []
    for who in ("manager", "watcher"):
        values = risk[who]
        extra = {"rounds": rounds, "arrived": len(values), "missed_rounds": risk[f"missed_{who}"]}
        rows.append(row(f"risk_push_{who}_p50_s", statistics.median(values) if values else None,
                        RISK_TARGET_S, **extra))
        rows.append(row(f"risk_push_{who}_max_s", max(values) if values else None, RISK_TARGET_S, **extra))
    rows.append(row("risk_push_ingest_p50_s", statistics.median(risk["ingest"]) if risk["ingest"] else None,
                    None, rounds=rounds))
    for name, value in owner.items():
        rows.append(row(name, value, OWNER_TARGET_S, samples=1))
    arrived = [v for v in owner.values() if v is not None]
    rows.append(row("owner_told_max_s", max(arrived) if arrived else None, OWNER_TARGET_S,
                    kinds=len(owner), missed=[k for k, v in owner.items() if v is None]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh guarantee chains for issue 5's figures")
    parser.add_argument("--firms", type=int, default=200, help="the demo region's size")
    parser.add_argument("--database-url", default=os.environ.get("XINBAO_BENCH_DATABASE_URL"),
                        help="a PostgreSQL admin URL: a fresh database is created there and dropped "
                             "(default: SQLite in a temporary folder)")
    parser.add_argument("--redis-url", default=os.environ.get("XINBAO_BENCH_REDIS_URL"),
                        help="serve with Redis (channels, caches); default: none (memory channels)")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)

    xinbao = str(Path(sys.executable).with_name("xinbao"))
    work = Path(tempfile.mkdtemp(prefix="xinbao-push-latency-"))
    database = None
    if args.database_url:
        database = f"xinbao_push_latency_{uuid.uuid4().hex[:8]}"
        url = args.database_url.rsplit("/", 1)[0] + f"/{database}"
    else:
        url = f"sqlite:///{work / 'push_latency.db'}"
    env = {**os.environ, "XINBAO_DEMO": "1", "XINBAO_DATA_DIR": str(work / "data"), "XINBAO_DATABASE_URL": url,
           "XINBAO_JWT_SECRET": SECRET, "XINBAO_MODEL_BAGS": "4", "XINBAO_SCHEDULER": "0",
           "PYTHONPATH": str(ROOT)}
    env.pop("XINBAO_REDIS_URL", None)
    if args.redis_url:
        env["XINBAO_REDIS_URL"] = args.redis_url
    # this process writes accounts, loan applications: on the same database as the server
    os.environ.update({k: env[k] for k in ("XINBAO_DATABASE_URL", "XINBAO_DATA_DIR", "XINBAO_JWT_SECRET")})
    context = {"engine": "postgres" if database else "sqlite", "backend": "redis" if args.redis_url else "memory",
               "firms": args.firms}
    server: subprocess.Popen | None = None
    try:
        if database:
            _pg_admin(args.database_url, f'CREATE DATABASE "{database}"')
        t = time.perf_counter()
        subprocess.run([xinbao, "demo", "--firms", str(args.firms), "--no-serve"], env=env, check=True,
                       stdout=subprocess.DEVNULL, cwd=work)
        print(json.dumps({"name": "push_latency_region_s", "value": round(time.perf_counter() - t, 1),
                          "unit": "s", "target": None, **context}), flush=True)
        port = free_port()
        log = work / "serve.log"
        with open(log, "wb") as out:
            server = subprocess.Popen([xinbao, "serve", "--port", str(port)], env=env, cwd=work, stdout=out,
                                      stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/api/health", server, log=log)
        risk, owner = asyncio.run(measure(url, base, args.rounds))
        for row in _rows(risk, owner, context, args.rounds):
            print(json.dumps(row, ensure_ascii=False), flush=True)
    finally:
        if server is not None:
            stop(server)
        if database:
            _pg_admin(args.database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
