"""The demo feeds carry each utility row's meter number (``attrs["meter_id"]``) in the
optional ``meter_id`` column, empty where a row has none, in a form the ingestion accepts."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.records import RECORD_KINDS
from server.demo._feeds import _record_table, feed_columns, record_keys, write_feeds
from server.demo.synth import Region, generate_region
from server.ingest.sources import SOURCES, RowValidator

END = dt.date(2025, 10, 31)


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region(300, seed=7, end=END)


def _meters(region: Region) -> dict[str, str | None]:
    """record_key -> the meter number of each generated utility row (None: none)."""
    rows = region.records[region.records["kind"] == "utility"]
    keys = record_keys("utility", rows).to_pylist()
    return dict(zip(keys, [a.get("meter_id") if isinstance(a, dict) else None for a in rows["attrs"]],
                    strict=True))


def test_the_utility_header_ends_with_the_meter_number_and_the_supply_address() -> None:
    assert feed_columns("utility")[-2:] == ("meter_id", "supply_address")
    assert feed_columns("utility") == tuple(f.name for f in SOURCES["utility"].fields)
    for code, kind in RECORD_KINDS.items():
        cols = feed_columns(code)
        assert cols[len(cols) - len(kind.attr_fields):] == kind.attr_fields, code
        assert ("meter_id" in cols) == (code == "utility"), code


def test_the_written_feed_round_trips_the_meter_numbers(region: Region, tmp_path: Path) -> None:
    expected = _meters(region)
    assert any(expected.values()) and not all(expected.values())  # electricity has them, water none

    paths = write_feeds(region, tmp_path / "csv")
    with paths["utility"].open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["record_key"]: r["meter_id"] or None for r in rows} == expected

    # every written meter number passes the ingestion's check for the field
    validator = RowValidator(SOURCES["utility"], today=END)
    cells = [r["meter_id"] for r in rows]
    keep, values, rejections = validator.validate_columns(list(range(1, len(rows) + 1)),
                                                          {"meter_id": cells}, {"meter_id"})
    assert [r for r in rejections if r.field == "meter_id"] == []

    paths = write_feeds(region, tmp_path / "jsonl", fmt="jsonl")
    lines = [json.loads(x) for x in paths["utility"].read_text("utf-8").splitlines()]
    assert {o["record_key"]: o["meter_id"] for o in lines} == expected


def test_meter_numbers_are_read_from_each_rows_own_attrs() -> None:
    """Rows share one dict per meter in the generator; distinct dicts, dicts without the field,
    None and NaN must each give the right cell."""
    shared = {"meter_id": "E-1"}
    attrs = [shared, {"meter_id": "E-2"}, None, shared, {}, np.nan, {"meter_id": "E-2"}, {"other": "x"}]
    n = len(attrs)
    rows = pd.DataFrame({
        "uscc": ["91330000000000000X"] * n,
        "event_date": pd.to_datetime([f"2024-{m:02d}-28" for m in range(1, n + 1)]),
        "category": ["electricity"] * n,
        "amount_fen": pd.array([100] * n, dtype="Int64"),
        "arrears_fen": pd.array([None] * n, dtype="Int64"),
        "quantity": [1.0] * n,
        "attrs": pd.Series(attrs, dtype=object),
    })
    table = _record_table("utility", rows)
    assert table.column_names[-2:] == ["meter_id", "supply_address"]
    assert table["supply_address"].to_pylist() == [None] * n  # the generator reports by meter number
    assert table["meter_id"].to_pylist() == ["E-1", "E-2", None, "E-1", None, None, "E-2", None]
