"""The admin back office's changes: banks (open, rename, suspend and lift), loan products (add,
revise, withdraw) and the guarantee fund's limits, on each engine. Every change is checked in
its answer, in what other routes show, and as one entry of the audit log.

Tests share the module's database (the reference data: banks, products, the fund) and run in
order; each uses its own bank codes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from tests.integration.conftest import login, make_user
from tests.integration.test_fund import _application, _entries, _fund

pytestmark = pytest.mark.anyio

ADMIN_PHONE = "13700000001"
FIRM = "91331004MA2RR0077"


@pytest.fixture(scope="module")
async def admin(client) -> dict[str, str]:
    await make_user(ADMIN_PHONE, "admin")
    return await login(client, ADMIN_PHONE)


@pytest.fixture(scope="module")
async def others(client) -> dict[str, dict[str, str]]:
    """Headers of one account of each other role."""
    from server.tables.firms import Firm
    from server.uscc import check_character

    uscc = FIRM + check_character(FIRM)
    now = datetime.now(UTC)
    if not await Firm.exists().where(Firm.uscc == uscc):
        await Firm(uscc=uscc, name="后台测试有限公司", industry_section="C", industry_division="34",
                   town="百官街道", registered_capital_fen=100_000_000, founded_on=date(2015, 1, 1),
                   size_class="small", created_at=now, updated_at=now).save()
    phones = {"owner": "13700000011", "bank_manager": "13700000012", "subscriber": "13700000013",
              "dept_operator": "13700000014"}
    await make_user(phones["owner"], "owner", firm_uscc=uscc)
    await make_user(phones["bank_manager"], "bank_manager", bank_code="ICBC-SY")
    await make_user(phones["subscriber"], "subscriber")
    await make_user(phones["dept_operator"], "dept_operator", department="tax")
    return {role: await login(client, phone) for role, phone in phones.items()}


async def _audit(client, admin, **params) -> list[dict]:
    r = await client.get("/api/audit", params={"kind": "change", **params}, headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


async def _latest(client, admin, action: str, target: str) -> list[dict]:
    return [e for e in await _audit(client, admin, limit=200) if e["action"] == action and e["target"] == target]


def _product_body(**changes) -> dict:
    return {"bank_code": "ADM-1", "name": "科创贷", "min_amount_yuan": 100_000, "max_amount_yuan": 2_000_000,
            "min_term_months": 6, "max_term_months": 36, "min_rate_bp": 380, "max_rate_bp": 520,
            "eligible_grades": ["B", "A"], "industries": ["C"], "collateral_free": True,
            "fund_covered": False} | changes


# -- banks ------------------------------------------------------------------------------------

async def test_an_admin_opens_a_bank_and_it_is_listed_by_code(client, admin):
    r = await client.post("/api/banks", json={"code": "ADM-1", "name": "威海测试银行"}, headers=admin)
    assert r.status_code == 201, r.text
    bank = r.json()
    assert bank == {"id": bank["id"], "code": "ADM-1", "name": "威海测试银行", "suspended": False,
                    "suspended_at": None, "managers": 0, "products": []}
    listed = (await client.get("/api/banks", headers=admin)).json()
    codes = [b["code"] for b in listed]
    assert codes == sorted(codes) and "ADM-1" in codes and "ICBC-SY" in codes
    icbc = next(b for b in listed if b["code"] == "ICBC-SY")
    assert icbc["products"] and all(set(p) >= {"id", "bank_name", "min_rate_pct", "active"}
                                    for p in icbc["products"])
    [entry] = await _latest(client, admin, "bank.create", "ADM-1")
    assert entry["kind"] == "change" and entry["actor_role"] == "admin"
    assert entry["actor_name"] == "admin"  # make_user's display name is the role
    assert entry["detail"] == {"id": bank["id"], "code": "ADM-1", "name": "威海测试银行"}


async def test_a_manager_counts_once_linked_and_active(client, admin):
    from server.tables.users import User

    await make_user("13700000021", "bank_manager", bank_code="ADM-1")
    await make_user("13700000022", "bank_manager", bank_code="ADM-1")
    await User.update({User.is_active: False}).where(User.phone == "13700000022")
    listed = (await client.get("/api/banks", headers=admin)).json()
    assert next(b for b in listed if b["code"] == "ADM-1")["managers"] == 1


async def test_a_taken_code_is_409_naming_code_and_nothing_is_audited(client, admin):
    before = len(await _latest(client, admin, "bank.create", "ADM-1"))
    r = await client.post("/api/banks", json={"code": "ADM-1", "name": "另一家"}, headers=admin)
    assert r.status_code == 409 and r.json()["detail"].startswith("code:"), r.text
    assert len(await _latest(client, admin, "bank.create", "ADM-1")) == before


async def test_simultaneous_opens_of_one_code_store_one_bank(client, admin):
    from server.tables.financing import Bank

    answers = await asyncio.gather(*[
        client.post("/api/banks", json={"code": "ADM-RACE", "name": f"并发银行{i}"}, headers=admin)
        for i in range(6)])
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    assert await Bank.count().where(Bank.code == "ADM-RACE") == 1
    assert len(await _latest(client, admin, "bank.create", "ADM-RACE")) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"code": "a", "name": "x"}, "code"), ({"code": "lower", "name": "x"}, "code"),
    ({"code": "AB CD", "name": "x"}, "code"), ({"code": "AB\n", "name": "x"}, "code"),
    ({"code": "X" * 21, "name": "x"}, "code"), ({"code": 12, "name": "x"}, "code"), ({"name": "x"}, "code"),
    ({"code": "ADM-2", "name": ""}, "name"), ({"code": "ADM-2", "name": "   "}, "name"),
    ({"code": "ADM-2", "name": "x" * 101}, "name"), ({"code": "ADM-2"}, "name"),
])
async def test_a_bad_bank_is_4xx_naming_the_field(client, admin, body, field):
    from server.tables.financing import Bank

    before = await Bank.count()
    r = await client.post("/api/banks", json=body, headers=admin)
    assert 400 <= r.status_code < 500 and field in r.json()["detail"], r.text
    assert await Bank.count() == before


async def test_rename_suspend_and_lift(client, admin):
    r = await client.patch("/api/banks/ADM-1", json={"name": "威海测试银行二部", "reason": "更名"}, headers=admin)
    assert r.status_code == 200 and r.json()["name"] == "威海测试银行二部", r.text
    [renamed] = await _latest(client, admin, "bank.update", "ADM-1")
    assert renamed["detail"] == {"name": {"before": "威海测试银行", "after": "威海测试银行二部"}, "reason": "更名"}

    r = await client.patch("/api/banks/ADM-1", json={"suspended": True, "reason": "风险排查"}, headers=admin)
    suspended = r.json()
    assert suspended["suspended"] is True and suspended["suspended_at"], r.text
    fund_line = next(b for b in (await client.get("/api/fund", headers=admin)).json()["banks"]
                     if b["bank_code"] == "ADM-1")
    assert fund_line["suspended"] is True
    again = (await client.patch("/api/banks/ADM-1", json={"suspended": True, "reason": "再次"},
                                headers=admin)).json()
    assert again["suspended_at"] == suspended["suspended_at"]  # kept: not suspended anew

    lifted = (await client.patch("/api/banks/ADM-1", json={"suspended": False, "reason": "解除"},
                                 headers=admin)).json()
    assert lifted["suspended"] is False and lifted["suspended_at"] is None
    entries = await _latest(client, admin, "bank.update", "ADM-1")
    assert [e["detail"] for e in entries[:3]] == [
        {"suspended": {"before": True, "after": False}, "reason": "解除"}, {"reason": "再次"},
        {"suspended": {"before": False, "after": True}, "reason": "风险排查"}]


async def test_an_admin_lifts_the_funds_npl_suspension(client, admin):
    """A bank the fund suspended (suspended_at set by the NPL rule) can take covers again once
    an admin lifts it."""
    from server.fund.services import cover_refusal
    from server.tables.financing import Bank

    await Bank.update({Bank.suspended_at: datetime.now(UTC)}).where(Bank.code == "CCB-SY")
    ccb = (await Bank.select(Bank.id).where(Bank.code == "CCB-SY").first())["id"]
    assert await cover_refusal(ccb, 1, 100) == "bank_suspended"
    r = await client.patch("/api/banks/CCB-SY", json={"suspended": False, "reason": "不良已处置"}, headers=admin)
    assert r.status_code == 200 and r.json()["suspended"] is False
    assert await cover_refusal(ccb, 1, 100) is None


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("/api/banks/NOPE", {"reason": "x"}, 404, "code"),
    ("/api/banks/ADM-1", {"name": "x"}, 400, "reason"),
    ("/api/banks/ADM-1", {"reason": ""}, 400, "reason"),
    ("/api/banks/ADM-1", {"reason": "  "}, 400, "reason"),
    ("/api/banks/ADM-1", {"reason": "x" * 501}, 400, "reason"),
    ("/api/banks/ADM-1", {"reason": "x", "suspended": "yes"}, 400, "suspended"),
    ("/api/banks/ADM-1", {"reason": "x", "name": ""}, 400, "name"),
])
async def test_a_bad_bank_update_names_the_field(client, admin, path, body, status, field):
    r = await client.patch(path, json=body, headers=admin)
    assert r.status_code == status and field in r.json()["detail"], r.text


# -- products ---------------------------------------------------------------------------------

async def test_an_admin_adds_a_product_and_it_is_offered(client, admin, others):
    r = await client.post("/api/products", json=_product_body(), headers=admin)
    assert r.status_code == 201, r.text
    p = r.json()
    assert {k: p[k] for k in ("name", "bank_name", "min_amount_yuan", "max_amount_yuan", "min_rate_pct",
                              "eligible_grades", "industries", "collateral_free", "fund_covered", "active")} == {
        "name": "科创贷", "bank_name": "威海测试银行二部", "min_amount_yuan": 100_000, "max_amount_yuan": 2_000_000,
        "min_rate_pct": 3.8, "eligible_grades": ["A", "B"], "industries": ["C"], "collateral_free": True,
        "fund_covered": False, "active": True}
    offered = (await client.get("/api/products", headers=others["owner"])).json()
    assert p["id"] in [o["id"] for o in offered]
    bank = next(b for b in (await client.get("/api/banks", headers=admin)).json() if b["code"] == "ADM-1")
    assert [x["id"] for x in bank["products"]] == [p["id"]]
    [entry] = await _latest(client, admin, "product.create", str(p["id"]))
    assert entry["detail"]["bank_code"] == "ADM-1" and entry["detail"]["max_amount_yuan"] == 2_000_000
    assert entry["detail"]["eligible_grades"] == ["A", "B"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"max_amount_yuan": 50_000}, "max_amount_yuan"),
    ({"max_term_months": 3}, "max_term_months"),
    ({"max_rate_bp": 300}, "max_rate_bp"),
    ({"bank_code": "NOPE"}, "bank_code"),
    ({"bank_code": "nope"}, "bank_code"),
    ({"eligible_grades": []}, "eligible_grades"),
    ({"eligible_grades": ["A", "A"]}, "eligible_grades"),
    ({"eligible_grades": ["E"]}, "eligible_grades"),
    ({"industries": ["Z"]}, "industries"),
    ({"industries": ["C", "C"]}, "industries"),
    ({"min_amount_yuan": 0}, "min_amount_yuan"),
    ({"min_rate_bp": 10_001}, "min_rate_bp"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"max_term_months": 361}, "max_term_months"),
    ({"collateral_free": "no"}, "collateral_free"),
])
async def test_a_bad_product_is_4xx_naming_the_field_and_nothing_is_stored(client, admin, changes, field):
    from server.tables.financing import LoanProduct

    before = await LoanProduct.count()
    r = await client.post("/api/products", json=_product_body(**changes), headers=admin)
    assert 400 <= r.status_code < 500 and field in r.json()["detail"], r.text
    assert await LoanProduct.count() == before


async def test_a_product_is_revised_checked_merged_and_withdrawn(client, admin, others):
    bank = next(b for b in (await client.get("/api/banks", headers=admin)).json() if b["code"] == "ADM-1")
    pid = bank["products"][0]["id"]
    r = await client.patch(f"/api/products/{pid}", json={"max_amount_yuan": 3_000_000, "industries": [],
                                                         "reason": "扩大额度"}, headers=admin)
    assert r.status_code == 200 and r.json()["max_amount_yuan"] == 3_000_000 and r.json()["industries"] == []
    [entry] = await _latest(client, admin, "product.update", str(pid))
    assert entry["detail"] == {"max_amount_yuan": {"before": 2_000_000, "after": 3_000_000}, "industries": {"before": ["C"], "after": []},
                               "reason": "扩大额度"}
    # merged: a new minimum above the stored maximum is refused, naming the maximum
    refused = await client.patch(f"/api/products/{pid}", json={"min_amount_yuan": 4_000_000, "reason": "x"},
                                 headers=admin)
    assert refused.status_code == 400 and refused.json()["detail"].startswith("max_amount_yuan"), refused.text
    for body, field in [({"min_rate_bp": 600, "reason": "x"}, "max_rate_bp"), ({"reason": ""}, "reason"),
                        ({"active": False}, "reason"), ({"eligible_grades": ["B", "B"], "reason": "x"},
                                                         "eligible_grades")]:
        bad = await client.patch(f"/api/products/{pid}", json=body, headers=admin)
        assert bad.status_code == 400 and field in bad.json()["detail"], bad.text
    assert len(await _latest(client, admin, "product.update", str(pid))) == 1
    missing = await client.patch("/api/products/999999", json={"reason": "x"}, headers=admin)
    assert missing.status_code == 404, missing.text

    withdrawn = await client.patch(f"/api/products/{pid}", json={"active": False, "reason": "停售"}, headers=admin)
    assert withdrawn.status_code == 200 and withdrawn.json()["active"] is False
    assert pid not in [o["id"] for o in (await client.get("/api/products", headers=others["owner"])).json()]
    bank = next(b for b in (await client.get("/api/banks", headers=admin)).json() if b["code"] == "ADM-1")
    assert [(p["id"], p["active"]) for p in bank["products"]] == [(pid, False)]  # the admin still sees it
    assert (await _latest(client, admin, "product.update", str(pid)))[0]["detail"] == {
        "active": {"before": True, "after": False}, "reason": "停售"}
    # matching and applying read active products only
    from server.financing.services import _active_products

    assert pid not in [p.id for p in await _active_products()]
    assert await _active_products([pid]) == []


# -- the fund ---------------------------------------------------------------------------------

async def test_the_funds_limits_change_and_are_what_covers_read(client, admin, others):
    from litestar.exceptions import ClientException

    from server.fund.services import cover, exposure_fen
    from server.tables.financing import LoanProduct
    from server.tables.firms import Firm

    before = (await client.get("/api/fund", headers=admin)).json()
    r = await client.patch("/api/fund", json={"limit_per_firm_yuan": 300_000, "npl_limit_bp": 500,
                                              "share_pct": {"B": 55}, "reason": "理事会决议"}, headers=admin)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after == (await client.get("/api/fund", headers=admin)).json()  # the admin's GET /api/fund
    assert after["limit_per_firm_fen"] == 300_000 * 100 and after["npl_limit_bp"] == 500
    assert after["share_pct"] == {"A": 80, "B": 55, "C": 40, "D": 0}
    assert after["limit_total_fen"] == before["limit_total_fen"]
    [entry] = await _latest(client, admin, "fund.update", after["name"])
    assert entry["detail"] == {
        "limit_per_firm_yuan": {"before": before["limit_per_firm_fen"] // 100, "after": 300_000},
        "npl_limit_bp": {"before": 300, "after": 500},
        "share_pct": {"before": {"A": 80, "B": 60, "C": 40}, "after": {"A": 80, "B": 55, "C": 40}},
        "reason": "理事会决议"}

    # a cover beyond the new per-firm limit is refused
    firm = (await Firm.select(Firm.id).order_by(Firm.id).first())["id"]
    product = (await LoanProduct.select(LoanProduct.id).where(
        (LoanProduct.bank.code == "ICBC-SY") & (LoanProduct.fund_covered == True)).first())["id"]  # noqa: E712
    fits = await _application(firm, product, "A", 200_000)
    await cover(fits)
    beyond = await _application(firm, product, "A", 100_001)
    with pytest.raises(ClientException) as refused:
        await cover(beyond)
    assert refused.value.extra["reason"] == "fund_capacity_firm"
    assert await _entries(beyond) == []

    # a total below today's exposure is allowed: it only stops new covers
    fund = await _fund()
    exposure = await exposure_fen(fund.id)
    low = await client.patch("/api/fund", json={"limit_total_yuan": 0, "limit_per_firm_yuan": 0,
                                                "reason": "暂停新增"}, headers=admin)
    assert low.status_code == 200 and low.json()["available_capacity_fen"] == 0
    assert low.json()["exposure_fen"] == exposure
    other = await _application(firm, product, "A", 1)
    with pytest.raises(ClientException) as refused:
        await cover(other)
    assert refused.value.extra["reason"] == "fund_capacity_total"
    restored = await client.patch("/api/fund", json={
        "limit_total_yuan": before["limit_total_fen"] // 100, "limit_per_firm_yuan": before["limit_per_firm_fen"] // 100,
        "npl_limit_bp": 300, "share_pct": {"A": 80, "B": 60, "C": 40}, "reason": "恢复"}, headers=admin)
    assert restored.status_code == 200, restored.text


@pytest.mark.parametrize(("body", "field"), [
    ({"limit_per_firm_yuan": 10**10 - 1, "reason": "x"}, "limit_per_firm_yuan"),
    ({"limit_total_yuan": 1, "reason": "x"}, "limit_per_firm_yuan"),
    ({"limit_total_yuan": -1, "reason": "x"}, "limit_total_yuan"),
    ({"limit_total_yuan": 10**11, "reason": "x"}, "limit_total_yuan"),
    ({"npl_limit_bp": 10_001, "reason": "x"}, "npl_limit_bp"),
    ({"share_pct": {"A": 101}, "reason": "x"}, "share_pct"),
    ({"share_pct": {"C": 70}, "reason": "x"}, "share_pct"),
    ({"share_pct": {"A": 10}, "reason": "x"}, "share_pct"),
    ({"share_pct": {"B": "x"}, "reason": "x"}, "share_pct"),
    ({"npl_limit_bp": 100}, "reason"),
    ({"npl_limit_bp": 100, "reason": " "}, "reason"),
])
async def test_bad_fund_limits_name_the_field_and_change_nothing(client, admin, body, field):
    before = (await client.get("/api/fund", headers=admin)).json()
    r = await client.patch("/api/fund", json=body, headers=admin)
    assert r.status_code == 400 and field in r.json()["detail"], r.text
    assert (await client.get("/api/fund", headers=admin)).json() == before


# -- who may ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/banks", None), ("POST", "/api/banks", {"code": "ADM-X", "name": "x"}),
    ("PATCH", "/api/banks/ADM-1", {"reason": "x", "suspended": True}),
    ("POST", "/api/products", _product_body()), ("PATCH", "/api/products/1", {"reason": "x", "active": False}),
    ("PATCH", "/api/fund", {"npl_limit_bp": 1, "reason": "x"}), ("GET", "/api/audit", None),
])
async def test_only_admins_manage(client, others, method, path, body):
    for role, headers in others.items():
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code == 403, (role, r.text)
