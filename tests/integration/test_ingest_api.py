"""Department feeds through HTTP: per-row errors, exactly-once storage, idempotent re-sends."""

from __future__ import annotations

import json

import httpx
import pytest

from server.uscc import make_uscc
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

A, B = make_uscc(101), make_uscc(102)
BAD_CHECK = A[:17] + ("0" if A[17] != "0" else "1")

FIRMS_CSV = (
    "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
    f"{A},绍兴鑫垚机械有限公司,34,百官街道,2000000,2012-03-01,small,active\n"
    f"{B},上虞淼锦商贸有限公司,51,曹娥街道,500000.50,2018-07-15,micro,active\n"
)

TAX_CSV = (
    "record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"
    f"T-1,{A},2025-01-31,vat,12345.67,0\n"        # 1 good
    f"T-2,{BAD_CHECK},2025-01-31,vat,100,0\n"      # 2 bad check character
    f"T-3,{A},2099-12-31,vat,100,0\n"               # 3 date in the future
    f"T-4,{A},2025-02-28,vat,-100,0\n"              # 4 negative amount
    f"T-5,{A},2025-03-31\n"                          # 5 missing columns
    f"T-6,{B},2025-01-31,income,800,\n"             # 6 good
    f"T-1,{A},2025-01-31,vat,12345.67,0\n"        # 7 same key again in the batch
)


async def _count(source: str) -> int:
    from server.tables.ingest import DeptRecord

    return await DeptRecord.count().where(DeptRecord.source == source)


@pytest.fixture(scope="module")
async def operators(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    await make_user("13900000010", "dept_operator", department="market")
    await make_user("13900000011", "dept_operator", department="tax")
    await make_user("13900000012", "admin")
    market = await login(client, "13900000010")
    r = await client.post("/api/ingest/firms", content=FIRMS_CSV.encode(),
                          headers={**market, "content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    return {"market": market, "tax": await login(client, "13900000011"),
            "admin": await login(client, "13900000012")}


async def test_bad_rows_are_listed_by_number_and_field_and_good_rows_stored_once(client, operators):
    tax = {**operators["tax"], "content-type": "text/csv"}
    r = await client.post("/api/ingest/tax_monthly", content=TAX_CSV.encode(), headers=tax)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 1
    assert [(e["row"], e["field"], e["first_row"]) for e in body["repeated"]] == [(7, "record_key", 1)]
    by_row = {(e["row"], e["field"]) for e in body["rejected"]}
    assert by_row == {(2, "uscc"), (3, "event_date"), (4, "amount_yuan"), (5, "category")}
    messages = {e["row"]: e["message"] for e in body["rejected"]}
    assert "check character" in messages[2]
    assert "future" in messages[3]
    assert "negative" in messages[4]
    assert await _count("tax_monthly") == 2

    again = await client.post("/api/ingest/tax_monthly", content=TAX_CSV.encode(), headers=tax)
    assert again.status_code == 200
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 3
    assert await _count("tax_monthly") == 2


async def test_amounts_are_stored_in_fen_with_provenance(client, operators):
    from server.tables.ingest import DeptRecord, IngestBatch

    row = await DeptRecord.select().where(DeptRecord.record_key == "T-1").first()
    assert row["amount_fen"] == 1234567
    batch = await IngestBatch.select(IngestBatch.department.code, IngestBatch.source).where(
        IngestBatch.id == row["batch_id"]).first()
    assert batch == {"department.code": "tax", "source": "tax_monthly"}


async def test_jsonl_feed_and_unknown_firm(client, operators):
    lines = [
        {"record_key": "J-1", "uscc": A, "event_date": "2025-04-30", "category": "vat", "amount_yuan": 10.5},
        {"record_key": "J-2", "uscc": make_uscc(999_999), "event_date": "2025-04-30", "category": "vat",
         "amount_yuan": 1},
        {"record_key": "J-3", "uscc": A, "event_date": "2025-04-31", "category": "vat", "amount_yuan": 1},
    ]
    body = "\n".join(json.dumps(x) for x in lines).encode()
    r = await client.post("/api/ingest/tax_monthly", content=body,
                          headers={**operators["tax"], "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert {(e["row"], e["field"]) for e in r.json()["rejected"]} == {(2, "uscc"), (3, "event_date")}


async def test_missing_required_column_refuses_the_file_naming_it(client, operators):
    before = await _count("tax_monthly")
    csv = f"record_key,uscc,category,amount_yuan\nX-1,{A},vat,1\n".encode()
    r = await client.post("/api/ingest/tax_monthly", content=csv,
                          headers={**operators["tax"], "content-type": "text/csv"})
    assert r.status_code == 422
    assert r.json()["field"] == "event_date"
    assert await _count("tax_monthly") == before


async def test_a_refused_file_is_not_logged_as_a_server_fault(client, operators, caplog):
    """A 422 for the sender's file is their mistake: no traceback in the server's log (that
    is for 500s, which are always a bug of ours)."""
    import logging

    caplog.set_level(logging.DEBUG)
    for logger in ("litestar", "xinbao"):
        logging.getLogger(logger).addHandler(caplog.handler)  # whether or not it propagates
    try:
        csv = f"record_key,uscc,category,amount_yuan\nX-2,{A},vat,1\n".encode()
        r = await client.post("/api/ingest/tax_monthly", content=csv,
                              headers={**operators["tax"], "content-type": "text/csv"})
        assert r.status_code == 422
        r = await client.get("/api/firms?offset=1", headers=operators["tax"])  # answered: the log flowed
        assert r.status_code == 200
    finally:
        for logger in ("litestar", "xinbao"):
            logging.getLogger(logger).removeHandler(caplog.handler)
    assert not [rec for rec in caplog.records if rec.exc_info or "Traceback" in rec.getMessage()], \
        [rec.getMessage()[:300] for rec in caplog.records]


@pytest.mark.parametrize(
    ("who", "source", "status"),
    [(None, "tax_monthly", 401), ("market", "tax_monthly", 403), ("admin", "tax_monthly", 403),
     ("tax", "no_such_feed", 404)],
)
async def test_who_may_send_what(client, operators, who, source, status):
    headers = {"content-type": "text/csv", **(operators[who] if who else {})}
    r = await client.post(f"/api/ingest/{source}", content=TAX_CSV.encode(), headers=headers)
    assert r.status_code == status, r.text


async def test_a_batch_that_dies_half_way_keeps_whole_chunks_and_a_new_batch_stores_the_rest_once(
        engine, operators, monkeypatch):
    """Without a fingerprint (a stream, not a file) a broken batch is not resumed: what its
    committed chunks stored stays, counted by the batch, and the file sent again as a new batch
    stores each remaining row once and counts the others as duplicates."""
    from server.ingest import services
    from server.tables.ingest import DeptRecord, IngestBatch

    monkeypatch.setattr(services, "CHUNK_ROWS", 3)  # several chunks written before the failure
    before = await DeptRecord.count()
    header = b"record_key,uscc,event_date,category,amount_yuan\n"
    rows = [f"D-{i},{A},2024-0{1 + i % 9}-01,vat,{i}\n".encode() for i in range(10)]

    def feed():
        yield header
        yield from rows
        raise ConnectionError("upload connection lost")

    with pytest.raises(ConnectionError):
        await services.ingest(engine, "tax_monthly", feed(), "csv")
    broken = await IngestBatch.select().where(IngestBatch.source == "tax_monthly").order_by(
        IngestBatch.id, ascending=False).first()
    stored = await DeptRecord.count() - before
    assert broken["state"] == "running" and broken["accepted"] == stored and broken["rows"] == stored
    assert stored % 3 == 0 and stored < 10

    listed = {b.id: b for b in await services.department_batches("tax", 50, None)}
    assert listed[broken["id"]].state == "running" and listed[broken["id"]].accepted == stored

    whole = await services.ingest(engine, "tax_monthly", [header, *rows], "csv")
    assert whole.batch_id != broken["id"]
    assert (whole.accepted, whole.duplicates) == (10 - stored, stored)
    assert await DeptRecord.count() == before + 10
    assert (await services.department_batches("tax", 1, None))[0].state == "done"


async def test_the_operator_reads_its_feeds_and_its_batches_only(client, operators):
    """The back office's upload and batches screens (issue 13): the department's feeds with their
    columns, and its batches newest first with counts and, where there is one, the report."""
    r = await client.get("/api/ingest/sources", headers=operators["tax"])
    assert r.status_code == 200, r.text
    sources = {s["code"]: s for s in r.json()}
    assert "tax_monthly" in sources and "firms" not in sources  # the market office's registry
    tax = sources["tax_monthly"]
    assert tax["name_zh"] and tax["name_en"] and tax["target"] == "record"
    fields = {f["name"]: f for f in tax["fields"]}
    assert fields["uscc"]["type"] == "uscc" and fields["uscc"]["required"]
    assert fields["category"]["choices"]  # an enum names its values
    market = {s["code"] for s in (await client.get("/api/ingest/sources", headers=operators["market"])).json()}
    assert "firms" in market and "tax_monthly" not in market

    good = f"record_key,uscc,event_date,category,amount_yuan\nBATCHES-1,{A},2025-04-30,vat,10\n"
    sent = (await client.post("/api/ingest/tax_monthly", content=good.encode(), headers={
        **operators["tax"], "content-type": "text/csv", "x-filename": "april.csv"})).json()
    bad = f"record_key,uscc,event_date,category,amount_yuan\nBATCHES-2,{BAD_CHECK},2025-04-30,vat,10\n"
    refused = (await client.post("/api/ingest/tax_monthly", content=bad.encode(), headers={
        **operators["tax"], "content-type": "text/csv"})).json()
    page = (await client.get("/api/ingest/batches", params={"limit": 2}, headers=operators["tax"])).json()
    assert [b["id"] for b in page] == [refused["batch_id"], sent["batch_id"]]
    newest, older = page
    # a re-sent file: its rows duplicate an earlier batch's, which the report does not list (only
    # rejected rows and repeats within the batch), so there is no report to offer
    again = (await client.post("/api/ingest/tax_monthly", content=good.encode(), headers={
        **operators["tax"], "content-type": "text/csv"})).json()
    resent = (await client.get("/api/ingest/batches", params={"limit": 1}, headers=operators["tax"])).json()
    assert [(b["id"], b["duplicates"], b["report_url"]) for b in resent] == [(again["batch_id"], 1, None)]
    twice = good + good.splitlines()[1] + "\n"  # the same row twice in one file: listed as a repeat
    repeated = (await client.post("/api/ingest/tax_monthly", content=twice.encode(), headers={
        **operators["tax"], "content-type": "text/csv"})).json()
    latest = (await client.get("/api/ingest/batches", params={"limit": 1}, headers=operators["tax"])).json()[0]
    assert (latest["id"], latest["duplicates"]) == (repeated["batch_id"], 2)
    assert latest["report_url"] == f"/api/ingest/batches/{repeated['batch_id']}/rejected"
    assert (newest["rows"], newest["accepted"], newest["rejected"]) == (1, 0, 1)
    assert newest["report_url"] == f"/api/ingest/batches/{refused['batch_id']}/rejected"
    assert (older["filename"], older["accepted"], older["report_url"]) == ("april.csv", 1, None)
    report = await client.get(newest["report_url"], headers=operators["tax"])
    assert report.status_code == 200 and "uscc" in report.text
    after = (await client.get("/api/ingest/batches", params={"before_id": refused["batch_id"]},
                              headers=operators["tax"])).json()
    assert after[0]["id"] == sent["batch_id"] and all(b["id"] < refused["batch_id"] for b in after)
    market_batches = (await client.get("/api/ingest/batches", headers=operators["market"])).json()
    assert sent["batch_id"] not in {b["id"] for b in market_batches}  # another department's
    for bad_query in ({"limit": 0}, {"limit": 201}, {"before_id": "x"}):
        r = await client.get("/api/ingest/batches", params=bad_query, headers=operators["tax"])
        assert r.status_code == 400 and next(iter(bad_query)) in r.text, r.text
    assert (await client.get("/api/ingest/sources", headers=operators["admin"])).status_code == 403


@pytest.mark.parametrize(("language", "negative", "repeat"), [
    ("zh-CN", "不能为负数，实为 '-100'", "计为重复"),
    ("en", "must not be negative, got '-100'", "counted as a duplicate"),
])
async def test_the_report_speaks_the_operators_language(client, operators, language, negative, repeat):
    """Each rejected or repeated row's message reaches the operator in their language, in the
    answer and in the downloadable report (stored once, rendered for each reader)."""
    from server.ingest.services import unpack_message

    key = f"LANG-{language}"
    feed = (f"record_key,uscc,event_date,category,amount_yuan\n{key}-1,{A},2025-02-28,vat,-100\n"
            f"{key}-2,{A},2025-02-28,vat,5\n{key}-2,{A},2025-02-28,vat,5\n")
    headers = {**operators["tax"], "accept-language": language}
    r = await client.post("/api/ingest/tax_monthly", content=feed.encode(),
                          headers={**headers, "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(e["row"], e["field"], e["message"]) for e in body["rejected"]] == [(1, "amount_yuan", negative)]
    assert [(e["row"], e["first_row"]) for e in body["repeated"]] == [(3, 2)]
    assert repeat in body["repeated"][0]["message"]
    report = await client.get(body["report_url"], headers=headers)
    assert report.status_code == 200
    assert negative in report.text and repeat in report.text
    other = "must not" if language.startswith("zh") else "不能"
    assert other not in report.text
    # The answer's unlabelled texts are in the reader's language; each row also carries its
    # reason in both languages, labelled (message_zh / message_en), for an app that switches.
    assert all(other not in e["message"] for e in body["rejected"] + body["repeated"])
    rejected = body["rejected"][0]
    assert (rejected["message_zh"], rejected["message_en"]) == ("不能为负数，实为 '-100'",
                                                                "must not be negative, got '-100'")
    assert unpack_message("is required", "zh") == "is required"  # a row stored before: as it is
