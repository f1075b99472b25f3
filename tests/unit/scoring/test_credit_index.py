"""The credit index: base 100, chain-linked on matched firms, K rule, component directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.credit_index import (
    CreditIndexWeights,
    add_sums,
    credit_index,
    index_from_sums,
    index_sums,
)

MONTHS = ["2024-01-31", "2024-02-29", "2024-03-31"]


def _firms(n: int, town: str = "t1") -> pd.DataFrame:
    return pd.DataFrame({"firm": range(n), "industry_section": "C", "industry_division": "13",
                         "town": town, "size_class": "small"})


def _panel(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["firm", "month", "score", "grade", "warned", "defaulted"])


def _steady(n: int, months: list[str] = MONTHS) -> list[tuple]:
    return [(f, m, 500 + 10 * f, "B", False, False) for m in months for f in range(n)]


def _index(panel: pd.DataFrame, firms: pd.DataFrame, **kw) -> list[float]:
    _base, series = credit_index(panel, firms, **kw)
    return [p["index"] for p in series["all"]]


def test_base_month_is_100_and_stated():
    base, series = credit_index(_panel(_steady(5)), _firms(5))
    assert base == pd.Timestamp("2024-01-31")
    assert series["all"][0]["index"] == 100.0 and not series["all"][0]["restart"]
    base, series = credit_index(_panel(_steady(5)), _firms(5), base_month="2024-02-29")
    assert base == pd.Timestamp("2024-02-29")
    assert [p["month"] for p in series["all"]] == [pd.Timestamp(m) for m in MONTHS[1:]]
    assert series["all"][0]["index"] == 100.0


def test_identical_months_leave_the_index_unchanged():
    assert _index(_panel(_steady(6)), _firms(6)) == [100.0, 100.0, 100.0]


@pytest.mark.parametrize("extreme", [(0, "D", True, True), (1000, "A", False, False)])
def test_a_firm_entering_or_leaving_does_not_move_the_index(extreme):
    score, grade, warned, defaulted = extreme
    rows = _steady(5)
    # firm 9 enters in February with an extreme record and leaves after it
    rows.append((9, MONTHS[1], score, grade, warned, defaulted))
    # firm 8 is there in January only (leaves), again extreme
    rows.append((8, MONTHS[0], score, grade, warned, defaulted))
    firms = _firms(10)
    base, series = credit_index(_panel(rows), firms)
    assert [p["index"] for p in series["all"]] == [100.0, 100.0, 100.0]
    # ...while the components (over all the firms of the month) do see it
    assert series["all"][1]["firms"] == 6 and series["all"][1]["matched"] == 5


def test_chain_links_multiply():
    rows = _steady(4, MONTHS[:1])
    rows += [(f, MONTHS[1], (500 + 10 * f) * 1.1, "B", False, False) for f in range(4)]
    rows += [(f, MONTHS[2], (500 + 10 * f) * 1.1 * 1.1, "B", False, False) for f in range(4)]
    w = CreditIndexWeights(score=1.0, grade_ab=0.0, no_warning=0.0, no_default=0.0)
    assert _index(_panel(rows), _firms(4), weights=w) == pytest.approx([100.0, 110.0, 121.0])


def test_a_group_under_k_publishes_nothing():
    firms = pd.concat([_firms(5, "big"), _firms(2, "small").assign(firm=[5, 6])])
    rows = _steady(7)
    _base, series = credit_index(_panel(rows), firms, by="town", min_firms=3)
    assert set(series) == {"big"}
    assert all(p["firms"] >= 3 for p in series["big"])


def test_a_month_under_k_breaks_the_chain_and_it_restarts_at_100():
    rows = [r for r in _steady(4) if not (r[1] == MONTHS[1] and r[0] >= 1)]  # Feb: 1 firm
    rows = [(f, m, s + (50 if m == MONTHS[2] else 0), g, w, d) for f, m, s, g, w, d in rows]
    _base, series = credit_index(_panel(rows), _firms(4), min_firms=3)
    pts = series["all"]
    assert [p["month"] for p in pts] == [pd.Timestamp(MONTHS[0]), pd.Timestamp(MONTHS[2])]
    assert pts[1]["index"] == 100.0 and pts[1]["restart"] and pts[1]["matched"] == 0


def test_too_few_matched_firms_also_restart():
    rows = _steady(4, MONTHS[:1]) + [(f + 10, MONTHS[1], 900, "A", False, False) for f in range(4)]
    _base, series = credit_index(_panel(rows), _firms(20), min_firms=3)
    assert [p["index"] for p in series["all"]] == [100.0, 100.0]
    assert series["all"][1]["restart"]


@pytest.mark.parametrize(("change", "direction"), [
    ({"score": 600}, 1), ({"score": 400}, -1),
    ({"grade": "A"}, 0), ({"grade": "C"}, -1),
    ({"warned": True}, -1), ({"defaulted": True}, -1),
])
def test_components_move_the_index_in_the_documented_direction(change, direction):
    base = {"score": 500, "grade": "B", "warned": False, "defaulted": False}
    rows = [(f, MONTHS[0], *base.values()) for f in range(4)]
    moved = {**base, **change}
    rows += [(f, MONTHS[1], *(moved if f == 0 else base).values()) for f in range(4)]
    idx = _index(_panel(rows), _firms(4))[1]
    assert (idx > 100) - (idx < 100) == direction, idx


def test_improving_warnings_and_grades_raise_it():
    rows = [(f, MONTHS[0], 500, "C", f == 0, False) for f in range(4)]
    rows += [(f, MONTHS[1], 500, "B" if f == 0 else "C", False, False) for f in range(4)]
    # grade_ab goes 0 -> 0.25: no ratio from 0, so only no_warning (0.75 -> 1) moves it
    idx = _index(_panel(rows), _firms(4))[1]
    assert idx == pytest.approx(100 * (0.4 + 0.2 * (1 / 0.75) + 0.2) / 0.8)


def test_deterministic_and_order_free():
    rows = _steady(5) + [(0, MONTHS[2], 900, "A", False, False)]
    rows = [r for r in rows if not (r[0] == 0 and r[1] == MONTHS[2] and r[2] != 900)]
    a = credit_index(_panel(rows), _firms(5), by="section")
    b = credit_index(_panel(rows[::-1]), _firms(5), by="section")
    assert a == b


def test_bad_input():
    with pytest.raises(ValueError, match="by"):
        credit_index(_panel(_steady(2)), _firms(2), by="planet")
    with pytest.raises(ValueError, match="one row per firm"):
        credit_index(_panel(_steady(2) * 2), _firms(2))
    # a panel out of order, its one duplicate before the base month: still refused
    rows = _steady(3)[::-1] + [(0, MONTHS[0], 400, "C", False, False)]
    with pytest.raises(ValueError, match="one row per firm"):
        credit_index(_panel(rows), _firms(3), base_month=MONTHS[1])
    with pytest.raises(ValueError, match="weights"):
        CreditIndexWeights(score=0.9)


def _region(firms: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Firms entering and leaving over 20 months, some months skipped by some firms, one month
    (2023-06) scored for nobody, integer scores (as stored), a few firms without a town."""
    rng = np.random.default_rng(seed)
    months = [m for m in pd.date_range("2022-01-31", periods=20, freq="ME") if m != pd.Timestamp("2023-06-30")]
    rows = []
    for f in range(firms):
        a = int(rng.integers(0, len(months)))
        b = int(rng.integers(a, len(months) + 1))
        for m in months[a:b]:
            if rng.random() < 0.1:
                continue
            rows.append((f, m, int(rng.integers(300, 900)), str(rng.choice(list("ABCD"))), bool(rng.random() < 0.1),
                         bool(rng.random() < 0.02)))
    attrs = pd.DataFrame({"firm": range(firms), "industry_section": [("C", "F", "G")[f % 3] for f in range(firms)],
                          "industry_division": "13", "size_class": "small",
                          "town": [None if f % 11 == 0 else f"t{f % 4}" for f in range(firms)]})
    return _panel(rows), attrs


@pytest.mark.parametrize("by", ["region", "section", "town"])
@pytest.mark.parametrize("base_month", [None, "2022-05-31"])
def test_the_parts_sums_added_give_the_regions_index_exactly(by, base_month):
    # the annual figures on Dask: each part of the firms hands back its sums, the sums are added
    panel, firms = _region(300, seed=7)
    whole = credit_index(panel, firms, by=by, min_firms=5, base_month=base_month)
    # four parts by firm, each with its own months
    cut = panel["firm"] % 4
    parts = [index_sums(panel[cut == k], firms, by=by, base_month=base_month) for k in range(4)]
    assert parts[0]["month"].nunique() > 1
    added = add_sums(parts)
    pd.testing.assert_frame_equal(added, index_sums(panel, firms, by=by, base_month=base_month))
    assert index_from_sums(added, min_firms=5, base_month=base_month) == whole
    assert whole[1] and any(p["matched"] for pts in whole[1].values() for p in pts)
    # a firm matched only against the region's previous month: one scored in 2023-05 and 2023-07
    # (no one was scored in 2023-06) is matched in July
    july = [p for p in whole[1].get("all", []) if p["month"] == pd.Timestamp("2023-07-31")]
    if by == "region":
        assert july and july[0]["matched"] > 0


def test_a_part_without_firms_adds_nothing():
    panel, firms = _region(50, seed=3)
    empty = index_sums(panel.iloc[:0], firms)
    assert empty.empty
    assert index_from_sums(add_sums([empty, index_sums(panel, firms)])) == credit_index(panel, firms)
    assert index_from_sums(add_sums([empty])) == (None, {})
