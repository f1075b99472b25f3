"""The guarantee fund: covers within capacity, repayment and default, claims at the grade's share,
banks' NPL ratios and suspension, on each engine.

Tests share the module's database and run in order; each bank plays one part (CCB-SY: covers
and capacity; RCB-SY: defaults, claims and suspension; ICBC-SY, the demo manager's bank: the
outsider), so no test depends on another's leftovers except where it says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

YUAN = 100  # fen


async def _bank(code: str) -> int:
    from server.tables.financing import Bank

    return (await Bank.select(Bank.id).where(Bank.code == code).first())["id"]


async def _product(code: str, *, covered: bool = True) -> int:
    from server.tables.financing import LoanProduct

    row = await LoanProduct.select(LoanProduct.id).where(
        (LoanProduct.bank.code == code) & (LoanProduct.fund_covered == covered)).first()
    return row["id"]


async def _firms(n: int, skip: int = 0) -> list[int]:
    from server.tables.firms import Firm

    rows = await Firm.select(Firm.id).order_by(Firm.id).offset(skip).limit(n)
    return [r["id"] for r in rows]


async def _application(firm_id: int, product_id: int, grade: str, amount_yuan: int, *,
                       status: str = "approved", share: int | None = None) -> int:
    """An application as the financing step leaves it (approved, share recorded unless 0)."""
    from server.fund.services import share_pct
    from server.tables.financing import LoanApplication

    now = datetime.now(UTC)
    app = LoanApplication(
        firm=firm_id, product=product_id, amount_fen=amount_yuan * YUAN, term_months=12,
        purpose="working capital", status=status, grade_at_apply=grade, created_at=now,
        decided_at=now if status != "pending" else None,
        approved_amount_fen=amount_yuan * YUAN if status != "pending" else None,
        rate_bp=420 if status != "pending" else None,
        fund_share_pct=await share_pct(grade) if share is None else share,
    )
    await app.save()
    return app.id


async def _fund() -> Any:
    from server.tables.fund import GuaranteeFund

    return await GuaranteeFund.objects().order_by(GuaranteeFund.id).first()


async def _entries(application_id: int) -> list[dict[str, Any]]:
    from server.tables.fund import FundLedger

    return await FundLedger.select(FundLedger.kind, FundLedger.amount_fen, FundLedger.bank).where(
        FundLedger.application == application_id).order_by(FundLedger.id)


async def _status(application_id: int) -> str:
    from server.tables.financing import LoanApplication

    row = await LoanApplication.select(LoanApplication.status).where(
        LoanApplication.id == application_id).first()
    return row["status"]


@pytest.fixture(scope="module")
async def managers(client, demo) -> dict[str, dict[str, str]]:
    """Bank-manager headers for the two banks the demo accounts do not cover."""
    await make_user("13900000011", "bank_manager", bank_code="CCB-SY")
    await make_user("13900000012", "bank_manager", bank_code="RCB-SY")
    return {"CCB-SY": await login(client, "13900000011"), "RCB-SY": await login(client, "13900000012")}


async def test_share_by_grade_comes_from_the_fund_row(demo):
    from server.fund.services import share_pct

    assert [await share_pct(g) for g in "ABCD"] == [80, 60, 40, 0]
    assert await share_pct("") == 0
    fund = await _fund()
    fund.share_b_pct = 55
    await fund.save()
    try:
        assert await share_pct("B") == 55
    finally:
        fund.share_b_pct = 60
        await fund.save()


async def test_cover_books_the_approved_amount_once(client, tokens, demo):
    from server.fund.services import cover

    before = (await client.get("/api/fund", headers=tokens["admin"])).json()
    ccb, product = await _bank("CCB-SY"), await _product("CCB-SY")
    firm_a, firm_b = await _firms(2)
    app_a = await _application(firm_a, product, "A", 1_234_567)
    app_b = await _application(firm_b, product, "B", 300_000)

    await cover(app_a, by_user=1)
    await cover(app_b)
    await cover(app_a)  # idempotent: books nothing more
    assert await _entries(app_a) == [{"kind": "cover", "amount_fen": 123_456_700, "bank": ccb}]
    assert await _entries(app_b) == [{"kind": "cover", "amount_fen": 30_000_000, "bank": ccb}]

    after = (await client.get("/api/fund", headers=tokens["admin"])).json()
    assert after["exposure_fen"] - before["exposure_fen"] == 153_456_700
    assert after["available_capacity_fen"] == after["limit_total_fen"] - after["exposure_fen"]
    line = next(b for b in after["banks"] if b["bank_id"] == ccb)
    old = next(b for b in before["banks"] if b["bank_id"] == ccb)
    assert line["covered_loans"] - old["covered_loans"] == 2
    assert line["exposure_fen"] - old["exposure_fen"] == 153_456_700
    assert line["npl_bp"] == 0 and line["suspended"] is False
    assert after["share_pct"] == {"A": 80, "B": 60, "C": 40, "D": 0}


async def test_cover_refuses_beyond_capacity_and_for_unfit_applications(client, demo):
    from litestar.exceptions import ClientException

    from server.fund.services import cover, cover_refusal, exposure_fen

    ccb, product = await _bank("CCB-SY"), await _product("CCB-SY")
    firm, other = await _firms(2, skip=10)
    fund = await _fund()
    saved = (fund.limit_total_fen, fund.limit_per_firm_fen)
    try:
        # total: exactly up to the limit fits, one fen more does not
        fund.limit_total_fen = await exposure_fen(fund.id) + 700_000 * YUAN
        await fund.save()
        assert await cover_refusal(ccb, firm, 700_000 * YUAN) is None
        assert await cover_refusal(ccb, firm, 700_000 * YUAN + 1) == "fund_capacity_total"
        # per firm: the firm's own open covers count
        fund.limit_total_fen = saved[0]
        fund.limit_per_firm_fen = 400_000 * YUAN
        await fund.save()
        first = await _application(firm, product, "A", 250_000)
        await cover(first)
        assert await exposure_fen(fund.id, firm) == 250_000 * YUAN
        assert await cover_refusal(ccb, firm, 150_000 * YUAN) is None
        assert await cover_refusal(ccb, firm, 150_000 * YUAN + 1) == "fund_capacity_firm"
        assert await cover_refusal(ccb, other, 400_000 * YUAN) is None
        second = await _application(firm, product, "A", 150_001)
        with pytest.raises(ClientException) as refused:
            await cover(second)
        assert refused.value.status_code == 409
        assert refused.value.detail.startswith("fund_capacity_firm")
        assert refused.value.extra["reason"] == "fund_capacity_firm"
        assert refused.value.extra["text_zh"]
        assert await _entries(second) == []
    finally:
        fund.limit_total_fen, fund.limit_per_firm_fen = saved
        await fund.save()

    pending = await _application(other, product, "A", 100_000, status="pending")
    uncovered = await _application(other, await _product("ICBC-SY", covered=False), "A", 100_000)
    grade_d = await _application(other, product, "D", 100_000)
    excluded = await _application(other, product, "A", 100_000, share=0)  # e.g. dishonest-listed
    for app_id, reason in [(pending, "not_approved"), (uncovered, "not_fund_covered"),
                           (grade_d, "no_fund_share"), (excluded, "no_fund_share")]:
        with pytest.raises(ClientException) as refused:
            await cover(app_id)
        assert refused.value.status_code == 409 and refused.value.extra["reason"] == reason
        assert await _entries(app_id) == []


async def test_repayment_releases_the_cover(client, tokens, managers, demo):
    from server.fund.services import cover
    from server.tables.financing import ApplicationEvent

    product = await _product("CCB-SY")
    (firm,) = await _firms(1, skip=20)
    app_id = await _application(firm, product, "B", 654_321)
    await cover(app_id)
    before = (await client.get("/api/fund", headers=tokens["admin"])).json()["exposure_fen"]

    r = await client.post(f"/api/loans/{app_id}/repaid", headers=managers["CCB-SY"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "repaid" and body["covered"] is True
    assert body["released_fen"] == 65_432_100
    after = (await client.get("/api/fund", headers=tokens["admin"])).json()["exposure_fen"]
    assert before - after == 65_432_100
    assert [e["kind"] for e in await _entries(app_id)] == ["cover", "release"]
    assert (await _entries(app_id))[1]["amount_fen"] == 65_432_100
    events = await ApplicationEvent.select(ApplicationEvent.status).where(
        ApplicationEvent.application == app_id)
    assert [e["status"] for e in events] == ["repaid"]

    again = await client.post(f"/api/loans/{app_id}/repaid", headers=managers["CCB-SY"])
    assert again.status_code == 409
    assert len(await _entries(app_id)) == 2


async def test_default_claims_at_the_grade_share_and_npl_suspends_the_bank(
        client, tokens, managers, demo):
    """Must-show 3: covered loans, defaults, claims paid at the grade's share, suspension."""
    from litestar.exceptions import ClientException

    from server.fund.services import cover, cover_refusal, recompute_npl
    from server.tables.financing import Bank

    rcb, product = await _bank("RCB-SY"), await _product("RCB-SY")
    hdr = managers["RCB-SY"]
    f1, f2, f3, f4 = await _firms(4, skip=30)
    loan_a = await _application(f1, product, "A", 2_000_000)
    loan_b = await _application(f2, product, "B", 1_500_000)
    loan_c = await _application(f3, product, "C", 500_000)
    for app_id in (loan_a, loan_b, loan_c):
        await cover(app_id)
    fund = await _fund()
    saved_limit = fund.npl_limit_bp
    fund.npl_limit_bp = 1250  # exactly C's share of the book: at the limit is not above it
    await fund.save()
    try:
        start = (await client.get("/api/fund", headers=tokens["admin"])).json()

        # a claim before any default is refused
        early = await client.post("/api/fund/claims", json={"application_id": loan_c, "loss_yuan": 1},
                                  headers=hdr)
        assert early.status_code == 409 and "application_id" in early.json()["detail"]

        r = await client.post(f"/api/loans/{loan_c}/default", json={"outstanding_yuan": 480_000},
                              headers=hdr)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "defaulted" and r.json()["outstanding_fen"] == 48_000_000
        assert r.json()["bank_npl_bp"] == 1250  # 500,000 / 4,000,000
        assert r.json()["bank_suspended"] is False
        assert await cover_refusal(rcb, f4, 100 * YUAN) is None

        too_much = await client.post("/api/fund/claims",
                                     json={"application_id": loan_c, "loss_yuan": 480_001}, headers=hdr)
        assert too_much.status_code == 400 and too_much.json()["detail"].startswith("loss_yuan")
        paid_c = await client.post("/api/fund/claims",
                                   json={"application_id": loan_c, "loss_yuan": 456_789}, headers=hdr)
        assert paid_c.status_code == 201, paid_c.text
        assert paid_c.json()["share_pct"] == 40
        assert paid_c.json()["paid_fen"] == 18_271_560  # 456,789 yuan x 40% = 182,715.60 yuan
        assert paid_c.json()["exposure_fen"] == start["exposure_fen"] - 50_000_000  # cover closed
        twice = await client.post("/api/fund/claims",
                                  json={"application_id": loan_c, "loss_yuan": 1}, headers=hdr)
        assert twice.status_code == 409

        r = await client.post(f"/api/loans/{loan_a}/default", json={"outstanding_yuan": 1_876_543},
                              headers=hdr)
        assert r.status_code == 200, r.text
        assert r.json()["bank_npl_bp"] == 6250  # (500,000 + 2,000,000) / 4,000,000
        assert r.json()["bank_suspended"] is True
        paid_a = await client.post("/api/fund/claims",
                                   json={"application_id": loan_a, "loss_yuan": 1_234_567}, headers=hdr)
        assert paid_a.status_code == 201, paid_a.text
        assert paid_a.json()["paid_fen"] == 98_765_360  # 1,234,567 yuan x 80% = 987,653.60 yuan

        # suspended: no new covers ...
        assert await cover_refusal(rcb, f4, 100 * YUAN) == "bank_suspended"
        new = await _application(f4, product, "A", 100_000)
        with pytest.raises(ClientException) as refused:
            await cover(new)
        assert refused.value.status_code == 409 and refused.value.extra["reason"] == "bank_suspended"
        assert await _entries(new) == []
        # ... but the bank still sees its line and manages the loans it has
        view = (await client.get("/api/fund", headers=hdr)).json()
        assert [b["bank_id"] for b in view["banks"]] == [rcb]
        line = view["banks"][0]
        assert line["suspended"] is True and line["suspended_at"] is not None
        assert line["npl_bp"] == 6250 and line["defaulted_loans"] == 2
        assert line["claims_paid_fen"] == 18_271_560 + 98_765_360
        assert view["claims_paid_fen"] - start["claims_paid_fen"] == 18_271_560 + 98_765_360
        assert view["balance_fen"] == view["capital_fen"] - view["claims_paid_fen"]
        repaid = await client.post(f"/api/loans/{loan_b}/repaid", headers=hdr)
        assert repaid.status_code == 200 and repaid.json()["released_fen"] == 150_000_000
        assert repaid.json()["bank_npl_bp"] == 6250  # cumulative: a repayment does not dilute it
        assert repaid.json()["bank_suspended"] is True
        end = (await client.get("/api/fund", headers=tokens["admin"])).json()
        assert start["exposure_fen"] - end["exposure_fen"] == 400_000_000  # all three closed

        ledger = (await client.get("/api/fund/ledger?limit=3", headers=tokens["admin"])).json()
        assert [(e["kind"], e["application_id"], e["amount_fen"]) for e in ledger["entries"]] == [
            ("release", loan_b, 150_000_000), ("claim", loan_a, 98_765_360),
            ("default", loan_a, 187_654_300)]
        # the notes read in the reader's language, money as each reads it (issue 13)
        assert ledger["entries"][0]["note"] == "loan repaid"
        assert ledger["entries"][1]["note"].startswith("loss ¥1,234,567 x 80%, by user ")
        in_zh = (await client.get("/api/fund/ledger?limit=3",
                                  headers={**tokens["admin"], "accept-language": "zh-CN"})).json()
        assert [e["note"] for e in in_zh["entries"]][0] == "贷款已结清"
        assert in_zh["entries"][1]["note"].startswith("损失123.4567万元 × 80%")
        assert in_zh["entries"][2]["note"] == "违约时未偿本金的备忘记录"

        # the limit raised: the next recompute lifts the suspension
        fund.npl_limit_bp = 7000
        await fund.save()
        assert await recompute_npl(rcb) == (6250, False)
        bank = await Bank.select(Bank.suspended_at).where(Bank.id == rcb).first()
        assert bank["suspended_at"] is None
        assert await cover_refusal(rcb, f4, 100 * YUAN) is None
    finally:
        fund.npl_limit_bp = saved_limit
        await fund.save()


@pytest.mark.parametrize(("role", "overview", "ledger"), [
    ("owner", 403, 403), ("subscriber", 403, 403), ("dept_operator", 403, 403),
    ("bank_manager", 200, 403), ("admin", 200, 200)])
async def test_who_reads_the_fund(client, tokens, role, overview, ledger):
    assert (await client.get("/api/fund", headers=tokens[role])).status_code == overview
    assert (await client.get("/api/fund/ledger", headers=tokens[role])).status_code == ledger


async def test_without_a_token_nothing_is_shown(client, demo):
    for path in ("/api/fund", "/api/fund/ledger"):
        assert (await client.get(path)).status_code == 401
    assert (await client.post("/api/fund/claims", json={"application_id": 1, "loss_yuan": 1})
            ).status_code == 401


async def test_only_the_loans_bank_reports_and_claims(client, tokens, managers, demo):
    from server.fund.services import cover

    (firm,) = await _firms(1, skip=40)
    loan = await _application(firm, await _product("CCB-SY"), "A", 800_000)
    await cover(loan)
    outsider = tokens["bank_manager"]  # ICBC-SY
    r = await client.post(f"/api/loans/{loan}/default", json={"outstanding_yuan": 1000}, headers=outsider)
    assert r.status_code == 403 and "application_id" in r.json()["detail"]
    assert (await client.post(f"/api/loans/{loan}/repaid", headers=outsider)).status_code == 403
    assert await _status(loan) == "approved"
    for role in ("owner", "subscriber", "admin"):
        r = await client.post(f"/api/loans/{loan}/default", json={"outstanding_yuan": 1000},
                              headers=tokens[role])
        assert r.status_code == 403
    ok = await client.post(f"/api/loans/{loan}/default", json={"outstanding_yuan": 1000},
                           headers=managers["CCB-SY"])
    assert ok.status_code == 200
    claim = {"application_id": loan, "loss_yuan": 1000}
    assert (await client.post("/api/fund/claims", json=claim, headers=outsider)).status_code == 403
    for role in ("owner", "admin"):
        assert (await client.post("/api/fund/claims", json=claim, headers=tokens[role])).status_code == 403
    assert [e["kind"] for e in await _entries(loan)] == ["cover", "default"]


async def test_a_claim_on_an_uncovered_loan_is_refused(client, managers, demo):
    (firm,) = await _firms(1, skip=50)
    loan = await _application(firm, await _product("RCB-SY", covered=False), "A", 600_000)
    hdr = managers["RCB-SY"]
    r = await client.post(f"/api/loans/{loan}/default", json={"outstanding_yuan": 600_000}, headers=hdr)
    assert r.status_code == 200 and r.json()["covered"] is False
    r = await client.post("/api/fund/claims", json={"application_id": loan, "loss_yuan": 1000}, headers=hdr)
    assert r.status_code == 409 and "not covered" in r.json()["detail"]
    assert await _entries(loan) == []


async def test_bad_input_names_the_field(client, tokens, managers, demo):
    (firm,) = await _firms(1, skip=60)
    loan = await _application(firm, await _product("CCB-SY"), "B", 200_000)  # not covered
    hdr = managers["CCB-SY"]
    for body in ({"outstanding_yuan": 0}, {"outstanding_yuan": "many"}, {}):
        r = await client.post(f"/api/loans/{loan}/default", json=body, headers=hdr)
        assert r.status_code == 400 and "outstanding_yuan" in r.text, r.text
    r = await client.post(f"/api/loans/{loan}/default", json={"outstanding_yuan": 200_001}, headers=hdr)
    assert r.status_code == 400 and r.json()["detail"].startswith("outstanding_yuan")
    assert await _status(loan) == "approved"
    r = await client.post("/api/loans/99999999/default", json={"outstanding_yuan": 1}, headers=hdr)
    assert r.status_code == 404 and r.json()["detail"].startswith("application_id")
    for huge in (2**31, 2**63):  # beyond the id column: refused, not a database error
        r = await client.post(f"/api/loans/{huge}/repaid", headers=hdr)
        assert r.status_code == 400 and "application_id" in r.text, r.text
        r = await client.post("/api/fund/claims", json={"application_id": huge, "loss_yuan": 1},
                              headers=hdr)
        assert r.status_code == 400 and "application_id" in r.text, r.text
    r = await client.get("/api/fund/ledger?offset=99999999999999999999", headers=tokens["admin"])
    assert r.status_code == 400 and "offset" in r.text
    for body, field in [({"application_id": loan, "loss_yuan": -5}, "loss_yuan"),
                        ({"application_id": 0, "loss_yuan": 5}, "application_id"),
                        ({"loss_yuan": 5}, "application_id")]:
        r = await client.post("/api/fund/claims", json=body, headers=hdr)
        assert r.status_code == 400 and field in r.text, r.text
    for query in ("limit=0", "limit=201", "offset=-1"):
        r = await client.get(f"/api/fund/ledger?{query}", headers=tokens["admin"])
        assert r.status_code == 400 and query.split("=")[0] in r.text


async def test_ledger_pages_newest_first(client, tokens, demo):
    from server.tables.fund import FundLedger

    total = await FundLedger.count()
    first = (await client.get("/api/fund/ledger?limit=2", headers=tokens["admin"])).json()
    second = (await client.get("/api/fund/ledger?limit=2&offset=2", headers=tokens["admin"])).json()
    everything = (await client.get("/api/fund/ledger?limit=200", headers=tokens["admin"])).json()
    assert first["total"] == second["total"] == everything["total"] == total > 4
    ids = [e["id"] for e in everything["entries"]]
    assert [e["id"] for e in first["entries"] + second["entries"]] == ids[:4]
    stamps = [datetime.fromisoformat(e["at"]) for e in everything["entries"]]
    assert stamps == sorted(stamps, reverse=True)
    assert everything["entries"][-1]["kind"] == "capital"
