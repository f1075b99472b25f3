"""Weight profiles: damping tax indicators forgives a tax dip and nothing else."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from scoring.indicators import INDICATORS
from scoring.scorecard import Scorecard
from scoring.weights import Adjustment, WeightProfile, active_profile

TAX = [c for c, i in INDICATORS.items() if "tax_monthly" in i.kinds]


@pytest.fixture
def tax_damping() -> WeightProfile:
    return WeightProfile.create("tax-relief", [Adjustment("kind:tax_monthly", 0.5)],
                                reason="VAT dip after the port closure", created_by="admin",
                                valid_from=date(2024, 1, 1), valid_to=date(2024, 12, 31))


def _typical_firm(X: pd.DataFrame) -> pd.DataFrame:
    """A firm at the (lower) median of every indicator: the neutral point of the scorecard."""
    return X.quantile(0.5, interpolation="lower").to_frame().T


def test_damping_tax_raises_the_grade_of_a_firm_whose_only_weakness_is_a_tax_dip(
        fitted: Scorecard, training: tuple[pd.DataFrame, np.ndarray],
        tax_damping: WeightProfile) -> None:
    X, _ = training
    typical = _typical_firm(X)
    assert (fitted.rate(typical).contributions == 0).all()
    dips = pd.concat([typical] * 4, ignore_index=True)
    dips["vat_decline_streak"] = [3, 5, 7, 9]
    dips["vat_yoy"] = [-0.2, -0.35, -0.5, -0.6]
    plain, damped = fitted.rate(dips), fitted.rate(dips, profile=tax_damping)
    non_tax = [j for j, c in enumerate(plain.features) if c not in TAX]
    assert (plain.contributions[:, non_tax] == 0).all()  # the dip is the only weakness
    assert (damped.score > plain.score).all()
    order = {g: i for i, g in enumerate("ABCD")}
    before = np.array([order[g] for g in plain.grade])
    after = np.array([order[g] for g in damped.grade])
    assert (after <= before).all() and (after < before).any()
    assert damped.profile_version == tax_damping.version
    # Exactly explainable: the score moves by half the tax contributions (within rounding).
    moved = damped.score - plain.score
    expected = -0.5 * plain.contributions[:, [plain.features.index(c) for c in TAX]].sum(axis=1)
    assert np.all(np.abs(moved - expected) <= 2)


def test_damping_tax_changes_nothing_for_firms_without_a_tax_weakness(
        fitted: Scorecard, training: tuple[pd.DataFrame, np.ndarray],
        tax_damping: WeightProfile) -> None:
    X, _ = training
    typical = _typical_firm(X)
    others = pd.concat([typical] * 5, ignore_index=True)
    others["overdue_days"] = [0, 15, 45, 80, 0]
    others["defendant_cases_24m"] = [0, 1, 2, 4, 6]
    plain, damped = fitted.rate(others), fitted.rate(others, profile=tax_damping)
    assert plain.score.min() < fitted.rate(typical).score[0]  # they do have weaknesses
    np.testing.assert_array_equal(plain.score, damped.score)
    np.testing.assert_array_equal(plain.grade, damped.grade)
    np.testing.assert_array_equal(plain.pd, damped.pd)


def test_dimension_and_indicator_targets_multiply() -> None:
    p = WeightProfile.create("x", [Adjustment("dimension:integrity", 0.5),
                                   Adjustment("black_list", 2.0)], "test", date(2024, 1, 1))
    f = p.factors(["black_list", "penalties_24m", "vat_yoy"],
                  ["integrity", "integrity", "development"])
    assert f.tolist() == [1.0, 0.5, 1.0]


def test_profiles_are_versioned_audited_and_selected_by_date(
        tax_damping: WeightProfile) -> None:
    v2 = tax_damping.revise(changed_by="chief", reason="less relief",
                            adjustments=[Adjustment("kind:tax_monthly", 0.8)],
                            now=datetime(2024, 3, 1))
    assert (tax_damping.version, v2.version) == (1, 2)
    assert [h.version for h in v2.history] == [1, 2] and v2.history[-1].changed_by == "chief"
    assert WeightProfile.from_dict(v2.to_dict()) == v2
    assert active_profile([tax_damping, v2], date(2024, 6, 1)) is v2
    assert active_profile([tax_damping, v2], date(2025, 6, 1)) is None
    with pytest.raises(ValueError):
        Adjustment("vat_yoy", -1.0)
    with pytest.raises(ValueError):
        Adjustment("dimension:nonsense", 0.5)
