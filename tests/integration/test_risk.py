"""Risk warnings on the demo region: scans (full, incremental, after an ingested batch), who
sees what, the bank's list, circles, the macro index, the fund's expected draw and the jobs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.uscc import make_uscc
from tests.integration.conftest import DEMO_FIRMS, login, make_user

pytestmark = pytest.mark.anyio

LEVELS = {"red", "yellow", "blue"}


def _last_month_end() -> date:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return today.replace(day=1) - timedelta(days=1)


async def _open_rows() -> list[dict]:
    from server.tables.risk import Warning

    return await Warning.select(
        Warning.id, Warning.firm, Warning.firm.uscc.as_alias("uscc"), Warning.rule_code,
        Warning.level, Warning.kind, Warning.evidence,
    ).where(Warning.closed_at.is_null()).order_by(Warning.id).output(load_json=True)


async def _scan(client, tokens, **body) -> dict:
    r = await client.post("/api/risk/scan", json=body, headers=tokens["admin"])
    assert r.status_code == 200, r.text
    return r.json()


async def _ingest(client, headers, source: str, lines: list[str]) -> None:
    r = await client.post(f"/api/ingest/{source}", content="\n".join(lines).encode(),
                          headers={**headers, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == [] and r.json()["accepted"] == len(lines) - 1, r.text


@pytest.fixture(scope="module")
async def first_scan(client, tokens, demo) -> dict:
    """The region's first full scan through the API. The demo scans once as it starts, so its
    warnings are cleared first to see a scan raise everything from nothing."""
    from server.tables.risk import Warning

    assert len(await _open_rows()) > DEMO_FIRMS // 2, "the demo starts with its warnings raised"
    await Warning.delete(force=True)
    return await _scan(client, tokens)


async def test_full_scan_raises_once_with_evidence_and_contagion(client, tokens, first_scan):
    from server.tables.ingest import DeptRecord

    assert first_scan["scope"] == "full" and first_scan["firms"] == DEMO_FIRMS
    rows = await _open_rows()
    assert len(rows) == first_scan["raised"] > DEMO_FIRMS // 2
    assert {r["level"] for r in rows} == LEVELS
    assert len({r["kind"] for r in rows}) >= 8
    assert first_scan["red_firms"] > 0 and first_scan["contagion_firms"] > 0

    again = await _scan(client, tokens)
    assert (again["raised"], again["updated"], again["closed"]) == (0, 0, 0)
    assert await _open_rows() == rows

    red = {r["uscc"] for r in rows if r["level"] == "red" and r["kind"] != "contagion"}
    contagion = [r for r in rows if r["rule_code"] == "C01_CONTAGION"]
    assert len(contagion) == first_scan["contagion_firms"]
    for r in contagion:
        ev = r["evidence"]
        assert ev["path"][0] in red and ev["path"][-1] == r["uscc"]
        assert len(ev["path_amounts_fen"]) == len(ev["path"]) - 1 == ev["figures"]["hops"]
        h = ev["figures"]["distress"]
        assert r["level"] == ("red" if h >= 0.5 else "yellow" if h >= 0.1 else "blue")

    cited = next(r for r in rows if r["rule_code"] == "R07_TAX_ARREARS")["evidence"]["records"][0]
    record = await DeptRecord.select(
        DeptRecord.uscc, DeptRecord.source, DeptRecord.record_key,
    ).where(DeptRecord.id == cited["record_id"]).first()
    assert record["source"] == cited["kind"] == "tax_monthly"
    assert record["record_key"] == cited["record_key"]


async def test_incremental_scan_agrees_with_the_full_scan(engine, settings, first_scan):
    from server.risk.scan import scan
    from server.tables.firms import Firm

    ids = [r["id"] for r in await Firm.select(Firm.id).order_by(Firm.id).limit(60)]
    result = await scan(engine, settings, None, ids)
    assert result.scope == "incremental" and result.firms == 60
    assert (result.raised, result.updated, result.closed) == (0, 0, 0)
    assert result.red_firms == first_scan["red_firms"]
    assert result.contagion_firms == first_scan["contagion_firms"]


async def test_rule_catalogue_for_anyone_signed_in(client, tokens):
    assert (await client.get("/api/risk/rules")).status_code == 401
    r = await client.get("/api/risk/rules", headers=tokens["subscriber"])
    assert r.status_code == 200, r.text
    rules = r.json()
    codes = [x["code"] for x in rules]
    assert len(codes) == len(set(codes)) >= 64 and "C01_CONTAGION" in codes
    assert all(x["title_zh"] and x["title_en"] and x["level"] in LEVELS for x in rules)


async def test_ingested_arrears_warn_and_detail_follows_consent(client, tokens, demo, first_scan):
    from server.tables.financing import Bank, LoanApplication, LoanProduct
    from server.tables.firms import Firm

    month = _last_month_end().isoformat()
    key = f"RISK-TEST-ARREARS-{month}"
    await _ingest(client, tokens["dept_operator"], "tax_monthly", [
        "record_key,uscc,event_date,category,amount_yuan,arrears_yuan",
        f"{key},{demo.firm_uscc},{month},vat,0,12345"])
    url = f"/api/firms/{demo.firm_uscc}/warnings"

    own = (await client.get(url, headers=tokens["owner"])).json()
    assert own["detail"] is True
    arrears = next(w for w in own["warnings"] if w["rule_code"] == "R07_TAX_ARREARS")
    assert key in {ref.get("record_key") for ref in arrears["evidence"]["records"]}
    assert arrears["message_zh"] and arrears["clear_en"] == "No tax overdue in the latest month"

    public = (await client.get(url, headers=tokens["subscriber"])).json()
    assert public["detail"] is False and public["open_yellow"] == own["open_yellow"]
    seen = next(w for w in public["warnings"] if w["rule_code"] == "R07_TAX_ARREARS")
    assert seen["title_zh"] == arrears["title_zh"] and seen["opened_at"] == arrears["opened_at"]
    assert seen["evidence"] is None and seen["message_zh"] is None and seen["message_en"] is None

    # the bank: public signals, and the firm out of its warning list until it consents or applies
    # (the list holds the bank's own book: the demo bank's borrowers and applicants)
    bank = tokens["bank_manager"]
    assert (await client.get(url, headers=bank)).json()["detail"] is False
    bank_id = (await client.get("/api/me", headers=bank)).json()["bank_id"]
    book = {r["firm.uscc"] for r in await LoanApplication.select(LoanApplication.firm.uscc).where(
        LoanApplication.product.bank == bank_id)}
    before = {w["uscc"] for w in (await client.get("/api/warnings?limit=500", headers=bank)).json()}
    assert demo.firm_uscc not in before and before <= book
    consent = await client.post("/api/consents", json={"bank_id": bank_id, "days": 30},
                                headers=tokens["owner"])
    assert consent.status_code == 201, consent.text
    log = f"/api/firms/{demo.firm_uscc}/access-log"
    before = len((await client.get(log, headers=tokens["owner"])).json())
    detailed = (await client.get(url, headers=bank)).json()
    assert detailed["detail"] is True and detailed["warnings"][0]["evidence"] is not None
    entries = (await client.get(log, headers=tokens["owner"])).json()
    assert len(entries) == before + 1 and entries[0]["what"] == "warnings"
    assert entries[0]["viewer_role"] == "bank_manager" and entries[0]["bank_id"] == bank_id

    listed = (await client.get("/api/warnings", params={"limit": 500}, headers=bank)).json()
    firms_listed = {w["uscc"] for w in listed}
    assert demo.firm_uscc in firms_listed and firms_listed - {demo.firm_uscc} <= book
    assert all(w["detail"] for w in listed)  # the firm and the book have all consented

    # a firm applying to the bank joins the list with public signals only; others stay out
    rows = await _open_rows()
    by_firm: dict[str, int] = {}
    for r in rows:
        by_firm[r["uscc"]] = by_firm.get(r["uscc"], 0) + 1
    applicant, outsider = [u for u in sorted(by_firm) if u != demo.firm_uscc and u not in book][:2]
    product = await LoanProduct.select(LoanProduct.id).where(
        LoanProduct.bank == (await Bank.select(Bank.id).where(Bank.id == bank_id).first())["id"]
    ).first()
    firm = await Firm.select(Firm.id).where(Firm.uscc == applicant).first()
    await LoanApplication(firm=firm["id"], product=product["id"], amount_fen=10_000_000,
                          term_months=12, purpose="test", status="pending",
                          created_at=datetime.now(UTC)).save()
    listed = (await client.get("/api/warnings", params={"limit": 500}, headers=bank)).json()
    firms_listed = {w["uscc"] for w in listed}
    assert {demo.firm_uscc, applicant} <= firms_listed and firms_listed - {demo.firm_uscc, applicant} <= book
    assert outsider not in firms_listed
    assert sum(w["uscc"] == applicant for w in listed) == by_firm[applicant]
    assert all(w["detail"] == (w["uscc"] != applicant) for w in listed)  # no consent from the applicant
    red_only = (await client.get("/api/warnings", params={"level": "red"}, headers=bank)).json()
    assert all(w["level"] == "red" for w in red_only)

    everything = (await client.get("/api/warnings", params={"limit": 500},
                                   headers=tokens["admin"])).json()
    assert outsider in {w["uscc"] for w in everything} and all(w["detail"] for w in everything)
    spread = (await client.get("/api/warnings", params={"kind": "contagion", "limit": 500},
                               headers=tokens["admin"])).json()
    assert spread and all(w["kind"] == "contagion" for w in spread)
    for role in ("subscriber", "owner", "dept_operator"):
        assert (await client.get("/api/warnings", headers=tokens[role])).status_code == 403


async def test_a_record_that_clears_a_rule_closes_its_warning(client, tokens, first_scan):
    from server.tables.firms import Firm
    from server.tables.risk import Warning

    stopped = next(r for r in await _open_rows() if r["rule_code"] == "R46_FIRM_STATUS_ABNORMAL")
    firm = await Firm.select(Firm.uscc, Firm.name, Firm.industry_division, Firm.town,
                             Firm.registered_capital_fen, Firm.founded_on, Firm.size_class).where(
        Firm.id == stopped["firm"]).first()
    await make_user("13900060001", "dept_operator", department="market")
    market = await login(client, "13900060001")
    await _ingest(client, market, "firms", [
        "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status",
        f"{firm['uscc']},{firm['name']},{firm['industry_division']},{firm['town']},"
        f"{firm['registered_capital_fen'] // 100},{firm['founded_on']},{firm['size_class']},"
        "active"])

    row = await Warning.select(Warning.closed_at, Warning.evidence).where(
        Warning.id == stopped["id"]).output(load_json=True).first()
    assert row["closed_at"] is not None
    assert row["evidence"]["closed"]["reason_en"] == "Status back to active"
    closed = (await client.get(f"/api/firms/{firm['uscc']}/warnings", params={"status": "closed"},
                               headers=tokens["admin"])).json()
    assert [w["rule_code"] for w in closed["warnings"]] == ["R46_FIRM_STATUS_ABNORMAL"]
    assert closed["warnings"][0]["status"] == "closed"
    assert (await _scan(client, tokens))["raised"] == 0  # stays closed


async def test_fund_draw_of_a_red_firms_covered_loan(client, tokens, first_scan):
    from server.tables.financing import LoanApplication, LoanProduct
    from server.tables.fund import FundLedger, GuaranteeFund

    red = next(r for r in await _open_rows() if r["level"] == "red" and r["kind"] != "contagion")
    product = await LoanProduct.select(LoanProduct.id, LoanProduct.bank).where(
        LoanProduct.fund_covered == True).first()  # noqa: E712
    fund = await GuaranteeFund.select(GuaranteeFund.id).first()
    now = datetime.now(UTC)
    app = LoanApplication(firm=red["firm"], product=product["id"], amount_fen=100_000_000,
                          term_months=12, purpose="test", status="approved", grade_at_apply="B",
                          created_at=now, decided_at=now, approved_amount_fen=100_000_000,
                          rate_bp=420, approved_term_months=12, fund_share_pct=60)
    await app.save()
    await FundLedger(fund=fund["id"], kind="cover", amount_fen=100_000_000, application=app.id,
                     bank=product["bank"], at=now, note="test cover").save()
    result = await _scan(client, tokens)
    assert result["expected_fund_draw_yuan"] == 600_000  # red: sure to default; 60 % of 1 M
    # One firm's covered loan: the macro index would give that loan x the fund's share.
    macro = (await client.get("/api/risk/macro", headers=tokens["subscriber"])).json()
    assert macro["latest_scan"]["expected_fund_draw_yuan"] is None


async def test_circles_for_banks_and_admins(client, tokens, first_scan):
    from server.tables.consent import Consent
    from server.tables.firms import Firm
    from server.tables.users import User

    assert (await client.get("/api/risk/circles", headers=tokens["subscriber"])).status_code == 403
    r = await client.get("/api/risk/circles", headers=tokens["admin"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["circles"] and body["firms_in_circles"] >= 2 * len(body["circles"])
    assert body["members_scope"] == "all"
    first = body["circles"][0]
    assert first["size"] == len(first["members"]) >= 2 and first["amount_yuan"] > 0
    assert first["hidden_members"] == 0 and all(m["name"] for m in first["members"])
    assert body["systemic"] and body["systemic"][0]["firms_hit"] >= 1
    big = (await client.get("/api/risk/circles", params={"min_size": 3},
                            headers=tokens["admin"])).json()
    assert all(c["size"] >= 3 for c in big["circles"])

    # A bank sees only the members that consented to it or borrow from it; the rest are counts.
    bank = await User.select(User.bank).where(User.phone == "13800000002").first()
    visible = {r["firm.uscc"] for r in await Consent.select(Consent.firm.uscc).where(
        (Consent.bank == bank["bank"]) & Consent.revoked_at.is_null())}
    mine = (await client.get("/api/risk/circles", headers=tokens["bank_manager"])).json()
    assert mine["members_scope"] == "consented_or_own_borrowers"
    assert [c["size"] for c in mine["circles"]] == [c["size"] for c in body["circles"]]
    for c in mine["circles"]:
        assert len(c["members"]) + c["hidden_members"] == c["size"]
        shown = {m["uscc"] for m in c["members"]}
        if c["hidden_members"]:
            assert c["amount_yuan"] is None or c["hidden_members"] >= mine["min_group_size"]
        assert not shown - visible - {r["uscc"] for r in await Firm.select(Firm.uscc).where(
            Firm.id.is_in(await _bank_firm_ids(bank["bank"]) or [0]))}
    assert sum(c["hidden_members"] for c in mine["circles"]) > 0
    assert len(mine["systemic"]) + mine["systemic_hidden"] == len(body["systemic"])


async def _bank_firm_ids(bank_id: int) -> list[int]:
    from server.tables.financing import LoanApplication

    return [r["firm"] for r in await LoanApplication.select(LoanApplication.firm).where(
        LoanApplication.product.bank == bank_id)]


async def test_jobs_are_listed_and_idempotent(client, tokens, settings, demo, first_scan, engine):
    from server.jobs import platform_jobs
    from server.tables.notifications import Notification
    from server.tables.risk import RiskSnapshot, Warning
    from server.tables.scores import ScoreHistory, ScoringRun

    jobs = {j.name: j for j in platform_jobs(settings, engine)}
    assert {"nightly_rescore", "warning_scan", "incremental_rescore", "macro_index", "psi_drift",
            "policy_matches"} <= set(jobs)
    now = datetime.now(UTC)

    count = await Warning.count()
    await jobs["warning_scan"].func(now)
    assert await Warning.count() == count

    await jobs["macro_index"].func(now)
    await jobs["macro_index"].func(now)
    assert await RiskSnapshot.count().where(RiskSnapshot.kind == "macro") == 1
    town = (await client.get("/api/risk/macro", params={"by": "town"},
                             headers=tokens["owner"])).json()
    assert town["month"] is not None and town["groups"]
    assert sum(g["firms"] for g in town["groups"]) == town["region"]["firms"] == DEMO_FIRMS
    assert town["region"]["red_per_100"] > 0 and 0 <= town["region"]["index"] <= 100
    industry = (await client.get("/api/risk/macro", headers=tokens["owner"])).json()
    assert industry["by"] == "industry" and all(g["name_zh"] for g in industry["groups"])

    await jobs["psi_drift"].func(now)
    drift = await RiskSnapshot.select(RiskSnapshot.data).where(
        RiskSnapshot.kind == "drift").output(load_json=True).first()
    assert drift["data"]["psi_score"] >= 0 and drift["data"]["model_version"] == demo.model_version
    assert len(drift["data"]["variables"]) >= 60

    # new records for a firm: the ingest's own pass re-scores it at once, so the job finds
    # nothing stale; a batch whose pass did not run (received later, simulated) the job catches up
    async def last_run() -> tuple[str, set[int]]:
        run = await ScoringRun.select(ScoringRun.id, ScoringRun.reason).order_by(ScoringRun.id, ascending=False).first()
        rows = await ScoreHistory.select(ScoreHistory.firm).where(ScoreHistory.run == run["id"])
        return run["reason"], {r["firm"] for r in rows}

    month = _last_month_end().isoformat()
    firm = await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.firm.uscc.as_alias("uscc")
                                     ).order_by(ScoreHistory.id, ascending=False).first()
    runs = await ScoringRun.count()
    key = f"RISK-TEST-RESCORE-{month}"
    await _ingest(client, tokens["dept_operator"], "tax_monthly", [
        "record_key,uscc,event_date,category,amount_yuan,arrears_yuan",
        f"{key},{firm['uscc']},{month},income,8000,0"])
    assert await ScoringRun.count() == runs + 1 and await last_run() == ("ingest", {firm["firm"]})
    await jobs["incremental_rescore"].func(now)
    assert await ScoringRun.count() == runs + 1
    from server.tables.ingest import DeptRecord

    await DeptRecord.update({DeptRecord.received_at: datetime.now(UTC)}).where(DeptRecord.record_key == key)
    await jobs["incremental_rescore"].func(now)
    assert await ScoringRun.count() == runs + 2 and await last_run() == ("incremental", {firm["firm"]})
    await jobs["incremental_rescore"].func(now)
    assert await ScoringRun.count() == runs + 2

    # policy matches: one notification per open policy the owner's firm qualifies for
    matches = (await client.get("/api/policies/matches", headers=tokens["owner"])).json()
    due = {m["policy"]["id"] for m in matches["eligible"] if m["application_status"] is None}
    await jobs["policy_matches"].func(now)
    await jobs["policy_matches"].func(now)
    notes = await Notification.select(Notification.body, Notification.user.phone).where(
        Notification.kind == "policy").output(load_json=True)
    assert due and sorted(n["body"]["policy_id"] for n in notes) == sorted(due)
    assert {n["user.phone"] for n in notes} <= {"13800000001"}


async def test_bad_input_is_a_4xx_naming_the_field(client, tokens, demo):
    admin = tokens["admin"]
    cases = [
        (client.get("/api/warnings", params={"level": "purple"}, headers=admin), 400, "level"),
        (client.get("/api/warnings", params={"limit": 0}, headers=admin), 400, "limit"),
        (client.get("/api/warnings", params={"kind": "weather"}, headers=admin), 400, "kind"),
        (client.get("/api/warnings", params={"status": "maybe"}, headers=admin), 400, "status"),
        (client.get(f"/api/firms/{demo.firm_uscc}/warnings", params={"limit": 9999},
                    headers=admin), 400, "limit"),
        (client.get("/api/risk/macro", params={"by": "planet"}, headers=admin), 400, "by"),
        (client.get("/api/risk/circles", params={"min_size": 1}, headers=admin), 400, "min_size"),
        (client.post("/api/risk/scan", json={"usccs": ["91330000000000000X"]}, headers=admin),
         400, "usccs[0]"),
        (client.post("/api/risk/scan", json={"usccs": []}, headers=admin), 400, "usccs"),
        # a malformed code is refused as such (its check character), before any lookup
        (client.get("/api/firms/91330000000000000X/warnings", headers=admin), 400, "uscc"),
        (client.get(f"/api/firms/{make_uscc(987_654)}/warnings", headers=admin), 404, "uscc"),
    ]
    for request, status, field in cases:
        r = await request
        assert r.status_code == status, r.text
        assert r.json()["detail"].startswith(field), r.text
    dated = await client.post("/api/risk/scan", json={"as_of": "2020-01-01"}, headers=admin)
    assert dated.status_code == 400 and "unknown field `as_of`" in dated.json()["detail"]
    assert (await client.post("/api/risk/scan", json={},
                              headers=tokens["bank_manager"])).status_code == 403
