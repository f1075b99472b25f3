"""The Arrow fast path gives exactly the Python path's results: parsing and validation."""

from __future__ import annotations

import csv
import sys
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.ingest.fastpath import PY_WHITESPACE, ArrowRecordValidator
from server.ingest.parse import ArrowBlock, FeedFormatError, read_batches, read_csv_blocks
from server.ingest.sources import SOURCES, RowValidator
from server.uscc import make_uscc

TODAY = date(2025, 6, 30)


def test_whitespace_list_is_pythons() -> None:
    assert set(PY_WHITESPACE) == {chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()}


def _flatten(blocks) -> list[tuple]:
    out = []
    for b in blocks:
        if isinstance(b, ArrowBlock):
            cols = [b.table.column(i).to_pylist() for i in range(b.table.num_columns)]
            out += [(b.start + i + 1, list(cells), None) for i, cells in enumerate(zip(*cols, strict=True))]
        else:
            out += b
    return out


def _read(fn, chunks):
    try:
        header, blocks = fn(chunks)
        return header, _flatten(blocks)
    except FeedFormatError as exc:
        return "error", exc.message


_PIECES = ["a", "1", ",", ",", "\n", "\n", "\r\n", '"', " ", "\x00", "é", "\ufeff", "\r", "T-1"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.booleans(),
       st.lists(st.integers(min_value=0, max_value=200), max_size=4), st.integers(min_value=1, max_value=4))
def test_arrow_reader_gives_the_python_readers_rows(pieces, bom, cuts, size) -> None:
    data = ("\ufeff" if bom else "").encode() + ("x,y,z\n" + "".join(pieces)).encode()
    cuts = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert _read(lambda c: read_csv_blocks(c, size), chunks) == _read(lambda c: read_batches(c, "csv", size), chunks)


def test_invalid_utf8_refuses_the_file_on_both_readers() -> None:
    chunks = [b"x,y\n1,2\n", b"3,\xff\n"]
    assert _read(lambda c: read_csv_blocks(c, 1), chunks)[0] == "error"
    assert _read(lambda c: read_csv_blocks(c, 1), chunks) == _read(lambda c: read_batches(c, "csv", 1), chunks)


def test_a_cell_over_the_csv_field_limit_refuses_the_file_on_both_readers() -> None:
    big = "k" * (csv.field_size_limit() + 1)
    chunks = [f"x,y\n1,2\n{big},3\n".encode()]
    fast = _read(lambda c: read_csv_blocks(c, 10), chunks)
    assert fast[0] == "error" and fast == _read(lambda c: read_batches(c, "csv", 10), chunks)


def test_a_huge_single_chunk_is_cut_into_blocks_of_about_the_size() -> None:
    data = "x,y\n" + "".join(f"{i},b\n" for i in range(10_000))
    header, blocks = read_csv_blocks([data.encode()], 1000)
    sizes = [b.table.num_rows for b in blocks]
    assert sum(sizes) == 10_000 and len(sizes) >= 9 and max(sizes) < 1500


# -- validation: the fast checks agree with the row validator, row by row --------------------

A, B = make_uscc(1), make_uscc(2)
CELLS = {
    "record_key": st.sampled_from(["K1", "K2", " K3", "", "  ", "k" * 101, "键\u3000", "\x1cK", "K-9"]),
    "uscc": st.sampled_from([A, B, A.lower(), f" {A}", A[:17] + "0", "X", ""]),
    "event_date": st.sampled_from(["2025-01-31", "2025-02-30", "2099-01-01", "1949-09-30", " 2025-03-31",
                                   "2025-W01-1", "20250101", ""]),
    "end_date": st.sampled_from(["", "2024-12-31", "2025-06-01", "bad"]),
    "category": st.sampled_from(["vat", "VAT", " income", "nope", ""]),
    "amount_yuan": st.sampled_from(["0", "12.5", "12.50", "12.", ".5", "1,000", "-3", "1.005", "１２", "1e3",
                                    " 7", "99999999999999.99", "100000000000000", ""]),
    "arrears_yuan": st.sampled_from(["", "0", "3.33", "x"]),
    "quantity": st.sampled_from(["0", "350", "949.5", "951", "1e2", "-1", "nan", "inf", " 400", "", "0.1"]),
    "days": st.sampled_from(["0", "3650", "3651", "007", "1.0", "-1", "+5", "", "1_0"]),
    "status": st.sampled_from(["open", "closed", "Closed", "x", ""]),
}


def _check_both(code: str, header: list[str], rows: list[list[str]]) -> None:
    source = SOURCES[code]
    table = pa.table({f"c{i}": pa.array([r[i] for r in rows], pa.string()) for i in range(len(header))})
    fast = ArrowRecordValidator(RowValidator(source, TODAY), header).check(ArrowBlock(10, table))
    by_name = dict(zip(header, zip(*rows, strict=True), strict=True)) if rows else {}
    cols = {f.name: list(by_name[f.name]) if f.name in by_name else [None] * len(rows) for f in source.fields}
    numbers = [11 + i for i in range(len(rows))]
    keep, clean, rejections = RowValidator(source, TODAY).validate_columns(numbers, cols, set(header))
    assert fast.rejections == rejections
    assert fast.table["_row"].to_pylist() == [numbers[i] for i in keep]
    for f in source.fields:
        assert fast.table[f.name].to_pylist() == clean[f.name], f.name
    assert fast.last_row == 10 + len(rows)


@pytest.mark.parametrize("code", ["tax_monthly", "bank_loan", "personal_credit", "court_case", "penalty"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fast_validation_equals_the_row_validator(code: str, data) -> None:
    names = [f.name for f in SOURCES[code].fields]
    optional = [f.name for f in SOURCES[code].fields if not f.required]
    dropped = data.draw(st.sets(st.sampled_from(optional))) if optional else set()
    header = [n for n in names if n not in dropped] + data.draw(st.sampled_from([[], ["extra"]]))
    rows = data.draw(st.lists(st.tuples(*[CELLS.get(n, st.just("x")) for n in header]), max_size=12))
    _check_both(code, header, [list(r) for r in rows])


def test_all_good_rows_take_no_slow_path(monkeypatch) -> None:
    header = ["record_key", "uscc", "event_date", "category", "amount_yuan", "arrears_yuan"]
    rows = [[f"K{i}", A, "2025-01-31", "vat", f"{i}.{i % 100:02d}", ""] for i in range(1000)]
    called = []
    monkeypatch.setattr(RowValidator, "validate_columns", lambda *a: called.append(a))
    table = pa.table({f"c{i}": pa.array([r[i] for r in rows]) for i in range(len(header))})
    out = ArrowRecordValidator(RowValidator(SOURCES["tax_monthly"], TODAY), header).check(ArrowBlock(0, table))
    assert not called and out.table.num_rows == 1000
    assert out.table["amount_yuan"].to_pylist()[:3] == [0, 101, 202]
