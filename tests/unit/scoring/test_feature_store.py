"""The feature store's cells (``scoring.feature_store``) give the grids the rows give.

Each monthly kind, column, category and aggregate (sum, max) read from the cells equals what
``KnownRecords.monthly`` reads from the rows, exactly, with cells of several rows (a month
reported in parts), values missing, and as_of at and between month ends; cells of two batches
combined equal the cells of both; whether a firm has a row by as_of is read to the day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring._known import KnownRecords
from scoring.feature_store import (
    CELL_COLUMNS,
    CELL_KEY,
    STORE_KINDS,
    MonthlyCells,
    cells_of,
    combine_cells,
)
from scoring.features import compute_features
from scoring.records import RECORD_KINDS


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    """A small region's records, a third of the monthly rows reported again in a second part
    (integer values, so sums are exact in any order) and some values missing."""
    from server.demo.synth import generate_region

    recs = generate_region(150, seed=3).records
    rng = np.random.default_rng(1)
    monthly = recs[recs["kind"].isin(STORE_KINDS)]
    parts = monthly[rng.random(len(monthly)) < 0.33].copy()
    parts["event_date"] = parts["event_date"] - pd.to_timedelta(rng.integers(0, 25, len(parts)), unit="D")
    parts["amount_fen"] = pd.array(rng.integers(0, 10**6, len(parts)), dtype="Int64")
    parts["quantity"] = np.where(rng.random(len(parts)) < 0.2, np.nan, rng.integers(0, 500, len(parts)))
    parts["days"] = pd.array(np.where(rng.random(len(parts)) < 0.5, None, rng.integers(0, 120, len(parts))),
                             dtype="Int64")
    out = pd.concat([recs, parts], ignore_index=True)
    out["quantity"] = np.round(out["quantity"])  # whole numbers: sums exact in any order
    return out


def _series() -> list[tuple[str, str, str | None]]:
    out = []
    for kind in STORE_KINDS:
        for column in ("amount_fen", "arrears_fen", "quantity", "days"):
            for category in (None, *RECORD_KINDS[kind].categories):
                out.append((kind, column, category))
    return out


@pytest.mark.parametrize("shift", ["end", "mid", "year"])
def test_grids_from_cells_equal_grids_from_rows(records: pd.DataFrame, shift: str) -> None:
    end = records["event_date"].max() + pd.offsets.MonthEnd(0)
    as_of = {"end": end, "mid": end - pd.DateOffset(days=40), "year": end - pd.offsets.MonthEnd(12)}[shift]
    index = pd.Index(np.sort(records["uscc"].unique()), name="uscc")
    cells = cells_of(records)
    assert (cells["rows"] > 1).any() and (cells["quantity_n"] < cells["rows"]).any()
    rows, from_cells = KnownRecords(records, as_of, index), MonthlyCells(cells, index, as_of)
    compared = 0
    for kind, column, category in _series():
        for how in ("sum", "max"):
            want = rows.monthly(kind, column, category, how)
            got = from_cells.monthly(kind, column, category, how)
            np.testing.assert_array_equal(got, want, err_msg=f"{kind} {column} {category} {how}")
            compared += int((~np.isnan(want)).sum())
        np.testing.assert_array_equal(from_cells.any_rows(kind), rows.count(rows.kind(kind)) > 0)
    assert compared > 10_000


def test_cells_of_two_batches_combine_to_the_cells_of_both(records: pd.DataFrame) -> None:
    half = np.random.default_rng(2).random(len(records)) < 0.5
    both = combine_cells([cells_of(records[half]), cells_of(records[~half])])
    pd.testing.assert_frame_equal(both, cells_of(records), check_exact=True)
    assert list(both.columns) == list(CELL_COLUMNS)
    assert not both.duplicated(list(CELL_KEY)).any()


def test_a_row_is_known_from_its_day() -> None:
    """Whether a firm exported by as_of reads the day of its first row in the month."""
    recs = pd.DataFrame({
        "uscc": ["A", "B"], "kind": ["customs_export"] * 2,
        "event_date": pd.to_datetime(["2025-03-10", "2025-03-20"]), "end_date": pd.NaT,
        "category": None, "amount_fen": pd.array([100, 200], dtype="Int64"),
        "arrears_fen": pd.array([None, None], dtype="Int64"), "quantity": np.nan,
        "days": pd.array([None, None], dtype="Int64"), "status": None, "attrs": None,
    })
    index = pd.Index(["A", "B", "C"], name="uscc")
    got = MonthlyCells(cells_of(recs), index, pd.Timestamp("2025-03-15")).any_rows("customs_export")
    assert got.tolist() == [True, False, False]


def test_features_from_cells_need_the_firms(records: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="firms"):
        compute_features(records, "2025-06-30", cells=cells_of(records))


def test_the_whole_score_from_cells_equals_the_score_from_records(fitted) -> None:
    """score_region with the cells and without the rows of the kinds read only through them
    gives the records' scores, grades, reasons' inputs, hard rules and data confidence."""
    from scoring.authenticity import split_shared_meters
    from scoring.feature_store import CELL_ONLY_KINDS, split_cells
    from scoring.overrides import OverrideRuleSet
    from scoring.pipeline import score_region
    from server.demo.synth import generate_region

    rules = OverrideRuleSet.default(now=pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime())
    region = generate_region(300, seed=4)
    records, firms = region.records, region.firms
    cells = split_cells(cells_of(records))
    assert (cells["meter_firms"] >= 2).any()  # shared meters are part of what is compared
    rest = records[~records["kind"].isin(CELL_ONLY_KINDS)]
    end = records["event_date"].max() + pd.offsets.MonthEnd(0)
    for as_of in (end, end - pd.DateOffset(days=9)):
        want = score_region(fitted, firms, split_shared_meters(records), as_of.date(),
                            overrides=rules)
        got = score_region(fitted, firms, rest, as_of.date(), overrides=rules, cells=cells)
        pd.testing.assert_frame_equal(got.features, want.features, check_exact=True)
        pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
        pd.testing.assert_frame_equal(got.overrides, want.overrides, check_exact=True)
        assert got.authenticity.confidence.tolist() == want.authenticity.confidence.tolist()
        for name, check in want.authenticity.checks.items():
            np.testing.assert_array_equal(got.authenticity.checks[name].flagged, check.flagged)
            for figure, values in check.figures.items():
                np.testing.assert_array_equal(got.authenticity.checks[name].figures[figure], values,
                                              err_msg=f"{name} {figure}")


def test_a_split_in_place_writes_the_copying_splits_readings_into_the_frame_it_was_given() -> None:
    """``split_cells(in_place=True)`` (a reader's own frame) gives the copying split's frame
    exactly, with the split readings written into the given frame's own quantity arrays; the
    default leaves the given frame as it was."""
    from scoring.feature_store import split_cells
    from server.demo.synth import generate_region

    cells = cells_of(generate_region(300, seed=4).records)
    before = cells.copy(deep=True)
    want = split_cells(cells)
    assert (want["meter_firms"] >= 2).any()  # shared meters: readings change
    pd.testing.assert_frame_equal(cells, before, check_exact=True)  # the default copies
    arrays = {c: cells[c].to_numpy() for c in ("quantity_sum", "quantity_max")}
    got = split_cells(cells, in_place=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    for c, array in arrays.items():
        assert np.shares_memory(got[c].to_numpy(), array)  # no copy of the column
        assert not np.array_equal(array, before[c].to_numpy(), equal_nan=True)  # written where split
    read_only = before.copy(deep=True)
    for c in arrays:
        read_only[c].to_numpy().flags.writeable = False
    pd.testing.assert_frame_equal(split_cells(read_only, in_place=True), want, check_exact=True)
    pd.testing.assert_frame_equal(read_only, before, check_exact=True)  # read-only arrays: copied


@pytest.mark.parametrize("seed", range(6))
def test_groups_are_each_key_s_places_in_order(seed):
    """``_Groups`` (16-bit keys kept as such, wider ones as given): each key's places in the
    rows' order; nothing for a key absent or beyond the keys' width."""
    from scoring.feature_store import _Groups

    rng = np.random.default_rng(seed)
    lo, hi = [(-3, 40), (0, 5), (-(1 << 15), 1 << 15), (0, 1 << 20), (-40, -1), (32760, 32768)][seed]
    key = rng.integers(lo, hi, size=int(rng.integers(0, 3000)))
    groups = _Groups(key)
    for k in [*range(lo - 2, min(hi, lo + 60) + 2), hi - 1, hi, 1 << 40, -(1 << 40)]:
        assert np.array_equal(groups.of(k), np.flatnonzero(key == k)), k


def test_a_grid_asked_again_is_the_one_made_first_and_cannot_change(records: pd.DataFrame) -> None:
    """``MonthlyCells.monthly`` makes each grid once per question (kind, column, category, how,
    months): asked again, in another order, it is the same read-only array, equal to a fresh
    read's; another window is another grid."""
    end = records["event_date"].max() + pd.offsets.MonthEnd(0)
    index = pd.Index(np.sort(records["uscc"].unique()), name="uscc")
    cells = cells_of(records)
    once = MonthlyCells(cells, index, end)
    questions = [(kind, column, category, how) for kind, column, category in _series() for how in ("sum", "max")]
    first = {q: once.monthly(*q) for q in questions}
    for q in reversed(questions):
        again = once.monthly(*q)
        assert again is first[q]
        np.testing.assert_array_equal(again, MonthlyCells(cells, index, end).monthly(*q))
        with pytest.raises(ValueError):
            again[0, 0] = 1.0
    q = ("tax_monthly", "amount_fen", "vat", "sum")
    short = once.monthly(*q, months=12)
    assert short.shape == (len(index), 12)
    np.testing.assert_array_equal(short, first[q][:, :12])
