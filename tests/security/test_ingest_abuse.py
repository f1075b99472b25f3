"""Issue 10 point 16 (ingestion): answers and memory stay bounded, duplicates are traceable.

A batch of a million rejected rows answered with all of them (99 MB): the answer now lists the
first 100 with the full count, and the whole list is a CSV download for the department. A 1.2 GB
upload was read into memory: the body is now streamed to a spool file and bounded (413). A key
repeated inside one batch was counted as a duplicate without its row number. Both engines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from server.uscc import make_uscc
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

A, B = make_uscc(161), make_uscc(162)
HEADER = "record_key,uscc,event_date,category,amount_yuan\n"


@pytest.fixture(scope="module")
async def operators(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    await make_user("13916000001", "dept_operator", department="market")
    await make_user("13916000002", "dept_operator", department="tax")
    await make_user("13916000003", "dept_operator", department="tax")
    market = await login(client, "13916000001")
    firms = (
        "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
        f"{A},绍兴滥用测试有限公司,34,百官街道,2000000,2012-03-01,small,active\n"
        f"{B},上虞滥用测试有限公司,51,曹娥街道,500000,2018-07-15,micro,active\n"
    )
    r = await client.post("/api/ingest/firms", content=firms.encode(), headers={**market, "content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    return {"market": market, "tax": await login(client, "13916000002"),
            "tax2": await login(client, "13916000003")}


def _csv(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "content-type": "text/csv"}


def _report_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.mark.parametrize("chunk_rows", [100_000, 40])
async def test_many_rejected_rows_give_a_capped_list_a_count_and_a_full_report(
        client, operators, monkeypatch, chunk_rows):
    from server.ingest import services
    from server.tables.ingest import IngestBatch

    monkeypatch.setattr(services, "CHUNK_ROWS", chunk_rows)  # and across several chunks
    bad = 250
    lines = [f"MR{chunk_rows}-0,{A},2025-01-31,vat,1\n"]
    lines += [f"MR{chunk_rows}-{i},{A},2025-13-{i % 28 + 1:02d},vat,1\n" for i in range(1, bad + 1)]
    lines += [f"MR{chunk_rows}-x,{B},2025-01-31,vat,-1\n"]
    r = await client.post("/api/ingest/tax_monthly", content=(HEADER + "".join(lines)).encode(),
                          headers=_csv(operators["tax"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1
    assert (out["rejected_count"], out["rejected_rows"]) == (bad + 1, bad + 1)
    assert [e["row"] for e in out["rejected"]] == list(range(2, 102))  # the first 100, in row order
    assert out["report_url"] == f"/api/ingest/batches/{out['batch_id']}/rejected"
    batch = await IngestBatch.select(IngestBatch.rejected).where(IngestBatch.id == out["batch_id"]).first()
    assert batch["rejected"] == bad + 1

    # Any operator of the department can download it; another department cannot.
    report = await client.get(out["report_url"], headers=operators["tax2"])
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/csv")
    rows = _report_rows(report.text)
    assert [int(x["row"]) for x in rows] == list(range(2, bad + 3))
    assert {x["kind"] for x in rows} == {"rejected"}
    assert rows[0]["field"] == "event_date" and "YYYY-MM-DD" in rows[0]["message"]
    assert rows[-1]["field"] == "amount_yuan" and "negative" in rows[-1]["message"]
    refused = await client.get(out["report_url"], headers=operators["market"])
    assert refused.status_code == 403 and refused.json()["detail"].startswith("batch_id:")
    missing = await client.get("/api/ingest/batches/987654/rejected", headers=operators["tax"])
    assert missing.status_code == 404


async def test_report_cells_never_start_a_spreadsheet_formula(client, operators):
    body = HEADER.rstrip("\n") + ",=HYPERLINK(\"http://x\")\n" + f"F-1,{A},2025-01-31,vat,1\n"
    r = await client.post("/api/ingest/tax_monthly", content=body.encode(), headers=_csv(operators["tax"]))
    assert r.status_code == 200, r.text
    assert [e["field"] for e in r.json()["rejected"]] == ['=HYPERLINK("http://x")']  # a short row
    report = await client.get(r.json()["report_url"], headers=operators["tax"])
    assert _report_rows(report.text)[0]["field"] == '\'=HYPERLINK("http://x")'


async def _post_twice_keyed(client, operators, fmt: str, prefix: str) -> dict:
    rows = [(f"{prefix}-1", A), (f"{prefix}-2", A), (f"{prefix}-1", A), (f"{prefix}-3", B), (f"{prefix}-1", A),
            (f"{prefix}-3", B)]
    if fmt == "csv":
        body = HEADER + "".join(f"{k},{u},2025-02-28,vat,5\n" for k, u in rows)
        headers = _csv(operators["tax"])
    else:
        body = "\n".join(json.dumps({"record_key": k, "uscc": u, "event_date": "2025-02-28", "category": "vat",
                                     "amount_yuan": 5}) for k, u in rows)
        headers = {**operators["tax"], "content-type": "application/x-ndjson"}
    r = await client.post("/api/ingest/tax_monthly", content=body.encode(), headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])  # the Arrow fast path and the Python path
async def test_a_key_repeated_inside_a_batch_is_a_duplicate_with_its_row_numbers(client, operators, fmt):
    out = await _post_twice_keyed(client, operators, fmt, f"DUP{fmt}")
    assert (out["accepted"], out["duplicates"]) == (3, 3)
    assert [(e["row"], e["first_row"], e["field"]) for e in out["repeated"]] == [
        (3, 1, "record_key"), (5, 1, "record_key"), (6, 4, "record_key")]
    assert out["repeated_count"] == 3
    assert "row 1" in out["repeated"][0]["message"]
    report = await client.get(out["report_url"], headers=operators["tax"])
    assert [(x["row"], x["kind"], x["first_row"]) for x in _report_rows(report.text)] == [
        ("3", "duplicate", "1"), ("5", "duplicate", "1"), ("6", "duplicate", "4")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_a_key_repeated_in_a_later_chunk_has_its_row_number(client, operators, monkeypatch, fmt):
    from server.ingest import services

    monkeypatch.setattr(services, "CHUNK_ROWS", 2)  # rows 1-2, 3-4, 5-6: the repeats are chunks apart
    out = await _post_twice_keyed(client, operators, fmt, f"DUPX{fmt}")
    assert (out["accepted"], out["duplicates"]) == (3, 3)
    # Each repeat has its row number; the row it repeats when that was in the same chunk.
    assert [e["row"] for e in out["repeated"]] == [3, 5, 6]
    assert all(e["first_row"] in (None, first) for e, first in zip(out["repeated"], (1, 1, 4), strict=True))
    assert any(e["first_row"] is None for e in out["repeated"])  # at least one across chunks
    # Sent again: every row is a duplicate of what is stored, and the in-chunk repeat is named.
    again = await _post_twice_keyed(client, operators, fmt, f"DUPX{fmt}")
    assert (again["accepted"], again["duplicates"]) == (0, 6)


async def test_a_big_upload_is_streamed_to_a_spool_not_read_into_memory(client, operators, monkeypatch):
    from litestar.connection import Request

    from server.ingest import controllers, upload

    def no_body(*_: object, **__: object) -> None:
        raise AssertionError("the whole upload was read into memory")

    monkeypatch.setattr(Request, "body", no_body)
    monkeypatch.setattr(upload, "SPOOL_MEMORY", 64 << 10)  # spill to disk after 64 KiB
    spools, chunk_sizes = [], []
    real_spool, real_ingest = controllers.spool, controllers.ingest

    async def spy_spool(*args, **kwargs):
        spools.append(await real_spool(*args, **kwargs))
        return spools[-1]

    async def spy_ingest(engine, source, chunks, fmt, **kwargs):
        assert not isinstance(chunks, bytes | bytearray | list)

        def counted():
            for chunk in chunks:
                chunk_sizes.append(len(chunk))
                yield chunk

        return await real_ingest(engine, source, counted(), fmt, **kwargs)

    monkeypatch.setattr(controllers, "spool", spy_spool)
    monkeypatch.setattr(controllers, "ingest", spy_ingest)
    line = f"BIG-{{}},{A},2025-03-31,vat,1\n"
    n = 100_000

    async def body() -> AsyncIterator[bytes]:  # sent in pieces, without a Content-Length
        yield HEADER.encode()
        for start in range(0, n, 5000):
            yield "".join(line.format(i) for i in range(start, start + 5000)).encode()

    r = await client.post("/api/ingest/tax_monthly", content=body(), headers=_csv(operators["tax"]))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == n
    size = sum(chunk_sizes)
    assert size > 3 * upload.READ_CHUNK  # several megabytes ...
    assert max(chunk_sizes) <= upload.READ_CHUNK  # ... handed to ingestion a megabyte at a time
    assert spools[0]._rolled and spools[0].closed  # held on disk, not in memory, and removed


@pytest.mark.parametrize("streamed", [True, False])
async def test_an_upload_over_the_limit_is_a_413_naming_the_body(client, operators, monkeypatch, streamed):
    from server.ingest import controllers
    from server.tables.ingest import IngestBatch

    monkeypatch.setattr(controllers, "MAX_UPLOAD", 10_000)
    data = (HEADER + "".join(f"LIM-{i},{A},2025-03-31,vat,1\n" for i in range(1000))).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 4096):
            yield data[i : i + 4096]

    before = await IngestBatch.count()
    r = await client.post("/api/ingest/tax_monthly", content=pieces() if streamed else data,
                          headers=_csv(operators["tax"]))
    assert r.status_code == 413, r.text
    assert r.json()["detail"].startswith("body: the upload is larger than 10,000 bytes")
    assert await IngestBatch.count() == before
