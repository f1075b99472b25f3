"""Objections end to end on each engine: the owner disputes a tax record, the tax department
corrects or rejects it, a correction supersedes the record and re-scores the firm at once."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tests.integration.conftest import login, make_user
from tests.integration.test_feature_store import assert_store_matches

pytestmark = pytest.mark.anyio

RECORDS = "/api/objections/records"


async def _evaluation(client, tokens, uscc: str) -> dict:
    r = await client.get(f"/api/firms/{uscc}/evaluation", headers=tokens["owner"])
    assert r.status_code == 200, r.text
    return r.json()


async def _tax_records(client, tokens, **params) -> dict:
    r = await client.get(RECORDS, params={"source": "tax_monthly", **params}, headers=tokens["owner"])
    assert r.status_code == 200, r.text
    return r.json()


async def _file(client, tokens, record_id: int, **body) -> dict:
    r = await client.post("/api/objections", json={"record_id": record_id, "reason": "数额有误 wrong figure",
                                                   **body}, headers=tokens["owner"])
    assert r.status_code == 201, r.text
    return r.json()


async def _court_operator(client) -> dict[str, str]:
    await make_user("13900000071", "dept_operator", department="court")
    return await login(client, "13900000071")


async def test_owner_lists_current_records_paginated(client, tokens, demo):
    from server.tables.ingest import DeptRecord

    page = await _tax_records(client, tokens, limit=5)
    stored = await DeptRecord.count().where(
        (DeptRecord.uscc == demo.firm_uscc) & (DeptRecord.source == "tax_monthly"))
    assert page["total"] == stored > 5
    items = page["items"]
    assert len(items) == 5
    assert {i["source"] for i in items} == {"tax_monthly"}
    assert {i["department"] for i in items} == {"tax"}
    assert [i["event_date"] for i in items] == sorted((i["event_date"] for i in items), reverse=True)
    assert not any(i["has_open_objection"] for i in items)
    assert {"amount_yuan", "arrears_yuan", "category"} <= set(items[0]["correctable"])
    assert "record_key" not in items[0]["correctable"]
    nxt = await _tax_records(client, tokens, limit=5, offset=5)
    assert not {i["id"] for i in items} & {i["id"] for i in nxt["items"]}

    every = (await client.get(RECORDS, params={"limit": 200}, headers=tokens["owner"])).json()
    assert len({i["source"] for i in every["items"]}) > 1  # unfiltered: all sources
    for role in ("bank_manager", "dept_operator", "subscriber", "admin"):
        assert (await client.get(RECORDS, headers=tokens[role])).status_code == 403
    bad = await client.get(RECORDS, params={"source": "gossip"}, headers=tokens["owner"])
    assert bad.status_code == 400 and bad.json()["detail"].startswith("source:")
    assert (await client.get(RECORDS, params={"limit": 0}, headers=tokens["owner"])).status_code == 400

    # one record by id (a warning's evidence names it): the owner's own, current ones only
    one = (await client.get(RECORDS, params={"record_id": items[2]["id"]}, headers=tokens["owner"])).json()
    assert one["total"] == 1 and [i["id"] for i in one["items"]] == [items[2]["id"]]
    other = await DeptRecord.select(DeptRecord.id).where(DeptRecord.uscc != demo.firm_uscc).first()
    theirs = (await client.get(RECORDS, params={"record_id": other["id"]}, headers=tokens["owner"])).json()
    assert theirs["total"] == 0 and theirs["items"] == []
    bad_id = await client.get(RECORDS, params={"record_id": 0}, headers=tokens["owner"])
    assert bad_id.status_code == 400 and "record_id" in bad_id.text


async def test_correction_supersedes_the_record_and_rescores_the_firm(client, tokens, demo, engine, settings):
    from scoring import ModelRegistry, score_region
    from server.objections.services import open_objections
    from server.scores.frames import load_firms, load_records
    from server.tables.firms import Firm
    from server.tables.ingest import DeptRecord, IngestBatch
    from server.tables.scores import ScoreHistory, ScoringRun

    before = await _evaluation(client, tokens, demo.firm_uscc)
    as_of = date.fromisoformat(before["as_of"])
    firm_id = (await Firm.select(Firm.id).where(Firm.uscc == demo.firm_uscc).first())["id"]
    # The latest month's VAT: the owner says a digit was lost (10x the recorded figure).
    vat = next(i for i in (await _tax_records(client, tokens, limit=20))["items"]
               if i["category"] == "vat" and i["event_date"] == before["as_of"])
    right_fen = vat["amount_fen"] * 10
    right_yuan = f"{right_fen // 100}.{right_fen % 100:02d}"
    scores_before = await ScoreHistory.count().where(ScoreHistory.firm == firm_id)

    filed = await _file(client, tokens, vat["id"], proposed={"amount_yuan": right_yuan})
    oid = filed["objection"]["id"]
    assert filed["objection"]["status"] == "open"
    assert filed["objection"]["department"] == "tax"
    assert filed["objection"]["source"] == "tax_monthly"
    assert [e["event"] for e in filed["trail"]] == ["filed"]
    marked = next(i for i in (await _tax_records(client, tokens, limit=20))["items"] if i["id"] == vat["id"])
    assert marked["has_open_objection"] and marked["open_objection_id"] == oid
    assert [(d.record_id, d.source, d.objection_id) for d in await open_objections(firm_id)] == [
        (vat["id"], "tax_monthly", oid)]
    # While open, the evaluation marks the record as disputed.
    disputed = (await _evaluation(client, tokens, demo.firm_uscc))["disputed"]
    assert [(d["record_id"], d["objection_id"]) for d in disputed] == [(vat["id"], oid)]

    queue = (await client.get("/api/objections", headers=tokens["dept_operator"])).json()
    assert queue[0]["id"] == oid and queue[0]["status"] == "open"
    assert queue[0]["firm_uscc"] == demo.firm_uscc
    court = await _court_operator(client)
    assert oid not in [o["id"] for o in (await client.get("/api/objections", headers=court)).json()]

    done = await client.post(f"/api/objections/{oid}/resolution", headers=tokens["dept_operator"],
                             json={"decision": "correct", "reason": "核对申报表 checked the return"})
    assert done.status_code == 200, done.text
    detail = done.json()
    obj = detail["objection"]
    assert obj["status"] == "corrected" and obj["resolved_at"] is not None
    new_id = obj["corrected_record_id"]
    assert new_id is not None and new_id != vat["id"]
    assert [e["event"] for e in detail["trail"]] == ["filed", "corrected", "rescored"]
    await assert_store_matches(engine)  # the feature store was rebuilt with the correction
    corrected_event = detail["trail"][1]
    assert corrected_event["by_role"] == "dept_operator"
    assert corrected_event["old_values"] == {"amount_fen": vat["amount_fen"]}
    assert corrected_event["new_values"] == {"amount_fen": right_fen}
    assert detail["trail"][2]["score"] is None  # the operator does not see the firm's score

    # The old record is superseded, the new one stored with its own provenance.
    old = await DeptRecord.select().where(DeptRecord.id == vat["id"]).first()
    new = await DeptRecord.select().where(DeptRecord.id == new_id).first()
    assert old["superseded_at"] is not None and new["superseded_at"] is None
    assert new["record_key"] == old["record_key"] + "#c1"
    assert (new["uscc"], new["source"], new["event_date"], new["category"]) == (
        old["uscc"], old["source"], old["event_date"], old["category"])
    assert new["amount_fen"] == right_fen and new["arrears_fen"] == old["arrears_fen"]
    batch = await IngestBatch.select(IngestBatch.source, IngestBatch.department.code, IngestBatch.rows,
                                     IngestBatch.submitted_by, IngestBatch.filename).where(
        IngestBatch.id == new["batch_id"]).first()
    me = (await client.get("/api/me", headers=tokens["dept_operator"])).json()
    assert batch["source"] == "tax_monthly" and batch["department.code"] == "tax"
    assert batch["submitted_by"] == me["id"] and batch["rows"] == 1 and str(oid) in batch["filename"]
    current = [i["id"] for i in (await _tax_records(client, tokens, limit=200))["items"]]
    assert new_id in current and vat["id"] not in current
    assert await open_objections(firm_id) == []

    # Re-scored at once: a new run of just this firm at the latest date, shown by the evaluation.
    run = await ScoringRun.select().where(ScoringRun.reason == f"objection:{oid}").first()
    assert run is not None and run["firms"] == 1 and run["as_of"] == as_of
    assert run["model_version"] == demo.model_version
    assert await ScoreHistory.count().where(ScoreHistory.firm == firm_id) == scores_before + 1
    after = await _evaluation(client, tokens, demo.firm_uscc)
    assert after["disputed"] == []
    assert after["industry"] is not None  # placed among the firms of the last whole run
    assert after["as_of"] == before["as_of"]
    assert after["scored_at"] > before["scored_at"]
    assert after["model_version"] == demo.model_version

    # What the model gives on the corrected data, computed apart from the service: with the old
    # figure it reproduces the full run's score, with the corrected one the new score.
    model = ModelRegistry(settings.model_dir).load(demo.model_version).model
    firms = await load_firms(engine)
    firm = firms[firms["uscc"] == demo.firm_uscc].reset_index(drop=True)
    records = await load_records(engine, as_of=as_of, usccs=[demo.firm_uscc])
    month = records[(records["kind"] == "tax_monthly") & (records["category"] == "vat")
                    & (records["event_date"] == pd.Timestamp(as_of))]
    assert month["amount_fen"].tolist() == [right_fen]  # the superseded figure is not scored
    old_frame = records.copy()
    old_frame.loc[month.index, "amount_fen"] = vat["amount_fen"]
    assert int(score_region(model, firm, old_frame, as_of).table["score"].iloc[0]) == before["score"]
    expected = int(score_region(model, firm, records, as_of).table["score"].iloc[0])
    assert after["score"] == expected
    assert after["score"] > before["score"]  # ten times the VAT: more tax paid, rising trend

    owner_view = (await client.get(f"/api/objections/{oid}", headers=tokens["owner"])).json()
    assert [e["event"] for e in owner_view["trail"]] == ["filed", "corrected", "rescored"]
    assert owner_view["trail"][2]["score"] == after["score"]
    assert owner_view["trail"][1]["new_values"] == {"amount_fen": right_fen}
    assert owner_view["corrected_record"]["id"] == new_id
    assert owner_view["record"]["superseded_at"] is not None

    again = await client.post(f"/api/objections/{oid}/resolution", headers=tokens["dept_operator"],
                              json={"decision": "reject", "reason": "late"})
    assert again.status_code == 409
    stale = await client.post("/api/objections", json={"record_id": vat["id"], "reason": "still wrong"},
                              headers=tokens["owner"])
    assert stale.status_code == 409 and stale.json()["detail"].startswith("record_id:")


async def test_rejection_needs_a_reason_and_keeps_the_record(client, tokens, demo):
    from server.tables.ingest import DeptRecord
    from server.tables.scores import ScoringRun

    record = (await _tax_records(client, tokens, limit=20, offset=20))["items"][0]
    oid = (await _file(client, tokens, record["id"]))["objection"]["id"]
    url = f"/api/objections/{oid}/resolution"
    bare = await client.post(url, json={"decision": "reject"}, headers=tokens["dept_operator"])
    assert bare.status_code == 400 and bare.json()["detail"].startswith("reason:")
    court = await _court_operator(client)
    refused = await client.post(url, json={"decision": "reject", "reason": "no"}, headers=court)
    assert refused.status_code == 403
    assert (await client.get(f"/api/objections/{oid}", headers=court)).status_code == 403
    for role in ("owner", "bank_manager", "admin"):
        r = await client.post(url, json={"decision": "reject", "reason": "x"}, headers=tokens[role])
        assert r.status_code == 403, role

    r = await client.post(url, json={"decision": "reject", "reason": "申报表与记录一致 the return matches"},
                          headers=tokens["dept_operator"])
    assert r.status_code == 200, r.text
    assert r.json()["objection"]["status"] == "rejected"
    owner_view = (await client.get(f"/api/objections/{oid}", headers=tokens["owner"])).json()
    assert [e["event"] for e in owner_view["trail"]] == ["filed", "rejected"]
    assert owner_view["trail"][1]["reason"] == "申报表与记录一致 the return matches"
    assert owner_view["trail"][1]["by_role"] == "dept_operator"
    assert owner_view["corrected_record"] is None
    row = await DeptRecord.select(DeptRecord.superseded_at).where(DeptRecord.id == record["id"]).first()
    assert row["superseded_at"] is None
    assert not await ScoringRun.exists().where(ScoringRun.reason == f"objection:{oid}")
    mine = (await client.get("/api/objections", params={"status": "rejected"}, headers=tokens["owner"])).json()
    assert oid in [o["id"] for o in mine] and {o["status"] for o in mine} == {"rejected"}
    everyone = (await client.get("/api/objections", headers=tokens["admin"])).json()
    assert oid in [o["id"] for o in everyone]
    # Rejected, the record may be disputed again.
    assert (await _file(client, tokens, record["id"]))["objection"]["status"] == "open"


async def test_one_open_objection_per_record_and_only_own_records(client, tokens, demo):
    from server.tables.ingest import DeptRecord

    record = (await _tax_records(client, tokens, limit=1, offset=30))["items"][0]
    await _file(client, tokens, record["id"])
    dup = await client.post("/api/objections", json={"record_id": record["id"], "reason": "again"},
                            headers=tokens["owner"])
    assert dup.status_code == 409 and "open objection" in dup.json()["detail"]

    other = await DeptRecord.select(DeptRecord.id).where(
        (DeptRecord.uscc != demo.firm_uscc) & (DeptRecord.source == "tax_monthly")).first()
    r = await client.post("/api/objections", json={"record_id": other["id"], "reason": "not mine"},
                          headers=tokens["owner"])
    assert r.status_code == 404 and r.json()["detail"].startswith("record_id:")
    r = await client.post("/api/objections", json={"record_id": 10**12, "reason": "nothing"},
                          headers=tokens["owner"])
    assert r.status_code == 404
    for role in ("bank_manager", "dept_operator", "subscriber", "admin"):
        r = await client.post("/api/objections", json={"record_id": record["id"], "reason": "x" * 5},
                              headers=tokens[role])
        assert r.status_code == 403, role
    for role, status in (("bank_manager", 403), ("subscriber", 403), ("owner", 200), ("admin", 200)):
        assert (await client.get("/api/objections", headers=tokens[role])).status_code == status
    assert (await client.get("/api/objections")).status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"proposed": {"amount_yuan": "12,34x"}}, "proposed.amount_yuan"),
    ({"proposed": {"arrears_yuan": -5}}, "proposed.arrears_yuan"),
    ({"proposed": {"category": "customs"}}, "proposed.category"),
    ({"proposed": {"record_key": "x"}}, "proposed.record_key"),
    ({"proposed": {"colour": "red"}}, "proposed.colour"),
    ({"proposed": {}}, "proposed"),
    ({"reason": ""}, "reason"),
    ({"reason": None}, "reason"),
    ({"record_id": 0}, "record_id"),
    ({"record_id": "abc"}, "record_id"),
    ({"record_id": 697115915434392102633472}, "record_id"),  # found by schemathesis: was a 500
])
async def test_bad_objections_name_the_field(client, tokens, demo, body, field):
    record = (await _tax_records(client, tokens, limit=1, offset=40))["items"][0]
    payload = {"record_id": record["id"], "reason": "wrong figure", **body}
    r = await client.post("/api/objections", json=payload, headers=tokens["owner"])
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail.startswith(field), r.text


async def test_proposal_equal_to_the_record_and_bad_resolutions_are_refused(client, tokens, demo):
    record = (await _tax_records(client, tokens, limit=1, offset=41))["items"][0]
    yuan = f"{record['amount_fen'] // 100}.{record['amount_fen'] % 100:02d}"
    same = await client.post("/api/objections", headers=tokens["owner"], json={
        "record_id": record["id"], "reason": "same", "proposed": {"amount_yuan": yuan}})
    assert same.status_code == 400 and same.json()["detail"].startswith("proposed:")

    oid = (await _file(client, tokens, record["id"]))["objection"]["id"]
    url = f"/api/objections/{oid}/resolution"
    op = tokens["dept_operator"]
    cases = [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "correct"}, "values"),  # nothing proposed, nothing given
        ({"decision": "correct", "values": {"arrears_yuan": "-1"}}, "values.arrears_yuan"),
        ({"decision": "correct", "values": {"event_date": "2020-01-31"}}, "values.event_date"),
        ({"decision": "reject", "reason": "no", "values": {"amount_yuan": 1}}, "values"),
    ]
    for body, field in cases:
        r = await client.post(url, json=body, headers=op)
        assert r.status_code == 400, (body, r.text)
        assert field in r.json()["detail"] + str(r.json().get("extra", "")), (body, r.text)
    assert (await client.get(f"/api/objections/{oid}", headers=op)).json()["objection"]["status"] == "open"
    assert (await client.post("/api/objections/999999/resolution", json={"decision": "reject", "reason": "x"},
                              headers=op)).status_code == 404


async def test_another_owner_cannot_see_the_objection(client, tokens, demo):
    from server.tables.firms import Firm

    other = await Firm.select(Firm.uscc).where(Firm.uscc != demo.firm_uscc).first()
    await make_user("13900000072", "owner", firm_uscc=other["uscc"])
    stranger = await login(client, "13900000072")
    record = (await _tax_records(client, tokens, limit=1, offset=42))["items"][0]
    oid = (await _file(client, tokens, record["id"]))["objection"]["id"]
    assert (await client.get(f"/api/objections/{oid}", headers=stranger)).status_code == 404
    assert oid not in [o["id"] for o in (await client.get("/api/objections", headers=stranger)).json()]
    assert (await client.get(f"/api/objections/{oid}", headers=tokens["admin"])).status_code == 200
    assert (await client.get("/api/objections/999999", headers=tokens["admin"])).status_code == 404

