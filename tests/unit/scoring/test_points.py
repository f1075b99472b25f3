"""The shown points are the firm's own: one integer per bin, the same for every firm in it, the
score their exact sum, and the PD read off that score lies in the grade's band (issue 11)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.indicators import indicator_codes
from scoring.scorecard import Scorecard
from scoring.weights import Adjustment, WeightProfile

from .conftest import synthetic_indicators

CODES = indicator_codes()
_value = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
_row = st.lists(_value, min_size=len(CODES), max_size=len(CODES))
_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TAX_AND_INTEGRITY = WeightProfile.create(
    "tax-relief", [Adjustment("kind:tax_monthly", 0.5), Adjustment("dimension:integrity", 1.5)],
    reason="test", created_by="admin", valid_from=date(2024, 1, 1))


def _sample() -> pd.DataFrame:
    X, _ = synthetic_indicators(4000, seed=23)
    return X


def _shown_points_by_bin(fitted: Scorecard, X: pd.DataFrame, profile=None) -> pd.DataFrame:
    b = fitted.rate(X, profile=profile)
    codes = fitted.bin_codes(X)
    pts = pd.DataFrame(b.contributions, columns=b.features)
    long = pd.DataFrame({
        "feature": np.repeat(np.asarray(b.features, dtype=object)[None, :], len(X), 0).ravel(),
        "code": codes.to_numpy().ravel(), "points": pts.to_numpy().ravel()})
    return long


def test_every_firm_in_a_bin_is_shown_that_bins_points(fitted: Scorecard) -> None:
    X = _sample()
    long = _shown_points_by_bin(fitted, X)
    distinct = long.groupby(["feature", "code"])["points"].nunique()
    assert (distinct == 1).all(), distinct[distinct > 1].head()
    table = fitted.points_table().set_index(["feature", "code"])["points"]
    shown = long.groupby(["feature", "code"])["points"].first()
    want = [int(table.loc[(f, int(c))]) for f, c in shown.index]
    assert shown.astype(int).tolist() == want
    # Not a trivial table: the sample spans many bins with many different integers.
    assert long["points"].nunique() > 20 and len(shown) > 200


def test_a_weight_profile_rounds_each_weighted_bin_once(fitted: Scorecard) -> None:
    X = _sample()
    long = _shown_points_by_bin(fitted, X, profile=TAX_AND_INTEGRITY)
    assert (long.groupby(["feature", "code"])["points"].nunique() == 1).all()
    factors = dict(zip(fitted.feature_names_in_,
                       TAX_AND_INTEGRITY.factors(list(fitted.feature_names_in_), fitted.dimension_of_),
                       strict=True))
    exact = fitted.points_table().set_index(["feature", "code"])["points_exact"]
    first = long.groupby(["feature", "code"])["points"].first()
    want = [int(np.rint(factors[f] * exact.loc[(f, int(c))])) for f, c in first.index]
    assert first.tolist() == want


@_settings
@given(rows=st.lists(_row, min_size=1, max_size=20))
def test_score_is_the_exact_sum_of_the_shown_bins(fitted: Scorecard,
                                                  rows: list[list[float | None]]) -> None:
    X = pd.DataFrame(rows, columns=CODES, dtype=float)
    b = fitted.rate(X)
    table = fitted.points_table().set_index(["feature", "code"])["points"]
    codes = fitted.bin_codes(X)
    for i in range(len(X)):
        own = [int(table.loc[(f, int(codes.iat[i, j]))]) for j, f in enumerate(b.features)]
        assert b.contributions[i].tolist() == own
        assert b.base_points + sum(own) + b.clip_points[i] == b.score[i]


def test_pd_is_read_off_the_score_and_lies_in_the_grades_band(fitted: Scorecard) -> None:
    X = _sample()
    b = fitted.rate(X)
    frame = pd.DataFrame({"score": b.score, "pd": b.pd, "grade": b.grade})
    assert (frame.groupby("score")["pd"].nunique() == 1).all()
    assert (frame.groupby("score")["grade"].nunique() == 1).all()
    assert (fitted.bands_.assign(b.pd) == b.grade).all()
    # Higher score, lower PD; and every grade band holds only its own PDs.
    by_score = frame.groupby("score")["pd"].first().sort_index()
    assert (np.diff(by_score.to_numpy()) < 0).all()
    upper = dict(zip(fitted.bands_.grades, [*fitted.bands_.upper, 1.0], strict=True))
    assert all(p < upper[g] for p, g in zip(b.pd, b.grade, strict=True))
