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


@pytest.mark.parametrize("seed", range(12))
def test_the_latest_dates_are_pandas_own(seed):
    """``_latest`` (kinds by their codes, dates as integers) says what pandas' ``isin`` and
    ``max`` say: missing kinds, NaT, nothing monthly, nothing dated, every kind's text held by
    distinct objects."""
    import numpy as np

    from server.scores.pipeline import _DATA_END_KINDS, _latest

    rng = np.random.default_rng(seed)
    texts = ["tax_monthly", "court_case", "utility", "penalty", "bank_loan", None, np.nan]
    for _ in range(40):
        n = int(rng.integers(0, 60))
        kinds = np.array(["".join(t) if isinstance(t, str) else t for t in
                          (texts[i] for i in rng.integers(0, len(texts) if seed % 2 else 4, size=n))], dtype=object)
        dates = np.datetime64("2020-01-01", "ns") + rng.integers(0, 10**17, size=n).astype("timedelta64[ns]")
        if n and seed % 3 == 0:
            dates[rng.integers(0, n, size=max(1, n // 3))] = np.datetime64("NaT")
        if n and seed % 4 == 1:
            dates[:] = np.datetime64("NaT")
        frame = pd.DataFrame({"kind": pd.Series(kinds, dtype=object), "event_date": dates})
        monthly = frame["kind"].isin(_DATA_END_KINDS).to_numpy()
        want = (bool(monthly.any()), frame["event_date"][monthly].max() if monthly.any() else pd.NaT,
                frame["event_date"].max())
        got = _latest(frame, "event_date")
        assert got[0] == want[0]
        for g, w in zip(got[1:], want[1:], strict=True):
            assert (g is pd.NaT and w is pd.NaT) or (type(g) is type(w) and g == w), (g, w)
