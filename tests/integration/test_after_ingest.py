"""One ingested batch raises a grade-change warning in the same pass (issue 12 must-show 4):
after the batch commits, the firms it touched are re-scored and scanned before the ingest
request's background work ends, without waiting for a scheduled job."""

from __future__ import annotations

import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio


async def test_a_listing_ingested_now_downgrades_the_firm_and_warns_in_the_same_pass(client, tokens, demo):
    from server.firms.tables import Firm
    from server.risk.tables import Warning
    from server.scores.tables import ScoreHistory, ScoringRun

    run = await ScoringRun.select(ScoringRun.id, ScoringRun.as_of).where(ScoringRun.reason == "full").order_by(
        ScoringRun.as_of, ascending=False).order_by(ScoringRun.id, ascending=False).first()
    # A firm graded A or B now and in every back-score (so also 90 days ago, the rule's prior).
    rated = await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade).where(
        ScoreHistory.run.reason == "full")
    worst: dict[int, str] = {}
    for r in rated:
        worst[r["firm"]] = max(worst.get(r["firm"], "A"), r["grade"])
    steady = sorted(f for f, g in worst.items() if g <= "B")
    assert steady, "the demo region has firms graded A or B throughout"
    good = {"firm": steady[0]}
    firm = await Firm.select(Firm.id, Firm.uscc).where(Firm.id == good["firm"]).first()
    before = await Warning.count().where((Warning.firm == firm["id"]) & (Warning.rule_code == "R58_GRADE_DOWN_TWO"))
    assert before == 0

    await make_user("13900070001", "dept_operator", department="court")
    court = {**await login(client, "13900070001"), "content-type": "text/csv"}
    csv = f"record_key,uscc,event_date,end_date,amount_yuan\nAFTER-INGEST-1,{firm['uscc']},{run['as_of']},,250000\n"
    r = await client.post("/api/ingest/dishonest_debtor", content=csv.encode(), headers=court)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    latest = await ScoreHistory.select(ScoreHistory.grade, ScoreHistory.run.reason).where(
        ScoreHistory.firm == firm["id"]).order_by(ScoreHistory.id, ascending=False).first()
    assert latest["grade"] == "D" and latest["run.reason"] == "ingest"  # re-scored by the batch itself
    warned = await Warning.select(Warning.rule_code, Warning.evidence).where(
        (Warning.firm == firm["id"]) & (Warning.rule_code == "R58_GRADE_DOWN_TWO")).first()
    assert warned is not None, "the grade change is a warning in the same pass"
    ev = await client.get(f"/api/firms/{firm['uscc']}/evaluation", headers=tokens["admin"])
    assert ev.json()["grade"] == "D" and ev.json()["reasons"][0]["code"].startswith("override")
