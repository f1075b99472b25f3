"""The Arrow/COPY fast path stores exactly what the Python path stores, on both engines."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from server.uscc import make_uscc

pytestmark = pytest.mark.anyio

A, B, UNKNOWN = make_uscc(201), make_uscc(202), make_uscc(888_888)
BAD_CHECK = A[:17] + ("0" if A[17] != "0" else "1")
FIRMS = (
    "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
    f"{A},快速路径甲有限公司,34,百官街道,2000000,2012-03-01,small,active\n"
    f"{B},快速路径乙有限公司,51,曹娥街道,500000,2018-07-15,micro,active\n"
).encode()
HEADER = "record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"


def mixed_file(prefix: str) -> bytes:
    """Good rows, every kind of bad row, repeated keys, and keys stored before (``PRE-``)."""
    rows = [
        f"{prefix}1,{A},2025-01-31,vat,12345.67,0",
        f"{prefix}2,{BAD_CHECK},2025-01-31,vat,100,0",       # check character
        f"{prefix}3,{A},2099-12-31,vat,100,0",               # future date
        f"{prefix}4,{A},2025-02-28,vat,-100,0",              # negative
        f"{prefix}5,{A},2025-03-31",                         # too few cells
        f"{prefix}6,{B},2025-01-31,income,800,",             # good, optional empty
        f"{prefix}1,{A},2025-01-31,vat,99,0",                # same key again: first one wins
        f"{prefix}7,{UNKNOWN},2025-01-31,vat,1,0",           # unknown firm
        f"{prefix}8,{A},2025-01-31,vat,1.005,0",             # sub-fen
        f"{prefix}9,{A},2025-1-31,VAT,1,0",                  # bad date, upper-case category is fine
        f"{prefix}10,{A},2025-01-31,nope,1,0",               # enum
        f"{prefix}11,{A},2025-01-31,vat,1,0,extra",          # too many cells
        f" {prefix}12 ,{A.lower()}, 2025-01-31 ,vat, 7 ,0",  # padded but valid
        f"PRE-1,{A},2025-01-31,vat,5,0",                     # stored before
        f"{prefix}13,{B},2025-04-30,vat,,0",                 # required amount missing
        "",
        f"{prefix}14,{B},2025-04-30,income,3,0",             # after a blank line
        f"PRE-2,{B},2025-01-31,vat,5,0",                     # stored before
    ]
    return (HEADER + "\n".join(rows) + "\n").encode()


async def _stored(engine, batch_id: int) -> list[tuple]:
    from server.tables.ingest import DeptRecord

    rows = await DeptRecord.select(
        DeptRecord.source, DeptRecord.record_key, DeptRecord.uscc, DeptRecord.event_date, DeptRecord.category,
        DeptRecord.amount_fen, DeptRecord.arrears_fen, DeptRecord.quantity, DeptRecord.days, DeptRecord.status,
        DeptRecord.end_date, DeptRecord.attrs,
    ).where(DeptRecord.batch_id == batch_id)
    return sorted(tuple(r.values()) for r in rows)


@pytest.fixture(scope="module")
async def firms(engine) -> None:
    from server.ingest.services import ingest

    await ingest(engine, "firms", [FIRMS], "csv")
    pre = (HEADER + f"PRE-1,{A},2025-01-31,vat,5,0\nPRE-2,{B},2025-01-31,vat,5,0\n").encode()
    assert (await ingest(engine, "tax_monthly", [pre], "csv", today=None)).accepted == 2


async def _run_both(engine, monkeypatch, data: bytes, chunks: int = 1, source: str = "tax_monthly"):
    """Ingest ``data`` by the Python path, remove what it stored, then by the fast path."""
    from server.ingest import services
    from server.tables.ingest import DeptRecord

    pieces = [data[i : i + max(1, len(data) // chunks)] for i in range(0, len(data), max(1, len(data) // chunks))]
    with monkeypatch.context() as m:
        m.setattr(services, "supports_fast_path", lambda *a: False)
        slow = await services.ingest(engine, source, pieces, "csv")
    slow_rows = await _stored(engine, slow.batch_id)
    await DeptRecord.delete().where(DeptRecord.batch_id == slow.batch_id)
    fast = await services.ingest(engine, source, pieces, "csv")
    return slow, slow_rows, fast, await _stored(engine, fast.batch_id)


async def test_financial_statements_take_the_fast_path_with_the_same_rows_and_attrs(engine, firms, monkeypatch):
    """The statements' items become one JSON ``attrs`` per row, built column-wise: the same
    text the row-wise path writes (integers and nulls in the items' order), the revenue as the
    amount; losses (signed items), empty optional items and bad rows judged alike."""
    from server.ingest.sources import SOURCES
    from server.tables.ingest import DeptRecord

    names = [f.name for f in SOURCES["financial_statement"].fields]
    header = ",".join(names) + "\n"

    def row(key: str, uscc: str, **cells: str) -> str:
        base = {"record_key": key, "uscc": uscc, "event_date": "2025-04-30", "amount_yuan": "",
                "year": "2024", "revenue": "1000.5", "cost_of_sales": "800", "net_profit": "120.25",
                "total_assets": "5000", "total_liabilities": "2000", "current_assets": "3000",
                "current_liabilities": "1500", "inventory": "10", "receivables": "20", "equity": "3000",
                "operating_cash_flow": "90", "interest_expense": "5"}
        base.update(cells)
        return ",".join(base[n] for n in names)

    rows = [
        row("FS-1", A),
        row("FS-2", B, net_profit="-300.10", operating_cash_flow="-5"),  # a loss: signed items, checked column-wise
        row("FS-3", A, inventory="", receivables="", interest_expense=""),  # optional items missing
        row("FS-4", A, revenue=""),                                         # required item missing
        row("FS-5", A, year="1900"),                                        # out of range
        row("FS-6", UNKNOWN),                                               # no such firm
        row("FS-1", A, revenue="1"),                                        # repeated key
        row("FS-7", B, amount_yuan="77", revenue="123456789.99"),           # amount is the revenue
        row("FS-8", B, net_profit="-0.5", equity="-12345678901234.99", operating_cash_flow="-0"),
        row("FS-9", A, revenue="-5"),                                       # an unsigned item below zero
        row("FS-10", A, net_profit="--5"),                                  # not an amount
        row("FS-11", A, net_profit="-"),                                    # not an amount
        row("FS-12", B, net_profit="+7.5", operating_cash_flow="-.5"),      # forms the row-wise check reads
        row("FS-13", B, equity="-123456789012345"),                         # implausibly large
    ]
    data = (header + "\n".join(rows) + "\n").encode()
    from server.ingest.sources import RowValidator

    calls: list[list[int]] = []  # the row numbers each call of the row-wise check judged

    def spy(self, numbers, *args, **kwargs):
        calls.append(list(numbers))
        return real(self, numbers, *args, **kwargs)

    real = RowValidator.validate_columns
    monkeypatch.setattr(RowValidator, "validate_columns", spy)
    slow, slow_rows, fast, fast_rows = await _run_both(engine, monkeypatch, data, source="financial_statement")
    assert (fast.rows, fast.accepted, fast.duplicates) == (slow.rows, slow.accepted, slow.duplicates) == (14, 6, 1)
    assert calls[0] == list(range(1, 15))  # the row-wise path: every row
    # the fast path hands the row-wise check only rows it may refuse: not the losses
    assert sorted(n for c in calls[1:] for n in c) == [4, 5, 10, 11, 12, 13, 14]
    assert fast.rejected == slow.rejected and fast.repeated == slow.repeated
    assert fast_rows == slow_rows
    attrs = {r["record_key"]: r["attrs"] for r in await DeptRecord.select(
        DeptRecord.record_key, DeptRecord.attrs).where(DeptRecord.batch_id == fast.batch_id)}
    loss = json.loads(attrs["FS-2"]) if isinstance(attrs["FS-2"], str) else attrs["FS-2"]
    assert loss["net_profit"] == -30010 and loss["year"] == 2024 and list(loss)[0] in ("year", "revenue")
    missing = json.loads(attrs["FS-3"]) if isinstance(attrs["FS-3"], str) else attrs["FS-3"]
    assert missing["inventory"] is None and missing["revenue"] == 100050
    assert [r for r in fast_rows if r[1] == "FS-7"][0][5] == 12345678999  # amount_fen from the revenue


async def test_fast_path_equals_python_path_on_a_mixed_file(engine, firms, monkeypatch) -> None:
    slow, slow_rows, fast, fast_rows = await _run_both(engine, monkeypatch, mixed_file("M-"))
    assert (fast.rows, fast.accepted, fast.duplicates) == (slow.rows, slow.accepted, slow.duplicates)
    assert fast.rejected == slow.rejected
    assert (fast.rejected_count, fast.rejected_rows) == (slow.rejected_count, slow.rejected_rows)
    assert fast.repeated == slow.repeated and fast.repeated  # keys repeated in the file, by row
    assert fast_rows == slow_rows
    assert fast.touched_usccs == slow.touched_usccs
    assert (fast.rows, fast.accepted, fast.duplicates) == (17, 4, 3)
    assert {(r.row, r.field) for r in fast.rejected} == {
        (2, "uscc"), (3, "event_date"), (4, "amount_yuan"), (5, "category"), (8, "uscc"), (9, "amount_yuan"),
        (10, "event_date"), (11, "category"), (12, "row"), (15, "amount_yuan")}
    assert ("tax_monthly", "M-1", A) == slow_rows[0][:3] and slow_rows[0][5] == 1234567  # first M-1 kept


@pytest.mark.parametrize("chunk_rows", [2, 5])
async def test_equal_across_small_chunks_and_split_uploads(engine, firms, monkeypatch, chunk_rows) -> None:
    from server.ingest import services

    monkeypatch.setattr(services, "CHUNK_ROWS", chunk_rows)
    slow, slow_rows, fast, fast_rows = await _run_both(engine, monkeypatch, mixed_file(f"S{chunk_rows}-"), 7)
    assert (fast.rows, fast.accepted, fast.duplicates, fast.rejected) == (
        slow.rows, slow.accepted, slow.duplicates, slow.rejected)
    assert fast_rows == slow_rows


async def test_optimistic_copy_falls_back_when_a_key_is_stored(engine, firms, monkeypatch) -> None:
    """A chunk with a stored key: the COPY fails, its savepoint is rolled back, and the chunk
    goes through ON CONFLICT; chunks without one are copied. Counts stay right."""
    from server.ingest import services, store

    monkeypatch.setattr(services, "CHUNK_ROWS", 4)
    fallbacks: list[str] = []
    original = store.PostgresWriter._insert_from_stage

    async def spy(self, table, stage, columns, conflict):
        fallbacks.append(table)
        return await original(self, table, stage, columns, conflict)

    monkeypatch.setattr(store.PostgresWriter, "_insert_from_stage", spy)
    rows = [f"F-{i},{A if i % 2 else B},2025-01-31,vat,{i},0" for i in range(12)]
    rows[9] = f"PRE-1,{A},2025-01-31,vat,5,0"  # in the third chunk
    result = await services.ingest(engine, "tax_monthly", [(HEADER + "\n".join(rows) + "\n").encode()], "csv")
    assert (result.accepted, result.duplicates, result.rejected) == (11, 1, [])
    assert len(await _stored(engine, result.batch_id)) == 11
    if engine.__class__.__name__ == "PostgresEngine":
        assert fallbacks == ["dept_record"]
    again = await services.ingest(engine, "tax_monthly", [(HEADER + "\n".join(rows) + "\n").encode()], "csv")
    assert (again.accepted, again.duplicates) == (0, 12)


async def test_a_batch_failing_in_its_second_write_keeps_its_first_chunk_and_the_resend_resumes(
        engine, firms, monkeypatch) -> None:
    """Chunks commit one by one with the batch's progress: a failure loses only the chunk being
    written, the batch stays 'running' with what it stored, and the same file sent again
    (same fingerprint) continues after the committed rows: every row stored and counted once."""
    from server.ingest import services
    from server.tables.ingest import DeptRecord, IngestBatch

    monkeypatch.setattr(services, "CHUNK_ROWS", 3)
    real = services.store_records
    calls = []

    async def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database connection lost")
        return await real(*args, **kwargs)

    monkeypatch.setattr(services, "store_records", failing)
    before = await DeptRecord.count()
    data = (HEADER + "".join(f"H-{i},{A},2025-01-31,vat,{i},0\n" for i in range(9))).encode()
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(RuntimeError):
        await services.ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
    assert len(calls) == 2
    stored = await DeptRecord.count() - before  # the first chunk: about CHUNK_ROWS rows
    assert 0 < stored < 9
    broken = await IngestBatch.select().where(IngestBatch.fingerprint == sha).first()
    assert (broken["state"], broken["rows"], broken["accepted"]) == ("running", stored, stored)

    monkeypatch.setattr(services, "store_records", real)
    done = await services.ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
    assert (done.batch_id, done.resumed_after, done.rows, done.accepted, done.duplicates) == (
        broken["id"], stored, 9, 9, 0)
    assert await DeptRecord.count() == before + 9
    assert await DeptRecord.count().where(DeptRecord.batch_id == broken["id"]) == 9
    batch = await IngestBatch.select().where(IngestBatch.id == broken["id"]).first()
    assert (batch["state"], batch["rows"], batch["accepted"]) == ("done", 9, 9)
    # sent once more: a finished batch is not resumed; a new batch finds every row stored
    again = await services.ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
    assert again.batch_id != broken["id"] and (again.accepted, again.duplicates) == (0, 9)


_GOOD_CELL = {"key": "G-{i}", "uscc": A, "date": "2024-0{m}-15", "money": "{i}.5", "int": "{i}", "number": "{q}",
              "text": "330-M/{i}.a_b"}


@pytest.mark.parametrize("code", ["bank_loan", "personal_credit", "court_case", "social_insurance", "utility"])
async def test_every_column_type_is_stored_alike(engine, firms, monkeypatch, code) -> None:
    """Dates, end dates, integers, floats, statuses and NULLs reach the database unchanged by
    the binary COPY (compared with the Python path's rows)."""
    from server.ingest import services
    from server.ingest.sources import SOURCES

    fields = SOURCES[code].fields
    lines = [",".join(f.name for f in fields)]
    for i in range(1, 8):
        cells = []
        for f in fields:
            if f.type == "enum":
                cells.append(f.choices[i % len(f.choices)])
            elif not f.required and i % 3 == 0:
                cells.append("")
            elif f.name == "end_date":
                cells.append("2024-09-30")
            else:
                q = 350 + i * 10.25 if code == "personal_credit" else i * 0.1
                cells.append(_GOOD_CELL[f.type].format(i=i, m=1 + i % 8, q=q))
        lines.append(",".join(cells))
    data = ("\n".join(lines) + "\n").encode()
    with monkeypatch.context() as m:
        m.setattr(services, "supports_fast_path", lambda *a: False)
        slow = await services.ingest(engine, code, [data], "csv")
    slow_rows = await _stored(engine, slow.batch_id)
    from server.tables.ingest import DeptRecord

    await DeptRecord.delete().where(DeptRecord.batch_id == slow.batch_id)
    fast = await services.ingest(engine, code, [data], "csv")
    assert fast.rejected == slow.rejected == []
    assert fast.accepted == slow.accepted == 7
    assert await _stored(engine, fast.batch_id) == slow_rows


async def test_one_writer_per_file_a_second_upload_of_it_is_refused_while_the_first_runs(engine, firms) -> None:
    """While a writer holds a file (PostgreSQL: a session advisory lock; SQLite: a flock), the
    same file sent again is refused with 409 and nothing is written; once it is released the
    file is stored. A different file is never held up."""
    from server.ingest import services
    from server.tables.ingest import IngestBatch

    data = (HEADER + f"CLAIM-1,{A},2025-02-28,vat,5,0\n").encode()
    sha = hashlib.sha256(data).hexdigest()
    batches = await IngestBatch.count()
    async with services.claim_file(engine, "tax_monthly", sha) as held:
        assert held
        with pytest.raises(services.IngestError) as refused:
            await services.ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
        assert refused.value.status_code == 409 and refused.value.field == "file"
        assert await IngestBatch.count() == batches
        other = (HEADER + f"CLAIM-2,{A},2025-02-28,vat,5,0\n").encode()
        done = await services.ingest(engine, "tax_monthly", [other], "csv",
                                     fingerprint=hashlib.sha256(other).hexdigest())
        assert done.accepted == 1
    stored = await services.ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
    assert stored.accepted == 1


@pytest.mark.parametrize("source", ["guarantees", "relations", "firms"])
async def test_registries_judged_alike_by_the_arrow_validator_and_the_row_wise_path(
        engine, firms, monkeypatch, source) -> None:
    """Registry CSV files now go through the Arrow validator: the same rows accepted, the same
    rejections (fields and messages, the rules across fields included), the same counts."""
    from server.ingest import services

    def data(prefix: str) -> bytes:
        if source == "guarantees":
            lines = ["record_key,guarantor_uscc,guaranteed_uscc,amount_yuan,start_date,end_date",
                     f"{prefix}1,{A},{B},1000,2024-01-01,2027-01-01",
                     f"{prefix}2,{A},{A},1000,2024-01-01,2027-01-01",          # guarantees itself
                     f"{prefix}3,{A},{B},1000,2024-01-01,2023-01-01",          # ends before it starts
                     f"{prefix}4,{A},{UNKNOWN},1000,2024-01-01,2027-01-01",    # no such firm
                     f"{prefix}5,{B},{A},0,2024-01-01,2027-01-01",             # below the floor
                     f"{prefix}1,{B},{A},5,2024-01-01,2027-01-01"]             # repeated key
        elif source == "relations":
            lines = ["record_key,uscc,person_id,person_name,role,share_pct,start_date,end_date",
                     f"{prefix}1,{A},330100199001011234,张三,legal_rep,,2020-01-01,",
                     f"{prefix}2,{A},330100199001011235,李四,shareholder,55.5,2020-01-01,2019-01-01",
                     f"{prefix}3,{B},330100199001011234,张三,boss,10,2020-01-01,",
                     f"{prefix}4,{B},330100199001011236,王五,shareholder,120,2020-01-01,",
                     f"{prefix}5,{UNKNOWN},330100199001011237,赵六,director,,2020-01-01,",
                     f"{prefix}6,{B},330100199001011238, 钱七 ,DIRECTOR,,2020-01-01,"]
        else:
            lines = ["uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status",
                     f"{A},甲公司,13,城关镇,1000000,2010-01-01,small,active",
                     f"{BAD_CHECK},坏码公司,13,城关镇,1,2010-01-01,small,active",
                     f"{B},乙公司,99,城关镇,1,2010-01-01,small,active",
                     f"{B},乙公司,34,城关镇,-5,2010-01-01,small,active",
                     f"{B},乙公司,34,城关镇,5,2010-01-01,giant,active"]
        return ("\n".join(lines) + "\n").encode()

    with monkeypatch.context() as m:
        m.setattr(services, "supports_fast_path", lambda *a: False)
        slow = await services.ingest(engine, source, [data("RS-")], "csv")
    fast = await services.ingest(engine, source, [data("RF-")], "csv")

    def key(r):  # a message may quote the row's own key
        return r.row, r.field, str(r.message).replace("RF-", "RS-")

    assert [key(r) for r in fast.rejected] == [key(r) for r in slow.rejected] and fast.rejected
    assert (fast.rows, fast.rejected_rows, fast.repeated_count) == (slow.rows, slow.rejected_rows, slow.repeated_count)
    if source != "firms":  # firms upsert: the second run finds them stored
        assert (fast.accepted, fast.duplicates) == (slow.accepted, slow.duplicates)


@pytest.mark.parametrize("fast_path", [True, False])
async def test_the_meter_number_is_kept_in_attrs_and_a_bad_one_is_refused_by_name(engine, firms, monkeypatch,
                                                                                  fast_path) -> None:
    """Issue 15: the utility feed's optional ``meter_id`` lands in ``attrs`` on either path; a
    meter number with other characters is refused naming the field, the good rows are stored;
    a file without the column still loads."""
    from server.ingest import services
    from server.tables.ingest import DeptRecord

    monkeypatch.setattr(services, "supports_fast_path",
                        services.supports_fast_path if fast_path else (lambda *a: False))
    tag = "F" if fast_path else "S"
    head = "record_key,uscc,event_date,category,amount_yuan,arrears_yuan,quantity,meter_id\n"
    data = (head + f"MT{tag}-1,{A},2024-01-31,electricity,10,0,100,M-1\n"
            f"MT{tag}-2,{A},2024-01-31,water,10,0,5,\n"
            f"MT{tag}-3,{B},2024-01-31,electricity,10,0,100,M 1\n"
            f"MT{tag}-4,{B},2024-01-31,electricity,10,0,100,\"M-1\"\"}}\"\n").encode()
    result = await services.ingest(engine, "utility", [data], "csv")
    assert result.accepted == 2
    assert [(r.row, r.field) for r in result.rejected] == [(3, "meter_id"), (4, "meter_id")]
    assert "letters, digits" in result.rejected[0].message
    rows = await DeptRecord.select(DeptRecord.record_key, DeptRecord.attrs).where(
        DeptRecord.batch_id == result.batch_id).output(load_json=True)
    assert sorted((r["record_key"], r["attrs"]) for r in rows) == [
        (f"MT{tag}-1", {"meter_id": "M-1"}), (f"MT{tag}-2", None)]

    plain = ("record_key,uscc,event_date,category,amount_yuan,arrears_yuan,quantity\n"
             f"MT{tag}-5,{A},2024-02-29,electricity,10,0,100\n").encode()
    again = await services.ingest(engine, "utility", [plain], "csv")
    assert again.accepted == 1 and again.rejected == []


def _firms_file(codes: list[str], rows: list[tuple]) -> bytes:
    """A firms registry file: one line per (code index, name, division, capital, size)."""
    lines = ["uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status"]
    lines += [f"{codes[i]},{name},{division},城关镇,{capital},2011-05-0{1 + i % 9},{size},active"
              for i, name, division, capital, size in rows]
    return ("\n".join(lines) + "\n").encode()


async def _firm_rows(codes: list[str]) -> list[tuple]:
    """The stored firms of ``codes`` in that order, each with its code's index instead of the code."""
    from server.tables.firms import Firm

    found = {r["uscc"]: r for r in await Firm.select().where(Firm.uscc.is_in(codes))}
    return [(i, *(v for k, v in found[c].items() if k not in ("id", "uscc"))) if c in found else None
            for i, c in enumerate(codes)]


async def test_firms_are_stored_and_updated_alike_by_the_arrow_path_and_the_row_wise_path(
        engine, monkeypatch) -> None:
    """The firms registry's blocks are written from their columns (one binary COPY, then the
    upsert): new firms, changed ones (updated, stamped anew), unchanged ones (duplicates,
    stamps kept), a code given twice (the last registration wins), a lower-case code, and
    every column's value come out as the row-wise path writes them."""
    from server.ingest import services

    slow_codes = [make_uscc(61_000 + i) for i in range(6)]
    fast_codes = [make_uscc(62_000 + i) for i in range(6)]
    first = [(0, "甲有限公司", "34", "1000000.50", "small"), (1, "乙有限公司", "05", "20", "micro"),
             (2, "丙有限公司", "97", "300", "medium"), (3, "丁有限公司", "1", "4", "LARGE")]
    second = [(0, "甲有限公司", "34", "1000000.50", "small"),    # unchanged
              (1, "乙有限责任公司", "05", "20", "micro"),        # renamed
              (2, "丙有限公司", "97", "301", "medium"),          # new capital
              (4, "戊有限公司", "52", "5", "small")]             # new, its code in lower case
    third = [(5, "己有限公司", "13", "6", "small"), (5, "己有限公司", "14", "6", "small")]  # twice: the last wins

    written: list[int] = []  # the blocks written from their columns, by rows
    real = services._store_prepared_firms

    async def spy(w, prepared, *args):
        written.append(prepared.rows.num_rows)
        return await real(w, prepared, *args)

    async def run(codes: list[str], data: bytes, fast: bool):
        with monkeypatch.context() as m:
            m.setattr(services, "_store_prepared_firms", spy)
            if not fast:
                m.setattr(services, "supports_fast_path", lambda *a: False)
            return await services.ingest(engine, "firms", [data], "csv")

    results = {}
    for fast, codes in ((False, slow_codes), (True, fast_codes)):
        one = await run(codes, _firms_file(codes, first), fast)
        stored_first = await _firm_rows(codes)
        two = await run(codes, _firms_file([c.lower() if i == 4 else c for i, c in enumerate(codes)], second), fast)
        three = await run(codes, _firms_file(codes, third), fast)
        results[fast] = (one, two, three, stored_first, await _firm_rows(codes))
    (s1, s2, s3, s_first, s_rows), (f1, f2, f3, f_first, f_rows) = results[False], results[True]
    assert written == [4, 4]  # the third file repeats a code: its block goes row-wise, as before
    assert (f1.accepted, f1.duplicates, f1.rejected) == (s1.accepted, s1.duplicates, s1.rejected) == (4, 0, [])
    assert (f2.accepted, f2.duplicates, f2.rejected) == (s2.accepted, s2.duplicates, s2.rejected) == (3, 1, [])
    assert (f3.accepted, f3.duplicates, f3.rejected) == (s3.accepted, s3.duplicates, s3.rejected) == (1, 1, [])
    assert f3.repeated == s3.repeated and [(r.row, r.first_row) for r in f3.repeated] == [(1, 2)]
    assert f1.touched_usccs == set(fast_codes[:4]) and f2.touched_usccs == {fast_codes[i] for i in (0, 1, 2, 4)}

    def without_stamps(rows):
        return [r[:-2] if r else r for r in rows]

    assert without_stamps(f_first) == without_stamps(s_first) and without_stamps(f_rows) == without_stamps(s_rows)
    columns = [k for k in (await _firm_rows_columns()) if k not in ("id", "uscc")]
    by_name = [dict(zip(["index", *columns], r, strict=True)) for r in f_rows]
    assert [(r["industry_section"], r["industry_division"], r["registered_capital_fen"], r["size_class"])
            for r in by_name] == [("C", "34", 100000050, "small"), ("A", "05", 2000, "micro"),
                                  ("T", "97", 30100, "medium"), ("A", "01", 400, "large"),
                                  ("F", "52", 500, "small"), ("C", "14", 600, "small")]
    assert by_name[1]["name"] == "乙有限责任公司"
    # the unchanged firm keeps its stamps; the changed ones are stamped by the second batch
    stamps = [(r["created_at"], r["updated_at"]) for r in by_name]
    first_stamps = [(r[-2], r[-1]) for r in f_first[:4]]
    from server.tables.ingest import IngestBatch

    received = {r["id"]: r["received_at"] for r in await IngestBatch.select(IngestBatch.id, IngestBatch.received_at)
                .where(IngestBatch.id.is_in([f1.batch_id, f2.batch_id]))}
    assert first_stamps[0] == (received[f1.batch_id], received[f1.batch_id])  # the batch's own time
    assert stamps[0] == first_stamps[0]
    assert stamps[4] == (received[f2.batch_id], received[f2.batch_id])
    assert stamps[1][0] == first_stamps[1][0] and stamps[1][1] > first_stamps[1][1]
    assert stamps[2][1] == stamps[1][1] and stamps[4][0] == stamps[4][1] == stamps[1][1]


async def _firm_rows_columns() -> list[str]:
    from server.tables.firms import Firm

    return [c._meta.db_column_name for c in Firm._meta.columns]


async def test_a_large_file_is_cut_into_growing_chunks_that_commit_and_resume_one_by_one(engine, firms,
                                                                                       monkeypatch) -> None:
    """The first chunks of a large file are short and double in size, so the database starts
    writing early; each commits with the batch's progress, and a resend after a failure
    continues after the last committed chunk, storing every row once."""
    from server.ingest import services
    from server.tables.ingest import DeptRecord, IngestBatch

    monkeypatch.setattr(services, "CHUNK_ROWS", 100)
    monkeypatch.setattr(services, "FIRST_CHUNK_ROWS", 2)
    real = services.store_records
    sizes: list[int] = []

    async def counting(w, prep, *args, **kwargs):
        sizes.append(prep.good.num_rows)
        if fail and len(sizes) == 3:
            raise RuntimeError("database connection lost")
        return await real(w, prep, *args, **kwargs)

    monkeypatch.setattr(services, "store_records", counting)
    data = (HEADER + "".join(f"R-{i},{A if i % 3 else B},2025-01-31,vat,{i},0\n" for i in range(30))).encode()
    sha = hashlib.sha256(data).hexdigest()
    before = await DeptRecord.count()
    fail = True
    with pytest.raises(RuntimeError):
        await services.ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
    assert sizes == [2, 4, 8]
    assert await DeptRecord.count() == before + 6
    broken = await IngestBatch.select().where(IngestBatch.fingerprint == sha).first()
    assert (broken["state"], broken["rows"], broken["accepted"]) == ("running", 6, 6)

    fail, sizes[:] = False, []
    done = await services.ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
    assert sizes == [2, 4, 8, 10]  # the 24 rows left: cut again while the pipeline fills
    assert (done.batch_id, done.resumed_after, done.rows, done.accepted, done.duplicates) == (
        broken["id"], 6, 30, 30, 0)
    assert await DeptRecord.count().where(DeptRecord.batch_id == broken["id"]) == 30
    assert sorted(r["record_key"] for r in await DeptRecord.select(DeptRecord.record_key).where(
        DeptRecord.batch_id == broken["id"])) == sorted(f"R-{i}" for i in range(30))

    sizes[:] = []  # without the ramp's cut: one chunk
    whole = (HEADER + "".join(f"W-{i},{A},2025-01-31,vat,{i},0\n" for i in range(4))).encode()
    assert (await services.ingest(engine, "tax_monthly", [whole], "csv")).accepted == 4 and sizes == [4]


def _links_file(source: str, key: str, person: str, rows: list[tuple]) -> bytes:
    """A relations or guarantees file; ``key`` and ``person`` prefix the record keys and the
    identity numbers, so that each path writes rows of its own."""
    if source == "relations":
        lines = ["record_key,uscc,person_id,person_name,role,share_pct,start_date,end_date"]
        lines += [f"{key}{k},{firm},{person}{p:04d},{name},{role},{share},{start},{end}"
                  for k, firm, p, name, role, share, start, end in rows]
    else:
        lines = ["record_key,guarantor_uscc,guaranteed_uscc,amount_yuan,start_date,end_date"]
        lines += [f"{key}{k},{a},{b},{amount},{start},{end}" for k, a, b, amount, start, end in rows]
    return ("\n".join(lines) + "\n").encode()


async def _links_stored(source: str, key: str, person: str) -> list[tuple]:
    """The stored links of ``key``'s rows, in id order, with codes and hashes instead of ids,
    the prefixes taken off; and for relations the people's names by identity number."""
    import inspect

    from server.ingest.services import ingest, person_hash
    from server.tables.firms import Firm, FirmPerson, Guarantee, Person

    salt = inspect.signature(ingest).parameters["person_salt"].default
    codes = {r["id"]: r["uscc"] for r in await Firm.select(Firm.id, Firm.uscc)}
    if source == "relations":
        hashes = {person_hash(f"{person}{p:04d}", salt): p for p in range(20)}
        people = {r["id"]: (hashes.get(r["id_hash"]), r["name"]) for r in await Person.select()}
        rows = await FirmPerson.select().where(FirmPerson.record_key.like(f"{key}%")).order_by(FirmPerson.id)
        return [(r["record_key"][len(key):], codes[r["firm"]], *people[r["person"]], r["role"],
                 r["share_pct"], r["start_date"], r["end_date"]) for r in rows]
    rows = await Guarantee.select().where(Guarantee.record_key.like(f"{key}%")).order_by(Guarantee.id)
    return [(r["record_key"][len(key):], codes[r["guarantor"]], codes[r["guaranteed"]], r["amount_fen"],
             r["start_date"], r["end_date"]) for r in rows]


@pytest.mark.parametrize("source", ["relations", "guarantees"])
async def test_relations_and_guarantees_are_stored_alike_by_the_arrow_path_and_the_row_wise_path(
        engine, firms, monkeypatch, source) -> None:
    """On PostgreSQL the relations' and guarantees' blocks are staged from their columns and
    the server turns codes into ids (``_store_prepared_links``). Against the row-wise path:
    the same links in the same order, the same people (a person named twice keeps the last
    row's name, one stored before keeps the stored name), the same shares, counts and touched
    firms; a re-sent file only duplicates; a block naming an unknown firm is undone and goes
    row-wise (the same rejections, the other rows stored once); a block repeating a key goes
    row-wise from the start."""
    from server.ingest import services

    if source == "relations":
        before = [(0, A, 1, "旧名", "director", "", "2019-01-01", "")]
        main = [(1, A, 1, "新名", "legal_rep", "", "2020-01-01", ""),             # a person stored before
                (2, A, 2, "李四", "shareholder", "55.5", "2020-01-01", "2024-06-30"),
                (3, B, 3, "王五", "shareholder", "33.33", "2021-03-01", ""),
                (4, B, 2, "李四改", "Director", "12.345", "2021-03-01", ""),      # named again: this name
                (5, B, 4, "赵六", "supervisor", "100", "2022-02-28", "")]
        unknown = [(6, A, 5, "钱七", "director", "", "2020-01-01", ""),
                   (7, UNKNOWN, 6, "孙八", "director", "", "2020-01-01", ""),
                   (8, B, 7, "周九", "shareholder", "0.01", "2020-01-01", "")]
        repeated = [(9, A, 8, "吴十", "director", "", "2020-01-01", ""),
                    (9, B, 9, "郑十一", "director", "", "2020-01-01", "")]
    else:
        before = [(0, B, A, "1", "2019-01-01", "2027-01-01")]
        main = [(1, A, B, "1000000.50", "2024-01-01", "2027-01-01"), (2, B, A, "0.01", "2024-02-29", "2024-03-01"),
                (3, A, B, "5", "2025-01-01", "2030-12-31")]
        unknown = [(6, A, B, "7", "2024-01-01", "2027-01-01"), (7, A, UNKNOWN, "8", "2024-01-01", "2027-01-01"),
                   (8, B, A, "9", "2024-01-01", "2027-01-01")]
        repeated = [(9, A, B, "10", "2024-01-01", "2027-01-01"), (9, B, A, "11", "2024-01-01", "2027-01-01")]

    fast_blocks: list[int] = []
    real = services._store_prepared_links

    async def spy(w, links, *args):
        fast_blocks.append(links.table.num_rows)
        return await real(w, links, *args)

    async def run(fast: bool, key: str, person: str) -> tuple[list, list]:
        results = []
        with monkeypatch.context() as m:
            m.setattr(services, "_store_prepared_links", spy)
            if not fast:
                m.setattr(services, "supports_fast_path", lambda *a: False)
            for rows in (before, main, main, unknown, repeated):  # main twice: a re-sent file
                results.append(await services.ingest(engine, source, [_links_file(source, key, person, rows)], "csv"))
        return results, await _links_stored(source, key, person)

    slow, slow_rows = await run(False, "LS-", "3301")
    assert fast_blocks == []
    fast, fast_rows = await run(True, "LF-", "3302")
    pg = engine.__class__.__name__.startswith("Postgres")
    assert fast_blocks == ([1, len(main), len(main), len(unknown)] if pg else [])
    assert fast_rows == slow_rows and len(fast_rows) == 1 + len(main) + 2 + 1
    for f, s in zip(fast, slow, strict=True):
        assert (f.rows, f.accepted, f.duplicates, f.rejected_rows, f.repeated_count) == (
            s.rows, s.accepted, s.duplicates, s.rejected_rows, s.repeated_count)
        assert [(r.row, r.field, str(r.message)) for r in f.rejected] == [
            (r.row, r.field, str(r.message)) for r in s.rejected]
        assert f.touched_usccs == s.touched_usccs
    assert [(r.accepted, r.duplicates) for r in fast] == [(1, 0), (len(main), 0), (0, len(main)), (2, 0), (1, 1)]
    assert [r.field for r in fast[3].rejected] == (["uscc"] if source == "relations" else ["guaranteed_uscc"])
    if source == "relations":
        people = {(p, name) for _, _, p, name, *_ in fast_rows}
        assert people >= {(1, "旧名"), (2, "李四改")} and (1, "新名") not in people
        shares = [None, None, Decimal("55.5"), Decimal("33.33"), Decimal("12.345"), Decimal("100")]
        if pg:  # numeric(5, 2) rounds; SQLite keeps what it is given
            shares[2:] = [Decimal("55.50"), Decimal("33.33"), Decimal("12.35"), Decimal("100.00")]
        assert [r[5] for r in fast_rows[:6]] == shares
