"""The policy supermarket end to end on the demo region, through HTTP, on each engine:
a department publishes, the owner sees why it qualifies, applies, the department decides."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

OTHER_TOWN = "桃源乡"


@pytest.fixture(scope="module")
async def hrss(client, demo) -> dict[str, str]:
    """An operator of another department (human resources and social security)."""
    await make_user("13900000201", "dept_operator", department="hrss")
    return await login(client, "13900000201")


@pytest.fixture(scope="module")
async def firm(client, tokens, demo) -> dict:
    """The demo firm's public profile and its evaluation as its owner sees it."""
    profile = (await client.get(f"/api/firms/{demo.firm_uscc}", headers=tokens["owner"])).json()
    evaluation = await client.get(f"/api/firms/{demo.firm_uscc}/evaluation",
                                  headers=tokens["owner"])
    assert evaluation.status_code == 200, evaluation.text
    return {**profile, "evaluation": evaluation.json()}


def _age_shown(founded_on: str) -> str:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return f"{(today - date.fromisoformat(founded_on)).days / 365.25:.1f}"


async def _json(client, url: str, headers: dict[str, str]) -> list[dict]:
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _publish(client, headers, **body) -> dict:
    r = await client.post("/api/policies", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_publish_match_apply_decide(client, tokens, demo, firm, hrss):
    tax = tokens["dept_operator"]
    owner = tokens["owner"]
    fits = await _publish(client, tax, title="纳税信用良好小微企业贷款贴息", benefit="贴息50%",
                          eligibility={
                              "industry_sections": [firm["industry_section"]],
                              "size_classes": [firm["size_class"]],
                              "towns": [firm["town"]],
                              "min_firm_age_years": 2,
                              "min_grade": firm["evaluation"]["grade"],
                              "min_headcount": 1,
                              "indicators": [{"indicator": "tax_arrears_months_12m", "op": "<=",
                                              "value": 0}],
                          })
    assert fits["department_code"] == "tax" and fits["open"] and fits["status"] == "published"
    young = await _publish(client, tax, title="初创企业培育补助",
                           eligibility={"max_firm_age_years": 3, "towns": [OTHER_TOWN]})

    r = await client.get("/api/policies/matches", headers=owner)
    assert r.status_code == 200, r.text
    matches = r.json()
    assert matches["firm_uscc"] == demo.firm_uscc
    assert matches["data_as_of"] == firm["evaluation"]["as_of"]
    by_id = {m["policy"]["id"]: m for m in matches["eligible"] + matches["not_eligible"]}
    good, bad = by_id[fits["id"]], by_id[young["id"]]
    assert good in matches["eligible"] and bad in matches["not_eligible"]
    assert good["eligible"] and good["missing"] == []
    assert [c["code"] for c in good["criteria"]] == [
        "status", "industry", "size_class", "town", "min_firm_age_years", "min_grade",
        "min_headcount", "indicators.tax_arrears_months_12m"]
    age = _age_shown(firm["founded_on"])
    assert f"成立满2年（实际{age}年）" in [c["text_zh"] for c in good["criteria"]]
    assert f"founded ≥ 2 years ago ({age} years)" in [c["text_en"] for c in good["criteria"]]
    assert not bad["eligible"]
    assert [c["code"] for c in bad["missing"]] == ["town", "max_firm_age_years"]
    assert bad["missing"][1]["text_zh"] == f"成立不超过3年（实际{age}年）"
    assert bad["missing"][0]["text_en"] == f"registered in {OTHER_TOWN} (firm: {firm['town']})"

    refused = await client.post(f"/api/policies/{young['id']}/applications", headers=owner)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["detail"].startswith("eligibility: not eligible: ")  # in the reader's language
    assert "founded ≤ 3 years ago" in body["detail"] and "成立" not in body["detail"]
    in_zh = await client.post(f"/api/policies/{young['id']}/applications",
                              headers={**owner, "accept-language": "zh-CN"})
    assert in_zh.status_code == 422 and in_zh.json()["detail"].startswith("eligibility：不符合申报条件：")
    assert "成立不超过3年" in in_zh.json()["detail"] and "founded" not in in_zh.json()["detail"]
    assert [c["code"] for c in body["extra"]["missing"]] == ["town", "max_firm_age_years"]

    applied = await client.post(f"/api/policies/{fits['id']}/applications", headers=owner)
    assert applied.status_code == 201, applied.text
    application = applied.json()
    assert application["status"] == "pending" and application["firm_uscc"] == demo.firm_uscc
    assert application["criteria"] and all(c["met"] for c in application["criteria"])
    again = await client.post(f"/api/policies/{fits['id']}/applications", headers=owner)
    assert again.status_code == 409 and "already has an application" in again.json()["detail"]

    log_url = f"/api/firms/{demo.firm_uscc}/access-log"
    views_before = [e for e in (await client.get(log_url, headers=owner)).json()
                    if e["viewer_role"] == "dept_operator"]
    queue = (await client.get("/api/policies/applications", headers=tax,
                              params={"status": "pending"})).json()
    mine = [a for a in queue if a["id"] == application["id"]]
    assert len(mine) == 1
    # the operator saw the firm's score: the owner sees that view in the access log
    views = [e for e in (await client.get(log_url, headers=owner)).json()
             if e["viewer_role"] == "dept_operator"]
    assert len(views) == len(views_before) + 1 and views[0]["what"] == "policy_application"
    summary = mine[0]["evaluation"]
    ev = firm["evaluation"]
    for key in ("score", "grade", "as_of", "dimensions"):
        assert summary[key] == ev[key], key
    assert len(summary["dimensions"]) == 6
    assert summary["model_version"] == demo.model_version
    # the other department's queue does not show it, and it cannot decide it
    assert application["id"] not in [a["id"] for a in (await client.get(
        "/api/policies/applications", headers=hrss)).json()]
    other = await client.post(f"/api/policies/applications/{application['id']}/decision",
                              json={"decision": "approve"}, headers=hrss)
    assert other.status_code == 403 and "another department" in other.json()["detail"]

    no_reason = await client.post(f"/api/policies/applications/{application['id']}/decision",
                                  json={"decision": "reject", "reason": "  "}, headers=tax)
    assert no_reason.status_code == 400 and no_reason.json()["detail"].startswith("reason:")
    ok = await client.post(f"/api/policies/applications/{application['id']}/decision",
                           json={"decision": "approve", "reason": "材料齐全，同意贴息"}, headers=tax)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["decided_at"]
    twice = await client.post(f"/api/policies/applications/{application['id']}/decision",
                              json={"decision": "reject", "reason": "重复"}, headers=tax)
    assert twice.status_code == 409 and "already approved" in twice.json()["detail"]

    seen = {a["id"]: a for a in await _json(client, "/api/policies/applications", owner)}
    assert seen[application["id"]]["status"] == "approved"
    assert seen[application["id"]]["reason"] == "材料齐全，同意贴息"
    assert seen[application["id"]]["evaluation"] is None  # the owner has the full evaluation route
    after = (await client.get("/api/policies/matches", headers=owner)).json()
    again = [m for m in after["eligible"] if m["policy"]["id"] == fits["id"]][0]
    assert (again["application_id"], again["application_status"]) == (application["id"], "approved")
    third = await client.post(f"/api/policies/{fits['id']}/applications", headers=owner)
    assert third.status_code == 409


async def test_rejection_with_reason_then_the_firm_may_apply_again(client, tokens, demo):
    tax, owner = tokens["dept_operator"], tokens["owner"]
    policy = await _publish(client, tax, title="无门槛测试政策", summary="所有存续企业均可申报")
    first = (await client.post(f"/api/policies/{policy['id']}/applications", headers=owner)).json()
    r = await client.post(f"/api/policies/applications/{first['id']}/decision",
                          json={"decision": "reject", "reason": "申报材料不完整"}, headers=tax)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    mine = {a["id"]: a for a in (await client.get("/api/policies/applications", headers=owner,
                                                  params={"status": "rejected"})).json()}
    assert mine[first["id"]]["reason"] == "申报材料不完整"
    second = await client.post(f"/api/policies/{policy['id']}/applications", headers=owner)
    assert second.status_code == 201 and second.json()["id"] != first["id"]


async def test_closing_a_policy_and_other_departments(client, tokens, hrss):
    tax, owner = tokens["dept_operator"], tokens["owner"]
    policy = await _publish(client, tax, title="即将关闭的政策")
    assert (await client.patch(f"/api/policies/{policy['id']}", json={"status": "closed"},
                               headers=hrss)).status_code == 403
    closed = await client.patch(f"/api/policies/{policy['id']}",
                                json={"status": "closed", "benefit": "已结束"}, headers=tax)
    assert closed.status_code == 200, closed.text
    assert [closed.json()[k] for k in ("status", "open", "benefit")] == ["closed", False, "已结束"]
    assert policy["id"] not in [p["id"] for p in await _json(client, "/api/policies", owner)]
    assert policy["id"] in [p["id"] for p in await _json(client, "/api/policies", tax)]
    assert (await client.get(f"/api/policies/{policy['id']}", headers=owner)).status_code == 404
    r = await client.post(f"/api/policies/{policy['id']}/applications", headers=owner)
    assert r.status_code == 409 and r.json()["detail"].startswith("policy_id:")
    bad_dates = await client.patch(f"/api/policies/{policy['id']}",
                                   json={"valid_from": "2026-06-01", "valid_to": "2026-01-01"},
                                   headers=tax)
    assert bad_dates.status_code == 400 and bad_dates.json()["detail"].startswith("valid_to:")
    assert (await client.get("/api/policies/99999999999", headers=tax)).status_code == 400
    missing = await client.patch("/api/policies/999999", json={"status": "closed"}, headers=tax)
    assert missing.status_code == 404
    missing = await client.post("/api/policies/applications/999999/decision",
                                json={"decision": "approve"}, headers=tax)
    assert missing.status_code == 404


@pytest.mark.parametrize(("eligibility", "field"), [
    ({"indicators": [{"indicator": "no_such_indicator", "op": ">=", "value": 1}]},
     "eligibility.indicators[0].indicator"),
    ({"industry_sections": ["C", "Z"]}, "eligibility.industry_sections[1]"),
    ({"industry_divisions": ["99"]}, "eligibility.industry_divisions[0]"),
    ({"towns": ["火星镇"]}, "eligibility.towns[0]"),
    ({"min_headcount": 50, "max_headcount": 10}, "eligibility.max_headcount"),
])
async def test_bad_eligibility_is_a_400_naming_the_field(client, tokens, eligibility, field):
    r = await client.post("/api/policies", json={"title": "错误条件", "eligibility": eligibility},
                          headers=tokens["dept_operator"])
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(field + ":")


@pytest.mark.parametrize(("eligibility", "key"), [
    ({"indicators": [{"indicator": "vat_12m", "op": "=>", "value": 1}]},
     "eligibility.indicators[0].op"),
    ({"min_grade": "E"}, "eligibility.min_grade"),
    ({"size_classes": ["tiny"]}, "eligibility.size_classes[0]"),
    ({"minimum_grade": "B"}, "eligibility"),
])
async def test_malformed_eligibility_is_a_400_naming_the_field(client, tokens, eligibility, key):
    r = await client.post("/api/policies", json={"title": "格式错误", "eligibility": eligibility},
                          headers=tokens["dept_operator"])
    assert r.status_code == 400, r.text
    assert [e["key"] for e in r.json()["extra"]] == [key]


ALL_ROLES = ("owner", "bank_manager", "subscriber", "dept_operator", "admin")
ROUTES = [
    ("POST", "/api/policies", {"title": "角色测试"}, {"dept_operator"}),
    ("GET", "/api/policies", None, set(ALL_ROLES)),
    ("GET", "/api/policies/criteria", None, set(ALL_ROLES)),
    ("GET", "/api/policies/matches", None, {"owner"}),
    ("GET", "/api/policies/applications", None, {"owner", "dept_operator"}),
    ("PATCH", "/api/policies/{id}", {"summary": "角色测试"}, {"dept_operator"}),
    ("POST", "/api/policies/{id}/applications", None, {"owner"}),
    ("POST", "/api/policies/applications/999999/decision", {"decision": "approve"},
     {"dept_operator"}),
]


@pytest.fixture(scope="module")
async def open_policy(client, tokens) -> dict:
    return await _publish(client, tokens["dept_operator"], title="角色测试政策")


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES)
async def test_roles(client, tokens, open_policy, method, path, body, allowed):
    url = path.format(id=open_policy["id"])
    assert (await client.request(method, url, json=body)).status_code == 401
    for role in ALL_ROLES:
        r = await client.request(method, url, json=body, headers=tokens[role])
        if role in allowed:
            assert r.status_code in (200, 201, 404, 409), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)


async def test_criteria_catalogue_lists_what_rules_may_name(client, tokens, firm):
    r = await client.get("/api/policies/criteria", headers=tokens["dept_operator"])
    cat = r.json()
    assert len(cat["indicators"]) == 66
    assert "insured_headcount" in [i["code"] for i in cat["indicators"]]
    assert firm["town"] in cat["towns"] and [s["code"] for s in cat["size_classes"]][0] == "micro"
    assert cat["grades"] == ["A", "B", "C", "D"] and len(cat["industry_sections"]) == 20


async def test_single_firm_indicators_equal_the_region_computation(app, client, demo, firm):
    """The on-demand loader reads the same facts the platform's batch scoring does."""
    import pandas as pd

    from scoring.features import compute_features
    from server.policies.services import firm_facts
    from server.scores.frames import load_firms, load_records
    from server.tables.firms import Firm

    engine = app.state.engine
    firm_id = (await Firm.select(Firm.id).where(Firm.uscc == demo.firm_uscc).first())["id"]
    facts, as_of = await firm_facts(engine, firm_id, with_indicators=True)
    assert str(as_of) == firm["evaluation"]["as_of"] and facts.grade == firm["evaluation"]["grade"]
    firms = await load_firms(engine)
    region = compute_features(await load_records(engine, as_of), as_of, firms).loc[demo.firm_uscc]
    mine = pd.Series(facts.indicators)
    pd.testing.assert_series_equal(mine, region.rename(None), check_names=False)
    assert facts.indicators["insured_headcount"] > 0


async def test_demo_policies_seed_once_and_explain(client, tokens, demo):
    from server.policies.seed import DEMO_POLICIES, seed_demo_policies
    from server.tables.policies import Policy

    await seed_demo_policies()
    await seed_demo_policies()
    titles = [t for _, t, *_ in DEMO_POLICIES]
    rows = await Policy.select(Policy.title, Policy.department.code).where(
        Policy.title.is_in(titles))
    assert sorted((r["department.code"], r["title"]) for r in rows) == sorted(
        (code, t) for code, t, *_ in DEMO_POLICIES)
    matches = (await client.get("/api/policies/matches", headers=tokens["owner"])).json()
    seen = {m["policy"]["title"]: m for m in matches["eligible"] + matches["not_eligible"]}
    assert set(titles) <= set(seen)
    # the demo firm is twelve years old: not a start-up
    assert "max_firm_age_years" in [c["code"] for c in seen["首贷户奖励"]["missing"]]
    assert all(len(seen[t]["criteria"]) >= 2 for t in titles)
