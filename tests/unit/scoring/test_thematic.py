"""The thematic analysis' pure parts: group figures, location quotients, resource intensity and
its outliers, and the secondary suppression of a two-way table."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest

from scoring.thematic import (
    FIRM_FRAME_COLUMNS,
    group_figures,
    location_quotients,
    resource_intensity,
    robust_outliers,
    suppress_table,
)


def _frame(rows: list[dict]) -> pd.DataFrame:
    base = {c: 0.0 for c in FIRM_FRAME_COLUMNS}
    base.update(grade=None, score=np.nan)
    return pd.DataFrame([{**base, **r} for r in rows], columns=list(FIRM_FRAME_COLUMNS))


def test_group_figures_count_grades_and_average_only_graded_firms() -> None:
    frame = _frame([
        {"firm": 1, "town": "a", "grade": "A", "score": 800, "tax_yuan": 10, "red": 1},
        {"firm": 2, "town": "a", "grade": "C", "score": 500, "tax_yuan": 5},
        {"firm": 3, "town": "a"},  # not scored: counted as a firm, not as a zero score
        {"firm": 4, "town": "b", "grade": "B", "score": 700, "yellow": 2},
    ])
    out = group_figures(frame, "town").set_index("town")
    assert out.loc["a", "firms"] == 3 and out.loc["a", "mean_score"] == pytest.approx(650)
    assert (out.loc["a", "grade_A"], out.loc["a", "grade_C"], out.loc["a", "grade_B"]) == (1, 1, 0)
    assert out.loc["a", "tax_yuan"] == 15 and out.loc["a", "red"] == 1 and out.loc["b", "yellow"] == 2


def test_location_quotient_is_the_towns_share_over_the_regions_share() -> None:
    # town x: 3 of its 4 firms in division 13; region: 4 of 10 firms in 13
    rows = [{"firm": i, "division": "13", "town": "x"} for i in range(3)]
    rows += [{"firm": 3, "division": "14", "town": "x"}, {"firm": 4, "division": "13", "town": "y"}]
    rows += [{"firm": 5 + i, "division": "14", "town": "y"} for i in range(5)]
    lq = location_quotients(_frame(rows), "division", "town")
    assert lq[("13", "x")] == pytest.approx((3 / 4) / (4 / 10))
    assert lq[("14", "y")] == pytest.approx((5 / 6) / (6 / 10))
    by_tax = location_quotients(_frame([{**r, "tax_yuan": 0.0} for r in rows]), "division", "town", "tax_yuan")
    assert by_tax.isna().all()  # nothing paid: no quotient, not a zero


def test_intensity_is_absent_where_nothing_was_paid() -> None:
    figures = pd.DataFrame({"tax_yuan": [20_000.0, 0.0], "headcount": [10.0, 0.0], "electricity": [1000.0, 50.0],
                            "water": [0.0, 1.0], "gas": [5.0, 0.0]})
    out = resource_intensity(figures)
    assert out.loc[0, "electricity_per_10k_tax"] == pytest.approx(500.0)
    assert out.loc[0, "electricity_per_head"] == pytest.approx(100.0)
    assert np.isnan(out.loc[1, "electricity_per_10k_tax"]) and np.isnan(out.loc[1, "gas_per_head"])


def test_outliers_by_modified_z_score() -> None:
    values = {"a": 10.0, "b": 11.0, "c": 9.5, "d": 10.5, "e": 60.0, "f": float("nan")}
    assert robust_outliers(values) == {"e"}
    assert robust_outliers({"a": 1.0, "b": 100.0, "c": 3.0}) == set()  # too few to tell
    # half the groups use no gas: the median deviation is 0, the mean deviation decides
    gas = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0, "e": 2.0, "f": 3.0, "g": 90.0}
    assert robust_outliers(gas) == {"g"}
    assert robust_outliers({"a": 5.0, "b": 5.0, "c": 5.0, "d": 5.0}) == set()
    # ratios spread by factors: on the log scale 10x the typical group stands out, 1.5x does not
    ratios = {"a": 100.0, "b": 120.0, "c": 90.0, "d": 150.0, "e": 110.0, "f": 1500.0}
    assert robust_outliers(ratios, log=True) == {"f"}


def _derivable(cells: dict, shown: set, need: int) -> list:
    """Withheld cells a reader recovers from one row's or column's total minus the cells shown
    (a total is published only when it holds ``need`` firms; the margins' own protection is
    ``server.privacy.publishable``'s)."""
    out = []
    for axis in (0, 1):
        for line in {c[axis] for c in cells}:
            if sum(n for c, n in cells.items() if c[axis] == line) < need:
                continue
            withheld = [c for c in cells if c[axis] == line and c not in shown and cells[c]]
            if withheld and 0 < sum(cells[c] for c in withheld) < need:
                out.append((axis, line, withheld))
    return out


def test_a_small_cell_takes_a_second_one_with_it_in_its_row_and_column() -> None:
    cells = {("13", "x"): 2, ("13", "y"): 30, ("13", "z"): 40, ("14", "x"): 25, ("14", "y"): 8, ("14", "z"): 50}
    shown = suppress_table(cells, need=6)
    assert ("13", "x") not in shown
    assert ("13", "y") not in shown and ("14", "x") not in shown  # the smallest in its row / column
    assert not _derivable(cells, shown, 6)


@pytest.mark.parametrize("seed", range(30))
def test_no_withheld_cell_follows_from_a_line_total(seed: int) -> None:
    rng = random.Random(seed)
    rows, cols = [f"r{i}" for i in range(rng.randint(2, 6))], [f"c{j}" for j in range(rng.randint(2, 6))]
    cells = {(r, c): rng.choice([0, 0, 1, 2, 3, 5, 8, 13, 40]) for r, c in itertools.product(rows, cols)}
    need = rng.randint(2, 7)
    shown = suppress_table(cells, need)
    assert all(cells[c] >= need for c in shown)
    assert not _derivable(cells, shown, need)


def test_suppress_table_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="need"):
        suppress_table({("a", "b"): 3}, 0)
    with pytest.raises(ValueError, match="negative"):
        suppress_table({("a", "b"): -1}, 3)
