"""PSI and quality metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.monitoring import bad_rate_by_grade, ks_statistic, psi, stability_report
from scoring.scorecard import Scorecard

from .conftest import synthetic_indicators


def test_psi_is_zero_for_equal_and_grows_with_shift() -> None:
    e = np.array([10, 20, 30, 40])
    assert psi(e, e) == 0
    assert 0 < psi(e, [12, 20, 30, 38]) < psi(e, [40, 30, 20, 10])


def test_stability_report_flags_the_shifted_indicator(fitted: Scorecard) -> None:
    X, _ = synthetic_indicators(2000, seed=21)
    same = stability_report(fitted, X).set_index("variable")["psi"]
    assert same.max() < 0.1
    shifted = X.copy()
    shifted["overdue_days"] = 80.0
    rep = stability_report(fitted, shifted).set_index("variable")
    assert rep.loc["overdue_days", "status"] == "shifted"
    assert rep.loc["vat_yoy", "status"] == "stable"
    assert rep.loc["score", "psi"] > same["score"]


def test_ks_and_bad_rates() -> None:
    y = np.array([0, 0, 1, 1])
    assert ks_statistic(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    t = bad_rate_by_grade(np.array(["A", "A", "D", "D"]), y)
    assert t.loc["D", "bad_rate"] == 1.0 and t["share"].sum() == 1.0
    assert isinstance(t, pd.DataFrame)


def _period(as_of: str, n: int, seed: int, inverted: bool = False) -> pd.DataFrame:
    from scoring.grades import STANDARD_BANDS

    rng = np.random.default_rng(seed)
    p = np.exp(rng.normal(-4.0, 1.2, n)).clip(1e-5, 0.9)
    bad = (rng.random(n) < p).astype(int)
    shown = rng.permutation(p) if inverted else p  # inverted: PDs shuffled, a model gone blind
    return pd.DataFrame({"as_of": as_of, "pd": shown, "grade": STANDARD_BANDS.assign(shown), "bad": bad})


def test_period_health_reports_each_matured_period_and_flags_a_broken_one() -> None:
    from scoring.monitoring import HEALTH_BANDS, MIN_DEFAULTS_FOR_ALERTS, period_health

    frame = pd.concat([_period("2025-01-31", 4000, 1), _period("2025-02-28", 4000, 2, inverted=True)])
    good, broken = period_health(frame)
    assert (good["as_of"], broken["as_of"]) == ("2025-01-31", "2025-02-28")
    assert good["firms"] == 4000 and good["defaults"] >= MIN_DEFAULTS_FOR_ALERTS
    assert good["auc"] > HEALTH_BANDS["auc"][0] and good["alerts"] == []
    assert 0.5 < good["observed_to_expected"] < 2.0
    assert sum(v["firms"] for v in good["by_grade"].values()) == 4000
    rates = [good["by_grade"][g]["bad_rate"] for g in "ABCD"]
    assert rates == sorted(rates)
    assert broken["auc"] < 0.6 and "auc" in {a["figure"] for a in broken["alerts"]}


def test_period_health_stays_quiet_on_too_few_defaults_and_one_class() -> None:
    from scoring.monitoring import period_health

    few = pd.DataFrame({"as_of": "2025-01-31", "pd": [0.01, 0.02, 0.5], "grade": ["C", "C", "D"], "bad": [1, 0, 0]})
    none = pd.DataFrame({"as_of": "2025-02-28", "pd": [0.01, 0.02], "grade": ["C", "C"], "bad": [0, 0]})
    a, b = period_health(pd.concat([few, none]))
    assert a["alerts"] == [] and a["auc"] is not None
    assert b["auc"] is None and b["ks"] is None and b["defaults"] == 0 and b["alerts"] == []
