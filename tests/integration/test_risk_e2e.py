"""Issue 5, must-show 2 (up to the push): a guarantor goes 90 days overdue in an ingested batch
-> a red warning for it -> contagion warnings, with the path, for the firm it guarantees and
the firms standing behind it -> notification rows for the bank manager of an affected
borrower and for the watcher of an affected firm, none for a user without interest.

Everything is built through the ingestion API on an empty region, so the numbers are exact:

    H2 --500,000--> H1 --800,000--> G --300,000--> B      (guarantor --amount--> guaranteed)

G defaults; DebtRank takes 800,000 / 1,000,000 = 0.8 of H1's capital and 0.25 x 0.8 = 0.2 of
H2's (500,000 / 2,000,000 of it, times H1's distress); B loses G's cover.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.uscc import make_uscc
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

G, B, H1, H2, X = (make_uscc(900_000 + i) for i in range(5))
NAMES = {G: "担保测试甲公司", B: "担保测试乙公司", H1: "担保测试丙公司", H2: "担保测试丁公司",
         X: "无关测试戊公司"}
CAPITAL_YUAN = {G: 5_000_000, B: 3_000_000, H1: 1_000_000, H2: 2_000_000, X: 4_000_000}


def _last_month_end() -> date:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return today.replace(day=1) - timedelta(days=1)


async def _feed(client, headers, source: str, lines: list[str]) -> dict:
    r = await client.post(f"/api/ingest/{source}", content="\n".join(lines).encode(),
                          headers={**headers, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["rejected"] == [], report
    return report


@pytest.fixture(scope="module")
async def people(client, app) -> dict[str, dict[str, str]]:
    """Operators of the registry and the bank feeds, a bank manager, a watcher, a bystander."""
    accounts = {
        "market": ("13900050001", "dept_operator", {"department": "market"}),
        "bank": ("13900050002", "dept_operator", {"department": "bank"}),
        "manager": ("13900050003", "bank_manager", {"bank_code": "ICBC-SY"}),
        "watcher": ("13900050004", "subscriber", {}),
        "bystander": ("13900050005", "subscriber", {}),
        "admin": ("13900050006", "admin", {}),
    }
    out = {}
    for key, (phone, role, extra) in accounts.items():
        await make_user(phone, role, **extra)
        out[key] = await login(client, phone)
    return out


@pytest.fixture(scope="module")
async def region(client, people) -> None:
    """Five firms and their guarantees; H1 has applied for a loan at the manager's bank and
    the watcher watches H2."""
    from server.tables.financing import Bank, LoanApplication, LoanProduct
    from server.tables.firms import Firm

    await _feed(client, people["market"], "firms", [
        "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status",
        *(f"{u},{NAMES[u]},34,百官街道,{CAPITAL_YUAN[u]},2015-03-01,small,active" for u in NAMES),
    ])
    await _feed(client, people["bank"], "guarantees", [
        "record_key,guarantor_uscc,guaranteed_uscc,amount_yuan,start_date,end_date",
        f"E2E-G-B,{G},{B},300000,2025-01-01,2028-12-31",
        f"E2E-H1-G,{H1},{G},800000,2025-01-01,2028-12-31",
        f"E2E-H2-H1,{H2},{H1},500000,2025-01-01,2028-12-31",
    ])
    bank = await Bank.select(Bank.id).where(Bank.code == "ICBC-SY").first()
    product = await LoanProduct.select(LoanProduct.id).where(LoanProduct.bank == bank["id"]).first()
    h1 = await Firm.select(Firm.id).where(Firm.uscc == H1).first()
    await LoanApplication(firm=h1["id"], product=product["id"], amount_fen=50_000_000,
                          term_months=12, purpose="流动资金", status="pending",
                          created_at=datetime.now(ZoneInfo("UTC"))).save()
    r = await client.post("/api/subscriptions", json={"uscc": H2}, headers=people["watcher"])
    assert r.status_code == 201, r.text


async def _open(uscc: str) -> dict[str, dict]:
    from server.tables.risk import Warning

    rows = await Warning.select(
        Warning.id, Warning.rule_code, Warning.level, Warning.evidence,
    ).where((Warning.firm.uscc == uscc) & Warning.closed_at.is_null()).output(load_json=True)
    return {r["rule_code"]: r for r in rows}


async def _notes(headers: dict[str, str], client) -> list[dict]:
    r = await client.get("/api/notifications", params={"limit": 100}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_guarantor_default_spreads_along_the_guarantees(client, people, region):
    before = {u: await _open(u) for u in NAMES}
    assert all(not w for w in before.values()), before  # a quiet region before the default

    month = _last_month_end().isoformat()
    await _feed(client, people["bank"], "bank_loan", [
        "record_key,uscc,event_date,amount_yuan,arrears_yuan,days",
        f"E2E-LOAN-G-{month},{G},{month},2000000,35000,95",
    ])  # the scan of the touched firms runs after the answer, before the client sees it

    g = await _open(G)
    assert g["R02_LOAN_OVERDUE_90"]["level"] == "red"
    assert g["R02_LOAN_OVERDUE_90"]["evidence"]["figures"]["overdue_days"] == 95
    assert g["R02_LOAN_OVERDUE_90"]["evidence"]["records"][0]["record_key"] == f"E2E-LOAN-G-{month}"

    h1, h2, b, x = await _open(H1), await _open(H2), await _open(B), await _open(X)
    c1, c2 = h1["C01_CONTAGION"], h2["C01_CONTAGION"]
    assert c1["evidence"]["path"] == [G, H1]
    assert c1["evidence"]["path_amounts_fen"] == [80_000_000]
    assert c1["evidence"]["figures"]["distress"] == pytest.approx(0.8)
    assert c1["evidence"]["figures"]["loss_fen"] == 80_000_000  # all of its guarantee of G
    assert c1["level"] == "red"
    assert c2["evidence"]["path"] == [G, H1, H2]
    assert c2["evidence"]["path_names"] == [NAMES[G], NAMES[H1], NAMES[H2]]
    assert c2["evidence"]["path_amounts_fen"] == [80_000_000, 50_000_000]
    assert c2["evidence"]["figures"]["distress"] == pytest.approx(0.2)
    assert c2["level"] == "yellow"
    assert h1["R60_GUARANTEED_PARTNER_RED"]["evidence"]["records"][0]["partner_uscc"] == G
    lost = b["R62_GUARANTOR_RED"]["evidence"]
    assert lost["records"][0]["partner_uscc"] == G and lost["figures"]["exposure_fen"] == 30_000_000
    assert "C01_CONTAGION" not in b and not x  # distress flows to guarantors; X is untouched

    # the bank manager of the affected borrower H1 hears of H1's warnings (public signals: no
    # consent), the watcher of H2 of H2's; the bystander hears nothing
    manager = await _notes(people["manager"], client)
    assert {n["firm_uscc"] for n in manager} == {H1}
    mine = {n["body"]["rule_code"]: n for n in manager}
    assert mine["C01_CONTAGION"]["level"] == "red"
    assert mine["C01_CONTAGION"]["body"]["warning_id"] == c1["id"]
    assert "evidence" not in mine["C01_CONTAGION"]["body"]
    watcher = await _notes(people["watcher"], client)
    assert [(n["firm_uscc"], n["body"]["rule_code"], n["level"]) for n in watcher] == [
        (H2, "C01_CONTAGION", "yellow")]
    assert await _notes(people["bystander"], client) == []

    from server.tables.notifications import Notification, Outbox

    ids = [n["id"] for n in manager + watcher]
    queued = await Outbox.select(Outbox.notification).where(Outbox.notification.is_in(ids))
    assert {r["notification"] for r in queued} == set(ids)  # each has its delivery queued
    assert await Notification.count().where(Notification.user.phone == "13900050005") == 0


async def test_the_admin_sees_the_path_and_a_rescan_changes_nothing(client, people, region):
    r = await client.get(f"/api/firms/{H2}/warnings", headers=people["admin"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["detail"] is True and body["open_yellow"] >= 1
    c01 = next(w for w in body["warnings"] if w["rule_code"] == "C01_CONTAGION")
    assert c01["evidence"]["path"] == [G, H1, H2] and c01["kind"] == "contagion"
    assert NAMES[G] in c01["message_zh"] and "20%" in c01["message_en"]

    scan = await client.post("/api/risk/scan", json={}, headers=people["admin"])
    assert scan.status_code == 200, scan.text
    assert scan.json()["raised"] == 0 and scan.json()["closed"] == 0
    assert scan.json()["contagion_firms"] == 2 and scan.json()["red_firms"] == 1
