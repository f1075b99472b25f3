"""Hard overrides over HTTP on each engine: defaulted firms are D with the override named first;
the rule set is a versioned, audited table admins revise, and every score names its version."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.anyio

URL = "/api/override-rules"


async def _latest_run() -> dict:
    from server.tables.scores import ScoringRun

    return await ScoringRun.select().order_by(ScoringRun.as_of, ascending=False).order_by(
        ScoringRun.id, ascending=False).first()


async def _in_default(engine, as_of) -> pd.DataFrame:
    """Each firm's latest bank report by ``as_of`` where it is 90+ days overdue and not ended,
    read straight off the records (not through scoring.overrides)."""
    from server.scores.frames import load_records

    records = await load_records(engine, as_of=as_of)
    loans = records[records["kind"] == "bank_loan"].copy()
    loans["days"] = loans["days"].fillna(0).astype(int)
    last = loans.sort_values(["uscc", "event_date", "days"]).groupby("uscc").tail(1)
    ts = pd.Timestamp(as_of)
    return last[(last["days"] >= 90) & (last["end_date"].isna() | (last["end_date"] > ts))]


async def test_every_firm_in_default_today_is_d_and_told_why(client, tokens, demo, engine):
    from server.tables.firms import Firm
    from server.tables.scores import ScoreHistory

    run = await _latest_run()
    assert run["override_version"] == "overrides@v1"
    bad = await _in_default(engine, run["as_of"])
    assert len(bad) > 0, "the demo region has firms in default"
    ids = {r["uscc"]: r["id"] for r in await Firm.select(Firm.uscc, Firm.id).where(
        Firm.uscc.is_in(bad["uscc"].tolist()))}
    rows = await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade,
                                     ScoreHistory.override_version).where(
        ScoreHistory.run == run["id"])
    by_firm = {r["firm"]: r for r in rows}
    assert all(r["override_version"] == "overrides@v1" for r in rows)
    assert {by_firm[ids[u]]["grade"] for u in bad["uscc"]} == {"D"}

    # A written-off loan: overdue at its last report, nothing reported since.
    stale = bad[bad["event_date"] < pd.Timestamp(run["as_of"]) - pd.Timedelta(days=45)]
    assert len(stale) > 0, "the demo region has written-off loans"
    firm = stale.iloc[0]
    r = await client.get(f"/api/firms/{firm['uscc']}/evaluation", headers=tokens["admin"])
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["grade"] == "D"
    first = ev["reasons"][0]
    day = str(firm["event_date"].date())
    assert first["code"] == "override:bank_default"
    assert day in first["text_zh"] and "核销" in first["text_zh"]
    assert day in first["text_en"] and "written off" in first["text_en"]
    assert first["points"] <= 0


async def test_admin_revises_the_rules_audited_and_rescoring_names_the_version(
        client, tokens, demo, engine, settings):
    from server.scores.rescore import rescore_firms
    from server.tables.scores import ScoreHistory

    admin = tokens["admin"]
    listed = (await client.get(URL, headers=admin)).json()
    assert [v["version"] for v in listed] == ["overrides@v1"]
    assert {r["code"]: r for r in listed[0]["rules"]}["bank_default"]["min_days"] == 90

    r = await client.post(URL, headers=admin, json={
        "reason": "监管口径：逾期60天即违约 regulator: default from 60 days",
        "rules": [{"code": "bank_default", "min_days": 60},
                  {"code": "dishonest_debtor", "enabled": False}]})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == "overrides@v2"
    rules = {x["code"]: x for x in v2["rules"]}
    assert rules["bank_default"]["min_days"] == 60 and rules["dishonest_debtor"]["enabled"] is False
    assert rules["registry_status"]["enabled"] is True  # untouched rules stay
    assert [h["version"] for h in v2["history"]] == [1, 2]
    assert v2["history"][-1]["changed_by"] == "13800000005"
    assert "60 days" in v2["history"][-1]["reason"]
    listed = (await client.get(URL, headers=admin)).json()
    assert [v["version"] for v in listed] == ["overrides@v1", "overrides@v2"]
    assert listed[0]["rules"] != listed[1]["rules"]  # version 1 is kept as it was

    for body, field in [
        ({"reason": "x", "rules": [{"code": "bank_default", "min_days": 5}]}, "min_days"),
        ({"reason": "x", "rules": [{"code": "no_such_rule"}]}, "code"),
        ({"reason": "x", "rules": [{"code": "registry_status", "statuses": ["closed"]}]}, "statuses"),
        ({"reason": "x", "rules": [{"code": "bank_default", "min_days": "ninety"}]}, "min_days"),
        ({"rules": [{"code": "bank_default", "min_days": 90}]}, "reason"),
        ({"reason": "x", "rules": []}, "rules"),  # was a 500: a field named like a dependency
    ]:
        bad = await client.post(URL, headers=admin, json=body)
        assert bad.status_code == 400, (body, bad.text)
        assert field in bad.text, (field, bad.text)
    assert len((await client.get(URL, headers=admin)).json()) == 2  # nothing stored by them
    assert (await client.post(URL, headers=tokens["bank_manager"], json={
        "reason": "x", "rules": [{"code": "bank_default", "min_days": 90}]})).status_code == 403

    # The next scores use the revised set and say so.
    run = await _latest_run()
    bad_firms = await _in_default(engine, run["as_of"])
    from server.tables.firms import Firm

    fid = (await Firm.select(Firm.id).where(Firm.uscc == bad_firms["uscc"].iloc[0]).first())["id"]
    result = await rescore_firms(engine, settings, [fid], "override test")
    assert result is not None and result.override_version == "overrides@v2"
    assert result.scores[fid][1] == "D"
    row = await ScoreHistory.select(ScoreHistory.override_version).where(
        ScoreHistory.run == result.run_id).first()
    assert row["override_version"] == "overrides@v2"
