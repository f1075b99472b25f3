"""``scoring.authenticity.feed_health`` reads each department's firms and months from integer
codes; every figure equals the one read from the rows' texts and periods, the way it was first
written (kept here as the reference), on random regions: rows of several kinds and firms, missing
firms and dates, rows after the date, a firm founded later, a closed firm, checks flagging some
firms, arrival times on the rows or counted apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoring.authenticity import _HEALTH_MONTHS, CHECK_DEPARTMENTS, _lateness, feed_health
from scoring.records import RECORD_KINDS, rows_where


def reference(records: pd.DataFrame, firms: pd.DataFrame, as_of: Any, checked: Any = None,
              arrivals: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    ts = pd.Timestamp(as_of)
    live = firms
    if "status" in firms.columns:
        live = live[live["status"].fillna("active") == "active"]
    if "founded_on" in firms.columns:
        live = live[pd.to_datetime(live["founded_on"]).isna() | (pd.to_datetime(live["founded_on"]) <= ts)]
    trading = set(live["uscc"])
    flagged_by = ({} if checked is None else
                  {name: set(checked.index[r.flagged]) for name, r in checked.checks.items()})
    out = []
    for dept in sorted({k.department for k in RECORD_KINDS.values() if k.monthly}):
        kinds = [k.code for k in RECORD_KINDS.values() if k.monthly and k.department == dept]
        rows = rows_where(records, records["kind"].isin(kinds) & (records["event_date"] <= ts),
                          [c for c in ("uscc", "event_date", "known_from") if c in records.columns])
        if rows.empty:
            continue
        month = rows["event_date"].dt.to_period("M")
        latest = month.max()
        now = set(rows.loc[month == latest, "uscc"])
        before = set(rows.loc[(month < latest) & (month >= latest - _HEALTH_MONTHS), "uscc"])
        entry: dict[str, Any] = {
            "department": dept, "kinds": kinds, "month": str(latest.end_time.date()),
            "firms_reported": len(now & trading), "firms_trading": len(trading),
            "coverage": round(len(now & trading) / len(trading), 4) if trading else None,
            "continuity": round(len(now & before) / len(before), 4) if before else None,
        }
        if arrivals is not None:
            came = arrivals[arrivals["kind"].isin(kinds) & (arrivals["event_date"] <= ts)]
            recent = came[came["event_date"].dt.to_period("M") >= latest - 2]
            entry.update(_lateness(recent["event_date"], recent["known_from"], recent["rows"].to_numpy()))
        elif "known_from" in rows.columns:
            recent = rows[month >= latest - 2]
            entry.update(_lateness(recent["event_date"], recent["known_from"], None))
        covered = now | before
        entry["disagreement"] = {
            name: round(len(flagged_by[name] & covered) / len(covered), 4)
            for name, depts in CHECK_DEPARTMENTS.items()
            if dept in depts and name in flagged_by and covered}
        out.append(entry)
    return out


@dataclass
class _Check:
    flagged: np.ndarray


@dataclass
class _Checked:
    index: pd.Index
    checks: dict[str, _Check]


def region(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, _Checked, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    usccs = [f"9133{seed:02d}{i:012d}" for i in range(int(rng.integers(5, 40)))]
    kinds = [k for k, v in RECORD_KINDS.items() if v.monthly] + ["court_case", "bank_loan"]
    n = int(rng.integers(0, 3000))
    firm = rng.choice([*usccs, None], size=n, p=[0.98 / len(usccs)] * len(usccs) + [0.02])
    # a firm's kind and month: the texts as separate objects per row (as read from a file),
    # not one object per text
    kind = np.array([str(k) + "" for k in rng.choice(kinds, size=n)], dtype=object)
    day = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 1100, size=n), unit="D")
    event = pd.Series(day).where(rng.random(n) > 0.01)  # a few without a date
    records = pd.DataFrame({"uscc": pd.Series(firm, dtype=object), "kind": kind, "event_date": event})
    if seed % 2:
        records["known_from"] = records["event_date"] + pd.to_timedelta(rng.uniform(0, 40, n), unit="D")
    firms = pd.DataFrame({"uscc": usccs,
                          "status": rng.choice(["active", "active", "revoked", None], size=len(usccs)),
                          "founded_on": pd.to_datetime(rng.choice(["2010-01-01", "2024-06-01", None],
                                                                  size=len(usccs)))})
    flagged = {name: rng.random(len(usccs)) < 0.3 for name in CHECK_DEPARTMENTS if rng.random() < 0.7}
    checked = _Checked(pd.Index(usccs), {k: _Check(v) for k, v in flagged.items()})
    arrivals = pd.DataFrame({"kind": rng.choice(kinds, size=200),
                             "event_date": pd.Timestamp("2023-06-01") + pd.to_timedelta(rng.integers(0, 600, 200),
                                                                                        unit="D")})
    arrivals["known_from"] = arrivals["event_date"] + pd.to_timedelta(rng.uniform(0, 30, 200), unit="D")
    arrivals["rows"] = rng.integers(0, 5, 200)
    return records, firms, checked, arrivals


@pytest.mark.parametrize("seed", range(24))
def test_the_codes_give_what_the_texts_give(seed: int) -> None:
    records, firms, checked, arrivals = region(seed)
    for as_of in ("2024-12-31", "2023-03-15", "2021-06-30"):
        for given in ({}, {"checked": checked}, {"checked": checked, "arrivals": arrivals}):
            assert feed_health(records, firms, as_of, **given) == reference(records, firms, as_of, **given)


@pytest.mark.parametrize("seed", range(8))
def test_the_months_given_with_the_rows_are_read_as_theirs(seed: int) -> None:
    """Rows that carry their ``month`` (the feature store's cells: their first event's, passed by
    ``server.scores.frames.event_dates``) give the figures of the same rows without it; a month
    that is not the rows' own would change them."""
    from scoring._codes import month_numbers

    records, firms, checked, arrivals = region(seed)
    dated = records[records["event_date"].notna()].reset_index(drop=True)
    with_months = dated.assign(month=month_numbers(dated["event_date"]))
    for as_of in ("2024-12-31", "2023-03-15"):
        given = {"checked": checked, "arrivals": arrivals}
        assert feed_health(with_months, firms, as_of, **given) == feed_health(dated, firms, as_of, **given)
    if len(dated):
        shifted = with_months.assign(month=with_months["month"] + 1)
        assert feed_health(shifted, firms, "2024-12-31") != feed_health(dated, firms, "2024-12-31")


def test_the_cells_months_are_their_first_events():
    """What ``event_dates`` relies on: a cell's month is the month of its first event."""
    from scoring._codes import month_numbers
    from scoring.feature_store import cells_of

    records, *_ = region(5)
    rng = np.random.default_rng(5)
    records = records.assign(category=None, amount_fen=rng.integers(0, 10**6, len(records)), arrears_fen=None,
                             quantity=None, days=None, attrs=None)
    cells = cells_of(records)
    assert len(cells) > 100
    assert (cells["month"].to_numpy() == month_numbers(cells["first_event"])).all()
