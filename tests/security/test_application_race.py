"""Issue 10, point 6: ten parallel applies for one product gave ten pending applications, and
approving three booked three times the guarantee cover of one request. One pending application
per firm and product is the database's rule now; the fund's capacity check and its booking are
one atomic step, and a cover is booked once per application.

PostgreSQL only: the races need real concurrent transactions.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.conftest import login, make_user
from tests.security.conftest import pg_only_db_url, scored_firm

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)

YUAN = 100  # fen
REQUEST = 300_000  # yuan
COVERED = {"ICBC-SY": "信易贷·信用贷", "RCB-SY": "小微信用贷", "CCB-SY": "善营贷"}  # fund-covered products
MIGRATION = "server.piccolo_migrations.xinbao_2026_12_03t09_10_00_000000"


async def _scored_firm(serial: int) -> dict[str, Any]:
    return await scored_firm(820_000 + serial, f"申请竞态测试{serial}有限公司")


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Four grade-A firms with owners, a manager of each bank with a covered product."""
    from server.tables.financing import LoanProduct

    firms, owners = [], []
    for i in range(4):
        firms.append(await _scored_firm(i))
        await make_user(f"1393330000{i}", "owner", firm_uscc=firms[-1]["uscc"])
        owners.append(await login(client, f"1393330000{i}"))
    managers, products = {}, {}
    for i, (code, name) in enumerate(COVERED.items()):
        await make_user(f"1393331000{i}", "bank_manager", bank_code=code)
        managers[code] = await login(client, f"1393331000{i}")
        products[code] = (await LoanProduct.select(LoanProduct.id).where(LoanProduct.name == name).first())["id"]
    return {"firms": firms, "owners": owners, "managers": managers, "products": products}


def _application(product_ids: list[int]) -> dict[str, Any]:
    return {"amount_yuan": REQUEST, "term_months": 12, "purpose": "周转", "product_ids": product_ids,
            "confirm_consent": True}


async def _apply(client: httpx.AsyncClient, owner: dict[str, str], product_ids: list[int]) -> list[int]:
    r = await client.post("/api/applications", json=_application(product_ids), headers=owner)
    assert r.status_code == 201, r.text
    return [a["id"] for a in r.json()["applications"]]


def _approve(client: httpx.AsyncClient, manager: dict[str, str], app_id: int) -> Any:
    return client.post(f"/api/applications/{app_id}/decision", headers=manager,
                       json={"decision": "approve", "rate_bp": 450})


async def _covers(application_ids: list[int]) -> list[dict[str, Any]]:
    from server.tables.fund import FundLedger

    return await FundLedger.select(FundLedger.application, FundLedger.amount_fen).where(
        (FundLedger.kind == "cover") & FundLedger.application.is_in(application_ids))


async def _set_limits(**limits: int) -> dict[str, int]:
    """Change the fund's limits (fen); the old values, to put back."""
    from server.tables.fund import GuaranteeFund

    fund = await GuaranteeFund.objects().order_by(GuaranteeFund.id).first()
    old = {k: getattr(fund, k) for k in limits}
    await GuaranteeFund.update({getattr(GuaranteeFund, k): v for k, v in limits.items()}).where(
        GuaranteeFund.id == fund.id)
    return old


async def test_parallel_applies_make_one_pending_application(client, world):
    from server.tables.financing import LoanApplication

    firm, owner, product = world["firms"][0], world["owners"][0], world["products"]["ICBC-SY"]
    answers = await asyncio.gather(*(
        client.post("/api/applications", json=_application([product]), headers=owner) for _ in range(10)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 9, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert r.json()["detail"].startswith("product_ids: already pending"), r.text
    pending = await LoanApplication.select(LoanApplication.id).where(
        (LoanApplication.firm == firm["id"]) & (LoanApplication.product == product)
        & (LoanApplication.status == "pending"))
    assert len(pending) == 1

    # Parallel approvals of that one application: one decision, one cover of the amount.
    decided = await asyncio.gather(*(
        _approve(client, world["managers"]["ICBC-SY"], pending[0]["id"]) for _ in range(6)))
    assert sorted(r.status_code for r in decided) == [200] + [409] * 5, [r.text for r in decided]
    assert await _covers([pending[0]["id"]]) == [{"application": pending[0]["id"], "amount_fen": REQUEST * YUAN}]


async def test_parallel_approvals_stay_within_the_per_firm_limit(client, world):
    owner = world["owners"][1]
    ids = await _apply(client, owner, list(world["products"].values()))  # three banks, one pending each
    assert len(ids) == 3
    old = await _set_limits(limit_per_firm_fen=(REQUEST + REQUEST // 2) * YUAN)  # room for one loan
    try:
        decided = await asyncio.gather(*(
            _approve(client, world["managers"][code], app_id) for code, app_id in zip(COVERED, ids, strict=True)))
    finally:
        await _set_limits(**old)
    assert sorted(r.status_code for r in decided) == [200, 409, 409], [r.text for r in decided]
    assert all("fund_capacity_firm" in r.text for r in decided if r.status_code == 409)
    assert len(await _covers(ids)) == 1


async def test_parallel_approvals_stay_within_the_fund_total(client, world):
    from server.fund.services import exposure_fen
    from server.tables.fund import GuaranteeFund

    product = world["products"]["RCB-SY"]
    ids = [(await _apply(client, owner, [product]))[0] for owner in world["owners"][2:]]
    fund = await GuaranteeFund.objects().order_by(GuaranteeFund.id).first()
    limit = await exposure_fen(fund.id) + (REQUEST + REQUEST // 2) * YUAN  # room for one loan
    old = await _set_limits(limit_total_fen=limit)
    try:
        decided = await asyncio.gather(*(_approve(client, world["managers"]["RCB-SY"], i) for i in ids))
    finally:
        await _set_limits(**old)
    assert sorted(r.status_code for r in decided) == [200, 409], [r.text for r in decided]
    assert "fund_capacity_total" in next(r.text for r in decided if r.status_code == 409)
    assert await exposure_fen(fund.id) <= limit


async def test_the_database_refuses_a_second_pending_application_and_a_second_cover(client, world):
    """The rules hold below the services too, and the migration can restore them on a database
    written before them (it ends the duplicates first)."""
    from server.tables.financing import ApplicationEvent, LoanApplication
    from server.tables.fund import FundLedger, GuaranteeFund

    firm, product = world["firms"][0], world["products"]["CCB-SY"]
    migration = importlib.import_module(MIGRATION)
    now = datetime.now(UTC)

    def pending() -> LoanApplication:
        return LoanApplication(firm=firm["id"], product=product, amount_fen=REQUEST * YUAN, term_months=12,
                               purpose="周转", status="pending", grade_at_apply="A", created_at=now,
                               fund_share_pct=80)

    await pending().save()
    with pytest.raises(Exception, match="loan_application_one_pending"):
        await pending().save()
    covered = (await FundLedger.select(FundLedger.application).where(
        FundLedger.kind == "cover").first())["application"]
    fund = await GuaranteeFund.objects().order_by(GuaranteeFund.id).first()
    with pytest.raises(Exception, match="fund_ledger_once"):
        await FundLedger(fund=fund.id, kind="cover", amount_fen=1, application=covered, at=now).save()

    await LoanApplication.raw("DROP INDEX loan_application_one_pending")
    try:
        await pending().save()
        await pending().save()
    finally:
        await migration.one_pending_application()
    rows = await LoanApplication.select(
        LoanApplication.id, LoanApplication.status, LoanApplication.decline_code).where(
        (LoanApplication.firm == firm["id"]) & (LoanApplication.product == product)).order_by(LoanApplication.id)
    assert [r["status"] for r in rows] == ["pending", "declined", "declined"]
    assert rows[1]["decline_code"] == "duplicate"
    events = await ApplicationEvent.select(ApplicationEvent.status).where(
        ApplicationEvent.application == rows[2]["id"])
    assert events == [{"status": "declined"}]  # the timeline says so
