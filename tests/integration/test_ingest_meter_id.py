"""The utility feed's optional ``meter_id`` (several firms on one meter report the same number,
which is how shared meters are recognised) lands in ``dept_record.attrs`` as the very same
text on the row-wise path and on the Arrow fast path, on both engines; a meter number with
other characters than letters, digits and ``- _ . /`` is refused for its row, naming the field,
and the good rows are stored; a file without the column loads as before."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from server.uscc import make_uscc

pytestmark = pytest.mark.anyio

A, B = make_uscc(401), make_uscc(402)
FIRMS = (
    "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
    f"{A},电表甲有限公司,34,百官街道,2000000,2012-03-01,small,active\n"
    f"{B},电表乙有限公司,51,曹娥街道,500000,2018-07-15,micro,active\n"
).encode()
HEAD = "record_key,uscc,event_date,category,amount_yuan,arrears_yuan,quantity"
LONGEST = "M" + "0" * 39  # 40 characters: the most a meter number may have
CHARSET = "only letters, digits and - _ . /"


def _json(meter: str) -> str:
    """What the row-wise path writes: ``json.dumps`` with compact separators."""
    return json.dumps({"meter_id": meter}, separators=(",", ":"))


@pytest.fixture(scope="module")
async def firms(engine) -> None:
    from server.ingest.services import ingest

    assert (await ingest(engine, "firms", [FIRMS], "csv")).accepted == 2


async def _stored(batch_id: int) -> dict[str, tuple]:
    """record_key -> the stored columns, ``attrs`` as the raw text in the database."""
    from server.tables.ingest import DeptRecord

    rows = await DeptRecord.select(
        DeptRecord.record_key, DeptRecord.uscc, DeptRecord.event_date, DeptRecord.category,
        DeptRecord.amount_fen, DeptRecord.arrears_fen, DeptRecord.quantity, DeptRecord.attrs,
    ).where(DeptRecord.batch_id == batch_id)
    return {r["record_key"]: tuple(r.values())[1:] for r in rows}


def _attrs(stored: dict[str, tuple]) -> dict[str, str | None]:
    return {key: cols[-1] for key, cols in stored.items()}


async def _both(engine, monkeypatch, data: bytes):
    """Ingest ``data`` row-wise, remove what it stored, then by the fast path (checking that
    Arrow blocks did go through it): (slow result, its rows, fast result, its rows)."""
    from server.ingest import services
    from server.tables.ingest import DeptRecord

    with monkeypatch.context() as m:
        m.setattr(services, "supports_fast_path", lambda *a: False)
        slow = await services.ingest(engine, "utility", [data], "csv")
    slow_rows = await _stored(slow.batch_id)
    await DeptRecord.delete().where(DeptRecord.batch_id == slow.batch_id)

    arrow_blocks = []
    prepare = services.prepare_records

    def spy(*args, **kwargs):
        arrow_blocks.append(args[1].num_rows)
        return prepare(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(services, "prepare_records", spy)
        fast = await services.ingest(engine, "utility", [data], "csv")
    assert arrow_blocks, "the fast path was not taken"
    return slow, slow_rows, fast, await _stored(fast.batch_id)


async def test_meter_numbers_are_stored_alike_and_bad_ones_refused_by_name(engine, firms, monkeypatch) -> None:
    from server.ingest.sources import SOURCES

    assert [f.name for f in SOURCES["utility"].fields][-2:] == ["meter_id", "supply_address"]
    meter = next(f for f in SOURCES["utility"].fields if f.name == "meter_id")
    assert (meter.type, meter.required, meter.max_len) == ("text", False, 40)

    rows = [
        f"MI-1,{A},2024-01-31,electricity,10,0,100,M-1",
        f"MI-2,{B},2024-01-31,electricity,0,0,0,M-1",              # the same meter: shared
        f"MI-3,{A},2024-01-31,water,10,0,5,",                       # none: attrs is NULL
        f"MI-4,{A},2024-02-29,electricity,10,0,90,330E0000001/a_b.c",  # every allowed character
        f"MI-5,{B},2024-02-29,electricity,10,0,90, M-2 ",           # padded: trimmed, as any text
        f"MI-6,{A},2024-03-31,electricity,10,0,90,{LONGEST}",
        f"MI-7,{A},2024-03-31,water,10,0,5,{LONGEST}0",             # one character too many
        f"MI-8,{B},2024-03-31,electricity,10,0,90,M 8",             # a space inside
        f"MI-9,{B},2024-04-30,electricity,10,0,90,M\\9",            # JSON would have to escape it
        f"MI-10,{B},2024-04-30,water,10,0,5,电表10",                # json.dumps would write \\u...
        f"MI-11,{A},2024-04-30,gas,10,0,5,Ｍ-11",                   # a full-width letter
        f"MI-12,{A},2024-05-31,gas,10,0,5,M-12}}",
        f"MI-13,{B},2024-05-31,electricity,oops,0,90,M 13",         # two fields wrong
    ]
    data = (HEAD + ",meter_id\n" + "\n".join(rows) + "\n").encode()
    slow, slow_rows, fast, fast_rows = await _both(engine, monkeypatch, data)

    for result in (slow, fast):
        assert (result.rows, result.accepted, result.rejected_rows) == (13, 6, 7)
        assert [(r.row, r.field) for r in result.rejected] == [
            (7, "meter_id"), (8, "meter_id"), (9, "meter_id"), (10, "meter_id"), (11, "meter_id"),
            (12, "meter_id"), (13, "amount_yuan"), (13, "meter_id")]
        messages = {r.row: r.message for r in result.rejected if r.field == "meter_id"}
        assert "longer than 40 characters" in messages[7]
        assert all(CHARSET in messages[n] for n in (8, 9, 10, 11, 12, 13))
        assert messages[8].render("zh") == "只能包含字母、数字和 - _ . /"
    assert fast.rejected == slow.rejected
    assert fast_rows == slow_rows
    assert _attrs(fast_rows) == {
        "MI-1": _json("M-1"), "MI-2": _json("M-1"), "MI-3": None, "MI-4": _json("330E0000001/a_b.c"),
        "MI-5": _json("M-2"), "MI-6": _json(LONGEST)}
    assert _attrs(fast_rows)["MI-1"] == '{"meter_id":"M-1"}'


async def test_a_file_without_the_column_or_with_it_elsewhere_loads_on_both_paths(engine, firms,
                                                                                  monkeypatch) -> None:
    plain = (HEAD + "\n" + f"MN-1,{A},2024-06-30,electricity,10,0,100\n"
             f"MN-2,{B},2024-06-30,water,10,0,5\n").encode()
    slow, slow_rows, fast, fast_rows = await _both(engine, monkeypatch, plain)
    assert slow.accepted == fast.accepted == 2 and slow.rejected == fast.rejected == []
    assert fast_rows == slow_rows and set(_attrs(fast_rows).values()) == {None}

    # the column first, empty on one row: found by its name
    moved = ("meter_id," + HEAD + "\n" + f"E-7,MM-1,{A},2024-07-31,electricity,10,0,100\n"
             f",MM-2,{B},2024-07-31,electricity,10,0,100\n").encode()
    slow, slow_rows, fast, fast_rows = await _both(engine, monkeypatch, moved)
    assert slow.accepted == fast.accepted == 2 and fast_rows == slow_rows
    assert _attrs(fast_rows) == {"MM-1": _json("E-7"), "MM-2": None}

    # a quoted cell sends the rest of the file to Python's CSV reader on the fast path too
    quoted = (HEAD + ",meter_id\n" + f"MQ-1,{A},2024-08-31,electricity,10,0,100,\"Q-1\"\n"
              f"MQ-2,{B},2024-08-31,electricity,10,0,100,\"Q 2\"\n").encode()
    from server.ingest import services
    from server.tables.ingest import DeptRecord

    with monkeypatch.context() as m:
        m.setattr(services, "supports_fast_path", lambda *a: False)
        slow = await services.ingest(engine, "utility", [quoted], "csv")
    slow_rows = await _stored(slow.batch_id)
    await DeptRecord.delete().where(DeptRecord.batch_id == slow.batch_id)
    fast = await services.ingest(engine, "utility", [quoted], "csv")
    assert fast.rejected == slow.rejected and [(r.row, r.field) for r in fast.rejected] == [(2, "meter_id")]
    assert await _stored(fast.batch_id) == slow_rows and _attrs(slow_rows) == {"MQ-1": _json("Q-1")}


async def test_json_lines_keep_the_meter_number_like_csv(engine, firms) -> None:
    """JSON Lines take the row-wise path: a number is written as its digits, null and "" are
    no meter, anything but text is refused naming the field."""
    from server.ingest.services import ingest

    def line(key: str, meter: object, **more: object) -> str:
        row = {"record_key": key, "uscc": A, "event_date": "2024-09-30", "category": "electricity",
               "amount_yuan": "10", "arrears_yuan": "0", "quantity": 100}
        if meter is not ...:
            row["meter_id"] = meter
        return json.dumps({**row, **more})

    lines = [line("MJ-1", "M-1"), line("MJ-2", 12345), line("MJ-3", None), line("MJ-4", ""),
             line("MJ-5", ...), line("MJ-6", True), line("MJ-7", "é-7"), line("MJ-8", ["M-8"])]
    result = await ingest(engine, "utility", [("\n".join(lines) + "\n").encode()], "jsonl")
    assert result.accepted == 5
    assert [(r.row, r.field) for r in result.rejected] == [(6, "meter_id"), (7, "meter_id"), (8, "meter_id")]
    assert CHARSET in result.rejected[1].message
    assert _attrs(await _stored(result.batch_id)) == {
        "MJ-1": _json("M-1"), "MJ-2": _json("12345"), "MJ-3": None, "MJ-4": None, "MJ-5": None}


async def test_supply_addresses_are_stored_canonical_alike_and_quotes_refused(engine, firms, monkeypatch) -> None:
    """A utility that reports by place: ``supply_address`` is stored width-folded and without
    spaces on both paths (one place is one text), beside the meter number when both are sent;
    a quote, a backslash or a control character is refused for its row, naming the field."""
    from server.ingest.sources import SOURCES

    address = next(f for f in SOURCES["utility"].fields if f.name == "supply_address")
    assert (address.type, address.required, address.max_len) == ("text", False, 100)
    head = HEAD + ",meter_id,supply_address\n"
    rows = [
        f"SA-1,{A},2025-01-31,electricity,10,0,100,,上虞区人民路８８号",
        f"SA-2,{B},2025-01-31,electricity,10,0,100,,上虞区 人民路88号",   # the same place, typed otherwise
        f"SA-3,{A},2025-02-28,electricity,10,0,100,M-9,上虞区人民路88号",  # both: meter first
        f"SA-4,{B},2025-02-28,electricity,10,0,100,,人民路\\88号",           # a backslash
        f"SA-5,{B},2025-02-28,water,10,0,5,,人民路＂88＂号",               # full-width quotes fold away
        f"SA-6,{A},2025-03-31,water,10,0,5,,{'路' * 101}",                 # too long
    ]
    data = (head + "\n".join(rows) + "\n").encode()
    slow, slow_rows, fast, fast_rows = await _both(engine, monkeypatch, data)
    for result in (slow, fast):
        assert (result.rows, result.accepted) == (6, 4)
        assert [(r.row, r.field) for r in result.rejected] == [(4, "supply_address"), (6, "supply_address")]
        backslash = next(r.message for r in result.rejected if r.row == 4)
        assert "quotes, backslashes or control characters" in backslash
        assert backslash.render("zh") == "不能包含引号、反斜杠或控制字符"
    assert fast.rejected == slow.rejected
    assert fast_rows == slow_rows
    place = "上虞区人民路88号"
    assert {k: json.loads(v) for k, v in _attrs(fast_rows).items()} == {
        "SA-1": {"supply_address": place}, "SA-2": {"supply_address": place},
        "SA-3": {"meter_id": "M-9", "supply_address": place}, "SA-5": {"supply_address": "人民路88号"}}
    # scoring A alone reads B's reading at the same place too, and splits the two (the index
    # on the supply address answers the lookup)
    from server.scores.frames import load_records

    mine = await load_records(engine, usccs=[A])
    jan = mine[(mine["kind"] == "utility") & (mine["category"] == "electricity")
                & (mine["event_date"] == pd.Timestamp("2025-01-31"))]
    assert jan["uscc"].tolist() == [A]
    assert jan["attrs"].iloc[0]["meter_firms"] == 2 and jan["attrs"].iloc[0]["meter_total"] == 200
