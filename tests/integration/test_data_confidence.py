"""The evaluation states how much of the firm the platform sees and what its grade means
(issue 11 points 1 and 5; issue 13's "numbers that agree on one card"): the data confidence
stored with every score names the missing feeds and their departments, and the grade band is
the fixed scale's, so the PD and the score always lie inside it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def _latest_rows() -> list[dict]:
    from server.tables.scores import ScoreHistory, ScoringRun

    run = await ScoringRun.select(ScoringRun.id).where(ScoringRun.reason == "full").order_by(
        ScoringRun.as_of, ascending=False).order_by(ScoringRun.id, ascending=False).first()
    return await ScoreHistory.select(ScoreHistory.firm.uscc, ScoreHistory.grade, ScoreHistory.data_confidence).where(ScoreHistory.run == run["id"]).output(load_json=True)


async def test_every_score_stores_its_data_confidence(demo):
    rows = await _latest_rows()
    assert len(rows) == demo.firms
    for r in rows:
        dc = r["data_confidence"]
        assert dc["sources"] == 5 and set(dc["missing"]) <= {
            "tax_monthly", "social_insurance", "utility", "financial_statement", "personal_credit"}
        assert dc["share"] == pytest.approx((dc["sources"] - len(dc["missing"])) / dc["sources"], abs=1e-3)
        assert dc["level"] in ("high", "medium", "low")
    assert any(r["data_confidence"]["missing"] for r in rows), "the demo region has thin files"


async def test_the_evaluation_names_the_missing_feeds_and_their_departments(client, tokens, demo):
    thin = next(r for r in await _latest_rows() if "social_insurance" in r["data_confidence"]["missing"])
    r = await client.get(f"/api/firms/{thin['firm.uscc']}/evaluation", headers=tokens["admin"])
    assert r.status_code == 200, r.text
    dc = r.json()["data_confidence"]
    assert dc["reporting"] == dc["sources"] - len(dc["missing"]) < dc["sources"]
    social = next(f for f in dc["missing"] if f["kind"] == "social_insurance")
    assert social["department_zh"] == "人社部门" and social["name_zh"]
    assert dc["level"] != "high" or dc["share"] >= 0.8


async def test_the_grade_band_holds_the_score_and_the_pd(client, tokens, demo):
    seen = set()
    rows = await _latest_rows()
    for grade in "ABCD":
        row = next((r for r in rows if r["grade"] == grade), None)
        if row is None:
            continue
        r = await client.get(f"/api/firms/{row['firm.uscc']}/evaluation", headers=tokens["admin"])
        ev = r.json()
        band = ev["grade_band"]
        assert band["grade"] == ev["grade"] == grade
        assert band["pd_from"] <= ev["pd"] and (band["pd_to"] is None or ev["pd"] < band["pd_to"])
        assert band["score_from"] <= ev["score"] and (band["score_to"] is None or ev["score"] <= band["score_to"])
        seen.add(grade)
    assert {"A", "D"} <= seen  # the demo region spans the scale
    fixed = {"A": (0.0, 0.005, 641, None), "B": (0.005, 0.015, 577, 640), "C": (0.015, 0.06, 494, 576),
             "D": (0.06, None, 0, 493)}  # the fixed bands on the fixed scale
    for grade in seen:
        row = next(r for r in rows if r["grade"] == grade)
        band = (await client.get(f"/api/firms/{row['firm.uscc']}/evaluation", headers=tokens["admin"])).json()["grade_band"]
        assert (band["pd_from"], band["pd_to"], band["score_from"], band["score_to"]) == fixed[grade]
