"""The development population (issue 11, "what to build" 3): only firms whose default can be
observed, those owing a bank during the outcome window, are training rows."""

from __future__ import annotations

import pandas as pd
import pytest

from scoring.features import credit_exposed
from scoring.pipeline import region_dataset

from .conftest import make_records, monthly

AS_OF = pd.Timestamp("2025-06-30")
BORROWER, APPLICANT, REPAID, NEVER, LATE = (f"91330000MA2XXXXX{k:02d}" for k in range(1, 6))


def _loan(uscc: str, end: str, months: int, days: list[int] | None = None) -> list[dict[str, object]]:
    rows = monthly(uscc, "bank_loan", end, [1_000_000_00] * months)
    for r, d in zip(rows, days or [0] * months, strict=True):
        r["days"] = d
    return rows


def _region() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = (
        _loan(BORROWER, "2026-03-31", 18, [0] * 14 + [30, 60, 90, 120])  # borrows through, defaults
        + _loan(APPLICANT, "2026-06-30", 6)  # first loan granted in Jan 2026, inside the window
        + _loan(REPAID, "2025-05-31", 12)  # repaid before the date: owes nothing in the window
        + _loan(LATE, "2027-01-31", 3)  # first loan after the window
    )
    for u in (BORROWER, APPLICANT, REPAID, NEVER, LATE):
        rows += monthly(u, "tax_monthly", "2025-06-30", [5_000_00] * 12, category="vat")
    records = make_records(rows)
    firms = pd.DataFrame({"uscc": [BORROWER, APPLICANT, REPAID, NEVER, LATE],
                          "founded_on": ["2015-01-01"] * 5})
    return firms, records


def test_exposed_firms_owe_a_bank_inside_the_outcome_window() -> None:
    firms, records = _region()
    exposed = credit_exposed(records, AS_OF, 12, firms=firms)
    assert exposed.to_dict() == {BORROWER: True, APPLICANT: True, REPAID: False, NEVER: False, LATE: False}
    assert credit_exposed(records, AS_OF, 24, firms=firms)[LATE]  # a longer window reaches it


def test_the_dataset_keeps_only_exposed_firms_and_all_keeps_every_firm() -> None:
    firms, records = _region()
    X, y = region_dataset(firms, records, [AS_OF], 12)
    assert sorted(y.index) == [BORROWER, APPLICANT] and y[BORROWER] == 1 and y[APPLICANT] == 0
    assert list(X.index) == list(y.index)
    X_all, y_all = region_dataset(firms, records, [AS_OF], 12, population="all")
    assert sorted(y_all.index) == sorted(firms["uscc"]) and y_all.sum() == 1  # the rest all "good"
    with pytest.raises(ValueError, match="population"):
        region_dataset(firms, records, [AS_OF], 12, population="borrowers")
