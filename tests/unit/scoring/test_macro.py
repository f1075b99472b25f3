"""The monthly macro risk index, on a crafted county whose numbers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.risk.macro import MacroWeights, composite, macro_index

MONTHS = pd.DatetimeIndex(["2025-01-31", "2025-02-28", "2025-03-31"])

# F4 is founded mid-February, so it counts from February on.
FIRMS = pd.DataFrame({
    "uscc": ["F1", "F2", "F3", "F4"],
    "industry_section": ["C", "C", "F", "C"],
    "town": ["T1", "T1", "T2", "T2"],
    "founded_on": pd.to_datetime(["2020-01-01", "2019-05-01", "2018-03-01", "2025-02-15"]),
})

# Latest grade known at each month end:
#          Jan        Feb        Mar
#   F1   A .01      A .01      D .30
#   F2   C .10      C .10      C .10   (graded in December, carried forward)
#   F3   -          C .12      C .12   (B on the 10th, C on the 20th: the later counts)
#   F4   (absent)   D .40      D .40
GRADES = pd.DataFrame({
    "uscc": ["F1", "F1", "F2", "F3", "F3", "F4"],
    "as_of": pd.to_datetime(["2025-01-31", "2025-03-15", "2024-12-31", "2025-02-20",
                             "2025-02-10", "2025-02-28"]),
    "grade": ["A", "D", "C", "C", "B", "D"],
    "pd": [0.01, 0.30, 0.10, 0.12, 0.05, 0.40],
})

# Open at some time during the month (dates in UTC; months end in China time):
#   w1 red F1: Jan only;  w2 yellow F3: opened 28 Feb 20:00 UTC = 1 March in Shanghai;
#   w3 yellow F2: Jan and Feb;  w4 blue is not counted;  w5 closed before January;
#   w6 is of a firm outside the county.
WARNINGS = pd.DataFrame({
    "uscc": ["F1", "F3", "F2", "F2", "F4", "X9"],
    "level": ["red", "yellow", "yellow", "blue", "red", "red"],
    "opened_at": pd.to_datetime(["2024-12-20", "2025-02-28T20:00", "2025-01-05", "2025-01-05",
                                 "2024-11-01", "2025-01-05"], format="ISO8601", utc=True),
    "closed_at": pd.to_datetime(["2025-01-10", None, "2025-02-03", None, "2024-12-01", None],
                                utc=True),
})

# F1 defaulted before the period (never at risk in it), F3 defaults in February.
DEFAULTS = pd.Series(pd.to_datetime(["2024-06-30", None, "2025-02-14", None]),
                     index=["F1", "F2", "F3", "F4"])


@pytest.fixture
def index() -> pd.DataFrame:
    out = macro_index(FIRMS, GRADES, WARNINGS, DEFAULTS, months=MONTHS)
    return out.set_index(["dimension", "group", "month"]).sort_index()


def row(index: pd.DataFrame, dim: str, group: str, month: str) -> pd.Series:
    return index.loc[(dim, group, pd.Timestamp(month))]


def test_region_components_by_hand(index: pd.DataFrame) -> None:
    jan, feb, mar = (row(index, "region", "all", m) for m in MONTHS)
    assert [jan["firms"], feb["firms"], mar["firms"]] == [3, 4, 4]
    assert [jan["graded"], feb["graded"], mar["graded"]] == [2, 4, 4]
    assert [jan["share_cd"], feb["share_cd"], mar["share_cd"]] == pytest.approx([0.5, 0.75, 1.0])
    assert [jan["mean_pd"], feb["mean_pd"], mar["mean_pd"]] == pytest.approx(
        [0.055, 0.63 / 4, 0.92 / 4])
    assert [jan["red_per_100"], feb["red_per_100"], mar["red_per_100"]] == pytest.approx(
        [100 / 3, 0, 0])
    assert [jan["yellow_per_100"], feb["yellow_per_100"], mar["yellow_per_100"]] == \
        pytest.approx([100 / 3, 25, 25])
    # at risk: Jan F2, F3;  Feb F2, F3, F4 (F3 defaults);  Mar F2, F4
    assert [jan["defaults"], feb["defaults"], mar["defaults"]] == [0, 1, 0]
    assert [jan["default_rate"], feb["default_rate"], mar["default_rate"]] == pytest.approx(
        [0, 1 / 3, 0])


def test_composite_index_by_hand(index: pd.DataFrame) -> None:
    # Jan: .25*.5 + .20*(.055/.2) + .15*min(1, 33.3/10) + .10*min(1, 33.3/30) + .30*0 = .43
    assert row(index, "region", "all", "2025-01-31")["index"] == pytest.approx(43.0)
    # Feb: .25*.75 + .20*(.1575/.2) + 0 + .10*(25/30) + .30*min(1, 12/3/.2) = .728333
    assert row(index, "region", "all", "2025-02-28")["index"] == pytest.approx(72.8333, abs=1e-3)
    # industry C in Feb (F1, F2, F4): share 2/3, PD .17, yellow 100/3, no default
    c_feb = row(index, "industry", "C", "2025-02-28")
    assert c_feb["share_cd"] == pytest.approx(2 / 3) and c_feb["mean_pd"] == pytest.approx(0.17)
    assert c_feb["index"] == pytest.approx(100 * (0.25 * 2 / 3 + 0.2 * 0.85 + 0.1))
    # town T2 in March (F3, F4): both C/D, PD .26 (capped at the .2 anchor), F3's yellow = 50
    # per 100 (capped at 30), F3 already defaulted
    t2_mar = row(index, "town", "T2", "2025-03-31")
    assert t2_mar[["firms", "graded", "defaults"]].tolist() == [2, 2, 0]
    assert t2_mar["yellow_per_100"] == pytest.approx(50) and t2_mar["default_rate"] == 0
    assert t2_mar["index"] == pytest.approx(100 * (0.25 + 0.2 + 0.1))
    # more risk, higher index: T2 (all C/D) above T1 in March
    assert t2_mar["index"] > row(index, "town", "T1", "2025-03-31")["index"]


def test_groups_and_months_cover_every_combination(index: pd.DataFrame) -> None:
    groups = index.reset_index().groupby("dimension")["group"].unique().map(sorted).to_dict()
    assert groups == {"industry": ["C", "F"], "region": ["all"], "town": ["T1", "T2"]}
    assert len(index) == 5 * len(MONTHS)
    assert index["index"].between(0, 100).all()


def test_missing_sources_drop_out_and_weights_rescale() -> None:
    out = macro_index(FIRMS, GRADES, months=MONTHS)
    feb = out.set_index(["dimension", "group", "month"]).loc[
        ("region", "all", pd.Timestamp("2025-02-28"))]
    assert np.isnan(feb["red_per_100"]) and np.isnan(feb["default_rate"])
    # only the grade components: (.25*.75 + .20*.7875) / .45
    assert feb["index"] == pytest.approx(100 * (0.1875 + 0.1575) / 0.45)


def test_months_default_to_the_span_of_the_grades() -> None:
    out = macro_index(FIRMS, GRADES, WARNINGS, DEFAULTS)
    months = sorted(out["month"].unique())
    assert [pd.Timestamp(m).strftime("%Y-%m-%d") for m in months] == [
        "2024-12-31", "2025-01-31", "2025-02-28", "2025-03-31"]
    dec = out.loc[(out["dimension"] == "region") & (out["month"] == "2024-12-31")].iloc[0]
    assert dec["graded"] == 1 and dec["red_per_100"] == pytest.approx(100 / 3)


def test_weights_must_sum_to_one_and_anchors_be_positive() -> None:
    with pytest.raises(ValueError, match="^weights:"):
        MacroWeights(share_cd=0.5)
    with pytest.raises(ValueError, match="^anchors:"):
        MacroWeights(anchor_mean_pd=0.0)
    frame = pd.DataFrame({"share_cd": [1.0], "mean_pd": [1.0], "red_per_100": [99.0],
                          "yellow_per_100": [99.0], "default_rate": [0.5]})
    assert composite(frame).tolist() == [100.0]
    lean = MacroWeights(share_cd=1.0, mean_pd=0, red_per_100=0, yellow_per_100=0,
                        default_rate_annual=0)
    frame.loc[0, "share_cd"] = 0.3
    assert composite(frame, lean).tolist() == pytest.approx([30.0])


@pytest.mark.parametrize("dimension", ["industry", "town"])
@pytest.mark.parametrize("sources", ["all", "grades only"])
def test_merging_every_group_of_a_dimension_gives_the_region(dimension: str, sources: str) -> None:
    from scoring.risk.macro import merge_groups

    full = sources == "all"
    out = macro_index(FIRMS, GRADES, WARNINGS if full else None, DEFAULTS if full else None,
                      months=MONTHS)
    for month in MONTHS:
        rows = out[(out["dimension"] == dimension) & (out["month"] == month)]
        region = out[(out["dimension"] == "region") & (out["month"] == month)].iloc[0]
        merged = merge_groups(rows, "other")
        assert merged["group"] == "other" and merged["dimension"] == dimension
        for c in ("firms", "graded", "defaults", "share_cd", "mean_pd", "red_per_100",
                  "yellow_per_100", "default_rate", "index"):
            assert merged[c] == pytest.approx(region[c], nan_ok=True), (c, month)
    with pytest.raises(ValueError, match="rows"):
        merge_groups(out.iloc[:0], "other")
