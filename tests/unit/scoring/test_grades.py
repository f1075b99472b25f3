"""The fixed scale and PD bands (issue 11, "what to build" 5): a score and a grade mean the same
PD under every model version."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scoring.grades import STANDARD_BANDS, STANDARD_SCALE, WEIHAI_SHARES, GradeBands, ScoreScale
from scoring.monitoring import grade_migration
from scoring.scorecard import Scorecard

from .conftest import synthetic_indicators

SCORES = np.arange(0, 1001)


def test_600_is_pd_one_percent_and_40_points_double_the_odds() -> None:
    assert abs(STANDARD_SCALE.pd(600) - 0.01) < 1e-12
    odds = (1 - STANDARD_SCALE.pd(SCORES)) / STANDARD_SCALE.pd(SCORES)
    assert np.allclose(odds[40:] / odds[:-40], 2.0)


def test_standard_grades_on_the_standard_scale() -> None:
    assert STANDARD_BANDS.min_scores(STANDARD_SCALE) == {"A": 641, "B": 577, "C": 494, "D": 0}
    grade = STANDARD_BANDS.assign(STANDARD_SCALE.pd(SCORES))
    assert grade[640] == "B" and grade[641] == "A" and grade[576] == "C" and grade[577] == "B"
    assert grade[493] == "D" and grade[494] == "C"


@settings(max_examples=60, deadline=None)
@given(base=st.floats(400, 800), odds=st.floats(5, 500), pdo=st.floats(10, 80),
       cuts=st.lists(st.floats(1e-4, 0.5), min_size=3, max_size=3, unique=True))
def test_min_scores_are_the_exact_grade_edges(base: float, odds: float, pdo: float, cuts: list[float]) -> None:
    cuts = sorted(cuts)
    assume(min(b / a for a, b in zip(cuts, cuts[1:], strict=False)) > 1.001)  # distinct bands
    scale, bands = ScoreScale(base_points=base, base_odds=odds, pdo=pdo), GradeBands(upper=tuple(cuts))
    edges = bands.min_scores(scale)
    grade = bands.assign(scale.pd(SCORES))
    by_edges = np.select([SCORES >= edges[g] for g in "ABC"], list("ABC"), "D")
    assert (grade == by_edges).all()


def test_two_fits_on_different_samples_keep_the_scale_and_bands() -> None:
    (X1, y1), (X2, y2) = synthetic_indicators(1500, seed=5), synthetic_indicators(1500, seed=6)
    a = Scorecard(n_bags=1, max_iter=40, random_state=1).fit(X1, y1)
    b = Scorecard(n_bags=1, max_iter=40, random_state=2).fit(X2, y2)
    assert a.scale_ == b.scale_ == STANDARD_SCALE and a.bands_ == b.bands_ == STANDARD_BANDS
    for card, X in ((a, X2), (b, X1)):  # whatever the model, a score's PD and grade are the scale's
        batch = card.rate(X)
        assert np.allclose(batch.pd, STANDARD_SCALE.pd(batch.score))
        assert (batch.grade == STANDARD_BANDS.assign(STANDARD_SCALE.pd(batch.score))).all()


def test_bands_cut_at_shares_only_when_asked() -> None:
    X, y = synthetic_indicators(2000, seed=8)
    card = Scorecard(n_bags=1, max_iter=40, grade_shares=WEIHAI_SHARES).fit(X, y)
    assert card.bands_ != STANDARD_BANDS and card.bands_.shares is not None
    share = pd.Series(card.rate(X).grade).value_counts(normalize=True)
    assert abs(share.get("A", 0.0) - 0.09 / 0.99) < 0.05


def test_grade_migration_counts_and_matrix() -> None:
    before = np.array(["A", "A", "B", "C", "D", "B"], dtype=object)
    after = np.array(["A", "C", "B", "B", "D", "A"], dtype=object)
    m = grade_migration(before, after)
    assert (m["firms"], m["changed"], m["moved_two_or_more"]) == (6, 3, 1)
    assert m["share"] == 0.5
    assert m["matrix"]["A"] == {"A": 1, "B": 0, "C": 1, "D": 0}
    assert sum(sum(row.values()) for row in m["matrix"].values()) == 6
