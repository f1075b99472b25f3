"""Model versions over HTTP on each engine (issue 11, "what to build" 5): the scale and grade
bands are fixed; a retrained model reports how many firms it moves to another grade against the
active one, and past the configured share it waits until an admin confirms it; exactly one
version is ever active, even when admins promote at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pandas as pd
import pytest

pytestmark = pytest.mark.anyio

URL = "/api/models"
STANDARD = {"A": 641, "B": 577, "C": 494, "D": 0}


async def _train(settings, engine, months_back: int, share: float) -> str:
    """A model trained as of ``months_back`` months before the data's end (so it differs from
    the demo's), with ``share`` as the confirmation threshold."""
    from server.scores.frames import load_records
    from server.scores.pipeline import data_end, train_platform_model

    end = data_end(await load_records(engine)) - pd.DateOffset(months=months_back) + pd.offsets.MonthEnd(0)
    return await train_platform_model(replace(settings, grade_change_confirm_share=share),
                                      as_of=end.date(), engine=engine)


async def _versions(client, tokens) -> dict[str, dict]:
    r = await client.get(f"{URL}/", headers=tokens["admin"])
    assert r.status_code == 200, r.text
    return {m["version"]: m for m in r.json()}


async def _active(client, tokens) -> list[str]:
    return [v for v, m in (await _versions(client, tokens)).items() if m["active"]]


async def test_the_list_shows_the_active_version_on_the_fixed_scale(client, tokens, demo):
    models = await _versions(client, tokens)
    assert await _active(client, tokens) == [demo.model_version]
    m = models[demo.model_version]
    assert m["score_scale"] == {"base_points": 600.0, "base_odds": 99.0, "pdo": 40.0}
    assert m["pd_bands"]["upper"] == [0.005, 0.015, 0.06]
    assert m["grade_min_scores"] == STANDARD
    assert m["grade_changes"] == {} and not m["awaiting_confirmation"]  # the first model
    for role in ("owner", "bank_manager", "subscriber", "dept_operator"):
        assert (await client.get(f"{URL}/", headers=tokens[role])).status_code == 403
        r = await client.post(f"{URL}/{demo.model_version}/promote", json={"confirm": True}, headers=tokens[role])
        assert r.status_code == 403


async def test_a_version_moving_more_grades_than_allowed_waits_for_an_admin(client, tokens, demo, settings, engine):
    from server.tables.scores import ScoringRun
    from server.tables.users import User

    before = await _active(client, tokens)
    version = await _train(settings, engine, 3, share=0.0)
    m = (await _versions(client, tokens))[version]
    changes = m["grade_changes"]
    assert changes["against"] == before[0]
    assert changes["changed"] > 0, "a model trained three months earlier grades some firms differently"
    matrix = changes["matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == changes["firms"] <= demo.firms
    assert changes["firms"] - sum(matrix[g][g] for g in "ABCD") == changes["changed"]
    assert changes["share"] == pytest.approx(changes["changed"] / changes["firms"])
    assert m["awaiting_confirmation"] and not m["active"]
    assert await _active(client, tokens) == before  # scoring still uses the active model

    r = await client.post(f"{URL}/{version}/promote", json={}, headers=tokens["admin"])
    assert r.status_code == 409 and "confirm" in r.json()["detail"], r.text
    assert await _active(client, tokens) == before
    r = await client.post(f"{URL}/{version}/promote", json={"confirm": True, "force": 1}, headers=tokens["admin"])
    assert r.status_code == 400, r.text
    r = await client.post(f"{URL}/xinbao-nope/promote", json={"confirm": True}, headers=tokens["admin"])
    assert r.status_code == 404 and "version" in r.json()["detail"]

    r = await client.post(f"{URL}/{version}/promote", json={"confirm": True}, headers=tokens["admin"])
    assert r.status_code == 200, r.text
    out = r.json()
    admin = await User.select(User.id).where(User.role == "admin").first()
    assert out["active"] and not out["awaiting_confirmation"] and out["rescoring"]
    assert out["promoted_by"] == admin["id"] and out["promoted_at"]
    assert await _active(client, tokens) == [version]
    run = await ScoringRun.select().order_by(ScoringRun.id, ascending=False).first()
    assert (run["model_version"], run["reason"]) == (version, "promotion")  # re-scored after the answer
    again = await client.post(f"{URL}/{version}/promote", json={"confirm": True}, headers=tokens["admin"])
    assert again.status_code == 200 and not again.json()["rescoring"]  # already active: nothing to do


async def test_a_version_within_the_share_is_activated_by_training(client, tokens, settings, engine):
    before = await _active(client, tokens)
    version = await _train(settings, engine, 1, share=1.0)
    m = (await _versions(client, tokens))[version]
    assert m["active"] and not m["awaiting_confirmation"]
    assert m["grade_changes"]["against"] == before[0]
    assert await _active(client, tokens) == [version]


async def test_admins_promoting_at_once_leave_exactly_one_active_version(client, tokens, demo, settings, engine):
    from server.tables.scores import ModelVersion

    waiting = await _train(settings, engine, 4, share=0.0)
    for _ in range(3):
        results = await asyncio.gather(*(
            client.post(f"{URL}/{v}/promote", json={"confirm": True}, headers=tokens["admin"])
            for v in (waiting, demo.model_version, waiting, demo.model_version)))
        assert all(r.status_code == 200 for r in results), [r.text for r in results]
        active = await _active(client, tokens)
        assert len(active) == 1 and active[0] in (waiting, demo.model_version)
    # the database itself refuses a second active version
    with pytest.raises(Exception, match="(?i)unique"):
        await ModelVersion.update({ModelVersion.active: True}).where(ModelVersion.version != active[0])
    assert await _active(client, tokens) == active


async def test_model_health_on_matured_outcomes_is_checked_stored_and_shown_to_admins(client, tokens, demo, settings,
                                                                                   engine):
    from server.jobs import platform_jobs
    from server.tables.risk import RiskSnapshot
    from server.tables.scores import ScoreHistory, ScoringRun

    r = await client.post(f"{URL}/health", headers=tokens["admin"])
    assert r.status_code == 200, r.text
    health = r.json()
    assert health["horizon_months"] == 12 and health["periods"], "the demo's oldest back-scores have matured"
    end = pd.Timestamp(health["data_end"])
    for p in health["periods"]:
        assert pd.Timestamp(p["as_of"]) + pd.DateOffset(months=12) <= end  # only matured dates
        run = await ScoringRun.select(ScoringRun.id).where(ScoringRun.as_of == pd.Timestamp(p["as_of"]).date()).order_by(
            ScoringRun.id, ascending=False).first()
        scored = await ScoreHistory.count().where(ScoreHistory.run == run["id"])
        # firms already in default then, and firms owing no bank in the year after, are left out
        assert 0 < p["firms"] < scored
        assert sum(g["firms"] for g in p["by_grade"].values()) == p["firms"]
        assert sum(g["defaults"] for g in p["by_grade"].values()) == p["defaults"]
        assert p["expected_defaults"] > 0 and p["model_version"] == demo.model_version
        assert p["auc"] is None or 0.0 <= p["auc"] <= 1.0
    assert health["drift"]["psi_score"] >= 0
    assert {a["figure"] for a in health["alerts"]} <= {"auc", "ks", "observed_to_expected", "bad_rate_by_grade",
                                                       "psi_score"}
    got = await client.get(f"{URL}/health", headers=tokens["admin"])
    assert got.status_code == 200 and got.json()["checked_at"] == health["checked_at"]  # the stored check
    for role in ("owner", "bank_manager", "subscriber", "dept_operator"):
        assert (await client.get(f"{URL}/health", headers=tokens[role])).status_code == 403

    job = {j.name: j for j in platform_jobs(settings, engine)}["model_health"]
    await job.func(pd.Timestamp.now(tz="UTC").to_pydatetime())
    rows = await RiskSnapshot.select(RiskSnapshot.as_of).where(RiskSnapshot.kind == "model_health")
    assert len(rows) == 1  # a re-check of the same data replaces the stored one


async def test_the_model_card_is_generated_from_the_registry(demo, settings, db_url, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from scoring import ModelRegistry
    from server.scores.model_card import KNOWN_LIMITS, model_card

    card = await model_card(settings, demo.model_version)
    meta = ModelRegistry(settings.model_dir).meta(demo.model_version)
    assert card.startswith(f"# Model card: `{demo.model_version}`")
    for heading in ("Population and labels", "Out-of-time figures", "Calibration by grade (out of time)",
                    "Matured outcomes of stored scores", "Score scale and grades", "Hard overrides", "Known limits"):
        assert f"## {heading}" in card
    assert meta["training_data_hash"] in card and f"{meta['metrics']['oot_auc']:.3f}" in card
    assert meta["oot_calibration"], "the demo has out-of-time labels"
    for c in meta["oot_calibration"]:
        assert f"| {c['grade']} | {c['firms']} | {100 * c['mean_pd']:.2f} % | {100 * c['bad_rate']:.2f} % |" in card
    pop = meta["population"]  # developed on the firms owing a bank in the outcome window
    assert 0 < pop["exposed_firms"] < pop["firms_not_in_default"]
    assert f"at {pop['as_of']}, {pop['exposed_firms']} of the {pop['firms_not_in_default']} firms not in default" in card
    assert f"({pop['unexposed_firms']} at {pop['as_of']})" in card and "no reject inference" in card
    first = meta["oot_first_loan"]
    assert f"the {first['firms']} firms taking their first loan were given a mean PD of {100 * first['mean_pd']:.2f} %" in card
    assert "600 points = PD 1.00 %, 40 points double the odds" in card
    assert "| A | 0 | 0.5 % | 641 | 1000 |" in card and "| D | 6.0 % | — | 0 | 493 |" in card
    assert "`bank_default`: on, from 90 days overdue" in card
    assert all(limit in card for limit in KNOWN_LIMITS)

    if not db_url.startswith("sqlite"):
        return  # the command itself: once is enough
    out = tmp_path / "card.md"
    xinbao = Path(sys.executable).with_name("xinbao")
    env = {"XINBAO_DATABASE_URL": db_url, "XINBAO_DATA_DIR": str(settings.data_dir), "XINBAO_DEMO": "1",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(xinbao), "model-card", "--version", demo.model_version, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text("utf-8") == card


async def _training_done(client, tokens, seconds: float = 180) -> dict:
    for _ in range(int(seconds * 4)):
        status = (await client.get(f"{URL}/training", headers=tokens["admin"])).json()
        if status["status"] != "running":
            return status
        await asyncio.sleep(0.25)
    raise AssertionError("the training run did not end")


async def test_admins_train_from_the_api_one_run_at_a_time_and_review_the_result(client, tokens, demo,
                                                                                  settings):
    """The back office's "train a candidate" (issue 13): the run starts in the background, one at
    a time (the database holds the slot), and its version waits for review."""
    from server.scores.training import TRAIN_JOB
    from server.tables.jobs import JobRun

    assert (await client.get(f"{URL}/training", headers=tokens["admin"])).json()["status"] == "idle"
    for body, field in (({"review": "x"}, "review"), ({"as_of": "not a date"}, "as_of"), ({"nope": 1}, "nope")):
        r = await client.post(f"{URL}/train", json=body, headers=tokens["admin"])
        assert r.status_code == 400 and field in r.text, r.text
    for role in ("owner", "bank_manager", "dept_operator"):
        assert (await client.post(f"{URL}/train", json={}, headers=tokens[role])).status_code == 403
        assert (await client.get(f"{URL}/training", headers=tokens[role])).status_code == 403
    before = await _active(client, tokens)

    # two admins press "train" at once: exactly one run starts
    answers = await asyncio.gather(*[client.post(f"{URL}/train", json={}, headers=tokens["admin"])
                                     for _ in range(2)])
    assert sorted(r.status_code for r in answers) == [202, 409], [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 409)
    assert refused.json()["detail"].startswith("training:"), refused.text
    started = next(r for r in answers if r.status_code == 202).json()
    assert started["status"] == "running" and started["started_at"]
    assert (await client.get("/api/health")).status_code == 200  # the API answers while it trains
    done = await _training_done(client, tokens)
    assert done["status"] == "done" and done["version"] and done["finished_at"], done
    assert await JobRun.count().where(JobRun.job == TRAIN_JOB) == 1  # one slot, reused
    made = (await _versions(client, tokens))[done["version"]]
    assert made["awaiting_confirmation"] and not made["active"]  # review: it waits for an admin
    assert await _active(client, tokens) == before
    # the admin promotes it; confirm is asked only past the share, as for any waiting version
    if made["grade_changes"].get("share", 0.0) > settings.grade_change_confirm_share:
        r = await client.post(f"{URL}/{done['version']}/promote", json={}, headers=tokens["admin"])
        assert r.status_code == 409 and r.json()["detail"].startswith("confirm:"), r.text
    r = await client.post(f"{URL}/{done['version']}/promote", json={"confirm": True}, headers=tokens["admin"])
    assert r.status_code == 200 and r.json()["active"] and not r.json()["awaiting_confirmation"], r.text
    assert await _active(client, tokens) == [done["version"]]

    # the slot is free again: a second run (now within the share: it may activate itself)
    again = await client.post(f"{URL}/train", json={"review": False}, headers=tokens["admin"])
    assert again.status_code == 202, again.text
    second = await _training_done(client, tokens)
    assert second["status"] == "done" and second["version"] != done["version"]
    r = await client.post(f"{URL}/{before[0]}/promote", json={"confirm": True}, headers=tokens["admin"])
    assert r.status_code == 200  # back to the demo's model for the tests after this one
    assert await _active(client, tokens) == before


async def test_a_dead_run_frees_the_slot_and_a_failed_run_says_why(app, client, tokens, settings):
    from datetime import UTC, datetime, timedelta

    from server.scores.training import _SLOT, STALE_AFTER, TRAIN_JOB, stop_training
    from server.tables.jobs import JobRun

    await JobRun.delete().where(JobRun.job == TRAIN_JOB)
    # a run whose process died long ago is still "running" in its row: it blocks nothing
    await JobRun.insert(JobRun(job=TRAIN_JOB, scheduled_at=_SLOT, worker="admin:1:dead", status="running",
                               started_at=datetime.now(UTC) - STALE_AFTER - timedelta(minutes=1)))
    dead = (await client.get(f"{URL}/training", headers=tokens["admin"])).json()
    assert dead["status"] == "failed" and dead["error"] and dead["requested_by"] == 1, dead
    r = await client.post(f"{URL}/train", json={"as_of": "1990-01-31"}, headers=tokens["admin"])
    assert r.status_code == 202, r.text
    failed = await _training_done(client, tokens)
    assert failed["status"] == "failed" and failed["error"], failed  # no labelled history in 1990
    # a fresh "running" row (another process training now) refuses a second run
    await JobRun.update({JobRun.status: "running", JobRun.started_at: datetime.now(UTC)}).where(
        JobRun.job == TRAIN_JOB)
    r = await client.post(f"{URL}/train", json={}, headers=tokens["admin"])
    assert r.status_code == 409 and "still running" in r.json()["detail"], r.text
    # the API stopping mid-run (its lifespan stops the runs) frees the slot at once, saying why
    await JobRun.update({JobRun.status: "done"}).where(JobRun.job == TRAIN_JOB)
    assert (await client.post(f"{URL}/train", json={}, headers=tokens["admin"])).status_code == 202
    await stop_training(app.state.training_runs)
    stopped = (await client.get(f"{URL}/training", headers=tokens["admin"])).json()
    assert stopped["status"] == "failed" and "stopped" in stopped["error"], stopped
    assert not app.state.training_runs
    await JobRun.delete().where(JobRun.job == TRAIN_JOB)
