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


# ---------------------------------------------------------------------------------------------
# The array fast path (scoring._known) against a plain row-by-row reference.

_FIRMS = [FIRM_A, FIRM_B, "91371000MA3C000003"]
_STRANGER = "91371000MA3C000099"  # has records but is not in the universe
_CATS = {"tax_monthly": ["vat", "income", None], "utility": ["electricity", "water"],
         "bank_loan": [None], "court_case": ["defendant", "plaintiff", None],
         "registry_change": ["legal_rep", "address", None], "credit_list": ["black", "red"],
         "personal_credit": [None]}


@st.composite
def _random_records(draw: st.DrawFn) -> pd.DataFrame:
    """Small frames in any row order: firms (one outside the universe), kinds, categories
    (some missing), dates on both sides of AS_OF (some missing), values (some missing)."""
    as_of = pd.Timestamp(AS_OF)
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(sorted(_CATS)))
        back = draw(st.one_of(st.none(), st.integers(-2, 40)))  # months before AS_OF's
        event = None if back is None else (
            as_of.replace(day=1) - pd.DateOffset(months=back)
            + pd.Timedelta(days=draw(st.integers(0, 30))))
        end = draw(st.one_of(st.none(), st.integers(-400, 400)))
        value = draw(st.one_of(st.none(), st.integers(-5, 10_000)))
        rows.append({
            "uscc": draw(st.sampled_from([*_FIRMS, _STRANGER])), "kind": kind,
            "category": draw(st.sampled_from(_CATS[kind])),
            "event_date": event,
            "end_date": None if end is None else as_of + pd.Timedelta(days=end),
            "amount_fen": value, "arrears_fen": None if value is None else value % 7,
            "quantity": None if value is None else value / 3, "days": value,
        })
    return make_records(rows)


def _fresh_objects(rec: pd.DataFrame) -> pd.DataFrame:
    """The same frame with every text cell its own string object."""
    out = rec.copy()
    for c in ("uscc", "kind", "category"):
        out[c] = [None if v is None else "".join(list(v)) for v in rec[c]]
    return out


def _known_rows(rec: pd.DataFrame, as_of: pd.Timestamp):  # noqa: ANN202 - a row iterator
    for r in rec.itertuples(index=False):
        if pd.notna(r.event_date) and r.event_date <= as_of and r.uscc in _FIRMS:
            yield r


def _num(v: object) -> float:
    return float("nan") if pd.isna(v) else float(v)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=_random_records(), representation=st.sampled_from(["shared", "fresh", "category"]))
def test_known_records_match_a_row_by_row_reference(rec: pd.DataFrame,
                                                    representation: str) -> None:
    from scoring._known import KnownRecords

    as_of = pd.Timestamp(AS_OF)
    if representation == "fresh":
        rec = _fresh_objects(rec)
    elif representation == "category":
        rec = rec.astype({"uscc": "category", "kind": "category", "category": "category"})
    index = pd.Index(_FIRMS, name="uscc")
    f = KnownRecords(rec, as_of, index)
    where = {u: i for i, u in enumerate(_FIRMS)}
    known = list(_known_rows(rec, as_of))

    # Monthly matrices: lag 0 is June 2024 (AS_OF is a month end), sum or max, NaN if no value.
    for kind, column, cat, how in [("tax_monthly", "amount_fen", "vat", "sum"),
                                   ("tax_monthly", "arrears_fen", None, "sum"),
                                   ("utility", "quantity", "electricity", "sum"),
                                   ("bank_loan", "days", None, "max")]:
        ref = np.full((3, 27), np.nan)
        for r in known:
            lag = (2024 - r.event_date.year) * 12 + 6 - r.event_date.month
            v = _num(getattr(r, column))
            if r.kind != kind or (cat and r.category != cat) or not 0 <= lag < 27 or np.isnan(v):
                continue
            cell = ref[where[r.uscc], lag]
            ref[where[r.uscc], lag] = v if np.isnan(cell) else (
                max(cell, v) if how == "max" else cell + v)
        got = f.monthly(kind, column, cat, how=how)
        np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)

    # Counts and totals of active / recent rows of some categories.
    start_24m = as_of - pd.DateOffset(months=24)
    def active(r: object) -> bool:
        return pd.isna(r.end_date) or r.end_date > as_of
    for kind, cats, test, pick in [
            ("court_case", ["defendant"], active, lambda g: g.of("defendant").active()),
            ("court_case", None, lambda r: r.event_date > start_24m, lambda g: g.since(24)),
            ("registry_change", ["legal_rep"], lambda r: r.event_date > start_24m,
             lambda g: g.since(24).of("legal_rep")),
            ("credit_list", ["black", "red"], active, lambda g: g.active().of("black", "red"))]:
        count, total = np.zeros(3), np.zeros(3)
        for r in known:
            if r.kind == kind and (cats is None or r.category in cats) and test(r):
                count[where[r.uscc]] += 1
                total[where[r.uscc]] += np.nan_to_num(_num(r.amount_fen))
        rows = pick(f.kind(kind))
        np.testing.assert_array_equal(f.count(rows), count)
        np.testing.assert_allclose(f.total(rows, "amount_fen"), total, rtol=1e-12)
    others = np.zeros(3)  # not legal_rep, missing category included
    for r in known:
        if r.kind == "registry_change" and r.category != "legal_rep" and r.event_date > start_24m:
            others[where[r.uscc]] += 1
    np.testing.assert_array_equal(f.count(f.kind("registry_change").since(24)
                                          .excluding("legal_rep")), others)

    # The latest personal credit score (the later row among rows of one date).
    latest: dict[str, tuple[pd.Timestamp, float]] = {}
    for r in known:
        if r.kind == "personal_credit" and (r.uscc not in latest
                                            or r.event_date >= latest[r.uscc][0]):
            latest[r.uscc] = (r.event_date, _num(r.quantity))
    ref = np.array([latest[u][1] if u in latest else np.nan for u in _FIRMS])
    np.testing.assert_array_equal(f.latest(f.kind("personal_credit"), "quantity"), ref)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=_random_records())
def test_features_do_not_depend_on_how_text_columns_are_stored(rec: pd.DataFrame) -> None:
    base = compute_features(rec, AS_OF, firms=pd.Index(_FIRMS))
    for other in (_fresh_objects(rec),
                  rec.astype({"uscc": "category", "kind": "category", "category": "category"})):
        pd.testing.assert_frame_equal(compute_features(other, AS_OF, firms=pd.Index(_FIRMS)),
                                      base)


_statement = st.fixed_dictionaries({
    "uscc": st.sampled_from([*_FIRMS, _STRANGER]),
    "filed": st.integers(-1300, 40),  # days from AS_OF
    "year": st.one_of(st.none(), st.integers(2019, 2024)),
    "revenue": st.one_of(st.none(), st.integers(0, 1000)),
    "net_profit": st.one_of(st.none(), st.integers(-50, 50)),
    "total_assets": st.one_of(st.none(), st.integers(1, 1000)),
    "as_json": st.booleans(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements=st.lists(_statement, max_size=25), complete=st.booleans())
def test_statements_match_a_row_by_row_reference(statements: list[dict[str, object]],
                                                 complete: bool) -> None:
    from scoring._known import KnownRecords
    from scoring.features import _statements

    as_of = pd.Timestamp(AS_OF)
    items = ("year", "revenue", "net_profit", "total_assets")
    rest = dict.fromkeys(("cost_of_sales", "total_liabilities", "current_assets", "equity",
                          "current_liabilities", "inventory", "receivables",
                          "operating_cash_flow", "interest_expense"), 7) if complete else {}
    rows = [{"uscc": s["uscc"], "kind": "financial_statement",
             "event_date": as_of + pd.Timedelta(days=s["filed"]),
             "attrs": (json.dumps if s["as_json"] else dict)({k: s[k] for k in items} | rest)}
            for s in statements]
    latest, prev, losses = _statements(KnownRecords(make_records(rows), as_of,
                                                    pd.Index(_FIRMS)))
    # Reference: per firm, statements filed in the 36 months to AS_OF; per fiscal year the
    # last filed (then last in record order); the latest year first, a missing year before all.
    start = as_of - pd.DateOffset(months=36)
    for i, firm in enumerate(_FIRMS):
        mine = [(n, s) for n, s in enumerate(statements) if s["uscc"] == firm
                and start < as_of + pd.Timedelta(days=s["filed"]) <= as_of]
        by_year: dict[object, tuple[int, int, dict[str, object]]] = {}
        for n, s in mine:
            if s["year"] not in by_year or (s["filed"], n) >= by_year[s["year"]][:2]:
                by_year[s["year"]] = (s["filed"], n, s)
        ranked = [by_year[y][2] for y in sorted(by_year, key=lambda y: (y is None, y or 0),
                                                 reverse=True)]
        def value(s: dict[str, object] | None, item: str) -> float:
            return np.nan if s is None or s[item] is None else float(s[item])
        first = ranked[0] if ranked else None
        second = ranked[1] if len(ranked) > 1 else None
        for item in items:
            np.testing.assert_equal(latest[item].iloc[i], value(first, item))
        for item in ("revenue", "net_profit", "total_assets"):
            np.testing.assert_equal(prev[item].iloc[i], value(second, item))
        expected = sum(value(s, "net_profit") < 0 for s in ranked[:3]) if mine else np.nan
        np.testing.assert_equal(losses[i], expected)
