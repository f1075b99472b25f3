"""The demo platform end to end on each engine: region -> ingestion -> model -> scores -> API."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.integration.conftest import DEMO_FIRMS

pytestmark = pytest.mark.anyio

async def test_demo_region_is_loaded_through_ingestion(demo):
    from server.tables.ingest import IngestBatch

    assert demo.firms == DEMO_FIRMS
    assert demo.records > DEMO_FIRMS * 50
    sources = {r["source"] for r in await IngestBatch.select(IngestBatch.source)}
    assert {"firms", "relations", "guarantees", "tax_monthly", "bank_loan"} <= sources


async def test_login_me_and_evaluation_of_the_owner(client, tokens, demo):
    me = (await client.get("/api/me", headers=tokens["owner"])).json()
    assert me["role"] == "owner"
    assert me["firm_uscc"] == demo.firm_uscc
    r = await client.get(f"/api/firms/{demo.firm_uscc}/evaluation", headers=tokens["owner"])
    assert r.status_code == 200, r.text
    ev = r.json()
    assert 0 <= ev["score"] <= 1000
    assert ev["grade"] in {"A", "B", "C", "D"}
    assert ev["model_version"] == demo.model_version
    assert 0 < ev["pd"] < 1
    assert len(ev["dimensions"]) == 6
    assert all(0 <= v <= 100 for v in ev["dimensions"].values())
    assert len(ev["history"]) >= 12  # back-scored months for the history line


async def test_every_firm_is_scored_and_grades_spread(demo):
    from server.tables.scores import ScoreHistory, ScoringRun

    latest = await ScoringRun.select(ScoringRun.id).order_by(ScoringRun.as_of, ascending=False).first()
    rows = await ScoreHistory.select(ScoreHistory.grade).where(ScoreHistory.run == latest["id"])
    grades = [r["grade"] for r in rows]
    assert len(grades) >= DEMO_FIRMS * 0.9
    assert set(grades) == {"A", "B", "C", "D"}


async def test_bank_sees_evaluation_only_with_consent_and_views_are_logged(client, tokens, demo):
    url = f"/api/firms/{demo.firm_uscc}/evaluation"
    refused = await client.get(url, headers=tokens["bank_manager"])
    assert refused.status_code == 403
    assert "no active consent" in refused.json()["detail"]

    bank_id = (await client.get("/api/me", headers=tokens["bank_manager"])).json()["bank_id"]
    granted = await client.post("/api/consents", json={"bank_id": bank_id, "days": 30}, headers=tokens["owner"])
    assert granted.status_code == 201, granted.text
    consent_id = granted.json()["id"]
    log_before = (await client.get(f"/api/firms/{demo.firm_uscc}/access-log", headers=tokens["owner"])).json()

    assert (await client.get(url, headers=tokens["bank_manager"])).status_code == 200
    log = (await client.get(f"/api/firms/{demo.firm_uscc}/access-log", headers=tokens["owner"])).json()
    assert len(log) == len(log_before) + 1
    assert log[0]["viewer_role"] == "bank_manager" and log[0]["bank_id"] == bank_id
    # the owner is told the consent was used: once a day per bank, however often it looks
    assert (await client.get(url, headers=tokens["bank_manager"])).status_code == 200
    told = [n for n in (await client.get("/api/notifications", headers=tokens["owner"])).json()
            if n["kind"] == "consent" and n["body"].get("bank_id") == bank_id]
    assert len(told) == 1, told
    bank_name = log[0]["bank_name"]
    assert told[0]["title_zh"] == f"{bank_name}查看了您的信用评价（依据您的授权）"
    assert told[0]["title_en"].startswith(f"{bank_name} viewed your credit evaluation")
    assert told[0]["firm_uscc"] == demo.firm_uscc

    consents = (await client.get("/api/consents", headers=tokens["owner"])).json()
    assert [c["active"] for c in consents if c["id"] == consent_id] == [True]
    assert (await client.delete(f"/api/consents/{consent_id}", headers=tokens["owner"])).status_code == 204
    assert (await client.get(url, headers=tokens["bank_manager"])).status_code == 403
    # owners' own views are not logged; the refused view is not a view
    log_after = (await client.get(f"/api/firms/{demo.firm_uscc}/access-log", headers=tokens["owner"])).json()
    assert len(log_after) == len(log) + 1  # the second view above


@pytest.mark.parametrize(("role", "status"), [("bank_manager", 403), ("subscriber", 403), ("admin", 200)])
async def test_who_reads_the_access_log(client, tokens, demo, role, status):
    r = await client.get(f"/api/firms/{demo.firm_uscc}/access-log", headers=tokens[role])
    assert r.status_code == status


async def test_consent_for_unknown_bank_names_the_field(client, tokens):
    r = await client.post("/api/consents", json={"bank_id": 99999, "days": 30}, headers=tokens["owner"])
    assert r.status_code == 400 and "bank_id" in r.text
    r = await client.post("/api/consents", json={"bank_id": 1, "days": 0}, headers=tokens["owner"])
    assert r.status_code == 400 and "days" in r.text


@pytest.mark.parametrize(("role", "status"), [("subscriber", 403), ("dept_operator", 403), ("admin", 200)])
async def test_other_roles_on_the_evaluation(client, tokens, demo, role, status):
    r = await client.get(f"/api/firms/{demo.firm_uscc}/evaluation", headers=tokens[role])
    assert r.status_code == status


async def test_owner_cannot_read_another_firm(client, tokens, demo):
    from server.tables.firms import Firm

    other = await Firm.select(Firm.uscc).where(Firm.uscc != demo.firm_uscc).first()
    r = await client.get(f"/api/firms/{other['uscc']}/evaluation", headers=tokens["owner"])
    assert r.status_code == 403


async def test_unknown_firm_is_404(client, tokens):
    r = await client.get("/api/firms/91330100799655058B/evaluation", headers=tokens["admin"])
    assert r.status_code == 404


async def test_nightly_rescore_job_is_safe_to_run_twice(settings, demo, engine):

    from server.jobs import platform_jobs
    from server.tables.scores import ScoringRun

    job = next(j for j in platform_jobs(settings, engine) if j.name == "nightly_rescore")
    now = datetime.now(UTC)
    await job.func(now)
    await job.func(now)
    assert await ScoringRun.count().where(ScoringRun.reason == "nightly") == 1


async def test_search_and_public_profile(client, tokens, demo):
    fragment = demo.firm_name[2:5]
    found = (await client.get("/api/firms", params={"q": fragment}, headers=tokens["subscriber"])).json()
    assert demo.firm_uscc in [f["uscc"] for f in found]
    assert all(fragment in f["name"] for f in found)
    by_code = (await client.get("/api/firms", params={"q": demo.firm_uscc[:12]}, headers=tokens["subscriber"])).json()
    assert demo.firm_uscc in [f["uscc"] for f in by_code]
    prof = (await client.get(f"/api/firms/{demo.firm_uscc}", headers=tokens["subscriber"])).json()
    assert prof["grade"] in {"A", "B", "C", "D"}
    assert "score" not in prof and "pd" not in prof  # public fields only
    # the registration facts of the overview: capital and the current legal representative
    from server.tables.firms import Firm, FirmPerson

    firm = await Firm.select(Firm.id, Firm.registered_capital_fen).where(Firm.uscc == demo.firm_uscc).first()
    assert prof["registered_capital_yuan"] == firm["registered_capital_fen"] // 100 > 0
    reps = await FirmPerson.select(FirmPerson.person.name, FirmPerson.end_date, FirmPerson.start_date).where(
        (FirmPerson.firm == firm["id"]) & (FirmPerson.role == "legal_rep"))
    current = sorted((r for r in reps if r["end_date"] is None), key=lambda r: r["start_date"])
    assert current, "the demo owner's firm has a legal representative"
    assert prof["legal_representative"] == current[-1]["person.name"]
    assert (await client.get("/api/firms", params={"q": "x"})).status_code == 401
    assert (await client.get("/api/firms", params={"q": ""}, headers=tokens["subscriber"])).status_code == 400


async def test_screening_pages_every_firm_in_the_chosen_order(client, tokens, demo):
    from server.tables.firms import Firm

    capital = {r["uscc"]: r["registered_capital_fen"] or 0
               for r in await Firm.select(Firm.uscc, Firm.registered_capital_fen)}
    pages = []
    for offset in (0, 25):
        r = await client.get("/api/firms", params={"sort": "capital", "limit": 25, "offset": offset},
                             headers=tokens["bank_manager"])
        assert r.status_code == 200, r.text
        pages += [f["uscc"] for f in r.json()]
    assert len(pages) == len(set(pages)) == 50  # no keyword needed; pages do not overlap
    caps = [capital[u] for u in pages]
    assert caps == sorted(caps, reverse=True) and caps[0] == max(capital.values())
    bad = await client.get("/api/firms", params={"sort": "score"}, headers=tokens["bank_manager"])
    assert bad.status_code == 400 and "sort" in bad.json()["detail"]


async def test_weight_profiles_are_versioned_and_named_by_every_new_score(client, tokens, demo, settings, engine):
    from server.scores.pipeline import score_platform

    body = {"name": "tax-relief", "reason": "restart delayed", "valid_from": "2000-01-01",
            "adjustments": [{"target": "kind:tax_monthly", "factor": 0.5}]}
    assert (await client.post("/api/weight-profiles", json=body, headers=tokens["owner"])).status_code == 403
    bad = await client.post("/api/weight-profiles", json={**body, "adjustments": [{"target": "x", "factor": 9}]},
                            headers=tokens["admin"])
    assert bad.status_code == 400 and "factor" in bad.text
    first = await client.post("/api/weight-profiles", json=body, headers=tokens["admin"])
    assert first.status_code == 201, first.text
    assert first.json()["version"] == "tax-relief@v1"
    second = await client.post("/api/weight-profiles", json={**body, "reason": "extended"}, headers=tokens["admin"])
    assert second.json()["version"] == "tax-relief@v2"
    assert len(second.json()["history"]) == 2

    await score_platform(settings, engine=engine, reason="manual")
    ev = (await client.get(f"/api/firms/{demo.firm_uscc}/evaluation", headers=tokens["owner"])).json()
    assert ev["weight_profile_version"] == "tax-relief@v2"
    assert ev["model_version"] == demo.model_version


async def test_a_weight_profile_previews_who_it_moves_before_it_is_stored(client, tokens, demo):
    """Issue 18 (crisis re-weighting): the preview scores the latest date with the proposed
    profile beside the one in force, names who moves and stores nothing."""
    from server.tables.scores import ScoreHistory, ScoringRun

    url = "/api/weight-profiles/preview"
    crisis = {"name": "crisis", "reason": "tax and social insurance halved", "valid_from": str(date.today()),
              "adjustments": [{"target": "kind:tax_monthly", "factor": 0.5},
                              {"target": "kind:social_insurance", "factor": 0.5}]}
    for role in ("owner", "bank_manager", "subscriber", "dept_operator"):
        assert (await client.post(url, json=crisis, headers=tokens[role])).status_code == 403
    bad = await client.post(url, json={**crisis, "adjustments": [{"target": "nope", "factor": 0.5}]},
                            headers=tokens["admin"])
    assert bad.status_code == 400 and bad.json()["detail"].startswith("adjustments[0].target"), bad.text
    before = (await client.get("/api/weight-profiles", headers=tokens["admin"])).json()

    r = await client.post(url, json=crisis, headers=tokens["admin"])
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["profile_version"] == "crisis@v1" == p["in_force_version"] and p["changed"] > 0, p
    matrix = p["matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == p["firms"]
    assert p["changed"] == sum(n for g, row in matrix.items() for h, n in row.items() if g != h)
    assert p["up"] + p["down"] == p["changed"] and 0 < len(p["moved"]) <= min(50, p["changed"])
    # "before" is what the platform shows today: the stored scores of the latest run of that date
    runs = await ScoringRun.select(ScoringRun.id, ScoringRun.firms).where(
        ScoringRun.as_of == date.fromisoformat(p["as_of"])).order_by(ScoringRun.id, ascending=False)
    run = next(r for r in runs if r["firms"] == p["firms"])
    stored = {r["firm.uscc"]: (r["grade"], r["score"]) for r in await ScoreHistory.select(
        ScoreHistory.firm.uscc, ScoreHistory.grade, ScoreHistory.score).where(ScoreHistory.run == run["id"])}
    for m in p["moved"]:
        assert m["grade_from"] != m["grade_to"] and stored[m["uscc"]] == (m["grade_from"], m["score_from"])
    moves = [abs(m["score_to"] - m["score_from"]) for m in p["moved"]]
    assert moves == sorted(moves, reverse=True)  # the largest moves first
    assert (await client.get("/api/weight-profiles", headers=tokens["admin"])).json() == before  # nothing stored

    # The profile in force now, proposed again: nobody moves.
    in_force = next((v for v in before if v["version"] == p["current_profile_version"]), None)
    keep = in_force["adjustments"] if in_force else [{"target": "kind:tax_monthly", "factor": 1.0}]
    same = await client.post(url, json={**crisis, "adjustments": keep}, headers=tokens["admin"])
    assert same.status_code == 200 and same.json()["changed"] == 0 and same.json()["moved"] == []


async def test_a_profile_in_force_today_applies_at_once_and_tells_the_owners_it_moves(client, tokens, demo):
    """Issue 18: a stored profile in force on the latest scoring date re-scores the region at once
    (not at the next command-line run), as its preview said, and owners it moves are told why."""
    from server.tables.notifications import Notification
    from server.tables.scores import ScoringRun
    from tests.integration.conftest import make_user

    run = await ScoringRun.select(ScoringRun.as_of).where(ScoringRun.reason.is_in(["full", "profile"])).order_by(
        ScoringRun.as_of, ascending=False).first()
    body = {"name": "crisis-now", "reason": "疫情期间税收社保权重减半", "valid_from": str(run["as_of"]),
            "adjustments": [{"target": "kind:tax_monthly", "factor": 0.5},
                            {"target": "kind:social_insurance", "factor": 0.5}]}
    preview = (await client.post("/api/weight-profiles/preview", json=body, headers=tokens["admin"])).json()
    assert preview["in_force_version"] == "crisis-now@v1" and preview["moved"], preview
    owners = {}
    for k, m in enumerate(preview["moved"][:3]):
        owners[m["uscc"]] = (await make_user(f"1390009100{k}", "owner", firm_uscc=m["uscc"]), m)

    r = await client.post("/api/weight-profiles", json=body, headers=tokens["admin"])
    assert r.status_code == 201 and r.json()["rescoring"] is True, r.text
    for uscc, (user_id, m) in owners.items():
        ev = (await client.get(f"/api/firms/{uscc}/evaluation", headers=tokens["admin"])).json()
        assert ev["weight_profile_version"] == "crisis-now@v1" and ev["as_of"] == str(run["as_of"])
        assert (ev["grade"], ev["score"]) == (m["grade_to"], m["score_to"])  # as previewed
        told = await Notification.select(Notification.title, Notification.level, Notification.body).where(
            (Notification.user == user_id) & (Notification.kind == "grade")).output(load_json=True)
        assert len(told) == 1 and f"由{m['grade_from']}级调整为{m['grade_to']}级" in told[0]["title"], told
        assert "疫情期间税收社保权重减半" in told[0]["title"] and told[0]["body"]["title_en"].startswith("Scoring rules")
        assert told[0]["level"] == ("yellow" if m["grade_to"] > m["grade_from"] else "blue")
    # A profile starting after the latest scoring date waits for its first run.
    later = await client.post("/api/weight-profiles", json={**body, "name": "next-year", "valid_from": "2099-01-01"},
                              headers=tokens["admin"])
    assert later.status_code == 201 and later.json()["rescoring"] is False


async def test_evaluation_places_the_firm_in_its_industry(client, tokens, demo, settings):
    from server.tables.firms import Firm
    from server.tables.scores import ScoreHistory, ScoringRun

    ev = (await client.get(f"/api/firms/{demo.firm_uscc}/evaluation", headers=tokens["owner"])).json()
    ind = ev["industry"]
    firm = await Firm.select(Firm.id, Firm.industry_section).where(Firm.uscc == demo.firm_uscc).first()
    # its division, section or the whole region: a group of K firms besides this one
    assert ind["level"] in ("division", "section", "region")
    assert ind["level"] == "region" or ind["code"].split(":")[0] == firm["industry_section"]
    assert ind["firms"] - 1 >= settings.min_group_size == ind["min_group_size"]
    assert set(ind["dimensions"]) == set(ev["dimensions"])

    # The same figures straight from the scores of the run the evaluation comes from.
    latest = await ScoreHistory.select(ScoreHistory.run).where(ScoreHistory.firm == firm["id"]).order_by(
        ScoreHistory.as_of, ascending=False).order_by(ScoreHistory.id, ascending=False).first()
    assert await ScoringRun.exists().where(ScoringRun.id == latest["run"])
    rows = await ScoreHistory.select(ScoreHistory.score, ScoreHistory.firm.industry_section,
                                     ScoreHistory.firm.industry_division).where(ScoreHistory.run == latest["run"])
    peers = [r["score"] for r in rows if {
        "region": "all", "section": r["firm.industry_section"],
        "division": f"{r['firm.industry_section']}:{r['firm.industry_division']}"}[ind["level"]] == ind["code"]]
    assert ind["firms"] == len(peers)
    assert abs(ind["mean_score"] - sum(peers) / len(peers)) < 0.1
    below = sum(s < ev["score"] for s in peers) + 0.5 * sum(s == ev["score"] for s in peers)
    assert abs(ind["percentile"] - 100 * below / len(peers)) <= 3.0


async def test_prospects_screen_firms_by_grade_industry_and_town(client, tokens, demo):
    from server.tables.firms import Firm

    bank = tokens["bank_manager"]
    me = (await client.get(f"/api/firms/{demo.firm_uscc}", headers=bank)).json()
    r = await client.get("/api/firms", params={"grade": me["grade"], "industry": me["industry_section"],
                                               "town": me["town"], "limit": 100}, headers=bank)
    assert r.status_code == 200, r.text
    found = r.json()
    assert demo.firm_uscc in {f["uscc"] for f in found}
    assert all(f["grade"] == me["grade"] and f["industry_section"] == me["industry_section"]
               and f["town"] == me["town"] for f in found)
    # every firm of that town and industry with that grade, no more and no fewer
    peers = await Firm.select(Firm.uscc).where(
        (Firm.town == me["town"]) & (Firm.industry_section == me["industry_section"]))
    graded = [(await client.get(f"/api/firms/{p['uscc']}", headers=bank)).json()["grade"] for p in peers]
    assert len(found) == sum(g == me["grade"] for g in graded)
    # public fields only: no score, no PD
    assert not {"score", "pd", "dimensions"} & set(found[0])
    bad = await client.get("/api/firms", params={"grade": "E"}, headers=bank)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("grade")


async def test_concurrent_revisions_of_a_profile_never_fail_the_server(client, tokens, demo):
    # Found by schemathesis: two revisions at once both took the next version number (500).
    import asyncio

    body = {"name": "并发修订测试", "reason": "concurrency", "valid_from": "2030-01-01",
            "adjustments": [{"target": "kind:tax_monthly", "factor": 0.9}]}
    answers = await asyncio.gather(*[client.post("/api/weight-profiles", json=body, headers=tokens["admin"])
                                     for _ in range(6)])
    assert {r.status_code for r in answers} <= {201, 409}
    made = [r.json()["version"] for r in answers if r.status_code == 201]
    assert made and len(made) == len(set(made))
    conflicts = [r.json()["detail"] for r in answers if r.status_code == 409]
    assert all(d.startswith("name:") for d in conflicts)


async def test_revision_starting_after_the_profile_ends_names_valid_to(client, tokens, demo):
    # Found by schemathesis: the revision kept the old end date, before its new start (500).
    base = {"name": "到期后修订测试", "reason": "r", "adjustments": [{"target": "kind:tax_monthly", "factor": 0.8}]}
    first = await client.post("/api/weight-profiles", headers=tokens["admin"],
                              json={**base, "valid_from": "2030-01-01", "valid_to": "2030-06-30"})
    assert first.status_code == 201, first.text
    late = await client.post("/api/weight-profiles", headers=tokens["admin"], json={**base, "valid_from": "2031-01-01"})
    assert late.status_code == 400 and late.json()["detail"].startswith("valid_to"), late.text
    fixed = await client.post("/api/weight-profiles", headers=tokens["admin"],
                              json={**base, "valid_from": "2031-01-01", "valid_to": "2031-12-31"})
    assert fixed.status_code == 201 and fixed.json()["version"].endswith("@v2"), fixed.text
