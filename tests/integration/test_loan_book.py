"""The bank's post-loan book (issue 15, section 2) on the demo region, over HTTP, on each engine.

The demo bank holds forty granted loans, each borrower's consent given at application. Its
manager's book follows each since it was granted: the grade path from the grant on, the grade
now and how many grades it moved, warnings since, the fund cover and the loan's events, and
what to act on. A borrower that revokes its consent keeps its loan on the book, but its grades,
data confidence and warning messages disappear and the loan says the consent lapsed; every
other borrower shown gets a ``post_loan`` row in the access log it can read. A default the bank
reports puts the loan first, marked defaulted. Another bank's manager sees none of it.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio


async def _book(client, headers) -> dict:
    r = await client.get("/api/loans/book", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_book_follows_each_loan_and_consent_decides_the_detail(client, tokens, demo):
    from server.tables.financing import LoanApplication
    from server.tables.scores import ScoreHistory

    manager = tokens["bank_manager"]
    live = await LoanApplication.select(LoanApplication.id, LoanApplication.firm, LoanApplication.grade_at_apply).where(
        (LoanApplication.product.bank.code == "ICBC-SY") & LoanApplication.status.is_in(["approved", "disbursed", "defaulted"]))
    book = await _book(client, manager)
    assert book["loans"] == len(live) > 0
    assert sum(book["movement"].values()) == book["loans"]
    assert book["principal_yuan"] == sum(b["amount_yuan"] for b in book["items"])
    assert book["to_act"] == sum(1 for b in book["items"] if b["act"])
    acting = [bool(b["act"]) for b in book["items"]]
    assert acting == sorted(acting, reverse=True)  # the loans to act on come first

    by_id = {b["application_id"]: b for b in book["items"]}
    grades = "ABCD"
    checked = 0
    for row in live:
        b = by_id[row["id"]]
        assert b["detail"] and "consent_lapsed" not in b["act"]  # the demo's borrowers consented
        latest = await ScoreHistory.select(ScoreHistory.grade).where(ScoreHistory.firm == row["firm"]).order_by(
            ScoreHistory.as_of, ascending=False).order_by(ScoreHistory.id, ascending=False).first()
        assert b["grade_now"] == latest["grade"]
        assert b["grade_steps"] == grades.index(latest["grade"]) - grades.index(row["grade_at_apply"])
        assert ("grade_down" in b["act"]) == (b["grade_steps"] > 0)
        assert all(p["as_of"] >= b["granted_on"] for p in b["grade_path"])
        assert ("red_warning" in b["act"]) == any(w["level"] == "red" and w["closed_at"] is None for w in b["warnings"])
        assert all(w["message_zh"] is not None for w in b["warnings"])
        assert b["data_confidence"] in ("high", "medium", "low")
        checked += 1
    assert checked == len(live)

    # a borrower revokes its consent: its loan stays, its evaluation's content goes
    target = next(b for b in book["items"] if b["warnings"]) if any(b["warnings"] for b in book["items"]) \
        else book["items"][0]
    await make_user("13900170001", "owner", firm_uscc=target["firm_uscc"])
    owner = await login(client, "13900170001")
    log_before = (await client.get(f"/api/firms/{target['firm_uscc']}/access-log", headers=owner)).json()
    assert any(e["what"] == "post_loan" for e in log_before)  # the manager's view above is logged
    consents = (await client.get("/api/consents", headers=owner)).json()
    for c in consents:
        if c["revoked_at"] is None:
            assert (await client.delete(f"/api/consents/{c['id']}", headers=owner)).status_code == 204
    after = {b["application_id"]: b for b in (await _book(client, manager))["items"]}
    lapsed = after[target["application_id"]]
    assert not lapsed["detail"] and "consent_lapsed" in lapsed["act"]
    assert lapsed["grade_now"] is None and lapsed["grade_path"] == [] and lapsed["grade_steps"] is None
    assert lapsed["data_confidence"] is None
    assert all(w["message_zh"] is None and w["message_en"] is None for w in lapsed["warnings"])
    assert [w["rule_code"] for w in lapsed["warnings"]] == [w["rule_code"] for w in target["warnings"]]
    assert lapsed["amount_yuan"] == target["amount_yuan"] and lapsed["events"] == target["events"]
    log_after = (await client.get(f"/api/firms/{target['firm_uscc']}/access-log", headers=owner)).json()
    assert len([e for e in log_after if e["what"] == "post_loan"]) == len(
        [e for e in log_before if e["what"] == "post_loan"])  # nothing shown, nothing logged

    # a default the bank reports: the loan is marked and its event is on the book
    other = next(b for b in book["items"] if b["status"] in ("approved", "disbursed")
                 and b["application_id"] != target["application_id"])
    r = await client.post(f"/api/loans/{other['application_id']}/default", json={"outstanding_yuan": 1000},
                          headers=manager)
    assert r.status_code == 200, r.text
    defaulted = next(b for b in (await _book(client, manager))["items"] if b["application_id"] == other["application_id"])
    assert defaulted["status"] == "defaulted" and "defaulted" in defaulted["act"]
    assert defaulted["events"][-1]["status"] == "defaulted"

    # another bank's manager has none of these loans
    await make_user("13900170002", "bank_manager", bank_code="RCB-SY")
    stranger = await _book(client, await login(client, "13900170002"))
    assert not {b["application_id"] for b in stranger["items"]} & set(by_id)
