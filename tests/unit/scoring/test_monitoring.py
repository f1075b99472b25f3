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
