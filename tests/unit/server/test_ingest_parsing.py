"""Property tests for the feed parsers and the USCC check character."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from server.ingest.parse import read_rows
from server.ingest.sources import SOURCES, Field, RowValidator, _money
from server.uscc import ALPHABET, check_character, is_valid_uscc, make_uscc, uscc_error

MONEY = Field("amount_yuan", "money")


@given(st.integers(min_value=0, max_value=10**15))
def test_money_round_trips_through_yuan_text(fen: int) -> None:
    text = f"{fen // 100}.{fen % 100:02d}"
    assert _money(MONEY, text) == (fen, None)


@given(st.text(max_size=12))
def test_money_never_crashes_and_never_accepts_negatives(text: str) -> None:
    value, problem = _money(MONEY, text)
    assert (value is None) != (problem is None)
    if value is not None:
        assert value >= 0


def test_money_rejects_sub_fen_precision_and_words() -> None:
    assert "two decimals" in _money(MONEY, "1.005")[1]
    assert _money(MONEY, "12 yuan")[0] is None
    assert _money(Field("p", "money", signed=True), "-3.5") == (-350, None)


@given(st.integers(min_value=0, max_value=31**9 - 1))
def test_generated_codes_are_valid(serial: int) -> None:
    assert is_valid_uscc(make_uscc(serial))


@given(st.integers(min_value=0, max_value=31**9 - 1), st.sampled_from(ALPHABET))
def test_any_wrong_check_character_is_caught(serial: int, c: str) -> None:
    code = make_uscc(serial)
    if c != code[17]:
        assert "check character" in uscc_error(code[:17] + c)


def test_known_real_world_code() -> None:
    # A published code (Alibaba (China) Co., Ltd.) and its check character.
    assert check_character("91330100799655058") == "B"
    assert uscc_error("91330100799655058B") is None
    assert "18 characters" in uscc_error("913301007996")
    assert "not allowed" in uscc_error("91330100799655058I")


@given(st.lists(st.lists(st.text(alphabet="ab,\"\n1", max_size=5), min_size=1, max_size=4), max_size=6))
def test_csv_reader_never_crashes_and_numbers_rows(rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["record_key", "uscc"])
    for r in rows:
        w.writerow(r)
    header, it = read_rows([buf.getvalue().encode()], "csv")
    numbers = [n for n, _row, _problem in it]
    assert header == ["record_key", "uscc"]
    assert numbers == list(range(1, len(numbers) + 1))


def test_validator_reports_every_field_problem_of_a_row() -> None:
    v = RowValidator(SOURCES["bank_loan"], today=date(2025, 6, 30))
    values, errors = v.validate(7, {"record_key": "k", "uscc": "X", "event_date": "2025-13-01",
                                     "amount_yuan": "1", "days": "-3"})
    assert values is None
    assert {(e.row, e.field) for e in errors} == {(7, "uscc"), (7, "event_date"), (7, "days")}


def test_end_date_before_start_is_rejected() -> None:
    v = RowValidator(SOURCES["court_case"], today=date(2025, 6, 30))
    _, errors = v.validate(1, {"record_key": "k", "uscc": make_uscc(1), "event_date": "2025-05-01",
                               "end_date": "2025-04-01", "category": "defendant", "amount_yuan": "9",
                               "status": "closed"})
    assert [(e.field, "before" in e.message) for e in errors] == [("end_date", True)]


@given(st.lists(st.one_of(st.from_regex(r"\A[0-9]{1,16}(\.[0-9]{0,3})?\Z"), st.text(max_size=8)), max_size=20))
def test_column_fast_path_agrees_with_the_careful_parser(cells: list[str]) -> None:
    v = RowValidator(SOURCES["tax_monthly"])
    f = next(x for x in v.source.fields if x.name == "amount_yuan")
    values, problems = v._column(f, list(cells), True)
    bad = dict(problems)
    for i, cell in enumerate(cells):
        if cell.strip() == "":
            assert i in bad  # required
            continue
        expected, problem = _money(f, cell.strip())
        assert (i in bad) == (problem is not None)
        if problem is None:
            assert values[i] == expected
