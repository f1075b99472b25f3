"""Indicators from department records, as of a date, for many firms at once.

All computations are column operations on arrays (one matrix row per firm, one column per
month or record), never a Python loop over firms; :mod:`scoring._known` turns the records
into those arrays without copying or re-hashing the (large) records frame. Only records with ``event_date <= as_of`` are
read; a record is active at ``as_of`` when its ``end_date`` is missing or later, which is what
was known at ``as_of`` (``status`` is never read because it is overwritten when a case closes).
NaN means the department's feed is absent for the firm (it reports nothing on it), never "none
of this happened": a firm with no mortgages has a mortgage ratio of 0, one without bank loans
is 0 days overdue, one without exports has no export growth (0), one without lawsuits 0 cases.
The scorecard caps a missing value's points (see ``Scorecard.missing_points``) so that an
absent feed is never a reward; :data:`COVERAGE_FEEDS` are the feeds whose absence means
"not covered", which is what the data confidence counts.
"""

from __future__ import annotations

import itertools
import json
import operator
import warnings
from datetime import date

import numpy as np
import pandas as pd

from ._codes import month_numbers
from ._known import KnownRecords
from .indicators import INDICATORS

__all__ = ["COVERAGE_FEEDS", "compute_features", "confidence_groups", "credit_exposed",
           "default_labels", "defaulted_by", "first_default_dates"]

#: Feeds that report on every firm they cover (monthly or yearly), so a firm without their
#: records is not covered: its indicators read from them only are missing (NaN). Every other
#: kind reports events (loans, lawsuits, listings, property, patents...): no records means
#: none happened, a real zero.
COVERAGE_FEEDS: tuple[str, ...] = ("tax_monthly", "social_insurance", "utility",
                                   "financial_statement", "personal_credit")


def confidence_groups() -> dict[str, str]:
    """Indicator -> coverage feed, for the indicators read from one coverage feed only: the
    data confidence of a firm is the share of these feeds that report on it."""
    return {code: ind.kinds[0] for code, ind in INDICATORS.items()
            if len(ind.kinds) == 1 and ind.kinds[0] in COVERAGE_FEEDS}

_MONTHS = 27  # months of monthly history kept: 24 + 3 for year-on-year quarters
_FEN_PER_YUAN = 100.0


def _ts(d: date | str | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(d).normalize()


def _universe(records: pd.DataFrame, firms: pd.DataFrame | pd.Index | None) -> pd.Index:
    if firms is None:
        return pd.Index(np.sort(records["uscc"].unique()), name="uscc")
    if isinstance(firms, pd.DataFrame):
        return pd.Index(firms["uscc"].to_numpy(), name="uscc")
    return pd.Index(firms, name="uscc")


def _month_number(s: pd.Series | pd.Timestamp) -> np.ndarray | int:
    """Months since 1970-01 (numpy month casts; much faster than the .dt accessors)."""
    if isinstance(s, pd.Timestamp):
        return int(np.datetime64(s, "M").astype(np.int64))
    return month_numbers(s.to_numpy(dtype="datetime64[ns]"))


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else NaN."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    ok = den > 0
    np.divide(num, den, out=out, where=ok)
    return out


def _log(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log10(1.0 + np.abs(x))


def _window_sum(m: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Sum of months lo..hi-1; NaN when none of them has a record."""
    w = m[:, lo:hi]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s = np.nansum(w, axis=1)
    return np.where(np.isnan(w).all(axis=1), np.nan, s)


def _months_positive(m: np.ndarray, months: int = 12) -> np.ndarray:
    w = m[:, :months]
    return np.where(np.isnan(w).all(axis=1), np.nan, (w > 0).sum(axis=1).astype(float))


#: Growth from nothing to something: +1000 %, the top of any plausible growth rate (a ratio
#: to zero is undefined, but "unknown" would score it as missing data).
_FROM_NOTHING = 10.0


def _growth(now: np.ndarray, then: np.ndarray) -> np.ndarray:
    """now / then - 1, with 0 when both are 0 and ``_FROM_NOTHING`` when only ``then`` is;
    NaN only where either is unknown (or negative: no meaningful ratio)."""
    now, then = np.asarray(now, dtype=float), np.asarray(then, dtype=float)
    out = _div(now, then) - 1.0
    zero = (then == 0) & (now >= 0)
    out[zero] = np.where(now[zero] == 0, 0.0, _FROM_NOTHING)
    return out


def _yoy(m: np.ndarray, span: int) -> np.ndarray:
    return _growth(_window_sum(m, 0, span), _window_sum(m, 12, 12 + span))


def _relative_slope(m: np.ndarray, months: int = 12, min_points: int = 4) -> np.ndarray:
    """Least-squares slope per month divided by the mean level, over the last ``months``."""
    y = m[:, :months]
    ok = ~np.isnan(y)
    t = -np.arange(months, dtype=float)[None, :] * ok
    yv = np.where(ok, y, 0.0)
    n = ok.sum(axis=1).astype(float)
    st, sy = t.sum(axis=1), yv.sum(axis=1)
    stt, sty = (t * t).sum(axis=1), (t * yv).sum(axis=1)
    den = n * stt - st * st
    slope = np.where(den > 0, (n * sty - st * sy) / np.where(den > 0, den, 1.0), np.nan)
    mean = _div(sy, n)
    out = _div(slope, np.abs(mean))
    out[(mean == 0) & (n >= min_points)] = 0.0
    out[n < min_points] = np.nan
    return out


def _decline_streak(m: np.ndarray, months: int = 12) -> np.ndarray:
    v = m[:, : months + 1]
    falling = v[:, :-1] < v[:, 1:]  # NaN compares False: a gap ends the streak
    streak = np.cumprod(falling, axis=1).sum(axis=1).astype(float)
    return np.where(np.isnan(v[:, 0]), np.nan, streak)


def _correlation(a: np.ndarray, b: np.ndarray, months: int = 12, min_points: int = 6) -> np.ndarray:
    x, y = a[:, :months], b[:, :months]
    ok = ~(np.isnan(x) | np.isnan(y))
    n = ok.sum(axis=1).astype(float)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    mx, my = _div(x.sum(axis=1), n), _div(y.sum(axis=1), n)
    dx, dy = (x - mx[:, None]) * ok, (y - my[:, None]) * ok
    cov = (dx * dy).sum(axis=1)
    var = (dx * dx).sum(axis=1) * (dy * dy).sum(axis=1)
    out = _div(cov, np.sqrt(var))
    out[var == 0] = 0.0  # a flat series (e.g. no VAT all year) moves with nothing: no link
    out[n < min_points] = np.nan
    return out


def _attrs(a: object) -> dict[str, object]:
    """Statement items from a dict or its JSON text (databases may return JSON as str)."""
    if isinstance(a, dict):
        return a
    if isinstance(a, str | bytes) and a:
        try:
            v = json.loads(a)
        except ValueError:
            return {}
        return v if isinstance(v, dict) else {}
    return {}


_ITEMS = ["year", "revenue", "cost_of_sales", "net_profit", "total_assets", "total_liabilities",
          "current_assets", "current_liabilities", "inventory", "receivables", "equity",
          "operating_cash_flow", "interest_expense"]
_PREVIOUS_ITEMS = ("revenue", "net_profit", "total_assets")  # what growth rates read


def _items(attrs: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(statements x names) floats from statement dicts; NaN where an item is missing or not
    a number."""
    try:  # the common case: every item present, numbers or None
        raw = list(map(operator.itemgetter(*names), attrs))
        return np.array(raw, dtype=float).reshape(len(attrs), len(names))
    except (KeyError, TypeError, ValueError, OverflowError):
        pass
    out = np.empty((len(attrs), len(names)))
    for j, name in enumerate(names):
        raw = pd.Series(list(map(dict.get, attrs, itertools.repeat(name))), dtype=object)
        out[:, j] = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out


def _statements(f: KnownRecords) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Latest and previous annual statement per firm (filed within 3 years), plus loss years.

    Statements rank per firm by fiscal year (a missing year ranks last), then filing date,
    then record order; of several for the same year the last ranked one counts. Of the
    previous statement only ``_PREVIOUS_ITEMS`` are read.
    """
    g = f.kind("financial_statement").since(36)
    latest, prev = np.full((f.n, len(_ITEMS)), np.nan), np.full((f.n, len(_ITEMS)), np.nan)
    if not len(g):
        return (pd.DataFrame(latest, columns=_ITEMS), pd.DataFrame(prev, columns=_ITEMS),
                np.full(f.n, np.nan))
    attrs = np.empty(len(g), dtype=object)
    attrs[:] = [a if type(a) is dict else _attrs(a) for a in g.objects("attrs")]
    year = _items(attrs, ("year",))[:, 0]
    order = np.lexsort((g.event, np.where(np.isnan(year), np.inf, year), g.pos))
    pos, yr = g.pos[order], year[order]
    same_year = (pos[1:] == pos[:-1]) & ((yr[1:] == yr[:-1]) | (np.isnan(yr[1:])
                                                                & np.isnan(yr[:-1])))
    kept = order[np.r_[~same_year, True]]  # the last of each (firm, year)
    pos = g.pos[kept]
    # rank 0 = latest: count down from each firm's last kept statement
    group_end = np.flatnonzero(np.r_[pos[1:] != pos[:-1], True])
    group_id = np.repeat(np.arange(len(group_end)), np.diff(np.r_[-1, group_end]))
    rank = group_end[group_id] - np.arange(len(kept))
    cur, pre, last3 = kept[rank == 0], kept[rank == 1], kept[rank < 3]
    latest[g.pos[cur]] = _items(attrs[cur], tuple(_ITEMS))
    prev[np.ix_(g.pos[pre], [_ITEMS.index(name) for name in _PREVIOUS_ITEMS])] = _items(
        attrs[pre], _PREVIOUS_ITEMS)
    losses = np.bincount(g.pos[last3], weights=_items(attrs[last3], ("net_profit",))[:, 0] < 0,
                         minlength=f.n)
    losses = np.where(f.count(g) > 0, losses, np.nan)
    return pd.DataFrame(latest, columns=_ITEMS), pd.DataFrame(prev, columns=_ITEMS), losses


def compute_features(records: pd.DataFrame, as_of: date | str | pd.Timestamp,
                     firms: pd.DataFrame | pd.Index | None = None,
                     cells: pd.DataFrame | None = None, known: KnownRecords | None = None) -> pd.DataFrame:
    """The 66 indicators of every firm as of ``as_of``: a frame indexed by uscc, one column
    per indicator code (catalogue order), NaN where the data is missing.

    ``firms`` fixes the universe and order of rows (a FIRM_COLUMNS frame also supplies
    registered capital and founding date); by default every uscc seen in ``records``.
    ``cells`` (the feature store's, shared meters split: :func:`scoring.feature_store.split_cells`)
    supply the monthly kinds instead of their rows in ``records``; ``firms`` is then required.
    ``known``: ``KnownRecords(records, as_of, universe, cells=cells)`` built already (the caller
    reads it again, as :func:`scoring.pipeline.score_region` does for the authenticity checks).
    """
    as_of = _ts(as_of)
    f = known if known is not None else KnownRecords(
        records, as_of, None if firms is None else _universe(records, firms), cells=cells)
    index = f.index
    n = f.n
    out: dict[str, np.ndarray] = {}
    yuan = _FEN_PER_YUAN

    # Firm registry attributes.
    if isinstance(firms, pd.DataFrame):
        cap = pd.to_numeric(firms.get("registered_capital_fen"), errors="coerce")
        out["registered_capital"] = _log(np.asarray(cap, dtype=float) / yuan)
        founded = pd.to_datetime(firms.get("founded_on"))
        # the array's days, not ``Series.dt``: the accessor is cached on the series and refers
        # back to it, a cycle only the cyclic collector frees
        age = np.asarray((as_of - founded).array.days, dtype=float) / 365.25
        out["firm_age"] = np.where(age >= 0, age, np.nan)
    else:
        out["registered_capital"] = np.full(n, np.nan)
        out["firm_age"] = np.full(n, np.nan)

    # Monthly matrices.
    vat = f.monthly("tax_monthly", "amount_fen", "vat")
    income_tax = f.monthly("tax_monthly", "amount_fen", "income")
    tax_arrears = f.monthly("tax_monthly", "arrears_fen")
    headcount = f.monthly("social_insurance", "quantity", "pension")
    social_arrears = f.monthly("social_insurance", "arrears_fen")
    kwh = f.monthly("utility", "quantity", "electricity")
    utility_arrears = f.monthly("utility", "arrears_fen")
    exports = f.monthly("customs_export", "amount_fen")
    loan = f.monthly("bank_loan", "amount_fen")
    loan_interest = f.monthly("bank_loan", "arrears_fen")
    loan_days = f.monthly("bank_loan", "days", how="max")

    def latest(m: np.ndarray, within: int = 3) -> np.ndarray:
        """Value of the most recent month with a record among the last ``within`` months."""
        w = m[:, :within]
        has = ~np.isnan(w)
        first = has.argmax(axis=1)
        v = w[np.arange(n), first]
        return np.where(has.any(axis=1), v, np.nan)

    st, prev, losses = _statements(f)
    revenue = st["revenue"].to_numpy()
    assets = st["total_assets"].to_numpy()
    equity = st["equity"].to_numpy()
    liabilities = st["total_liabilities"].to_numpy()
    net_profit = st["net_profit"].to_numpy()
    interest = st["interest_expense"].to_numpy()
    hc_now = latest(headcount)

    # Capital strength.
    estate = f.kind("real_estate").active()
    estate_value = f.total(estate, "amount_fen") / yuan
    out["real_estate_value"] = _log(estate_value)
    out["total_assets"] = _log(assets / yuan)
    out["equity"] = _log(equity / yuan)
    out["equity_ratio"] = _div(equity, assets)
    out["insured_headcount"] = hc_now
    secured = f.kind("seizure_mortgage").active()
    mortgaged = f.total(secured.of("mortgage"), "amount_fen") / yuan
    # No active mortgage is a ratio of 0, with or without property; a mortgage on property
    # the registry does not show is unknown (NaN).
    out["mortgage_ratio"] = np.where(mortgaged == 0, 0.0, _div(mortgaged, estate_value))
    out["seizures_active"] = f.count(secured.of("seizure"))

    # Operating capability.
    out["electricity_12m"] = _log(_window_sum(kwh, 0, 12))
    out["electricity_yoy"] = _yoy(kwh, 3)
    out["electricity_trend_12m"] = _relative_slope(kwh)
    out["electricity_active_months"] = _months_positive(kwh)
    out["asset_turnover"] = _div(revenue, assets)
    out["receivable_turnover"] = _div(revenue, st["receivables"].to_numpy())
    out["inventory_turnover"] = _div(st["cost_of_sales"].to_numpy(), st["inventory"].to_numpy())
    out["revenue_per_employee"] = _log(_div(revenue / yuan, hc_now))
    out["tax_electricity_consistency"] = _correlation(vat, kwh)
    exports_12m = _window_sum(exports, 0, 12)
    out["exports_12m"] = np.where(f.any_rows("customs_export"), _log(exports_12m / yuan), 0.0)
    out["social_arrears_months_12m"] = _months_positive(social_arrears)
    out["utility_arrears_months_12m"] = _months_positive(utility_arrears)

    # Profitability.
    vat_12m = _window_sum(vat, 0, 12)
    income_12m = _window_sum(income_tax, 0, 12)
    out["net_margin"] = _div(net_profit, revenue)
    out["gross_margin"] = _div(revenue - st["cost_of_sales"].to_numpy(), revenue)
    out["roa"] = _div(net_profit, assets)
    out["roe"] = _div(net_profit, equity)
    out["cash_flow_margin"] = _div(st["operating_cash_flow"].to_numpy(), revenue)
    out["vat_12m"] = _log(vat_12m / yuan)
    out["income_tax_12m"] = _log(income_12m / yuan)
    tax_12m = np.where(np.isnan(vat_12m) & np.isnan(income_12m), np.nan,
                       np.nansum(np.c_[vat_12m, income_12m], axis=1))
    out["tax_burden"] = _div(tax_12m, revenue)  # unknown (not 0) without a tax feed
    out["loss_years"] = losses

    # Solvency.
    out["debt_ratio"] = _div(liabilities, assets)
    out["current_ratio"] = _div(st["current_assets"].to_numpy(),
                                st["current_liabilities"].to_numpy())
    out["quick_ratio"] = _div(st["current_assets"].to_numpy() - st["inventory"].to_numpy(),
                              st["current_liabilities"].to_numpy())
    cover = _div(net_profit + interest, interest)
    out["interest_cover"] = np.where((interest == 0) & ~np.isnan(net_profit), 50.0, cover)
    out["ocf_to_liabilities"] = _div(st["operating_cash_flow"].to_numpy(), liabilities)
    # Banks report every loan a firm has each month: a month without a record is a month
    # without a loan, so nothing is owed or overdue then (0, not unknown).
    loan_now = np.nan_to_num(latest(loan))
    out["loan_to_assets"] = np.where(loan_now == 0, 0.0, _div(loan_now, assets))
    loan_then = np.nan_to_num(loan[:, 12])
    out["loan_growth_12m"] = _growth(loan_now, loan_then)
    out["overdue_days"] = np.nan_to_num(latest(loan_days))
    days12 = loan_days[:, :12]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["max_overdue_days_12m"] = np.nanmax(np.where(np.isnan(days12), 0.0, days12), axis=1)
    out["overdue_months_12m"] = np.nan_to_num(_months_positive(loan_days))
    out["interest_arrears"] = _log(np.nan_to_num(latest(loan_interest)) / yuan)

    # Development potential.
    out["vat_trend_12m"] = _relative_slope(vat)
    out["vat_decline_streak"] = _decline_streak(vat)
    out["vat_yoy"] = _yoy(vat, 3)
    out["revenue_growth"] = _growth(revenue, prev["revenue"].to_numpy())
    prev_profit = prev["net_profit"].to_numpy()
    out["profit_growth"] = _div(net_profit - prev_profit, np.abs(prev_profit))
    out["asset_growth"] = _growth(assets, prev["total_assets"].to_numpy())
    out["headcount_change_12m"] = _growth(hc_now, headcount[:, 12])
    # Customs report every export: a firm that exported in neither year did not change its
    # exports (0, not unknown).
    out["export_growth"] = _growth(np.nan_to_num(exports_12m),
                                   np.nan_to_num(_window_sum(exports, 12, 24)))
    # ...except when customs falls silent while tax and power go on: the firm most likely
    # exports through an agent, which customs does not attribute to it. Its export figures
    # are then unknown (NaN, never a reward), not a collapse (scoring.authenticity).
    from .authenticity import agent_reading  # authenticity reads the risk package's context

    via_agent, _ = agent_reading(exports, vat, kwh)
    out["exports_12m"] = np.where(via_agent, np.nan, out["exports_12m"])
    out["export_growth"] = np.where(via_agent, np.nan, out["export_growth"])
    honours = f.kind("patent_honour").active()
    for code, cats in (("invention_patents", ["invention"]),
                       ("other_patents", ["utility_model", "design"]),
                       ("honours", ["honour"])):
        out[code] = f.count(honours.of(*cats))
    out["high_tech"] = (f.count(honours.of("high_tech")) > 0).astype(float)

    # Integrity and compliance.
    out["tax_arrears"] = _log(latest(tax_arrears) / yuan)
    out["tax_arrears_months_12m"] = _months_positive(tax_arrears)
    penalties = f.kind("penalty").since(24)
    out["penalties_24m"] = f.count(penalties)
    out["major_penalties_24m"] = f.count(penalties.of("major"))
    sued = f.kind("court_case").of("defendant")
    out["defendant_cases_24m"] = f.count(sued.since(24))
    out["open_defendant_amount"] = _log(f.total(sued.active(), "amount_fen") / yuan)
    dishonest = f.kind("dishonest_debtor")
    out["dishonest_active"] = (f.count(dishonest.active()) > 0).astype(float)
    out["dishonest_listings_36m"] = f.count(dishonest.since(36))
    lists = f.kind("credit_list").active()
    out["black_list"] = (f.count(lists.of("black")) > 0).astype(float)
    out["red_list"] = (f.count(lists.of("red")) > 0).astype(float)
    # the latest score wins
    out["legal_rep_credit"] = f.latest(f.kind("personal_credit"), "quantity")
    changes = f.kind("registry_change").since(24)
    out["legal_rep_changes_24m"] = f.count(changes.of("legal_rep"))
    out["registry_changes_24m"] = f.count(changes.excluding("legal_rep"))

    # One float block, column by column (Fortran order: no copy into the frame).
    values = np.empty((n, len(INDICATORS)), dtype=float, order="F")
    for j, code in enumerate(INDICATORS):
        values[:, j] = out[code]
    values[np.isinf(values)] = np.nan
    return pd.DataFrame(values, index=index, columns=list(INDICATORS), copy=False)


def first_default_dates(records: pd.DataFrame, min_days: int = 90) -> pd.Series:
    """Date of each firm's first month-end bank_loan record with ``days >= min_days``."""
    loans = records[(records["kind"] == "bank_loan")]
    days = pd.to_numeric(loans["days"], errors="coerce")
    bad = loans[days >= min_days]
    return bad.groupby("uscc")["event_date"].min()


def credit_exposed(records: pd.DataFrame, as_of: date | str | pd.Timestamp,
                   horizon_months: int = 12, firms: pd.DataFrame | pd.Index | None = None
                   ) -> pd.Series:
    """Whether each firm owes a bank at some month end of (as_of, as_of + horizon]: the firms
    whose default within the horizon can be observed (borrowers still borrowing, and applicants
    whose first loan was granted). A firm without a loan in the window cannot default on one, so
    its "good" label says nothing about its credit: it is not a development row."""
    as_of = _ts(as_of)
    index = _universe(records, firms)
    end = as_of + pd.DateOffset(months=horizon_months)
    loans = records[(records["kind"] == "bank_loan") & (records["event_date"] > as_of)
                    & (records["event_date"] <= end)]
    return pd.Series(index.isin(loans["uscc"].unique()), index=index, name="exposed")


def defaulted_by(records: pd.DataFrame, as_of: date | str | pd.Timestamp,
                 firms: pd.DataFrame | pd.Index | None = None) -> pd.Series:
    """Whether each firm had already defaulted (90+ days overdue) on or before ``as_of``."""
    as_of = _ts(as_of)
    index = _universe(records, firms)
    first = first_default_dates(records[(records["kind"] == "bank_loan") & (records["event_date"] <= as_of)])
    return pd.Series(index.isin(first.index), index=index, name="defaulted")


def default_labels(records: pd.DataFrame, as_of: date | str | pd.Timestamp,
                   horizon_months: int = 12, firms: pd.DataFrame | pd.Index | None = None,
                   exclude_defaulted: bool = True) -> pd.Series:
    """1 if the firm first defaults in (as_of, as_of + horizon], else 0, indexed by uscc.

    Firms that had defaulted on or before ``as_of`` are dropped when ``exclude_defaulted``
    (they are not applicants any more); otherwise they are labelled 1.
    """
    as_of = _ts(as_of)
    index = _universe(records, firms)
    horizon_end = as_of + pd.DateOffset(months=horizon_months)
    # bank_loan rows only (all first_default_dates reads): a copy of every record was gigabytes
    first = first_default_dates(records[(records["kind"] == "bank_loan")
                                        & (records["event_date"] <= horizon_end)]).reindex(index)
    prior = (first <= as_of).to_numpy()
    y = ((first > as_of) & (first <= horizon_end)).astype(int)
    if exclude_defaulted:
        return y[~prior].rename("default")
    y[prior] = 1
    return y.rename("default")
