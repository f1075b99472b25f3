"""A supported project followed to its end over HTTP (issue 15, must-show 3).

On an empty region, through the API only: the development department publishes a policy; the
owner of P applies; the department approves it with the project's terms (¥500,000, twelve
months from six months ago, promises of 12 new jobs, ¥24,000 a year more tax and ¥1,000,000
invested, a mid-term milestone due next week). P's departments then send the six months since
the start: the insured headcount creeps from 20 to 22 and VAT from ¥13,000 to ¥14,000 a month,
so at the half-way mark the jobs stand at 2 of 12 and the tax at ¥6,000 of ¥24,000. The
after-ingest process tracks the project on that data and pushes the deviation, with its figures,
to the owner and to the department. The owner reports on the milestone, a third party assesses
it, and the department closes the project with the score the result formula gives. The project
is in the department's portfolio at every step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from server.uscc import make_uscc
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

P, Q = make_uscc(31_000_001), make_uscc(31_000_002)
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()
START = (pd.Timestamp(TODAY.replace(day=1)) - pd.DateOffset(months=6)).date()
BASE_MONTHS = pd.date_range(end=pd.Timestamp(START) - pd.Timedelta(days=1), periods=12, freq="ME")
SINCE = pd.date_range(start=pd.Timestamp(START), periods=6, freq="ME")  # the six months since the start
HEADS = [20, 21, 21, 22, 22, 22]
VAT_BEFORE, VAT_SINCE = 13_000, 14_000


def _csv(header: str, rows: list[tuple]) -> bytes:
    return (header + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n").encode()


@pytest.fixture(scope="module")
async def people(client, app) -> dict[str, dict[str, str]]:
    accounts = {
        "market": ("13900160001", "dept_operator", {"department": "market"}),
        "tax": ("13900160002", "dept_operator", {"department": "tax"}),
        "hrss": ("13900160003", "dept_operator", {"department": "hrss"}),
        "dev": ("13900160004", "dept_operator", {"department": "development"}),
        "analyst": ("13900160006", "analyst", {}),
        "admin": ("13900160007", "admin", {}),
    }
    out = {}
    for key, (phone, role, extra) in accounts.items():
        await make_user(phone, role, **extra)
        out[key] = await login(client, phone)
    return out


async def _send(client, headers, source: str, body: bytes) -> None:
    r = await client.post(f"/api/ingest/{source}", content=body, headers={**headers, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == [], r.json()


def _monthly(months, heads, vat) -> tuple[bytes, bytes]:
    staff = [(f"SI-{u}-{m:%Y%m}", u, m.date().isoformat(), "pension", h * 1_000, 0, h)
             for m, h in zip(months, heads, strict=True) for u in (P, Q)]
    tax = [(f"VAT-{u}-{m:%Y%m}", u, m.date().isoformat(), "vat", v, 0) for m, v in zip(months, vat, strict=True)
           for u in (P, Q)]
    return (_csv("record_key,uscc,event_date,category,amount_yuan,arrears_yuan,quantity", staff),
            _csv("record_key,uscc,event_date,category,amount_yuan,arrears_yuan", tax))


@pytest.fixture(scope="module")
async def region(client, people) -> dict[str, dict[str, str]]:
    """P and Q registered with a year of history before the start; P's and Q's owners."""
    await _send(client, people["market"], "firms", _csv(
        "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status",
        [(P, "项目测试甲公司", "34", "城关镇", 2_000_000, "2016-04-01", "small", "active"),
         (Q, "项目测试乙公司", "34", "城关镇", 2_000_000, "2016-04-01", "small", "active")]))
    staff, tax = _monthly(BASE_MONTHS, [20] * 12, [VAT_BEFORE] * 12)
    await _send(client, people["hrss"], "social_insurance", staff)
    await _send(client, people["tax"], "tax_monthly", tax)
    await make_user("13900160008", "owner", firm_uscc=P)
    await make_user("13900160009", "owner", firm_uscc=Q)
    return {"owner": await login(client, "13900160008"), "other_owner": await login(client, "13900160009")}


async def _ok(response, status: int = 200) -> dict | list:
    assert response.status_code == status, response.text
    return response.json()


async def _portfolio(client, people, project_id: int) -> dict:
    body = await _ok(await client.get("/api/projects/portfolio", headers=people["dev"]))
    assert body["department_code"] == "development"
    mine = [p for p in body["items"] if p["id"] == project_id]
    assert len(mine) == 1, body  # the project is in the department's portfolio
    return body | {"mine": mine[0]}


async def _project_notes(client, headers) -> list[dict]:
    notes = await _ok(await client.get("/api/notifications", params={"limit": 100}, headers=headers))
    return [n for n in notes if n["kind"] == "project"]


async def test_a_project_from_grant_to_score(client, people, region):
    owner, dev = region["owner"], people["dev"]
    policy = await _ok(await client.post("/api/policies", json={
        "title": "技术改造投资补助", "benefit": "按投资额10%补助"}, headers=dev), 201)
    application = await _ok(await client.post(f"/api/policies/{policy['id']}/applications", headers=owner), 201)

    mid_due = TODAY + timedelta(days=7)
    ends_on = (pd.Timestamp(START) + pd.DateOffset(months=12) - pd.Timedelta(days=1)).date()
    terms = {"granted_yuan": 500_000, "starts_on": START.isoformat(), "months": 12,
             "outcomes": [{"metric": "jobs", "change": 12}, {"metric": "tax", "change": 24_000},
                          {"metric": "investment", "change": 1_000_000}],
             "milestones": [{"title": "中期评估", "due_on": mid_due.isoformat()},
                            {"title": "结项验收", "due_on": ends_on.isoformat()}]}
    # bad terms are a 400 naming the field, and the application stays pending
    bad = await client.post(f"/api/policies/applications/{application['id']}/decision", headers=dev,
                            json={"decision": "approve", "project": {**terms, "outcomes": [
                                {"metric": "jobs", "change": 5}, {"metric": "jobs", "change": 6}]}})
    assert bad.status_code == 400 and "project.outcomes" in bad.json()["detail"], bad.text
    decided = await _ok(await client.post(f"/api/policies/applications/{application['id']}/decision",
                                          headers=dev, json={"decision": "approve", "project": terms}))
    assert decided["status"] == "approved" and decided["project_id"]
    pid = decided["project_id"]

    # the grant is a tracked project with its promises and milestones, in the portfolio
    opened = await _portfolio(client, people, pid)
    assert opened["mine"]["granted_yuan"] == 500_000 and opened["granted_yuan"] == 500_000
    assert opened["mine"]["starts_on"] == START.isoformat() and opened["mine"]["ends_on"] == ends_on.isoformat()
    assert [(o["metric"], o["change"]) for o in opened["mine"]["outcomes"]] == [
        ("jobs", 12), ("tax", 24_000), ("investment", 1_000_000)]
    assert [m["title"] for m in opened["mine"]["milestones"]] == ["中期评估", "结项验收"]
    assert (await client.get(f"/api/projects/{pid}", headers=region["other_owner"])).status_code == 403
    assert (await client.get(f"/api/projects/{pid}", headers=people["tax"])).status_code == 403

    # six months of data since the start, behind plan: the after-ingest process tracks it
    staff, tax = _monthly(SINCE, HEADS, [VAT_SINCE] * 6)
    await _send(client, people["hrss"], "social_insurance", staff)
    await _send(client, people["tax"], "tax_monthly", tax)

    project = await _ok(await client.get(f"/api/projects/{pid}", headers=owner))
    month = SINCE[-1].date()
    assert project["status"] == "behind"
    tracking = project["tracking"]
    assert tracking["month"] == month.isoformat() and tracking["planned"] == pytest.approx(0.5)
    outcomes = {o["metric"]: o for o in project["outcomes"]}
    assert outcomes["jobs"]["baseline"] == 20 and outcomes["jobs"]["target"] == 32
    assert outcomes["jobs"]["actual"] == 22 and outcomes["jobs"]["achieved"] == pytest.approx(2 / 12, abs=1e-4)
    assert outcomes["jobs"]["status"] == "behind_plan"
    tax_before = VAT_BEFORE * 12
    tax_now = VAT_BEFORE * 6 + VAT_SINCE * 6
    assert outcomes["tax"]["baseline"] == tax_before and outcomes["tax"]["actual"] == tax_now
    assert outcomes["tax"]["achieved"] == pytest.approx((tax_now - tax_before) / 24_000, abs=1e-4)
    kinds = [(d["kind"], d["metric"]) for d in tracking["deviations"]]
    assert ("behind_plan", "jobs") in kinds and ("behind_plan", "tax") in kinds
    jobs_dev = next(d for d in tracking["deviations"] if d["metric"] == "jobs")
    assert jobs_dev["figures"]["expected"] == 26 and "22" in jobs_dev["text_en"] and "50%" in jobs_dev["text_en"]
    assert "落后于计划" in jobs_dev["text_zh"]
    assert [h["month"] for h in project["history"]] == [month.isoformat()]

    # the deviation is pushed to the owner and to the department (not to another firm's owner)
    for headers in (owner, dev):
        notes = [n for n in await _project_notes(client, headers) if n["body"].get("month") == month.isoformat()]
        assert len(notes) == 1, notes
        assert notes[0]["level"] == "yellow" and notes[0]["body"]["project_id"] == pid
        assert {d["kind"] for d in notes[0]["body"]["deviations"]} == {"behind_plan"}
        assert "落后于计划" in notes[0]["title_zh"]
    assert await _project_notes(client, region["other_owner"]) == []
    reminders = [n for n in await _project_notes(client, owner) if n["body"].get("milestone") == 1]
    assert len(reminders) == 1 and reminders[0]["level"] == "blue"  # due within 14 days

    behind = await _portfolio(client, people, pid)
    assert behind["mine"]["status"] == "behind" and behind["by_status"]["behind"] >= 1

    # tracking again changes nothing and pushes nothing new
    before = len(await _project_notes(client, dev))
    again = await _ok(await client.post("/api/projects/track", headers=people["admin"]))
    assert again["checks"] >= 1 and again["notified"] == 0 and again["reminded"] == 0
    assert len(await _project_notes(client, dev)) == before

    # the owner's self-evaluation of the milestone; a second one is refused
    body = {"milestone": 1, "text": "已完成设备采购和安装，招工进度慢于预期", "score": 70, "investment_yuan": 300_000}
    reported = await _ok(await client.post(f"/api/projects/{pid}/self-evaluations", json=body, headers=owner), 201)
    assert reported["milestones"][0]["self_evaluation"]["score"] == 70
    assert (await client.post(f"/api/projects/{pid}/self-evaluations", json=body, headers=owner)).status_code == 409
    wrong = await client.post(f"/api/projects/{pid}/self-evaluations", json={**body, "milestone": 5}, headers=owner)
    assert wrong.status_code == 400 and "milestone" in wrong.json()["detail"]
    assert any(n["body"].get("milestone") == 1 and "自评" in n["title_zh"] for n in await _project_notes(client, dev))
    assert (await _portfolio(client, people, pid))["mine"]["milestones"][0]["self_evaluation"]["score"] == 70

    # a third party's assessment, with the verified investment
    assessed = await _ok(await client.post(f"/api/projects/{pid}/assessments", headers=dev, json={
        "milestone": 1, "score": 60, "assessor": "某某会计师事务所", "text": "投资属实但低于申报额",
        "investment_yuan": 250_000}), 201)
    assert assessed["milestones"][0]["assessment"]["assessor"] == "某某会计师事务所"
    invest = next(o for o in assessed["outcomes"] if o["metric"] == "investment")
    assert invest["actual"] == 250_000  # the verified figure replaces the firm's own
    assert any("某某会计师事务所" in n["title_zh"] for n in await _project_notes(client, owner))

    # the result evaluation closes it with the score the formula gives
    closed = await _ok(await client.post(f"/api/projects/{pid}/close", json={"text": "就业目标未完成"}, headers=dev))
    achieved = [2 / 12, (tax_now - tax_before) / 24_000, 250_000 / 1_000_000]
    expected = round(0.7 * 100 * sum(achieved) / 3 + 0.3 * 60)
    assert closed["score"] == expected and closed["status"] == "failed"
    assert closed["result"]["score"] == expected and closed["result"]["figures"]["rating"] == "fail"
    assert closed["closed_at"] is not None
    assert (await client.post(f"/api/projects/{pid}/close", json={}, headers=dev)).status_code == 409
    assert any("结项" in n["title_zh"] for n in await _project_notes(client, owner))
    final = await _portfolio(client, people, pid)
    assert final["mine"]["status"] == "failed" and final["mine"]["score"] == expected

    # the department's views are in the firm's access log; the analyst sees the region's summary
    log = await _ok(await client.get(f"/api/firms/{P}/access-log", headers=owner))
    assert any(e["what"] == "project" and e["viewer_role"] == "dept_operator" for e in log)
    summary = await _ok(await client.get("/api/projects/summary", headers=people["analyst"]))
    dev_row = next(d for d in summary["departments"] if d["department_code"] == "development")
    assert dev_row["firms"] == 1 and dev_row["projects"] is None  # one firm: withheld
    assert (await client.get("/api/projects/summary", headers=owner)).status_code == 403
