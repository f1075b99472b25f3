"""Time-correct records (issue 11, "what to build" 3): what the platform knew on a past day."""

from __future__ import annotations

import pandas as pd

from scoring.features import compute_features
from scoring.records import RECORD_COLUMNS, current_versions, known_at

from .conftest import make_records

FIRM = "91330000MA2XXXXX01"


def _history() -> pd.DataFrame:
    recs = make_records([
        # an archive row: known from its event date
        {"uscc": FIRM, "kind": "dishonest_debtor", "event_date": "2025-01-10", "amount_fen": 100},
        # a listing dated March that only arrived in September (a late feed)
        {"uscc": FIRM, "kind": "dishonest_debtor", "event_date": "2025-03-01", "amount_fen": 200},
        # a court case first sent open, then corrected to closed on 2025-06-15
        {"uscc": FIRM, "kind": "court_case", "event_date": "2025-02-01", "status": "open", "category": "defendant"},
        {"uscc": FIRM, "kind": "court_case", "event_date": "2025-02-01", "status": "closed", "category": "defendant"},
    ])
    recs["known_from"] = pd.to_datetime(["2025-01-10 00:00", "2025-09-20 08:30", "2025-02-03 10:00", "2025-06-15 09:00"])
    recs["superseded_at"] = pd.to_datetime([None, None, "2025-06-15 09:00", None])
    return recs


def test_a_past_day_sees_only_what_had_arrived_in_the_version_valid_then() -> None:
    h = _history()
    may = known_at(h, "2025-05-31")
    assert list(may.columns) == list(RECORD_COLUMNS)
    assert sorted(may["amount_fen"].dropna().tolist()) == [100]  # the late listing is not known yet
    assert may.loc[may["kind"] == "court_case", "status"].tolist() == ["open"]  # before the correction
    assert len(known_at(h, "2025-02-02")) == 1  # the case arrived on the 3rd
    assert len(known_at(h, "2025-02-03")) == 2  # ... and counts on that day
    july = known_at(h, "2025-07-01")
    assert july.loc[july["kind"] == "court_case", "status"].tolist() == ["closed"]  # the corrected version
    assert sorted(known_at(h, "2025-09-20")["amount_fen"].dropna().tolist()) == [100, 200]
    now = current_versions(h)
    assert len(now) == 3 and "closed" in now["status"].tolist() and "open" not in now["status"].tolist()


def test_features_on_a_past_day_ignore_a_record_that_arrived_later() -> None:
    h = _history()
    firms = pd.DataFrame({"uscc": [FIRM], "founded_on": pd.to_datetime(["2015-01-01"]),
                          "registered_capital_fen": [10_000_000]})
    told = compute_features(known_at(h, "2025-05-31"), pd.Timestamp("2025-05-31"), firms=firms)
    hindsight = compute_features(current_versions(h), pd.Timestamp("2025-05-31"), firms=firms)
    assert told.loc[FIRM, "dishonest_listings_36m"] == 1  # only the archive listing
    assert hindsight.loc[FIRM, "dishonest_listings_36m"] == 2  # reading today's rows would leak


def test_a_plain_frame_is_its_own_history() -> None:
    recs = make_records([{"uscc": FIRM, "kind": "dishonest_debtor", "event_date": "2025-01-10"}])
    assert known_at(recs, "2024-01-01") is recs and current_versions(recs) is recs


def test_rows_where_equals_a_boolean_selection_and_shares_columns_when_all_are_kept():
    """``rows_where`` (issue 16: no second copy of a region's records) gives exactly what
    ``frame.loc[keep]`` gives, index and dtypes included; with every row kept it copies
    nothing."""
    import numpy as np
    import pandas as pd

    from scoring.records import rows_where

    rng = np.random.default_rng(3)
    n = 1_000
    frame = pd.DataFrame({
        "uscc": np.array([f"U{i % 37}" for i in range(n)], dtype=object),
        "event_date": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "amount_fen": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 10**15, n)), dtype="Int64"),
        "quantity": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "attrs": np.array([{"k": i} if i % 3 else None for i in range(n)], dtype=object),
    }, index=pd.RangeIndex(100, 100 + n))
    keep = pd.Series(rng.random(n) < 0.6, index=frame.index)
    pd.testing.assert_frame_equal(rows_where(frame, keep), frame.loc[keep], check_exact=True)
    pd.testing.assert_frame_equal(rows_where(frame, keep, ["attrs", "uscc"]), frame.loc[keep, ["attrs", "uscc"]],
                                  check_exact=True)
    everything = rows_where(frame, np.ones(n, dtype=bool))
    pd.testing.assert_frame_equal(everything, frame, check_exact=True)
    for column in ("uscc", "event_date", "quantity", "attrs"):
        assert np.shares_memory(everything[column].to_numpy(), frame[column].to_numpy()), column
