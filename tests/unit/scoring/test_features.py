"""compute_features and default_labels on small hand-made record frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.features import compute_features, default_labels, defaulted_by
from scoring.indicators import INDICATORS

from .conftest import FIRM_A, FIRM_B, make_records, monthly

AS_OF = "2024-06-30"


def _base_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    # Firm A: VAT falls in the last three months; electricity halves on a year ago.
    vat = [100.0] * 12 + [100, 100, 100, 100, 100, 100, 100, 100, 100, 90, 80, 70]
    rows += monthly(FIRM_A, "tax_monthly", AS_OF, vat, category="vat")
    rows += monthly(FIRM_A, "utility", AS_OF, [200.0] * 12 + [100.0] * 12,
                    column="quantity", category="electricity")
    rows += monthly(FIRM_A, "bank_loan", AS_OF, [0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 35, 0],
                    column="days")
    rows += [
        {"uscc": FIRM_A, "kind": "court_case", "category": "defendant",
         "event_date": "2023-01-10", "amount_fen": 500_000},
        {"uscc": FIRM_A, "kind": "court_case", "category": "defendant",
         "event_date": "2021-01-10", "amount_fen": 100},  # older than 24 months
        {"uscc": FIRM_A, "kind": "court_case", "category": "plaintiff",
         "event_date": "2024-01-10", "amount_fen": 100},
        {"uscc": FIRM_A, "kind": "dishonest_debtor", "event_date": "2023-05-01",
         "end_date": "2024-03-01"},  # removed before as_of
        {"uscc": FIRM_A, "kind": "credit_list", "category": "black",
         "event_date": "2024-01-01", "end_date": "2024-12-31"},  # still active at as_of
        {"uscc": FIRM_A, "kind": "personal_credit", "event_date": "2023-01-01",
         "quantity": 600.0},
        {"uscc": FIRM_A, "kind": "personal_credit", "event_date": "2024-02-01",
         "quantity": 710.0},
        {"uscc": FIRM_A, "kind": "financial_statement", "event_date": "2024-05-31",
         "attrs": {"year": 2023, "revenue": 1000, "cost_of_sales": 600, "net_profit": 50,
                   "total_assets": 2000, "total_liabilities": 1500, "current_assets": 800,
                   "current_liabilities": 400, "inventory": 200, "receivables": 250,
                   "equity": 500, "operating_cash_flow": 80, "interest_expense": 10}},
    ]
    # Firm B: only a penalty.
    rows.append({"uscc": FIRM_B, "kind": "penalty", "category": "major",
                 "event_date": "2024-01-15", "amount_fen": 1000})
    return rows


def test_hand_made_indicators() -> None:
    X = compute_features(make_records(_base_rows()), AS_OF)
    a, b = X.loc[FIRM_A], X.loc[FIRM_B]
    assert list(X.columns) == list(INDICATORS) and len(X.columns) == 66
    assert a["vat_decline_streak"] == 3
    assert a["electricity_yoy"] == -0.5
    assert a["max_overdue_days_12m"] == 35 and a["overdue_days"] == 0
    assert a["overdue_months_12m"] == 2
    assert a["defendant_cases_24m"] == 1
    assert a["dishonest_active"] == 0 and a["dishonest_listings_36m"] == 1
    assert a["black_list"] == 1
    assert a["legal_rep_credit"] == 710
    assert a["debt_ratio"] == 0.75 and a["current_ratio"] == 2.0
    assert a["vat_trend_12m"] < 0
    # Missing data is NaN, counts of events default to zero.
    assert np.isnan(b["vat_decline_streak"]) and np.isnan(b["debt_ratio"])
    assert b["major_penalties_24m"] == 1 and b["defendant_cases_24m"] == 0


def test_statement_items_may_come_as_json_text() -> None:
    rows = _base_rows()
    for r in rows:
        if r["kind"] == "financial_statement":
            r["attrs"] = json.dumps(r["attrs"])
    X = compute_features(make_records(rows), AS_OF)
    assert X.loc[FIRM_A, "debt_ratio"] == 0.75


def test_empty_records_and_unknown_firms_do_not_crash() -> None:
    rec = make_records(_base_rows()).iloc[0:0]
    X = compute_features(rec, AS_OF, firms=pd.Index([FIRM_A, FIRM_B]))
    assert X.shape == (2, 66)
    assert X["vat_12m"].isna().all() and (X["penalties_24m"] == 0).all()


def test_default_labels_use_the_horizon_and_drop_prior_defaults() -> None:
    rows = monthly(FIRM_A, "bank_loan", "2024-12-31", [0] * 9 + [95, 120, 150], column="days")
    rows += monthly(FIRM_B, "bank_loan", "2024-12-31", [100] + [0] * 11, column="days")
    rec = make_records(rows)
    y = default_labels(rec, "2024-06-30", horizon_months=12)
    assert y.to_dict() == {FIRM_A: 1}  # B defaulted in Jan 2024: excluded
    y_short = default_labels(rec, "2024-06-30", horizon_months=2)
    assert y_short.to_dict() == {FIRM_A: 0}
    assert defaulted_by(rec, "2024-06-30").to_dict() == {FIRM_A: False, FIRM_B: True}


_kinds = st.sampled_from(["tax_monthly", "utility", "bank_loan", "court_case", "penalty",
                          "dishonest_debtor", "personal_credit", "credit_list",
                          "financial_statement", "social_insurance"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(future=st.lists(st.tuples(_kinds, st.integers(1, 900), st.integers(0, 10_000_000),
                                 st.sampled_from([None, "vat", "defendant", "black", "major",
                                                  "electricity", "pension"])),
                       min_size=1, max_size=15))
def test_records_after_as_of_are_never_read(
        future: list[tuple[str, int, int, str | None]]) -> None:
    rows = _base_rows()
    base = compute_features(make_records(rows), AS_OF)
    extra = [{"uscc": FIRM_A if i % 2 else FIRM_B, "kind": k,
              "event_date": pd.Timestamp(AS_OF) + pd.Timedelta(days=d), "category": c,
              "amount_fen": v, "arrears_fen": v, "quantity": float(v % 1000), "days": v % 400,
              "attrs": {"year": 2024, "revenue": v, "total_assets": v + 1}}
             for i, (k, d, v, c) in enumerate(future)]
    # Also end a listing after as_of: still active at as_of either way.
    after = compute_features(make_records(rows + extra), AS_OF)
    pd.testing.assert_frame_equal(base, after)
