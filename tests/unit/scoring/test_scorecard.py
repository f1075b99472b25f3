"""Invariants of the additive scorecard (hypothesis) and its exactness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingClassifier

from scoring.grades import STANDARD_SCALE, GradeBands
from scoring.indicators import INDICATORS
from scoring.monitoring import metrics
from scoring.scorecard import Scorecard

from .conftest import synthetic_indicators

CODES = list(INDICATORS)
MONOTONE = [c for c, i in INDICATORS.items() if i.direction != 0]

_value = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
_row = st.lists(_value, min_size=len(CODES), max_size=len(CODES))
_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _frame(rows: list[list[float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CODES, dtype=float)


def test_learns_the_signal_and_splits_grades(fitted: Scorecard) -> None:
    X, y = synthetic_indicators(3000, seed=11)  # fresh sample
    batch = fitted.rate(X)
    assert metrics(y, batch.pd)["auc"] > 0.75
    assert abs(batch.pd.mean() - y.mean()) < 0.03  # calibrated on out-of-bag predictions
    share = pd.Series(batch.grade).value_counts(normalize=True)
    for g, target in zip("ABCD", (0.09, 0.39, 0.38, 0.13), strict=True):
        assert abs(share.get(g, 0.0) - target / 0.99) < 0.05
    bad_rate = pd.Series(y).groupby(batch.grade).mean()
    assert bad_rate["A"] < bad_rate["B"] < bad_rate["C"] < bad_rate["D"]
    # the fixed scale: a score is the PD it stands for, whatever the sample
    assert np.allclose(batch.pd, fitted.scale_.pd(batch.score)) and fitted.scale_ == STANDARD_SCALE
    assert batch.score.max() - batch.score.min() > 300  # and firms spread over it


@_settings
@given(rows=st.lists(_row, min_size=1, max_size=20))
def test_scores_in_range_and_contributions_add_up(fitted: Scorecard,
                                                  rows: list[list[float | None]]) -> None:
    b = fitted.rate(_frame(rows))
    assert ((b.score >= 0) & (b.score <= 1000)).all()
    assert (b.base_points + b.contributions.sum(axis=1) + b.clip_points == b.score).all()
    assert ((b.clip_points == 0) | (b.score == 0) | (b.score == 1000)).all()
    assert ((b.dimension_scores >= 0) & (b.dimension_scores <= 100)).all()
    assert set(b.grade) <= set("ABCD")


@_settings
@given(row=_row, feature=st.sampled_from(MONOTONE), delta=st.floats(0.0, 1e5))
def test_moving_a_monotone_indicator_the_bad_way_never_raises_the_score(
        fitted: Scorecard, row: list[float | None], feature: str, delta: float) -> None:
    X = _frame([row, row])
    if np.isnan(X.loc[0, feature]):
        X[feature] = 0.0
    X.loc[1, feature] = X.loc[0, feature] - INDICATORS[feature].direction * delta
    b = fitted.rate(X)
    assert b.score[1] <= b.score[0]
    assert b.pd[1] >= b.pd[0]


@_settings
@given(rows=st.lists(_row, min_size=1, max_size=10))
def test_same_input_same_output(fitted: Scorecard, rows: list[list[float | None]]) -> None:
    a, b = fitted.rate(_frame(rows)), fitted.rate(_frame(rows))
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.pd, b.pd)
    np.testing.assert_array_equal(a.contributions, b.contributions)
    np.testing.assert_array_equal(a.reasons, b.reasons)


def test_refit_is_deterministic(training: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = training
    X, y = X.iloc[:800], y[:800]
    a = Scorecard(n_bags=2, max_iter=30, random_state=5).fit(X, y).predict_proba(X)
    b = Scorecard(n_bags=2, max_iter=30, random_state=5).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_tables_reproduce_the_boosted_model_exactly() -> None:
    """One bag, no calibration change: our table lookup equals HGB's own prediction."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=1500), "b": rng.normal(size=1500),
                      "c": rng.choice(["x", "y", "z"], size=1500)})
    X.loc[rng.random(1500) < 0.1, "a"] = np.nan
    y = (rng.random(1500) < 1 / (1 + np.exp(-(X["a"].fillna(1) - X["b"] ** 2)))).astype(int)
    m = Scorecard(n_bags=1, max_iter=50, random_state=0).fit(X, y)
    codes = m._codes(X).astype(float)
    for j, b in enumerate(m.bins_):
        codes[codes[:, j] == b.n_codes, j] = np.nan
    hgb = HistGradientBoostingClassifier(
        learning_rate=m.learning_rate, max_iter=50, l2_regularization=m.l2_regularization,
        min_samples_leaf=m.min_samples_leaf, max_leaf_nodes=m.max_leaf_nodes,
        categorical_features=[False, False, True], interaction_cst=[[0], [1], [2]],
        early_stopping=False, random_state=0).fit(codes, y)
    a, b = m.calibration_
    np.testing.assert_allclose(m.decision_function(X), a * hgb.decision_function(codes) + b,
                               atol=1e-9)


def test_generic_categoricals_missing_and_unseen_values() -> None:
    rng = np.random.default_rng(1)
    n = 1200
    X = pd.DataFrame({"num": rng.normal(size=n), "cat": rng.choice(["p", "q", "r"], size=n)})
    X.loc[::7, "num"] = np.nan
    X.loc[::11, "cat"] = None
    y = ((X["cat"] == "r") | (X["num"].fillna(0) > 1)).astype(int).to_numpy()
    m = Scorecard(n_bags=2, max_iter=60).fit(X, y)
    new = pd.DataFrame({"num": [np.nan, 2.0, 0.0], "cat": ["never-seen", "r", None]})
    b = m.rate(new)
    assert np.isfinite(b.pd).all() and len(b.score) == 3
    assert b.score[1] < b.score[2]  # "r" and a high num are the bad side


def test_explicit_bands_are_used() -> None:
    X, y = synthetic_indicators(600, seed=3)
    bands = GradeBands(upper=(0.01, 0.05, 0.2))
    m = Scorecard(n_bags=1, max_iter=30, bands=bands).fit(X, y)
    assert m.bands_ is bands


def test_rejects_one_class_targets() -> None:
    with pytest.raises(ValueError):
        Scorecard().fit(pd.DataFrame({"a": [1.0, 2.0]}), [0, 0])


def test_dimension_scores_are_standings_among_training_firms() -> None:
    # A dimension's 0..100 score is the share of training firms with a lower summed
    # contribution: monotone in the sum, typical firms near 50, not piled up at 0 and 100.
    rng = np.random.default_rng(3)
    n = 4000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.2 * X["a"] - 0.8 * X["b"])))).astype(int)
    card = Scorecard(dimensions={"a": "capital", "b": "solvency", "noise": "development"},
                     n_bags=2, random_state=0).fit(X, y)
    b = card.rate(X)
    cap = b.dimension_scores[:, b.dimensions.index("capital")]
    assert 35 <= np.median(cap) <= 65
    assert (cap == 100).mean() < 0.2 and (cap == 0).mean() < 0.2
    # monotone: more points from the dimension's indicators never lowers its standing
    sums = b.contributions[:, list(b.features).index("a")]
    assert np.all(np.diff(cap[np.argsort(sums, kind="stable")]) >= -1e-9)


def test_bags_drawn_by_group_keep_each_group_wholly_in_or_out() -> None:
    from scoring.scorecard import bag_rows

    rng = np.random.default_rng(0)
    group_of = np.repeat(np.arange(200), 3)  # 200 firms, each a row at three dates
    for _ in range(5):
        idx = bag_rows(rng, group_of)
        drawn = np.bincount(group_of[idx], minlength=200)
        assert (drawn % 3 == 0).all()  # every row of a drawn firm comes in equally often
        out = np.setdiff1d(np.arange(len(group_of)), idx)
        assert not set(group_of[out]) & set(group_of[idx])  # out-of-bag firms are wholly out
        assert len(idx) == len(group_of) and 0.25 < len(out) / len(group_of) < 0.5


def test_grouped_fit_is_deterministic_and_as_good(training: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = training
    groups = np.arange(len(y)) // 3
    a = Scorecard(n_bags=3, max_iter=60, random_state=4).fit(X, y, groups=groups)
    b = Scorecard(n_bags=3, max_iter=60, random_state=4).fit(X, y, groups=groups)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    Xt, yt = synthetic_indicators(2000, seed=12)
    assert metrics(yt, a.predict_proba(Xt)[:, 1])["auc"] > 0.75
    with pytest.raises(ValueError, match="groups"):
        Scorecard(n_bags=2).fit(X, y, groups=groups[:-1])


def test_folds_hold_every_firm_out_of_exactly_one_fit() -> None:
    from scoring.scorecard import fold_of

    rng = np.random.default_rng(0)
    group_of = np.repeat(np.arange(300), 3)  # 300 firms, each a row at three dates
    y = np.zeros(len(group_of), dtype=int)
    y[np.isin(group_of, np.arange(0, 300, 10))] = 1  # 30 bad firms
    fold = fold_of(rng, group_of, y, 10)
    for g in range(300):  # a firm's rows share one fold
        assert len(set(fold[group_of == g])) == 1
    per_fold = np.bincount(fold[::3], minlength=10)
    assert (per_fold == 30).all()  # equal folds ...
    bad_per_fold = np.bincount(fold[::3][y[::3] == 1], minlength=10)
    assert (bad_per_fold == 3).all()  # ... each with its share of the bad firms
    assert not np.array_equal(fold, fold_of(np.random.default_rng(1), group_of, y, 10))


def test_the_committee_barely_moves_when_only_the_seed_changes() -> None:
    """Issue 11: changing only the random seed must not move firms between grades. The
    20-fold committee's fits share 95 % of their rows, so two seeds give nearly the same
    points; twenty bootstrap bags on the same data move scores several times as much."""
    X, y = synthetic_indicators(4000, seed=21)
    Xn, _ = synthetic_indicators(3000, seed=22)
    kw = {"n_bags": 20, "max_iter": 60, "learning_rate": 0.2, "l2_regularization": 50.0,
          "min_samples_leaf": 50, "grade_shares": (0.1, 0.4, 0.4, 0.1)}

    def spread(bagging: str) -> float:
        a = Scorecard(bagging=bagging, random_state=1, **kw).fit(X, y).rate(Xn)
        b = Scorecard(bagging=bagging, random_state=2, **kw).fit(X, y).rate(Xn)
        return float(np.std(a.score.astype(int) - b.score.astype(int)))

    folds, bootstrap = spread("folds"), spread("bootstrap")
    assert folds < 0.5 * bootstrap
    with pytest.raises(ValueError, match="bagging"):
        Scorecard(bagging="jackknife").fit(X, y)


def test_a_suspect_indicator_never_earns_more_than_an_unknown_one_and_is_named(fitted: Scorecard) -> None:
    """Issue 15: an indicator another source puts in doubt counts at most as unknown, and the
    reasons name it with why."""
    from scoring.authenticity import SUSPECT_CHECKS
    from scoring.explain import reasons_for

    X, _ = synthetic_indicators(400, seed=5)
    features = list(fitted.feature_names_in_)
    plain = fitted.rate(X)
    j = int(np.argmax(plain.contributions.std(axis=0)))  # the indicator that moves points most
    code = features[j]
    unknown = fitted.rate(X.assign(**{code: np.nan}))
    suspect = np.zeros((len(X), len(features)), dtype=np.int8)
    suspect[:, j] = SUSPECT_CHECKS.index("under_declaration") + 1
    doubted = fitted.rate(X, suspect=suspect)
    own, capped, missing = plain.contributions[:, j], doubted.contributions[:, j], unknown.contributions[:, j]
    assert (capped == np.minimum(own, missing)).all()  # never more than unknown, never better than its own
    assert (capped < own).any() and (capped == own).any()  # good readings lose their reward, bad ones stay
    assert (doubted.score <= plain.score).all()
    others = [k for k in range(len(features)) if k != j]
    assert (doubted.contributions[:, others] == plain.contributions[:, others]).all()
    row = int(np.flatnonzero(capped < own)[0])
    named = [r for r in reasons_for(doubted, row) if r.code == code]
    assert len(named) == 1 and "in doubt" in named[0].text_en and "纳税申报" in named[0].text_zh
    assert named[0].points == int(capped[row])
    assert not any("in doubt" in r.text_en for r in reasons_for(plain, row))
    with pytest.raises(ValueError, match="suspect"):
        fitted.rate(X, suspect=suspect[:, :3])


def test_a_rows_values_read_off_the_array_are_the_frames_row(fitted: Scorecard) -> None:
    """``ScoreBatch.value_row`` (what the reasons read) gives what ``values.iloc[row]`` gives,
    as the reasons read it (numpy scalars as Python ones), on a frame of floats alone and on
    one of mixed kinds: floats, integers, booleans, texts and missing values."""
    from scoring.scorecard import confidence_level, confidence_level_of

    X, _ = synthetic_indicators(40, seed=5)
    batch = fitted.rate(X)
    mixed = X.copy()
    mixed["n"] = np.arange(len(X), dtype=np.int64)
    mixed["flag"] = np.arange(len(X)) % 2 == 0
    mixed["text"] = [None if i % 3 else f"t{i}" for i in range(len(X))]
    mixed["count"] = pd.array([None if i % 4 == 0 else i for i in range(len(X))], dtype="Int64")
    for values in (X, mixed):
        batch.values = values
        batch._value_grid = None
        for row in (0, 1, 7, len(X) - 1):
            got, want = batch.value_row(row), values.iloc[row]
            assert list(got) == list(want.index) and len(got) == len(want)
            for code in want.index:
                a, b = (v.item() if isinstance(v, np.generic) else v for v in (got[code], want[code]))
                assert type(a) is type(b), (code, a, b)
                assert (a is b) or (a == b) or (pd.isna(a) and pd.isna(b)), (code, a, b)
    batch.values = None
    assert batch.value_row(0) is None
    shares = np.array([0.0, 0.49, 0.5, 0.79, 0.8, 1.0, np.nan])
    assert [confidence_level_of(s) for s in shares] == confidence_level(shares).tolist()
