"""Issue 10 point 13: hostile input gets a 4xx naming the field or the row, never a 500.

JSON nested 1,000 deep used to crash any JSON route (even ``/api/auth/login``); JSON Lines
cells of the wrong JSON type crashed the feed or were stored as their Python repr; a NUL byte
refused a whole PostgreSQL batch without a row number. Runs on both engines (``db_url``).
"""

from __future__ import annotations

import json

import httpx
import pytest

from server.uscc import make_uscc
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

A, B = make_uscc(131), make_uscc(132)


@pytest.fixture(scope="module")
async def operators(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    await make_user("13913000001", "dept_operator", department="market")
    await make_user("13913000002", "dept_operator", department="tax")
    await make_user("13913000003", "bank_manager", bank_code="ICBC-SY")
    market = await login(client, "13913000001")
    firms = (
        "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
        f"{A},绍兴输入测试有限公司,34,百官街道,2000000,2012-03-01,small,active\n"
        f"{B},上虞输入测试有限公司,51,曹娥街道,500000,2018-07-15,micro,active\n"
    )
    r = await client.post("/api/ingest/firms", content=firms.encode(), headers={**market, "content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    return {"market": market, "tax": await login(client, "13913000002"),
            "bank": await login(client, "13913000003")}


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("body", [
    _deep(1000),
    _deep(100_000),
    '{"phone": "13800000000", "password": "secret-pass-1", "x": ' + _deep(1000) + "}",
    '{"phone": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + ', "password": "x"}',
])
async def test_deeply_nested_json_at_login_is_a_400_naming_the_body(client, body):
    r = await client.post("/api/auth/login", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("body:"), r.text


async def test_deeply_nested_json_on_an_authenticated_route_is_a_400(client, operators):
    body = '{"url": "https://bank.example.com/hook", "secret": ' + _deep(3000) + "}"
    r = await client.put("/api/banks/me/webhook", content=body.encode(),
                         headers={**operators["bank"], "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("body:"), r.text


@pytest.mark.parametrize(("path", "who"), [
    ("/api/users", "admin"), ("/api/objections", "owner"), ("/api/objections/records", "owner"),
    ("/api/audit", "admin"), ("/api/fund/ledger", "admin"),
])
async def test_an_offset_beyond_any_table_is_a_400_naming_it(client, operators, path, who):
    """Found by the fuzzer: ``?offset=`` with 31 digits overflowed SQLite's integer (a 500)."""
    await make_user("13913000004", "admin")
    await make_user("13913000005", "owner", firm_uscc=A)
    headers = await login(client, "13913000004" if who == "admin" else "13913000005")
    for offset in (7669784206895472372604496510976, 2**31):
        r = await client.get(path, params={"offset": offset}, headers=headers)
        assert r.status_code == 400, (offset, r.text)
        assert "offset" in r.json()["detail"] + json.dumps(r.json().get("extra")), r.text
    assert (await client.get(path, params={"offset": 2**31 - 1}, headers=headers)).status_code == 200


async def _records(prefix: str) -> list[dict]:
    from server.tables.ingest import DeptRecord

    return await DeptRecord.select(DeptRecord.record_key, DeptRecord.uscc).where(
        DeptRecord.record_key.like(f"{prefix}%") | DeptRecord.record_key.is_in(["['BI-5']", "True"])
    ).order_by(DeptRecord.id)


async def test_jsonl_cells_of_the_wrong_type_or_with_nul_are_rejected_rows(client, operators):
    good = {"uscc": A, "event_date": "2025-04-30", "category": "vat", "amount_yuan": "10.50"}
    lines = [
        json.dumps({"record_key": "BI-1", **good}),                                  # 1 good
        json.dumps({**good, "record_key": "BI-2", "uscc": [A]}),                      # 2 uscc a list
        json.dumps({**good, "record_key": "BI-3", "amount_yuan": {"yuan": 10}}),      # 3 amount an object
        json.dumps({**good, "record_key": "BI-4\u0000x"}),                            # 4 NUL in the key
        json.dumps({**good, "record_key": ["BI-5"]}),                                 # 5 key a list
        json.dumps({**good, "record_key": True}),                                     # 6 key a boolean
        json.dumps({**good, "record_key": "BI-7", "category": {"vat": 1}}),           # 7 category an object
        json.dumps({**good, "record_key": "BI-8", "amount_yuan": [1, 2]}),            # 8 amount a list
        json.dumps({**good, "record_key": "BI-9", "event_date": ["2025-04-30"]}),     # 9 date a list
        '{"record_key": "BI-10", "x": ' + _deep(5000) + "}",                          # 10 nested too deep
        json.dumps({**good, "record_key": "BI-11", "uscc": B}),                       # 11 good
        json.dumps({**good, "record_key": "BI-12\ud800"}),                            # 12 lone surrogate
    ]
    body = "\n".join(lines).encode()
    headers = {**operators["tax"], "content-type": "application/x-ndjson"}
    r = await client.post("/api/ingest/tax_monthly", content=body, headers=headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 2
    by_row = {(e["row"], e["field"]) for e in out["rejected"]}
    assert by_row == {(2, "uscc"), (3, "amount_yuan"), (4, "record_key"), (5, "record_key"), (6, "record_key"),
                      (7, "category"), (8, "amount_yuan"), (9, "event_date"), (10, "row"), (12, "record_key")}
    messages = {(e["row"], e["field"]): e["message"] for e in out["rejected"]}
    assert "NUL" in messages[(4, "record_key")]
    assert "list" in messages[(2, "uscc")] or "array" in messages[(2, "uscc")]
    stored = await _records("BI-")
    assert [(s["record_key"], s["uscc"]) for s in stored] == [("BI-1", A), ("BI-11", B)]

    again = await client.post("/api/ingest/tax_monthly", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["accepted"] == 0 and again.json()["duplicates"] == 2


async def test_jsonl_registry_text_is_never_stored_as_a_python_repr(client, operators):
    from server.tables.firms import Firm

    base = {"industry_division": "34", "town": "百官街道", "registered_capital_yuan": 100000,
            "founded_on": "2015-01-01", "size_class": "small", "status": "active"}
    c, d, e = make_uscc(133), make_uscc(134), make_uscc(135)
    lines = [
        {**base, "uscc": c, "name": ["列表有限公司"]},
        {**base, "uscc": d, "name": "正常有限公司", "town": {"a": 1}},
        {**base, "uscc": e, "name": "另一个有限公司", "industry_division": 34},
    ]
    body = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    r = await client.post("/api/ingest/firms", content=body,
                          headers={**operators["market"], "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert {(x["row"], x["field"]) for x in r.json()["rejected"]} == {(1, "name"), (2, "town")}
    assert r.json()["accepted"] == 1  # a JSON number is a fine division code
    names = await Firm.select(Firm.uscc, Firm.name).where(Firm.uscc.is_in([c, d, e]))
    assert names == [{"uscc": e, "name": "另一个有限公司"}]


async def test_csv_with_a_nul_byte_rejects_that_row_and_stores_the_others(client, operators):
    csv = (
        "record_key,uscc,event_date,category,amount_yuan\n"
        f"NC-1,{A},2025-05-31,vat,1\n"
        f"NC-2\x00,{A},2025-05-31,vat,2\n"
        f"NC-3,{B},2025-05-31,vat,3\n"
    ).encode()
    r = await client.post("/api/ingest/tax_monthly", content=csv, headers={**operators["tax"], "content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert [(e["row"], e["field"]) for e in r.json()["rejected"]] == [(2, "record_key")]
    assert [s["record_key"] for s in await _records("NC-")] == ["NC-1", "NC-3"]
