"""score_region and region_dataset on hand-made firms and records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring.explain import reasons_for
from scoring.features import compute_features
from scoring.pipeline import region_dataset, register_region_model, score_region
from scoring.registry import ModelRegistry
from scoring.scorecard import Scorecard
from scoring.weights import Adjustment, WeightProfile

from .conftest import FIRM_A, FIRM_B, make_records, monthly

FIRM_C = "91371000MA3C000003"


def _firms() -> pd.DataFrame:
    return pd.DataFrame({
        "uscc": [FIRM_A, FIRM_B, FIRM_C], "name": ["甲", "乙", "丙"],
        "industry_section": ["C", "C", "F"], "industry_division": ["13", "13", "51"],
        "town": ["环翠", "环翠", "文登"], "registered_capital_fen": [10**8, 10**7, 10**9],
        "founded_on": pd.to_datetime(["2010-01-01", "2015-06-01", "2025-01-01"]),
        "size_class": ["small", "micro", "medium"], "status": ["active"] * 3})


def _records() -> pd.DataFrame:
    rows = monthly(FIRM_A, "tax_monthly", "2024-06-30",
                   [100.0] * 9 + [90, 70, 50], category="vat")
    rows += monthly(FIRM_B, "tax_monthly", "2024-06-30", [100.0] * 12, category="vat")
    rows += monthly(FIRM_A, "bank_loan", "2025-03-31", [0] * 11 + [95], column="days")
    return make_records(rows)


def test_score_region_names_versions_and_compares_industries(fitted: Scorecard) -> None:
    profile = WeightProfile.create("p", [Adjustment("kind:tax_monthly", 0.5)], "t",
                                   pd.Timestamp("2024-01-01").date())
    res = score_region(fitted, _firms(), _records(), "2024-06-30", profile=profile,
                       model_version="m-1")
    t = res.table
    assert list(t.index) == [FIRM_A, FIRM_B, FIRM_C]
    assert {"pd", "score", "grade", "dim_integrity", "reason_1", "industry_percentile"} <= set(t)
    assert (t["model_version"] == "m-1").all() and (t["profile_version"] == 1).all()
    assert t.loc[FIRM_A, "score"] < t.loc[FIRM_B, "score"]  # A's VAT fell three months
    assert t.loc[FIRM_C, "industry_percentile"] == 100.0  # alone in its industry
    assert res.industry.loc["13", "firms"] == 2
    texts = [r.text_zh for r in reasons_for(res.batch, 0)]
    assert "增值税连续3个月下降" in texts


def test_register_region_model(tmp_path: Path) -> None:
    rows = []
    usccs = [f"91371000MA3C{i:06d}" for i in range(40)]
    for i, u in enumerate(usccs):
        vat = [100.0] * 9 + ([90, 70, 50] if i % 4 == 0 else [100, 100, 100])
        rows += monthly(u, "tax_monthly", "2024-06-30", vat, category="vat")
        days = [0] * 11 + ([120] if i % 4 == 0 or i == 1 else [0])
        rows += monthly(u, "bank_loan", "2025-03-31", days, column="days")
    firms = pd.DataFrame({"uscc": usccs, "registered_capital_fen": 10**8,
                          "founded_on": pd.Timestamp("2015-01-01"), "industry_division": "13"})
    reg = ModelRegistry(tmp_path, key="k")
    v = register_region_model(reg, firms, make_records(rows), "2024-06-30", n_bags=2,
                              max_iter=30, min_samples_leaf=2)
    meta = reg.meta(v)
    assert meta["as_of"] == ["2024-06-30"] and meta["metrics"]["rows"] == 40
    assert meta["metrics"]["auc"] > 0.8 and len(meta["features"]) == 66
    assert reg.load(v).model.rate(compute_features(make_records(rows), "2024-06-30", firms))


def test_region_dataset_labels_and_skips_unfounded_firms() -> None:
    X, y = region_dataset(_firms(), _records(), "2024-06-30", horizon_months=12, population="all")
    assert list(y.index) == [FIRM_A, FIRM_B]  # C founded after as_of
    assert y.to_dict() == {FIRM_A: 1, FIRM_B: 0}
    assert X.shape == (2, 66)
    # The development population: B owes no bank in the year after, so its "good" says nothing.
    X, y = region_dataset(_firms(), _records(), "2024-06-30", horizon_months=12)
    assert y.to_dict() == {FIRM_A: 1} and list(X.index) == [FIRM_A]


def test_reason_texts_state_falls_only_when_values_fell() -> None:
    from scoring.explain import _reason

    down = _reason("electricity_yoy", -30, -0.4, "operation")
    up = _reason("electricity_yoy", -5, 0.05, "operation")
    gone = _reason("vat_yoy", -12, float("nan"), "development")
    assert down.text_zh == "用电量同比下降40%" and down.text_en.endswith("down 40% on a year ago")
    assert "下降" not in up.text_zh and "+5%" in up.text_en
    assert gone.text_en.startswith("No data") and "30" in down.improve_en
