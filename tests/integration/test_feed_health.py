"""The feed-health screen (issue 15): per department, coverage, lateness and disagreement with
other departments as of the last full scoring run, and the rejected-row rate of the last 90
days; an operator sees only their own department, analysts and admins every one."""

from __future__ import annotations

import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio


async def test_each_department_sees_how_its_feeds_serve_the_platform(client, tokens, demo):
    from server.tables.scores import ScoringRun
    from server.uscc import make_uscc

    run = await ScoringRun.select(ScoringRun.as_of).where(ScoringRun.reason == "full").order_by(
        ScoringRun.as_of, ascending=False).first()
    r = await client.get("/api/ingest/feed-health", headers=tokens["admin"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == run["as_of"].isoformat()
    by = {d["department"]: d for d in body["departments"]}
    assert {"tax", "hrss", "utilities", "customs", "bank", "court"} <= set(by)
    for dept in ("tax", "hrss", "utilities"):  # every trading firm pays tax, staff and power
        assert by[dept]["coverage"] >= 0.9 and by[dept]["firms_trading"] > 0, by[dept]
        assert 0 <= by[dept]["lateness_days_median"] <= by[dept]["lateness_days_p90"]
    assert 0 < by["customs"]["coverage"] < 0.5  # exporters only
    # the demo region plants shared meters and under-declared tax: the checks see both
    assert 0 < by["utilities"]["disagreement"]["shared_meter"] < 0.2
    assert 0 <= by["tax"]["disagreement"]["under_declaration"] < 0.2
    assert set(by["tax"]["disagreement"]) == {"under_declaration", "redeclaration", "agent_exports", "exports_revenue",
                                              "property_assets"}
    assert set(by["hrss"]["disagreement"]) == {"under_declaration", "wage_bill"}
    assert by["hrss"]["disagreement"]["wage_bill"] == 0  # the generated region plants no lowered wage base
    assert by["court"]["coverage"] is None and by["court"]["disagreement"] == {}  # events, not monthly
    assert "tax_monthly" in by["tax"]["kinds"] and by["tax"]["name_zh"]

    await make_user("13900090001", "dept_operator", department="tax")
    tax = await login(client, "13900090001")
    before = (await client.get("/api/ingest/feed-health", headers=tax)).json()
    assert [d["department"] for d in before["departments"]] == ["tax"]
    rows_before = before["departments"][0]["rows_90d"]
    rejected_before = before["departments"][0]["rejected_90d"]
    csv = ("record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"
           f"FH-1,{make_uscc(1)},2024-01-31,vat,10,0\n"
           f"FH-2,{make_uscc(1)},2024-01-31,vat,-5,0\n")
    sent = await client.post("/api/ingest/tax_monthly", content=csv.encode(),
                             headers={**tax, "content-type": "text/csv"})
    assert sent.status_code == 200 and len(sent.json()["rejected"]) >= 1, sent.text
    after = (await client.get("/api/ingest/feed-health", headers=tax)).json()["departments"][0]
    assert after["rows_90d"] == rows_before + 2
    assert after["rejected_90d"] >= rejected_before + 1
    assert after["rejected_rate"] == pytest.approx(after["rejected_90d"] / after["rows_90d"], abs=1e-4)

    analyst = await client.get("/api/ingest/feed-health", headers=tokens["analyst"])
    assert analyst.status_code == 200 and len(analyst.json()["departments"]) == len(by)
    for role in ("owner", "bank_manager"):
        assert (await client.get("/api/ingest/feed-health", headers=tokens[role])).status_code == 403
