"""Shared fixtures: hand-made records and a small fitted indicator scorecard."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from scoring.grades import WEIHAI_SHARES
from scoring.indicators import INDICATORS
from scoring.pipeline import indicator_scorecard
from scoring.records import RECORD_COLUMNS
from scoring.scorecard import Scorecard

FIRM_A = "91371000MA3C000001"
FIRM_B = "91371000MA3C000002"


def make_records(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A RECORD_COLUMNS frame from partial dicts (missing columns are missing values)."""
    df = pd.DataFrame([{c: r.get(c) for c in RECORD_COLUMNS} for r in rows],
                      columns=list(RECORD_COLUMNS))
    df["event_date"] = pd.to_datetime(df["event_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    for c in ("amount_fen", "arrears_fen", "days"):
        df[c] = df[c].astype("Int64")
    df["quantity"] = df["quantity"].astype(float)
    return df


def monthly(uscc: str, kind: str, end: str, values: list[float], *, column: str = "amount_fen",
            category: str | None = None) -> list[dict[str, object]]:
    """One record per month ending at ``end`` (last value = latest month)."""
    months = pd.date_range(end=pd.Timestamp(end), periods=len(values), freq="ME")
    return [{"uscc": uscc, "kind": kind, "event_date": m, "category": category, column: v}
            for m, v in zip(months, values, strict=True)]


@pytest.fixture
def record_builder() -> Callable[[list[dict[str, object]]], pd.DataFrame]:
    return make_records


def synthetic_indicators(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A feature matrix over the 66 indicators with a known risk: tax dips, overdue days,
    lawsuits and low personal credit raise the default rate; ~20 % of values missing."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(INDICATORS))), columns=list(INDICATORS))
    X["vat_decline_streak"] = rng.choice([0, 0, 0, 0, 1, 2, 3, 4, 6, 9], size=n).astype(float)
    X["vat_yoy"] = rng.normal(0.05, 0.25, size=n)
    X["overdue_days"] = rng.choice([0, 0, 0, 0, 0, 15, 45, 80], size=n).astype(float)
    X["defendant_cases_24m"] = rng.poisson(0.4, size=n).astype(float)
    X["legal_rep_credit"] = rng.normal(700, 80, size=n)
    logit = (-3.2 + 0.35 * X["vat_decline_streak"] - 2.0 * X["vat_yoy"]
             + 0.03 * X["overdue_days"] + 0.5 * X["defendant_cases_24m"]
             - 0.01 * (X["legal_rep_credit"] - 700))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    holes = rng.random(X.shape) < 0.2
    keep = ["vat_decline_streak", "vat_yoy", "vat_trend_12m", "vat_12m", "income_tax_12m",
            "tax_arrears", "tax_arrears_months_12m", "tax_electricity_consistency", "tax_burden"]
    holes[:, [X.columns.get_loc(c) for c in keep]] = False
    X = X.mask(holes)
    return X, y


@pytest.fixture(scope="session")
def training() -> tuple[pd.DataFrame, np.ndarray]:
    return synthetic_indicators(3000, seed=7)


@pytest.fixture(scope="session")
def fitted(training: tuple[pd.DataFrame, np.ndarray]) -> Scorecard:
    X, y = training
    # This sample is far riskier than a region (24 % bad): on the platform's fixed PD bands
    # nearly every firm would be D, so these tests of the mechanics cut the grades at Weihai's
    # shares instead (tests/unit/scoring/test_grades.py covers the fixed bands).
    return indicator_scorecard(n_bags=2, max_iter=120, random_state=3,
                               grade_shares=WEIHAI_SHARES).fit(X, y)
