"""``server.scores.pipeline.store_data_end``: the platform's 'now' from the store's cells and
the other kinds' rows is the one ``data_end`` gives over both joined."""

from __future__ import annotations

import pandas as pd
import pytest


def _frame(kinds: list[str], days: list[str], column: str) -> pd.DataFrame:
    return pd.DataFrame({"uscc": ["u"] * len(kinds), "kind": pd.Series(kinds, dtype=object),
                         column: pd.to_datetime(pd.Series(days, dtype=object)).astype("datetime64[ns]")})


@pytest.mark.parametrize(("cell_kinds", "cell_days", "row_kinds", "row_days"), [
    (["tax_monthly", "customs_export"], ["2026-09-14", "2026-11-03"], ["bank_loan", "court_case"],
     ["2026-08-31", "2026-12-01"]),  # the latest monthly date is a bank loan's, not the court's
    (["customs_export"], ["2026-10-02"], ["court_case"], ["2026-07-01"]),  # nothing monthly: the latest
    (["customs_export"], ["2026-10-02"], [], []),  # no other rows
    (["utility", "social_insurance"], ["2026-05-31", "2026-06-30"], ["bank_loan"], ["2026-04-30"]),
    ([], [], ["penalty", "bank_loan"], ["2026-03-03", "2026-02-01"]),  # no cells
])
def test_the_store_end_is_the_joined_frames_end(cell_kinds, cell_days, row_kinds, row_days):
    from server.scores.frames import event_dates
    from server.scores.pipeline import data_end, store_data_end

    cells = _frame(cell_kinds, cell_days, "first_event")
    rows = _frame(row_kinds, row_days, "event_date")
    assert store_data_end(cells, rows) == data_end(event_dates(cells, rows))


def test_no_data_says_so():
    from server.scores.pipeline import store_data_end

    with pytest.raises(RuntimeError, match="no department records"):
        store_data_end(_frame([], [], "first_event"), _frame([], [], "event_date"))
