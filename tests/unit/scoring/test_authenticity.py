"""Authenticity checks (issue 15): shared meters split, seasons and shared meters raise
nothing, under-declared tax is found with its figures, and on a generated region with
planted distortions the checks find what was planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.authenticity import (
    assess,
    finding_texts,
    meter_ids,
    split_shared_meters,
    under_declaration,
)
from scoring.pipeline import score_region
from scoring.risk import evaluate
from scoring.risk.context import Context

from .conftest import FIRM_A, FIRM_B, make_records

AS_OF = "2024-06-30"
FIRM_C = "91371000MA3C000003"


def mon(uscc: str, kind: str, category: str, n: int = 24, end: str = AS_OF, meter=None,
        **columns: list[float]) -> list[dict[str, object]]:
    months = pd.date_range(end=pd.Timestamp(end), periods=n, freq="ME")
    rows = []
    for i, m in enumerate(months):
        row = {"uscc": uscc, "kind": kind, "event_date": m, "category": category,
               **{c: v[i] for c, v in columns.items()}}
        if meter is not None:
            row["attrs"] = {"meter_id": meter(i)}
        rows.append(row)
    return rows


def firm_rows(uscc: str, vat: list[float], kwh: list[float], head: list[float],
              meter=None) -> list[dict[str, object]]:
    n = len(vat)
    return (mon(uscc, "tax_monthly", "vat", n, amount_fen=vat, arrears_fen=[0] * n)
            + mon(uscc, "social_insurance", "pension", n, quantity=head)
            + mon(uscc, "utility", "electricity", n, quantity=kwh, meter=meter))


def context(records: pd.DataFrame, *usccs: str) -> Context:
    return Context(records, AS_OF, pd.Index(list(usccs), name="uscc"))


def shared_pair(months_shared: int = 10) -> pd.DataFrame:
    """A (holder) and B (moved onto A's meter ``months_shared`` months ago), 24 months."""
    n, cut = 24, 24 - months_shared
    kwh_a = [12_000.0] * cut + [20_000.0] * months_shared
    kwh_b = [8_000.0] * cut + [0.0] * months_shared
    return make_records(
        firm_rows(FIRM_A, [3e6] * n, kwh_a, [30] * n, meter=lambda i: "M-A")
        + firm_rows(FIRM_B, [2e6] * n, kwh_b, [20] * n,
                    meter=lambda i: "M-A" if i >= cut else "M-B"))


# ---------------------------------------------------------------------------------------------
# shared meters


def test_a_shared_meter_is_split_by_staff_and_power_per_head() -> None:
    raw = shared_pair()
    split = split_shared_meters(raw)
    elec = split[split["category"] == "electricity"].groupby("uscc")["quantity"].apply(list)
    # per head 400 kWh each on their own meters: 30 and 20 staff share 20,000 as 12,000 / 8,000
    assert elec[FIRM_A][-10:] == [12_000.0] * 10 and elec[FIRM_B][-10:] == [8_000.0] * 10
    assert elec[FIRM_A][:14] == [12_000.0] * 14 and elec[FIRM_B][:14] == [8_000.0] * 14
    last_b = split[(split["uscc"] == FIRM_B) & (split["category"] == "electricity")]["attrs"].iloc[-1]
    assert last_b == {"meter_id": "M-A", "meter_reported": 0.0, "meter_total": 20_000.0, "meter_firms": 2}
    # the raw frame is untouched, and splitting again changes nothing
    assert raw[raw["category"] == "electricity"]["quantity"].iloc[-1] == 0.0
    again = split_shared_meters(split)
    assert again is split or again["quantity"].equals(split["quantity"])


def test_a_reading_in_parts_is_split_as_the_monthly_reading() -> None:
    """A utility that sends several reads per month: each firm's monthly reading of the meter
    is split, as when it sends one row (and as the feature store splits its cells); the share
    goes on the firm's last row of the month, every row keeps what it reported."""
    whole = split_shared_meters(shared_pair())
    raw = shared_pair()
    elec = raw[raw["category"] == "electricity"]
    parts = elec.loc[elec.index.repeat(3)].copy()  # each reading in 3 reads: 1/2, 1/4, 1/4
    parts["quantity"] = parts["quantity"].to_numpy() * np.tile([0.5, 0.25, 0.25], len(elec))
    parts["event_date"] = parts["event_date"] - pd.to_timedelta(np.tile([20, 10, 0], len(elec)), unit="D")
    in_parts = pd.concat([raw[raw["category"] != "electricity"], parts], ignore_index=True)
    split = split_shared_meters(in_parts)

    def monthly(frame: pd.DataFrame) -> pd.Series:
        e = frame[frame["category"] == "electricity"]
        return e.groupby([e["uscc"], e["event_date"].dt.to_period("M")])["quantity"].sum()

    pd.testing.assert_series_equal(monthly(split), monthly(whole), check_exact=True)
    assert monthly(split).loc[FIRM_B].iloc[-1] == 8_000.0  # not weighed by its number of reads
    reported = split[(split["uscc"] == FIRM_A) & (split["category"] == "electricity")]["attrs"].tolist()[-3:]
    assert [a["meter_reported"] for a in reported] == [10_000.0, 5_000.0, 5_000.0]
    # the shared-meter check counts months on a shared meter, not reads (as the cells count)
    for frame in (whole, split):
        figures = assess(context(frame, FIRM_A, FIRM_B), frame).checks["shared_meter"].figures
        assert figures["shared_months"].tolist() == [10, 10] and figures["meter_firms"].tolist() == [2, 2]


def test_a_meter_told_by_its_supply_address_is_split_the_same_way() -> None:
    """A utility that reports by place: the same supply address, however it was typed
    (full-width digits, spaces), is one meter; a meter number, where there is one, wins."""
    by_meter = split_shared_meters(shared_pair())
    raw = shared_pair()
    places = {"M-A": "上虞区人民路88号", "M-B": "上虞区 人民路９０号"}
    spelled = {"M-A": ["上虞区人民路88号", "上虞区 人民路８８号"], "M-B": ["上虞区人民路90号"]}
    attrs = []
    for k, a in enumerate(raw["attrs"].tolist()):
        if isinstance(a, dict) and "meter_id" in a:
            options = spelled[a["meter_id"]]
            attrs.append({"supply_address": options[k % len(options)]})
        else:
            attrs.append(a)
    raw["attrs"] = pd.Series(attrs, index=raw.index, dtype=object)
    split = split_shared_meters(raw)
    assert split["quantity"].fillna(-1).tolist() == by_meter["quantity"].fillna(-1).tolist()
    elec = raw["category"] == "electricity"
    assert (split.loc[elec, "quantity"] != raw.loc[elec, "quantity"]).sum() == 20  # 10 shared months, 2 firms
    assert set(meter_ids(raw).tolist()) - {None} == {"@上虞区人民路88号", "@上虞区人民路90号"}
    both = make_records(firm_rows(FIRM_A, [3e6] * 3, [1.0] * 3, [3] * 3, meter=lambda i: "M-Z"))
    both["attrs"] = pd.Series([{**a, "supply_address": places["M-A"]} if isinstance(a, dict) else a
                               for a in both["attrs"]], index=both.index, dtype=object)
    assert set(meter_ids(both).tolist()) - {None} == {"M-Z"}


def test_no_shared_meter_leaves_the_frame_as_it_is() -> None:
    n = 24
    records = make_records(firm_rows(FIRM_A, [3e6] * n, [12_000.0] * n, [30] * n, meter=lambda i: "M-A")
                           + firm_rows(FIRM_B, [2e6] * n, [8_000.0] * n, [20] * n, meter=lambda i: "M-B"))
    assert split_shared_meters(records) is records
    assert meter_ids(records).tolist().count("M-A") == n


def test_a_meter_number_reused_after_its_firm_closed_is_not_shared() -> None:
    early = firm_rows(FIRM_A, [3e6] * 12, [12_000.0] * 12, [30] * 12, meter=lambda i: "M-1")
    for r in early:  # A traded until a year ago
        r["event_date"] = r["event_date"] - pd.DateOffset(months=12) + pd.offsets.MonthEnd(0)
    later = firm_rows(FIRM_B, [2e6] * 12, [8_000.0] * 12, [20] * 12, meter=lambda i: "M-1")
    records = make_records(early + later)
    assert split_shared_meters(records) is records


def test_without_the_split_the_member_looks_stopped_and_with_it_nothing_fires() -> None:
    raw, split = shared_pair(), split_shared_meters(shared_pair())
    firms = pd.DataFrame({"uscc": [FIRM_A, FIRM_B]})
    power = ["R18_POWER_DROP_YOY", "R21_POWER_NEAR_ZERO", "R64_TAX_UNDER_DECLARED",
             "R23_TAX_POWER_DIVERGE"]
    assert {f.rule_code for f in evaluate(raw, firms, AS_OF, rules=power) if f.uscc == FIRM_B} >= {
        "R21_POWER_NEAR_ZERO"}
    assert evaluate(split, firms, AS_OF, rules=power) == []
    checked = assess(context(split, FIRM_A, FIRM_B), split)
    assert checked.checks["shared_meter"].flagged.tolist() == [True, True]
    assert checked.confidence.tolist() == ["medium", "medium"]
    b = checked.of(FIRM_B)
    assert [f["check"] for f in b["findings"]] == ["shared_meter"]
    assert "shared with 1 other firm" in b["findings"][0]["text_en"]


# ---------------------------------------------------------------------------------------------
# under-declared tax


def test_tax_falling_while_power_and_staff_hold_is_found_with_its_figures() -> None:
    vat = [2e6] * 16 + [1e6] * 8
    records = make_records(firm_rows(FIRM_A, vat, [10_000.0] * 24, [25] * 24))
    r = under_declaration(context(records, FIRM_A))
    assert r.flagged.tolist() == [True]
    f = {k: v[0] for k, v in r.figures.items()}
    assert f["tax_change"] == pytest.approx(-0.5) and f["power_change"] == pytest.approx(0.0)
    assert f["headcount_change"] == pytest.approx(0.0) and f["gap"] == pytest.approx(0.5)
    assert f["gap_months"] == 6 and f["since_lag"] == 7 and f["month_lag"] == 0
    assert r.plausibility[0] < 0.5
    checked = assess(context(records, FIRM_A), records)
    one = checked.of(FIRM_A)
    assert one["confidence"] == "low" and one["findings"][0]["figures"]["since"] == "2023-11-30"
    assert one["findings"][0]["text_en"].startswith("Tax and electricity disagree by 50% since "
                                                   "November 2023")
    assert "2023年11月" in one["findings"][0]["text_zh"]


def test_a_business_that_shrinks_or_a_tax_that_falls_a_little_is_not_under_declaring() -> None:
    shrink = firm_rows(FIRM_A, [2e6] * 16 + [1e6] * 8, [10_000.0] * 16 + [5_000.0] * 8, [25] * 24)
    little = firm_rows(FIRM_B, [2e6] * 16 + [1.5e6] * 8, [10_000.0] * 24, [25] * 24)
    late = firm_rows(FIRM_C, [2e6] * 24, [10_000.0] * 24, [25] * 24)
    for r in late[-8:]:  # declared in full, paid in part: in arrears, not under-declaring
        r["amount_fen"], r["arrears_fen"] = 6e5, 4e6
    records = make_records(shrink + little + late)
    assert under_declaration(context(records, FIRM_A, FIRM_B, FIRM_C)).flagged.tolist() == [
        False, False, False]


def test_a_seasonal_firm_whose_power_stays_on_is_not_under_declaring() -> None:
    months = pd.date_range(end=pd.Timestamp(AS_OF), periods=24, freq="ME")
    off = [m.month in (3, 4, 5, 6) for m in months]  # hardly sells in spring, power stays on
    vat = [6e5 if o else 2e6 for o in off]
    records = make_records(firm_rows(FIRM_A, vat, [10_000.0] * 24, [25] * 24))
    r = under_declaration(context(records, FIRM_A))
    assert r.flagged.tolist() == [False] and r.figures["tax_change"][0] == pytest.approx(0.0)
    # what a naive month-on-month comparison would have read: tax down 70 %, power flat
    assert vat[-1] / vat[-5] == pytest.approx(0.3)


# ---------------------------------------------------------------------------------------------
# through scoring, and on a generated region


def test_scoring_states_the_data_confidence_of_each_firm(fitted) -> None:
    vat = [2e6] * 16 + [1e6] * 8
    records = make_records(firm_rows(FIRM_A, vat, [10_000.0] * 24, [25] * 24)
                           + firm_rows(FIRM_B, [2e6] * 24, [10_000.0] * 24, [25] * 24))
    firms = pd.DataFrame({
        "uscc": [FIRM_A, FIRM_B], "name": ["甲", "乙"], "industry_section": ["C", "C"],
        "industry_division": ["34", "34"], "town": ["城关镇", "城关镇"],
        "registered_capital_fen": [500_000_000, 500_000_000],
        "founded_on": pd.to_datetime(["2010-01-01", "2012-01-01"]),
        "size_class": ["small", "small"], "status": ["active", "active"]})
    result = score_region(fitted, firms, records, AS_OF)
    assert result.authenticity is not None
    frame = result.authenticity.frame()
    assert list(frame.index) == list(result.table.index) == [FIRM_A, FIRM_B]
    assert frame["under_declaration"].tolist() == [True, False]
    assert frame["confidence"].tolist()[0] == "low"


def test_finding_texts_fill_in_the_figures() -> None:
    zh, en = finding_texts("agent_exports", {"quiet_months": 7})
    assert "7" in zh and "7 months" in en


def test_on_a_generated_region_the_checks_find_what_was_planted() -> None:
    from server.demo.synth import generate_region

    region = generate_region(4000, seed=23)
    index = pd.Index(region.firms["uscc"], name="uscc")
    records = split_shared_meters(region.records)
    checked = assess(Context(records, region.end, index), records)
    truth = region.truth.reindex(index)

    def pr(check: str, column: str) -> tuple[float, float]:
        flagged, planted = checked.checks[check].flagged, truth[column].to_numpy()
        assert planted.sum() >= 20, f"the region plants {column}"
        tp = (flagged & planted).sum()
        return tp / max(flagged.sum(), 1), tp / planted.sum()

    p, r = pr("under_declaration", "under_declaring")
    assert p >= 0.8 and r >= 0.8, (p, r)
    p, r = pr("shared_meter", "shared_meter")
    assert p >= 0.95 and r >= 0.95, (p, r)
    p, r = pr("agent_exports", "agent_exports")
    assert p >= 0.8 and r >= 0.7, (p, r)
    # reused meter numbers were planted, and none of them reads as shared
    reused = truth["meter_reused"].to_numpy() & ~truth["shared_meter"].to_numpy()
    assert reused.sum() > 0 and not checked.checks["shared_meter"].flagged[reused].any()
    assert np.isin(checked.confidence, ["high", "medium", "low"]).all()


def test_feed_health_counts_coverage_lateness_and_disagreement_per_department() -> None:
    from scoring.authenticity import feed_health

    vat = [2e6] * 16 + [1e6] * 8
    rows = (firm_rows(FIRM_A, vat, [10_000.0] * 24, [25] * 24)
            + firm_rows(FIRM_B, [2e6] * 24, [10_000.0] * 24, [25] * 24)
            + firm_rows(FIRM_C, [2e6] * 23, [10_000.0] * 23, [25] * 23))  # C: a month behind
    for r in rows:
        r["event_date"] = pd.Timestamp(r["event_date"])
    for r in rows:
        if r["uscc"] == FIRM_C:
            r["event_date"] = r["event_date"] - pd.offsets.MonthEnd(1)
    history = make_records(rows)
    late = {"tax_monthly": 10, "social_insurance": 20, "utility": 40}
    history["known_from"] = history["event_date"] + pd.to_timedelta(history["kind"].map(late), unit="D")
    history["superseded_at"] = pd.NaT
    firms = pd.DataFrame({"uscc": [FIRM_A, FIRM_B, FIRM_C], "status": ["active"] * 3,
                          "founded_on": pd.to_datetime(["2010-01-01"] * 3)})
    checked = assess(context(history, FIRM_A, FIRM_B, FIRM_C), history)
    health = {d["department"]: d for d in feed_health(history, firms, AS_OF, checked)}
    assert set(health) == {"tax", "hrss", "utilities"}
    tax = health["tax"]
    assert tax["month"] == "2024-06-30" and tax["firms_reported"] == 2 and tax["firms_trading"] == 3
    assert tax["coverage"] == pytest.approx(2 / 3, abs=1e-4) and tax["continuity"] == pytest.approx(2 / 3, abs=1e-4)
    assert tax["lateness_days_median"] == 10 and tax["late_share"] == 0
    assert health["utilities"]["lateness_days_median"] == 40 and health["utilities"]["late_share"] == 1
    # A is under-declaring: a third of the firms the tax office reports on disagree with power
    assert tax["disagreement"]["under_declaration"] == pytest.approx(1 / 3, abs=1e-4)
    assert "under_declaration" in health["utilities"]["disagreement"]


def test_feed_health_from_cells_and_counted_arrivals_equals_feed_health_from_the_rows() -> None:
    """The feature store's path: coverage from the cells (first event as the date) and lateness
    from arrivals counted per (kind, event day, arrival) give every figure the rows give, with
    several rows per day arriving at different times and some arriving late."""
    from scoring.authenticity import feed_health
    from scoring.feature_store import cells_of

    rng = np.random.default_rng(7)
    rows = []
    for uscc in (FIRM_A, FIRM_B, FIRM_C):
        rows += firm_rows(uscc, [2e6] * 24, [10_000.0] * 24, [25] * 24)
    rows += rows[: len(rows) // 2]  # a second row of the same day for half of them
    history = make_records(rows)
    history["event_date"] = pd.to_datetime(history["event_date"])
    days = rng.choice([0.5, 3, 3, 12, 15, 16.25, 40], size=len(history))
    history["known_from"] = history["event_date"] + pd.to_timedelta(days, unit="D")
    history["superseded_at"] = pd.NaT
    firms = pd.DataFrame({"uscc": [FIRM_A, FIRM_B, FIRM_C], "status": ["active"] * 3,
                          "founded_on": pd.to_datetime(["2010-01-01"] * 3)})
    for as_of in (AS_OF, pd.Timestamp(AS_OF) - pd.Timedelta(days=45)):
        expected = feed_health(history, firms, as_of)
        cells = cells_of(history).rename(columns={"first_event": "event_date"})
        arrivals = (history.groupby(["kind", "event_date", "known_from"]).size()
                    .rename("rows").reset_index())
        got = feed_health(cells, firms, as_of, arrivals=arrivals)
        assert got == expected
        assert {d["lateness_days_p90"] for d in got} != {None}


def test_feed_health_of_the_parts_rows_equals_feed_health_of_the_regions_rows() -> None:
    """What a Dask worker hands back for the feed health (``feed_health_rows`` of its part):
    the parts' rows put together give every figure all the rows give, from the rows (with
    arrival times) and from the cells, though one part's latest month is three months behind
    the region's and a firm stopped reporting long before."""
    from scoring.authenticity import feed_health, feed_health_rows
    from scoring.feature_store import cells_of

    firm_c, firm_d = "91330100MA2CCCCC3C", "91330100MA2DDDDD4D"
    rows = []
    for uscc, months in ((FIRM_A, 24), (FIRM_B, 24), (firm_c, 21), (firm_d, 30)):
        rows += firm_rows(uscc, [2e6] * months, [10_000.0] * months, [25] * months)
    history = make_records(rows)
    history["event_date"] = pd.to_datetime(history["event_date"])
    behind = history["uscc"].isin([firm_c, firm_d]).to_numpy()
    shift = np.where(history["uscc"] == firm_c, 3, 16)  # C three months behind, D sixteen
    history.loc[behind, "event_date"] = [d - pd.offsets.MonthEnd(int(k)) for d, k in
                                         zip(history.loc[behind, "event_date"], shift[behind], strict=True)]
    water = history[history["kind"] == "utility"].assign(category="water")  # a second cell a month
    history = pd.concat([history, water], ignore_index=True)
    history["known_from"] = history["event_date"] + pd.Timedelta(days=9)
    history["superseded_at"] = pd.NaT
    firms = pd.DataFrame({"uscc": [FIRM_A, FIRM_B, firm_c, firm_d], "status": ["active"] * 4,
                          "founded_on": pd.to_datetime(["2010-01-01"] * 4)})
    parts = [[FIRM_A, firm_d], [FIRM_B], [firm_c]]
    cells = cells_of(history).rename(columns={"first_event": "event_date"})
    for as_of in (AS_OF, pd.Timestamp(AS_OF) - pd.Timedelta(days=70)):
        for frame in (history, cells):
            expected = feed_health(frame, firms, as_of)
            pieces = [feed_health_rows(frame[frame["uscc"].isin(p)], as_of) for p in parts]
            got = feed_health(pd.concat(pieces, ignore_index=True), firms, as_of)
            assert got == expected
            assert sum(map(len, pieces)) < len(frame)
            assert {d["continuity"] for d in got} != {None}
        # one row per firm, kind and month from the cells: a month's other categories add nothing
        kept = feed_health_rows(cells, as_of)
        assert not kept.assign(m=kept["event_date"].dt.to_period("M")).duplicated(["uscc", "kind", "m"]).any()
        assert cells.assign(m=cells["event_date"].dt.to_period("M")).duplicated(["uscc", "kind", "m"]).any()


def _feed_health_rows_by_periods(records: pd.DataFrame, as_of) -> pd.DataFrame:
    """``feed_health_rows`` as first written, on month periods and texts: the reference."""
    from scoring.authenticity import _HEALTH_MONTHS
    from scoring.records import RECORD_KINDS

    ts = pd.Timestamp(as_of)
    monthly = [k.code for k in RECORD_KINDS.values() if k.monthly]
    columns = [c for c in ("uscc", "kind", "event_date", "known_from") if c in records.columns]
    rows = records.loc[records["kind"].isin(monthly) & (records["event_date"] <= ts), columns]
    if rows.empty:
        return rows.reset_index(drop=True)
    month = rows["event_date"].dt.to_period("M")
    dept = rows["kind"].map({k.code: k.department for k in RECORD_KINDS.values() if k.monthly})
    keep = (month >= month.groupby(dept).transform("max") - _HEALTH_MONTHS).to_numpy()
    rows = rows[keep]
    if "known_from" not in rows.columns:
        rows = (rows.assign(_month=month[keep].to_numpy()).sort_values("event_date", kind="stable")
                .drop_duplicates(["uscc", "kind", "_month"]).drop(columns="_month"))
    return rows.reset_index(drop=True)


@pytest.mark.parametrize("seed", range(6))
def test_feed_health_rows_on_codes_equal_them_on_periods(seed: int) -> None:
    """``feed_health_rows`` on integer codes gives the rows, in the order, that the version on
    month periods and texts gave: firms' kinds (monthly and not) over years, many rows on one
    day, departments whose latest months differ, with and without arrival times."""
    from scoring.authenticity import feed_health_rows
    from scoring.records import RECORD_KINDS

    rng = np.random.default_rng(seed)
    n = 5_000
    kinds = [k.code for k in RECORD_KINDS.values()]
    kind = rng.choice(kinds, n)
    # each kind's own span of days, so the departments' latest months differ
    ends = {k: 19_000 - int(rng.integers(0, 400)) for k in kinds}
    day = np.array([ends[k] - int(rng.integers(0, 900)) for k in kind])
    day[rng.random(n) < 0.3] = 18_900  # many rows on one day: the first of equal days is kept
    frame = pd.DataFrame({
        "uscc": [f"9133{u:014d}" for u in rng.integers(0, 40, n)],
        "kind": kind,
        "event_date": pd.to_datetime(day, unit="D"),
        "amount": rng.random(n),
    })
    frame["uscc"] = frame["uscc"].map(str)  # texts equal by value, not one object each
    as_of = pd.Timestamp(day.max(), unit="D") - pd.Timedelta(days=int(rng.integers(0, 200)))
    for records in (frame, frame.assign(known_from=frame["event_date"] + pd.Timedelta(days=9))):
        want = _feed_health_rows_by_periods(records, as_of)
        got = feed_health_rows(records, as_of)
        assert len(want) > 100
        pd.testing.assert_frame_equal(got, want)
    assert feed_health_rows(frame.iloc[:0], as_of).empty
    # the same rows when the kinds' and firms' codes were handed over (as a store's read hands
    # them over), not computed from the texts
    from scoring._codes import _remembered, remember_codes

    coded = {}
    for column in ("uscc", "kind"):
        objects = frame[column].to_numpy(dtype=object).copy()
        codes, uniques = pd.factorize(objects)
        remember_codes(objects, codes.astype(np.int16), uniques)
        coded[column] = objects
    coded = pd.DataFrame({**coded, "event_date": frame["event_date"]}, copy=False)
    assert _remembered(coded["kind"]) is not None and _remembered(coded["uscc"]) is not None
    pd.testing.assert_frame_equal(feed_health_rows(coded, as_of),
                                  _feed_health_rows_by_periods(frame[["uscc", "kind", "event_date"]], as_of))


def test_a_wage_base_declared_lower_is_found_and_a_shrinking_staff_is_not():
    """Pension premiums per head down by half while the staff holds: the declared wage base
    fell. The same fall in premiums with the staff halved is a smaller firm, not a finding;
    premiums that merely follow a season a year apart cancel."""
    from scoring.authenticity import wage_bill

    n = 24
    steady = [40.0] * n
    low_base = [40 * 1_000_000.0] * 16 + [40 * 500_000.0] * 8  # fen: premiums per head halve
    smaller = [40.0] * 16 + [20.0] * 8
    season = [40 * (1_000_000.0 if m % 12 < 6 else 700_000.0) for m in range(n)]
    rows = []
    for uscc, paid, head in ((FIRM_A, low_base, steady), (FIRM_B, low_base, smaller), (FIRM_C, season, steady)):
        rows += mon(uscc, "social_insurance", "pension", n, quantity=head, amount_fen=paid, arrears_fen=[0] * n)
    records = make_records(rows)
    r = wage_bill(context(records, FIRM_A, FIRM_B, FIRM_C))
    assert r.flagged.tolist() == [True, False, False]
    assert r.figures["wage_change"][0] == pytest.approx(-0.5, abs=0.01)
    assert r.figures["headcount_change"][0] == pytest.approx(0.0, abs=0.01)
    assert r.figures["headcount_change"][1] == pytest.approx(-0.5, abs=0.01)
    zh, en = finding_texts("wage_bill", {k: v[0] for k, v in r.figures.items()})
    assert "-50%" in en and "wage base" in en and "缴费工资基数" in zh


def test_a_sudden_re_declaration_of_several_months_is_found_with_its_figures():
    """Corrections known in the last six months that move two or more declared months of VAT by
    30 % or more: A re-declared three months down by half a month ago; B corrected one month;
    C re-declared three months a year ago; D's corrections move its VAT by 10 %."""
    from scoring.authenticity import redeclaration

    months = pd.date_range(end=pd.Timestamp(AS_OF), periods=12, freq="ME")
    rows, versions = [], []
    plan = {FIRM_A: (3, 0.5, "2024-06-01"), FIRM_B: (1, 0.5, "2024-06-01"), FIRM_C: (3, 0.5, "2023-06-01"),
            "91371000MA3C000004": (3, 0.9, "2024-06-01")}
    for uscc, (k, factor, day) in plan.items():
        for i, m in enumerate(months):
            first = {"uscc": uscc, "kind": "tax_monthly", "event_date": m, "category": "vat", "amount_fen": 100_000}
            if i < k:
                rows.append(first)
                versions.append((m + pd.Timedelta(days=10), pd.Timestamp(day)))
                rows.append({**first, "amount_fen": int(100_000 * factor)})
                versions.append((pd.Timestamp(day), pd.NaT))
            else:
                rows.append(first)
                versions.append((m + pd.Timedelta(days=10), pd.NaT))
    history = make_records(rows)
    history["known_from"] = [v[0] for v in versions]
    history["superseded_at"] = pd.to_datetime([v[1] for v in versions])
    index = pd.Index(list(plan), name="uscc")
    r = redeclaration(history, index, AS_OF)
    assert r.flagged.tolist() == [True, False, False, False]
    assert r.figures["months"].tolist() == [3, 1, 0, 0]
    assert r.figures["change"][0] == pytest.approx(-0.5)
    assert str(r.figures["when"][0]) == "2024-06-01"
    zh, en = finding_texts("redeclaration", {"months": 3, "change": -0.5, "when": "2024-06-01"})
    assert "3 months of VAT were re-declared" in en and "-50%" in en and "重新申报" in zh
    plain = redeclaration(None, index, AS_OF)  # no history: the check says nothing
    assert not plain.flagged.any() and np.isnan(plain.plausibility).all()


def test_exports_above_the_declared_revenue_are_found():
    """A firm whose customs exports in 2023 were 1.5 times the revenue its 2023 statement
    declares is found; one exporting half its revenue is not."""
    from scoring.authenticity import exports_revenue

    rows = []
    for uscc, exported in ((FIRM_A, 150_000_000), (FIRM_B, 50_000_004)):
        rows.append({"uscc": uscc, "kind": "financial_statement", "event_date": "2024-05-31",
                     "amount_fen": 100_000_000, "attrs": {"year": 2023, "revenue": 100_000_000,
                                                          "total_assets": 300_000_000}})
        rows += mon(uscc, "customs_export", None, 24, amount_fen=[exported // 12] * 24)
    r = exports_revenue(context(make_records(rows), FIRM_A, FIRM_B))
    assert r.flagged.tolist() == [True, False]
    assert r.figures["ratio"][0] == pytest.approx(1.5) and r.figures["year"][0] == 2023
    zh, en = finding_texts("exports_revenue", {k: v[0] for k, v in r.figures.items()})
    assert "Customs exports in 2023 were 1.5 times" in en and "申报收入偏低" in zh
