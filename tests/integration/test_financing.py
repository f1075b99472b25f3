"""Financing through HTTP on the demo region: need -> matches -> apply -> bank decision -> report."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from server.financing.rules import WEIHAI_RULES
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

FUND_SHARE = {"A": 80, "B": 60, "C": 40, "D": 0}  # Weihai's rule, the demo fund's configuration
GRADE_PHONES = {"A": "13900040001", "B": "13900040002", "C": "13900040003", "D": "13900040004"}
LISTED_PHONE = "13900040005"
NEED = {"amount_yuan": 800_000, "term_months": 24, "purpose": "采购原材料"}


async def _latest_grades() -> dict[str, str]:
    """Each firm's grade from its latest score, for firms never dishonest-listed (uscc -> grade)."""
    from server.tables.ingest import DeptRecord
    from server.tables.scores import ScoreHistory

    listed = {r["uscc"] for r in await DeptRecord.select(DeptRecord.uscc).where(
        DeptRecord.source == "dishonest_debtor")}
    rows = await ScoreHistory.select(ScoreHistory.firm.uscc, ScoreHistory.grade).order_by(
        ScoreHistory.as_of).order_by(ScoreHistory.id)
    grades = {r["firm.uscc"]: r["grade"] for r in rows}  # later rows win
    return {u: g for u, g in sorted(grades.items()) if u not in listed}


@pytest.fixture(scope="module")
async def firms(demo) -> dict[str, str]:
    """A firm of each grade (not the demo owner's) and a spare A/B firm to list: key -> uscc."""
    from server.tables.financing import LoanApplication

    grades = await _latest_grades()
    # Not the demo owner's firm, nor a firm in the demo bank's book (it has applied and consented).
    taken = {demo.firm_uscc} | {r["firm.uscc"] for r in await LoanApplication.select(LoanApplication.firm.uscc)}
    picked: dict[str, str] = {}
    for grade in "ABCD":
        picked[grade] = next(u for u, g in grades.items() if g == grade and u not in taken)
    spare = [u for u, g in grades.items() if g in "AB" and u not in picked.values() and u not in taken]
    picked["listed"] = spare[0]
    return picked


@pytest.fixture(scope="module")
async def owners(client: httpx.AsyncClient, firms: dict[str, str]) -> dict[str, dict[str, str]]:
    """Owner headers for each picked firm."""
    phones = {**GRADE_PHONES, "listed": LISTED_PHONE}
    out = {}
    for key, phone in phones.items():
        await make_user(phone, "owner", firm_uscc=firms[key])
        out[key] = await login(client, phone)
    return out


@pytest.fixture(scope="module")
async def managers(client: httpx.AsyncClient, tokens) -> dict[str, dict[str, str]]:
    """Bank managers by bank code; the demo manager is ICBC's."""
    await make_user("13900040011", "bank_manager", bank_code="RCB-SY")
    await make_user("13900040012", "bank_manager", bank_code="CCB-SY")
    return {"ICBC-SY": tokens["bank_manager"], "RCB-SY": await login(client, "13900040011"),
            "CCB-SY": await login(client, "13900040012")}


@pytest.fixture(scope="module")
async def products(client: httpx.AsyncClient, tokens) -> dict[str, dict]:
    r = await client.get("/api/products", headers=tokens["subscriber"])
    assert r.status_code == 200, r.text
    return {p["name"]: p for p in r.json()}


async def _grade_of(client: httpx.AsyncClient, headers: dict[str, str], uscc: str) -> str:
    r = await client.get(f"/api/firms/{uscc}/evaluation", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["grade"]


async def _match(client: httpx.AsyncClient, headers: dict[str, str], **need) -> dict:
    r = await client.post("/api/financing/match", json={**NEED, **need}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _by_name(result: dict) -> dict[str, dict]:
    return {m["product"]["name"]: m for m in result["matches"]}


def _codes(m: dict) -> set[str]:
    return {r["code"] for r in m["reasons"]}


async def test_products_list_banks_ranges_and_rates(client, tokens, products):
    assert len(products) == 5
    p = products["信易贷·信用贷"]
    assert p["bank_name"] == "工商银行上虞支行"
    assert (p["min_amount_yuan"], p["max_amount_yuan"]) == (100_000, 5_000_000)
    assert (p["min_term_months"], p["max_term_months"]) == (6, 36)
    assert (p["min_rate_bp"], p["max_rate_bp"], p["min_rate_pct"], p["max_rate_pct"]) == (350, 480, 3.5, 4.8)
    assert p["eligible_grades"] == ["A", "B"] and p["collateral_free"] and p["fund_covered"]
    assert not products["抵押经营贷"]["collateral_free"] and not products["抵押经营贷"]["fund_covered"]
    for role in ("owner", "bank_manager", "dept_operator", "admin"):
        assert (await client.get("/api/products", headers=tokens[role])).status_code == 200
    assert (await client.get("/api/products")).status_code == 401


async def test_matches_rank_fitting_products_and_say_why(client, owners, firms):
    grade = await _grade_of(client, owners["A"], firms["A"])
    assert grade == "A"
    result = await _match(client, owners["A"])
    assert result["grade"] == "A" and result["firm_uscc"] == firms["A"]
    assert result["dishonest_listed"] is False
    assert result["collateral_free_cap_yuan"] == 5_000_000
    by_name = _by_name(result)
    assert {n for n, m in by_name.items() if m["fits"]} == {"信易贷·信用贷", "小微信用贷", "抵押经营贷", "善营贷"}
    quick = by_name["经营快贷"]  # 3..12 months only
    assert not quick["fits"] and _codes(quick) == {"term_out_of_range"}
    assert "3–12" in quick["reasons"][0]["text_zh"] and quick["reasons"][0]["text_en"]
    # fitting first, then by the rate expected for the grade
    fits = [m["fits"] for m in result["matches"]]
    assert fits == sorted(fits, reverse=True)
    rates = [m["expected_min_rate_bp"] for m in result["matches"] if m["fits"]]
    assert rates == sorted(rates)
    xyd = by_name["信易贷·信用贷"]
    assert xyd["fund_share_pct"] == 80 and "fund_cover" in _codes(xyd)
    assert (xyd["expected_min_rate_bp"], xyd["expected_max_rate_bp"]) == (350, 402)  # lowest 40% of 350..480
    assert by_name["抵押经营贷"]["fund_share_pct"] == 0  # not covered
    too_big = _by_name(await _match(client, owners["A"], amount_yuan=6_000_000))
    assert "amount_above_cap" in _codes(too_big["信易贷·信用贷"])
    assert "collateral_free_cap" in _codes(too_big["信易贷·信用贷"])
    too_small = _by_name(await _match(client, owners["A"], amount_yuan=40_000))
    assert "amount_below_min" in _codes(too_small["善营贷"])


@pytest.mark.parametrize("grade", ["A", "B", "C", "D"])
async def test_fund_share_follows_the_firms_actual_grade(client, owners, firms, grade):
    actual = await _grade_of(client, owners[grade], firms[grade])
    result = await _match(client, owners[grade], amount_yuan=500_000, term_months=12)
    assert result["grade"] == actual == grade
    cap = WEIHAI_RULES.collateral_free_cap_yuan[grade]
    assert result["collateral_free_cap_yuan"] == cap
    covered = [m for m in result["matches"] if m["product"]["fund_covered"]]
    assert len(covered) == 3
    for m in covered:  # the fund's share for the grade, whether or not the product fits
        assert m["fund_share_pct"] == FUND_SHARE[grade]
        assert m["fits"] == (grade in m["product"]["eligible_grades"] and grade != "D"), m
    if grade == "D":  # no fund cover, no collateral-free loan; told why; only the mortgage loan fits
        for m in covered:
            assert "fund_grade_excluded" in _codes(m)
            assert any("D" in r["text_zh"] and r["text_en"] for r in m["reasons"])
        assert [m["product"]["name"] for m in result["matches"] if m["fits"]] == ["抵押经营贷"]
        assert "collateral_free_cap" in _codes(_by_name(result)["经营快贷"])
    else:
        assert any(m["fits"] for m in covered)
    assert all(m["fund_share_pct"] == 0 for m in result["matches"] if not m["product"]["fund_covered"])


async def test_a_dishonest_listed_firm_gets_nothing_and_is_told_why(client, owners, firms):
    before = await _match(client, owners["listed"])
    assert any(m["fits"] for m in before["matches"]) and before["dishonest_listed"] is False
    await make_user("13900040021", "dept_operator", department="court")
    court = {**await login(client, "13900040021"), "content-type": "text/csv"}
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    long_ago = yesterday - timedelta(days=400)
    csv = ("record_key,uscc,event_date,end_date,amount_yuan\n"
           f"FIN-DD-1,{firms['listed']},{yesterday},,120000\n"
           f"FIN-DD-2,{firms['B']},{long_ago},{long_ago + timedelta(days=200)},50000\n")
    r = await client.post("/api/ingest/dishonest_debtor", content=csv.encode(), headers=court)
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text

    after = await _match(client, owners["listed"])
    assert after["dishonest_listed"] is True
    assert not any(m["fits"] for m in after["matches"])
    assert all("dishonest_listed" in _codes(m) and m["fund_share_pct"] == 0 for m in after["matches"])
    reason = next(r for r in after["matches"][0]["reasons"] if r["code"] == "dishonest_listed")
    assert "失信" in reason["text_zh"] and "dishonest" in reason["text_en"]
    refused = await client.post("/api/applications", headers=owners["listed"], json={
        **NEED, "product_ids": [after["matches"][0]["product"]["id"]], "confirm_consent": True})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("product_ids")
    assert "dishonest_listed" in refused.text

    ended = await _match(client, owners["B"])  # a listing that ended long ago excludes nothing
    assert ended["dishonest_listed"] is False and any(m["fits"] for m in ended["matches"])


async def test_the_whole_loan_path(client, tokens, owners, firms, managers, products):
    owner, icbc, ccb = owners["A"], managers["ICBC-SY"], managers["CCB-SY"]
    uscc = firms["A"]
    assert (await client.get(f"/api/firms/{uscc}/evaluation", headers=icbc)).status_code == 403
    log_before = (await client.get(f"/api/firms/{uscc}/access-log", headers=owner)).json()

    xyd, syd = products["信易贷·信用贷"], products["善营贷"]
    r = await client.post("/api/applications", headers=owner, json={
        **NEED, "product_ids": [xyd["id"], syd["id"]], "confirm_consent": True})
    assert r.status_code == 201, r.text
    created = r.json()
    apps = {a["product_id"]: a for a in created["applications"]}
    assert set(apps) == {xyd["id"], syd["id"]}
    for a in apps.values():
        assert a["status"] == "pending" and a["grade_at_apply"] == "A" and a["fund_share_pct"] == 80
        assert a["amount_yuan"] == 800_000 and a["term_months"] == 24 and a["firm_uscc"] == uscc
    assert {c["bank_id"] for c in created["consents"]} == {xyd["bank_id"], syd["bank_id"]}
    assert all(c["text_zh"] and c["text_en"] for c in created["consents"])
    expires = datetime.fromisoformat(created["consents"][0]["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    consents = (await client.get("/api/consents", headers=owner)).json()
    assert {c["bank_id"] for c in consents if c["active"]} >= {xyd["bank_id"], syd["bank_id"]}

    again = await client.post("/api/applications", headers=owner, json={
        **NEED, "product_ids": [xyd["id"]], "confirm_consent": True})
    assert again.status_code == 409 and "product_ids" in again.json()["detail"]

    # the bank's queue: its own pending applications, oldest first
    app_id, other_id = apps[xyd["id"]]["id"], apps[syd["id"]]["id"]
    queue = (await client.get("/api/applications", params={"status": "pending"}, headers=icbc)).json()
    assert app_id in [a["id"] for a in queue] and other_id not in [a["id"] for a in queue]
    assert all(a["bank_id"] == xyd["bank_id"] and a["status"] == "pending" for a in queue)
    assert [a["created_at"] for a in queue] == sorted(a["created_at"] for a in queue)

    # the bank sees the evaluation through the application, and the view is logged
    seen = await client.get(f"/api/applications/{app_id}", headers=icbc)
    assert seen.status_code == 200, seen.text
    assert seen.json()["evaluation"]["uscc"] == uscc and seen.json()["evaluation"]["grade"] == "A"
    log = (await client.get(f"/api/firms/{uscc}/access-log", headers=owner)).json()
    assert len(log) == len(log_before) + 1
    assert log[0]["viewer_role"] == "bank_manager" and log[0]["bank_id"] == xyd["bank_id"]
    owner_view = (await client.get(f"/api/applications/{app_id}", headers=owner)).json()
    assert owner_view["evaluation"] is None  # the owner has their own evaluation route

    # others may not look or decide
    assert (await client.get(f"/api/applications/{app_id}", headers=ccb)).status_code == 403
    assert (await client.get(f"/api/applications/{app_id}", headers=owners["B"])).status_code == 404
    assert (await client.get(f"/api/applications/{app_id}", headers=tokens["subscriber"])).status_code == 403
    approve = {"decision": "approve", "amount_yuan": 600_000, "rate_bp": 400, "term_months": 24}
    url = f"/api/applications/{app_id}/decision"
    assert (await client.post(url, json=approve, headers=ccb)).status_code == 403
    assert (await client.post(url, json=approve, headers=owner)).status_code == 403
    assert (await client.post(url, json=approve, headers=tokens["admin"])).status_code == 403

    # bad decisions name the field and change nothing
    for bad, field in [({"rate_bp": 300}, "rate_bp"), ({"rate_bp": None}, "rate_bp"),
                       ({"amount_yuan": 900_000}, "amount_yuan"), ({"amount_yuan": 50_000}, "amount_yuan"),
                       ({"term_months": 48}, "term_months"), ({"reason_code": "other"}, "reason_code")]:
        r = await client.post(url, json={**approve, **bad}, headers=icbc)
        assert r.status_code == 400 and r.json()["detail"].startswith(field), (bad, r.text)
    assert (await client.get(f"/api/applications/{app_id}", headers=owner)).json()["status"] == "pending"

    decided = await client.post(url, json=approve, headers=icbc)
    assert decided.status_code == 200, decided.text
    d = decided.json()
    assert d["status"] == "approved" and d["approved_amount_yuan"] == 600_000
    assert d["rate_bp"] == 400 and d["rate_pct"] == 4.0 and d["approved_term_months"] == 24
    twice = await client.post(url, json=approve, headers=icbc)
    assert twice.status_code == 409 and "approved" in twice.json()["detail"]

    from server.tables.fund import FundLedger

    covers = await FundLedger.select(FundLedger.amount_fen).where(
        (FundLedger.application == app_id) & (FundLedger.kind == "cover"))
    assert [c["amount_fen"] for c in covers] == [600_000 * 100]

    mine = (await client.get(f"/api/applications/{app_id}", headers=owner)).json()
    assert mine["status"] == "approved" and mine["decided_at"] is not None
    assert [e["status"] for e in mine["events"]] == ["pending", "approved"]
    assert mine["events"][0]["at"] <= mine["events"][1]["at"]
    assert mine["events"][1]["note"] == "Approved ¥600,000 at 4.00% a year over 24 months"  # the reader's
    # the timeline in each reader's language, money as they read it (issue 13: server texts)
    assert [e["text_zh"] for e in mine["events"]] == ["申请80万元，期限24个月", "批准60万元，年利率4.00%，期限24个月"]
    assert [e["text_en"] for e in mine["events"]] == [
        "Applied for ¥800,000 over 24 months", "Approved ¥600,000 at 4.00% a year over 24 months"]
    for e in mine["events"]:
        assert not re.search(r"[A-Za-z]{2,}", e["text_zh"]) and not re.search(r"[\u4e00-\u9fff]", e["text_en"])
    listed = (await client.get("/api/applications", headers=owner)).json()
    assert {a["id"] for a in listed} == {app_id, other_id}

    # the other bank declines, with a reason the owner reads
    durl = f"/api/applications/{other_id}/decision"
    no_code = await client.post(durl, json={"decision": "decline", "reason_text": "x"}, headers=ccb)
    assert no_code.status_code == 400 and no_code.json()["detail"].startswith("reason_code")
    no_text = await client.post(durl, json={"decision": "decline", "reason_code": "high_leverage"}, headers=ccb)
    assert no_text.status_code == 400 and no_text.json()["detail"].startswith("reason_text")
    unknown = await client.post(durl, json={"decision": "decline", "reason_code": "nope", "reason_text": "x"},
                                headers=ccb)
    assert unknown.status_code == 400 and unknown.json()["detail"].startswith("reason_code")
    declined = await client.post(durl, headers=ccb, json={
        "decision": "decline", "reason_code": "high_leverage", "reason_text": "资产负债率超过80%"})
    assert declined.status_code == 200, declined.text
    theirs = (await client.get(f"/api/applications/{other_id}", headers=owner)).json()
    assert theirs["status"] == "declined" and theirs["decline_code"] == "high_leverage"
    assert theirs["decline_text"] == "资产负债率超过80%"
    assert [e["status"] for e in theirs["events"]] == ["pending", "declined"]
    assert theirs["events"][1]["text_zh"] == "未获批：资产负债率超过80%"  # the bank's words, as written
    assert theirs["events"][1]["text_en"] == "Declined: “资产负债率超过80%”"  # quoted for English readers
    assert not await FundLedger.exists().where(FundLedger.application == other_id)
    assert (await client.post(durl, json=approve, headers=ccb)).status_code == 409


async def test_a_refused_fund_cover_leaves_the_application_pending(client, owners, managers, products):
    from server.tables.financing import Bank

    rcb = products["小微信用贷"]
    r = await client.post("/api/applications", headers=owners["B"], json={
        "amount_yuan": 300_000, "term_months": 12, "purpose": "周转", "product_ids": [rcb["id"]],
        "confirm_consent": True})
    assert r.status_code == 201, r.text
    app_id = r.json()["applications"][0]["id"]
    assert r.json()["applications"][0]["fund_share_pct"] == 60
    await Bank.update({Bank.suspended_at: datetime.now(UTC)}).where(Bank.id == rcb["bank_id"])
    try:
        match = _by_name(await _match(client, owners["B"], amount_yuan=300_000, term_months=12))
        assert not match["小微信用贷"]["fits"] and "bank_suspended" in _codes(match["小微信用贷"])
        refused = await client.post(f"/api/applications/{app_id}/decision", headers=managers["RCB-SY"],
                                    json={"decision": "approve", "rate_bp": 500})
        assert refused.status_code == 409 and "bank_suspended" in refused.text
        after = (await client.get(f"/api/applications/{app_id}", headers=owners["B"])).json()
        assert after["status"] == "pending" and after["rate_bp"] is None
        assert [e["status"] for e in after["events"]] == ["pending"]
    finally:
        await Bank.update({Bank.suspended_at: None}).where(Bank.id == rcb["bank_id"])
    declined = await client.post(f"/api/applications/{app_id}/decision", headers=managers["RCB-SY"], json={
        "decision": "decline", "reason_code": "other", "reason_text": "客户撤回"})
    assert declined.status_code == 200


async def test_the_timeline_and_errors_read_in_the_readers_language(client, owners, managers, products):
    """Issue 13: a Chinese reader gets the timeline and the errors in Chinese, money as 万元; an
    English reader gets the same in English, money as ¥1,000,000."""
    zh, en = {"accept-language": "zh-CN"}, {"accept-language": "en"}
    owner, icbc = owners["B"], managers["ICBC-SY"]
    product = products["信易贷·信用贷"]
    r = await client.post("/api/applications", headers={**owner, **zh}, json={
        "amount_yuan": 1_000_000, "term_months": 12, "purpose": "周转", "product_ids": [product["id"]],
        "confirm_consent": True})
    assert r.status_code == 201, r.text
    app_id = r.json()["applications"][0]["id"]
    url = f"/api/applications/{app_id}"

    seen_zh = (await client.get(url, headers={**owner, **zh})).json()
    assert [e["note"] for e in seen_zh["events"]] == ["申请100万元，期限12个月"]
    seen_en = (await client.get(url, headers={**owner, **en})).json()
    assert [e["note"] for e in seen_en["events"]] == ["Applied for ¥1,000,000 over 12 months"]
    for seen in (seen_zh, seen_en):  # the labelled pair, whoever reads
        assert seen["events"][0]["text_zh"] == "申请100万元，期限12个月"
        assert seen["events"][0]["text_en"] == "Applied for ¥1,000,000 over 12 months"

    # an error names the field in either language, with money as each reads it
    bad = await client.post(f"{url}/decision", headers={**icbc, **zh},
                            json={"decision": "approve", "rate_bp": 400, "amount_yuan": 5_000})
    assert bad.status_code == 400
    assert bad.json()["detail"] == "amount_yuan：须在10万元至100万元之间（产品最低额度至申请金额）"
    bad = await client.post(f"{url}/decision", headers={**icbc, **en},
                            json={"decision": "approve", "rate_bp": 400, "amount_yuan": 5_000})
    assert bad.json()["detail"] == ("amount_yuan: must be within ¥100,000–¥1,000,000 (the product's minimum "
                                    "up to the amount applied for)")
    no_rate = await client.post(f"{url}/decision", headers={**icbc, **zh}, json={"decision": "approve"})
    assert no_rate.status_code == 400 and no_rate.json()["detail"] == "rate_bp：批准须填写年利率（基点）"

    declined = await client.post(f"{url}/decision", headers={**icbc, **zh}, json={
        "decision": "decline", "reason_code": "other", "reason_text": "材料不全"})
    assert declined.status_code == 200, declined.text
    assert [e["note"] for e in declined.json()["events"]] == ["申请100万元，期限12个月", "未获批：材料不全"]
    twice = await client.post(f"{url}/decision", headers={**icbc, **zh}, json={
        "decision": "decline", "reason_code": "other", "reason_text": "材料不全"})
    assert twice.status_code == 409 and twice.json()["detail"] == f"申请 {app_id} 已处理，当前状态为「未获批」"
    twice = await client.post(f"{url}/decision", headers={**icbc, **en}, json={
        "decision": "decline", "reason_code": "other", "reason_text": "材料不全"})
    assert twice.json()["detail"] == f"application {app_id} is already declined"
    for e in (await client.get(url, headers={**owner, **zh})).json()["events"]:
        assert not re.search(r"[A-Za-z]{2,}", e["note"])


async def test_the_deciding_bank_sees_what_the_firm_owes_and_its_other_applications(
        client, demo, firms, managers, products, owners):
    """Issue 18: the decision screen's exposure (loans outstanding, here and at this bank, the
    fund's cover, guarantees in force given and received) and history, only under consent."""
    from datetime import date

    from server.tables.financing import LoanApplication
    from server.tables.firms import Firm, Guarantee
    from server.tables.fund import FundLedger

    grades = await _latest_grades()
    taken = {demo.firm_uscc, *firms.values()} | {
        r["firm.uscc"] for r in await LoanApplication.select(LoanApplication.firm.uscc)}
    from server.tables.ingest import DeptRecord

    borrowing = {r["uscc"] for r in await DeptRecord.select(DeptRecord.uscc).where(DeptRecord.source == "bank_loan")}
    free = [u for u, g in grades.items() if g in "AB" and u not in taken]
    uscc = next(u for u in free if u in borrowing)  # a firm the banks' feed reports a loan for
    partner = next(u for u in free if u != uscc)
    await make_user("13900040031", "owner", firm_uscc=uscc)
    owner = await login(client, "13900040031")
    ids = {r["uscc"]: r["id"] for r in await Firm.select(Firm.id, Firm.uscc).where(Firm.uscc.is_in([uscc, partner]))}
    today = date.today()

    def in_force(rows: list[dict]) -> tuple[int, int]:
        live = [g for g in rows if g["start_date"] <= today <= g["end_date"]]
        return len(live), sum(g["amount_fen"] for g in live) // 100

    cols = (Guarantee.amount_fen, Guarantee.start_date, Guarantee.end_date)
    given0 = in_force(await Guarantee.select(*cols).where(Guarantee.guarantor == ids[uscc]))
    received0 = in_force(await Guarantee.select(*cols).where(Guarantee.guaranteed == ids[uscc]))
    await Guarantee.insert(
        Guarantee(record_key="t18:given", guarantor=ids[uscc], guaranteed=ids[partner], amount_fen=30_000_000,
                  start_date=date(today.year - 1, 1, 1), end_date=date(today.year + 1, 12, 31)),
        Guarantee(record_key="t18:ended", guarantor=ids[uscc], guaranteed=ids[partner], amount_fen=99_900_000,
                  start_date=date(today.year - 3, 1, 1), end_date=date(today.year - 2, 12, 31)),
        Guarantee(record_key="t18:received", guarantor=ids[partner], guaranteed=ids[uscc], amount_fen=12_300_000,
                  start_date=date(today.year - 1, 6, 1), end_date=date(today.year + 2, 5, 31)))

    icbc_product, ccb_product = products["信易贷·信用贷"], products["善营贷"]
    first = await client.post("/api/applications", headers=owner, json={
        **NEED, "product_ids": [icbc_product["id"]], "confirm_consent": True})
    assert first.status_code == 201, first.text
    first_id = first.json()["applications"][0]["id"]
    approved = await client.post(f"/api/applications/{first_id}/decision", headers=managers["ICBC-SY"],
                                 json={"decision": "approve", "amount_yuan": 500_000, "rate_bp": 400})
    assert approved.status_code == 200, approved.text
    cover = sum(r["amount_fen"] for r in await FundLedger.select(FundLedger.amount_fen).where(
        (FundLedger.application == first_id) & (FundLedger.kind == "cover"))) // 100

    second = await client.post("/api/applications", headers=owner, json={
        "amount_yuan": 200_000, "term_months": 12, "purpose": "设备更新", "product_ids": [ccb_product["id"]],
        "confirm_consent": True})
    assert second.status_code == 201, second.text
    second_id = second.json()["applications"][0]["id"]

    # the banks' own feed: every bank_loan row of the firm's latest reported month, summed
    rows = [r for r in await DeptRecord.select(DeptRecord.event_date, DeptRecord.amount_fen, DeptRecord.days).where(
        (DeptRecord.uscc == uscc) & (DeptRecord.source == "bank_loan") & DeptRecord.superseded_at.is_null())
        if r["event_date"] <= today]
    month = max((r["event_date"] for r in rows), default=None)
    in_month = [r for r in rows if r["event_date"] == month]
    assert month is not None
    seen = (await client.get(f"/api/applications/{second_id}", headers=managers["CCB-SY"])).json()
    assert seen["purpose"] == "设备更新" and seen["evaluation"] is not None
    assert seen["exposure"] == {
        "loans_outstanding": 1, "outstanding_yuan": 500_000, "with_this_bank_yuan": 0, "defaulted_loans": 0,
        "fund_cover_yuan": cover, "guarantees_given": given0[0] + 1, "guarantees_given_yuan": given0[1] + 300_000,
        "guarantees_received": received0[0] + 1, "guarantees_received_yuan": received0[1] + 123_000,
        "bank_debt_month": None if month is None else month.isoformat(),
        "bank_debt_yuan": sum(r["amount_fen"] or 0 for r in in_month) // 100,
        "bank_days_overdue": max((r["days"] or 0 for r in in_month), default=0)}
    assert [(h["id"], h["status"], h["approved_amount_yuan"], h["bank_name"]) for h in seen["history"]] == [
        (first_id, "approved", 500_000, approved.json()["bank_name"])]
    assert "rate_bp" not in seen["history"][0]  # another bank's price is not shown
    at_icbc = (await client.get(f"/api/applications/{first_id}", headers=managers["ICBC-SY"])).json()
    assert at_icbc["exposure"]["with_this_bank_yuan"] == 500_000
    assert [h["id"] for h in at_icbc["history"]] == [second_id]
    assert (await client.get(f"/api/applications/{second_id}", headers=owner)).json()["exposure"] is None

    # consent revoked: the bank decides without the evaluation, and without the exposure
    consents = (await client.get("/api/consents", headers=owner)).json()
    ccb = next(c for c in consents if c["active"] and c["bank_id"] == ccb_product["bank_id"])
    assert (await client.delete(f"/api/consents/{ccb['id']}", headers=owner)).status_code in (200, 204)
    blind = (await client.get(f"/api/applications/{second_id}", headers=managers["CCB-SY"])).json()
    assert blind["evaluation"] is None and blind["evaluation_note"]
    assert blind["exposure"] is None and blind["history"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({**NEED, "amount_yuan": 0}, "amount_yuan"),
    ({**NEED, "term_months": 0}, "term_months"),
    ({**NEED, "term_months": 400}, "term_months"),
    ({"amount_yuan": 100_000, "term_months": 12}, "purpose"),
])
async def test_bad_needs_name_the_field(client, owners, body, field):
    r = await client.post("/api/financing/match", json=body, headers=owners["A"])
    assert r.status_code == 400 and field in r.text, r.text


async def test_bad_applications_name_the_field(client, owners, products):
    pid = products["小微信用贷"]["id"]
    base = {**NEED, "product_ids": [pid], "confirm_consent": True}
    cases = [
        ({**base, "product_ids": [99999]}, 400, "product_ids"),
        ({**base, "product_ids": []}, 400, "product_ids"),
        ({k: v for k, v in base.items() if k != "confirm_consent"}, 400, "confirm_consent"),
        ({**base, "confirm_consent": False}, 400, "confirm_consent"),
        ({**base, "amount_yuan": 0}, 400, "amount_yuan"),
        ({**base, "term_months": 48}, 422, "product_ids"),  # 小微信用贷 runs 6..24 months
    ]
    for body, status, field in cases:
        r = await client.post("/api/applications", json=body, headers=owners["C"])
        assert r.status_code == status and field in r.text, (body, r.text)
    r = await client.post("/api/applications", json={**base, "term_months": 48}, headers=owners["C"])
    assert r.json()["detail"].startswith("product_ids") and "term_out_of_range" in r.text
    assert (await client.get("/api/applications", headers=owners["C"])).json() == []


@pytest.mark.parametrize(("method", "url", "role"), [
    ("post", "/api/financing/match", "bank_manager"),
    ("post", "/api/financing/match", "admin"),
    ("post", "/api/applications", "bank_manager"),
    ("post", "/api/applications", "subscriber"),
    ("get", "/api/applications", "subscriber"),
    ("get", "/api/applications", "dept_operator"),
    ("post", "/api/applications/1/decision", "owner"),
    ("post", "/api/applications/1/decision", "dept_operator"),
    ("get", "/api/reports/decision-times", "owner"),
    ("get", "/api/reports/decision-times", "subscriber"),
])
async def test_wrong_roles_are_refused(client, tokens, method, url, role):
    body = {**NEED, "product_ids": [1], "confirm_consent": True, "decision": "decline"}
    r = await client.request(method.upper(), url, json=body if method == "post" else None, headers=tokens[role])
    assert r.status_code == 403, r.text


async def test_decision_time_report_counts_the_decisions(client, tokens, owners, products):
    from server.tables.financing import Bank, LoanApplication, LoanProduct

    bank = Bank(code="RPT-1", name="报表测试银行")
    await bank.save()
    product = LoanProduct(bank=bank.id, name="报表测试贷", min_amount_fen=10_000_00, max_amount_fen=1_000_000_00,
                          min_term_months=1, max_term_months=60, min_rate_bp=400, max_rate_bp=800,
                          eligible_grades="ABCD", industries=[], collateral_free=False, fund_covered=False)
    await product.save()
    await make_user("13900040013", "bank_manager", bank_code="RPT-1")
    manager = await login(client, "13900040013")
    try:
        ids = []
        for key in ("A", "C", "D"):
            r = await client.post("/api/applications", headers=owners[key], json={
                "amount_yuan": 200_000, "term_months": 12, "purpose": "周转", "product_ids": [product.id],
                "confirm_consent": True})
            assert r.status_code == 201, r.text
            ids.append(r.json()["applications"][0]["id"])
        now = datetime.now(UTC)
        for app_id, waited in zip(ids, (10, 30, 120), strict=True):  # applied that many minutes ago
            await LoanApplication.update({LoanApplication.created_at: now - timedelta(minutes=waited)}).where(
                LoanApplication.id == app_id)
        mid = (await client.get("/api/reports/decision-times", headers=manager)).json()
        assert [b["bank_id"] for b in mid] == [bank.id]  # a bank sees only itself
        assert (mid[0]["decided"], mid[0]["pending"]) == (0, 3)
        assert mid[0]["median_minutes"] is None and mid[0]["oldest_pending_minutes"] >= 119.9
        for app_id in ids[:2]:
            r = await client.post(f"/api/applications/{app_id}/decision", headers=manager, json={
                "decision": "decline", "reason_code": "incomplete_documents", "reason_text": "缺少财务报表"})
            assert r.status_code == 200, r.text
        r = await client.post(f"/api/applications/{ids[2]}/decision", headers=manager,
                              json={"decision": "approve", "rate_bp": 700})
        assert r.status_code == 200 and r.json()["approved_amount_yuan"] == 200_000, r.text

        report = {b["bank_id"]: b for b in (await client.get(
            "/api/reports/decision-times", headers=tokens["admin"])).json()}
        assert set(report) == {p["bank_id"] for p in products.values()} | {bank.id}
        row = report[bank.id]
        assert (row["decided"], row["approved"], row["declined"], row["pending"]) == (3, 1, 2, 0)
        # waits of 10, 30 and 120 minutes: median 30, p90 = 30 + 0.8 * 90 = 102, two of three in the hour
        assert row["median_minutes"] == pytest.approx(30, abs=0.2)
        assert row["p90_minutes"] == pytest.approx(102, abs=0.2)
        assert row["within_promise_share"] == pytest.approx(2 / 3, abs=1e-3) and row["promise_minutes"] == 60
        assert row["oldest_pending_minutes"] is None
        icbc_id = products["信易贷·信用贷"]["bank_id"]
        icbc = report[icbc_id]
        decided = await LoanApplication.count().where(
            (LoanApplication.product.bank == icbc_id) & LoanApplication.decided_at.is_not_null())
        assert icbc["decided"] == decided >= 1  # the demo book's decisions and the loan path's
        assert icbc["median_minutes"] < 60  # the demo bank decides within the hour
    finally:
        await LoanProduct.update({LoanProduct.active: False}).where(LoanProduct.id == product.id)


async def test_assess_excludes_industries_and_caps_collateral_free_loans():
    from dataclasses import replace

    from server.financing.schemas import ProductOut
    from server.financing.services import FirmStanding, assess

    product = ProductOut(
        id=1, bank_id=1, bank_name="b", name="p", min_amount_yuan=10_000, max_amount_yuan=9_000_000,
        min_term_months=6, max_term_months=36, min_rate_bp=400, max_rate_bp=600, min_rate_pct=4.0,
        max_rate_pct=6.0, eligible_grades=["A", "B", "C"], industries=["C", "F"], collateral_free=True,
        fund_covered=True)
    firm = FirmStanding(firm_id=1, uscc="x", industry_section="E", grade="B", grade_as_of=None,
                        dishonest_listed=False)
    m = assess(product, 3_000_000_00, 12, firm, WEIHAI_RULES, fund_share=60, fund_refusal="fund_capacity_firm")
    assert not m.fits and m.fund_share_pct == 60
    assert [r.code for r in m.reasons] == ["industry_excluded", "collateral_free_cap", "fund_capacity"]
    assert "单户" in m.reasons[2].text_zh and "per-firm" in m.reasons[2].text_en
    assert (m.expected_min_rate_bp, m.expected_max_rate_bp) == (440, 520)  # B: 20%..60% of the range
    manufacturer = replace(firm, industry_section="C")
    assert assess(product, 2_000_000_00, 12, manufacturer, WEIHAI_RULES, 60, None).fits  # B's cap is 2m
    assert not assess(product, 2_000_000_00, 12, replace(manufacturer, grade="C"), WEIHAI_RULES, 40, None).fits
    looser = replace(WEIHAI_RULES, collateral_free_cap_yuan={**WEIHAI_RULES.collateral_free_cap_yuan, "C": 3_000_000})
    assert assess(product, 2_000_000_00, 12, replace(manufacturer, grade="C"), looser, 40, None).fits
    listed = assess(product, 2_000_000_00, 12, replace(manufacturer, dishonest_listed=True), WEIHAI_RULES, 60, None)
    assert not listed.fits and listed.reasons[0].code == "dishonest_listed" and listed.fund_share_pct == 0
