"""Missing data is never a reward (issue 11): capped missing bins, feeds removed from firms of a
generated region, "no data" reasons that name the department, and data confidence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.explain import reasons_for
from scoring.features import COVERAGE_FEEDS, compute_features
from scoring.indicators import INDICATORS
from scoring.pipeline import indicator_scorecard, region_dataset
from scoring.records import RECORD_KINDS
from scoring.scorecard import ScoreBatch, Scorecard
from server.demo.synth import Region, generate_region

END = dt.date(2025, 12, 31)
AS_OF = pd.Timestamp("2024-12-31")  # a year of outcomes after it, inside the region's history

#: Kinds whose records only ever report adverse events (a loan and its arrears, a lawsuit, a
#: penalty, a listing, a seizure or mortgage, a registry change): without them a firm has a
#: clean record, a real zero rather than missing data, so removing them is not "missing data".
#: Everything else carries favourable information a firm could gain by hiding nothing.
ADVERSE_EVENT_KINDS = ("bank_loan", "court_case", "dishonest_debtor", "penalty", "credit_list",
                       "seizure_mortgage", "registry_change")
HIDEABLE_KINDS = tuple(k for k in RECORD_KINDS if k not in ADVERSE_EVENT_KINDS)


def _missing_and_median_points(model: Scorecard, X: pd.DataFrame) -> list[tuple[float, float,
                                                                               float]]:
    """(missing points, median-bin points, worst bin points) of every feature, the median bin
    being the bin of the median reported training value."""
    out = []
    for b, t in zip(model.bins_, model.point_tables_, strict=True):
        col = b.codes(X[b.name])
        valid = np.sort(col[col < b.n_codes])
        if valid.size == 0:
            continue
        median = 0 if b.categorical else int(valid[(valid.size - 1) // 2])
        out.append((float(t[b.n_codes]), float(t[median]), float(t[: b.n_codes].min())))
    return out


@st.composite
def _data(draw: st.DrawFn) -> tuple[pd.DataFrame, np.ndarray, dict[str, int]]:
    """A few features with random missingness whose rows are much safer (or riskier) than
    the rest: the learned "missing" bin is then often the best one of the feature."""
    seed = draw(st.integers(0, 2**32 - 1))
    p = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    n = 300
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j}" for j in range(p)])
    logit = -1.0 + X.sum(axis=1).to_numpy()
    for j in range(p):
        holes = rng.random(n) < draw(st.floats(0.05, 0.5))
        logit[holes] += draw(st.sampled_from([-4.0, 4.0]))  # missing: very safe or very risky
        X.iloc[holes, j] = np.nan
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    if y.min() == y.max():
        y[:2] = [0, 1]
    mono = {c: draw(st.sampled_from([-1, 0, 1])) for c in X.columns}
    return X, y, mono


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_data(), worst=st.booleans())
def test_a_missing_value_never_scores_above_the_median_bin(
        data: tuple[pd.DataFrame, np.ndarray, dict[str, int]], worst: bool) -> None:
    X, y, mono = data
    kw = {"missing_points": "worst"} if worst else {}
    model = Scorecard(monotone=mono, n_bags=2, max_iter=40, learning_rate=0.3, **kw).fit(X, y)
    for missing, median, lowest in _missing_and_median_points(model, X):
        assert missing <= median + 1e-9
        if worst:
            assert missing <= lowest + 1e-9
    # ... and so in integer scores: blanking a feature scores no better than setting it to
    # the (lower) median value, and with "worst" no better than keeping any value
    rows = X.fillna(X.median()).iloc[:20]
    for c in X.columns:
        blank, typical = rows.copy(), rows.copy()
        blank[c] = np.nan
        typical[c] = np.sort(X[c].dropna())[(X[c].notna().sum() - 1) // 2]
        assert (model.rate(blank).score <= model.rate(typical).score).all()
        if worst:
            assert (model.rate(blank).score <= model.rate(rows).score).all()


def test_every_indicator_scores_missing_no_better_than_its_worst_bin(
        fitted: Scorecard, training: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = training
    caps = _missing_and_median_points(fitted, X)
    assert len(caps) == len(INDICATORS)
    for missing, median, lowest in caps:
        assert missing <= median and missing <= lowest + 1e-9


# ------------------------------------------------------------------------ generated region
@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region(800, seed=5, end=END)


@pytest.fixture(scope="module")
def region_model(region: Region) -> Scorecard:
    X, y = region_dataset(region.firms, region.records, [AS_OF - pd.DateOffset(months=12)])
    return indicator_scorecard(n_bags=2, max_iter=80, learning_rate=0.2,
                               random_state=1).fit(X, y.to_numpy())


def _without_each_kind(region: Region, firms: pd.Index,
                       kinds: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """Firms and records of a copy of every (firm, kind) pair with the kind's records removed
    (uscc ``<firm>/<kind>``), plus each copy's original firm."""
    recs, rows, origin = [], [], []
    by_firm = region.records.groupby("uscc", sort=False)
    firm_rows = region.firms.set_index("uscc")
    for u in firms:
        mine = by_firm.get_group(u) if u in by_firm.groups else region.records.iloc[:0]
        for k in kinds:
            if not (mine["kind"] == k).any():
                continue  # nothing to remove
            clone = f"{u}/{k}"
            part = mine[mine["kind"] != k].copy()
            part["uscc"] = clone
            recs.append(part)
            rows.append(firm_rows.loc[u].rename(clone))
            origin.append(u)
    firms_out = pd.DataFrame(rows).rename_axis("uscc").reset_index()
    return firms_out, pd.concat(recs, ignore_index=True), pd.Index(origin)


def test_removing_a_feed_never_raises_a_firms_score(region: Region,
                                                    region_model: Scorecard) -> None:
    firms = pd.Index(region.firms["uscc"])
    before = region_model.rate(compute_features(region.records, AS_OF, firms=region.firms))
    score = pd.Series(before.score, index=firms)
    cf, cr, origin = _without_each_kind(region, firms, HIDEABLE_KINDS)
    after = region_model.rate(compute_features(cr, AS_OF, firms=cf))
    assert len(after) > 2000  # every firm loses each feed it has
    raised = after.score > score.loc[origin].to_numpy()
    assert not raised.any(), list(cf["uscc"][raised][:5])
    # removing a coverage feed lowers the stated data confidence, never the other way round
    conf = pd.Series(before.data_confidence, index=firms).loc[origin].to_numpy()
    coverage = cf["uscc"].str.split("/").str[1].isin(COVERAGE_FEEDS).to_numpy()
    assert (after.data_confidence[coverage] <= conf[coverage]).all()
    # (equal only where the removed records were too old to count, e.g. a 2019 statement)
    assert (after.data_confidence[coverage] < conf[coverage]).mean() > 0.9
    assert (after.data_confidence[~coverage] == conf[~coverage]).all()


def test_an_adverse_event_feed_is_a_real_zero_not_missing(region: Region) -> None:
    """Without lawsuits, loans, penalties ... a firm has a clean record: removing those feeds
    never makes an indicator missing (so no "no data" bin, and mortgage-free firms are 0)."""
    firms = pd.Index(region.firms["uscc"][:300])
    base = compute_features(region.records, AS_OF, firms=firms)
    cf, cr, origin = _without_each_kind(region, firms, ADVERSE_EVENT_KINDS)
    X = compute_features(cr, AS_OF, firms=pd.Index(cf["uscc"]))
    assert (X.isna().to_numpy() <= base.loc[origin].isna().to_numpy()).all()
    r = region.records
    active = (r["event_date"] <= AS_OF) & ~(r["end_date"] <= AS_OF)
    mortgaged = r.loc[active & (r["kind"] == "seizure_mortgage")
                      & (r["category"] == "mortgage"), "uscc"]
    no_mortgage = ~base.index.isin(mortgaged)
    assert ((base["real_estate_value"] == 0) & no_mortgage).sum() > 100
    assert (base.loc[no_mortgage, "mortgage_ratio"] == 0).all()  # owning property or not
    assert not base[["overdue_days", "overdue_months_12m", "interest_arrears",
                     "export_growth"]].isna().any().any()


def test_no_data_reasons_name_the_department_and_never_promise_points(
        region: Region, region_model: Scorecard) -> None:
    batch: ScoreBatch = region_model.rate(compute_features(region.records, AS_OF,
                                                           firms=region.firms))
    seen_missing = 0
    for i in range(len(batch)):
        for r in reasons_for(batch, i):
            if r.value is not None and not (isinstance(r.value, float) and np.isnan(r.value)):
                continue
            seen_missing += 1
            assert r.text_en.startswith(("No data from", "Too little history")), r.text_en
            assert r.improve_en.startswith(("Authorise or correct", "Keep the department"))
            assert "分" not in r.improve_zh.replace("评分", "") and "points" not in r.improve_en
            assert "mortgage" not in r.improve_en.lower() and "抵押" not in r.improve_zh
    assert seen_missing > 0  # the region has firms without some feed
    names = set(batch.frame()["data_confidence_level"])
    assert names <= {"low", "medium", "high"} and "high" in names


def test_data_confidence_never_changes_the_score(region: Region,
                                                 region_model: Scorecard) -> None:
    X = compute_features(region.records, AS_OF, firms=region.firms)
    a = region_model.rate(X)
    saved = region_model.confidence_groups
    try:
        region_model.confidence_groups = None  # every indicator its own source
        b = region_model.rate(X)
    finally:
        region_model.confidence_groups = saved
    assert not np.array_equal(a.data_confidence, b.data_confidence)
    assert np.array_equal(a.score, b.score) and np.array_equal(a.contributions, b.contributions)
    frame = a.frame()
    assert ((frame["data_confidence"] >= 0) & (frame["data_confidence"] <= 1)).all()


@pytest.mark.parametrize("code", ["mortgage_ratio", "vat_yoy", "revenue_per_employee",
                                  "legal_rep_credit", "insured_headcount"])
def test_a_no_data_reason_names_the_feed_and_how_to_fix_it(code: str) -> None:
    from scoring.explain import _reason

    r = _reason(code, -59, float("nan"), INDICATORS[code].dimension)
    kinds = INDICATORS[code].kinds
    assert r.text_en.startswith("No data from ") and r.improve_en.startswith(
        "Authorise or correct")
    assert any(RECORD_KINDS[k].name_zh in r.text_zh for k in kinds)
    assert INDICATORS[code].improve_en not in r.improve_en  # no tip about the asset itself
    assert "59" not in r.improve_zh + r.improve_en  # no promise of points
