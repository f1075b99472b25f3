"""The checks behind the warning rules: each reads a :class:`~.context.Context` and a rule's
params and answers for every firm of the universe at once, with numpy arrays.

Families of alike rules (arrears, year-on-year falls, listings, recent events, statement
tests, guarantee contagion) share one check builder; the catalogue in :mod:`.rules` says
which check each rule uses and with which thresholds. A check returns :class:`~.context.Hits`:
the firing firms, their figures (whose names end in ``_fen``, ``days``, ``_count``,
``months`` or ``year`` when they are whole numbers), record references and start dates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._known import Rows
from .context import MONTHS, Context, Hits, join_refs

Check = Callable[[Context, Mapping[str, Any]], Hits]
Test = tuple[np.ndarray, dict[str, np.ndarray]]  # a statement test: mask and figures

_DAY = np.timedelta64(1, "D")
_NS_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min
_STATEMENT = "financial_statement"


# ---------------------------------------------------------------------------------------------
# array helpers


def _latest(has: np.ndarray, within: int) -> np.ndarray:
    """Lag of the most recent month with a record among the last ``within`` (-1: none)."""
    w = has[:, :within]
    return np.where(w.any(axis=1), w.argmax(axis=1), -1)


def _shift(lag: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """``lag + months`` where that is still inside the grid, else -1 (no month)."""
    out = lag + months
    return np.where((lag >= 0) & (out < MONTHS), out, -1)


def _take(grid: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """(firms x length) values at lags start..start+length-1 per firm; NaN outside."""
    idx = start[:, None] + np.arange(length)[None, :]
    ok = (start[:, None] >= 0) & (idx < grid.shape[1])
    vals = np.take_along_axis(grid, np.clip(idx, 0, grid.shape[1] - 1), axis=1)
    return np.where(ok, vals, np.nan)


def _window(grid: np.ndarray, start: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the months with a value at lags start..start+length-1."""
    w = _take(grid, start, length)
    return np.nansum(w, axis=1), (~np.isnan(w)).sum(axis=1)


def _streak(cond: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Consecutive months, from lag ``start`` back in time, in which ``cond`` holds."""
    w = _take(cond.astype(float), start, cond.shape[1])
    return np.cumprod(w == 1.0, axis=1).sum(axis=1)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _per_firm_best(ctx: Context, pos: np.ndarray, value: np.ndarray,
                   tie: np.ndarray | None = None) -> np.ndarray:
    """For each firm, the place (into ``pos``) of its largest ``value`` (ties: largest
    ``tie``, then the later place); -1 for firms with none."""
    out = np.full(ctx.n, -1, np.int64)
    if len(pos):
        value = np.where(np.isnan(value), -np.inf, value)
        keys = (np.arange(len(pos)),) + (() if tie is None else (tie,)) + (value, pos)
        order = np.lexsort(keys)
        last = np.r_[pos[order][1:] != pos[order][:-1], True]
        out[pos[order][last]] = order[last]
    return out


def _pick(values: np.ndarray, place: np.ndarray, fill: Any) -> np.ndarray:
    """``values[place]`` per firm, ``fill`` where the place is -1."""
    has = place >= 0
    if not len(values):
        return np.full(len(place), fill)
    return np.where(has, values[np.where(has, place, 0)], fill)


def _dates(ns: np.ndarray) -> np.ndarray:
    return ns.view("datetime64[ns]")


def _since_days(ctx: Context, days: float) -> int:
    return ctx.as_of_ns - int(days * _NS_DAY)


def _ended_between(ctx: Context, rows: Rows, days: float) -> Rows:
    """Rows whose end date falls within the last ``days`` days up to as_of."""
    end = ctx.ends(rows)
    return rows.where((end != _NAT) & (end <= ctx.as_of_ns) & (end > _since_days(ctx, days)))


# ---------------------------------------------------------------------------------------------
# check builders for families of alike rules


def monthly_arrears(kind: str) -> Check:
    """Money overdue in the latest month with a record of ``kind`` (since: the first month
    of the current run of months in arrears)."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        has = ctx.has_month(kind)
        lag = _latest(has, p["within_months"])
        grid = np.nan_to_num(ctx.monthly(kind, "arrears_fen"))
        arrears = ctx.at(grid, lag)
        mask = arrears > p["min_arrears_fen"]
        run = _streak(has & (grid > p["min_arrears_fen"]), lag)
        rows = ctx.rows(kind)
        owed = rows.where(rows.values("arrears_fen") > 0)
        return ctx.hits(mask, {"arrears_fen": arrears, "month": ctx.month_end(lag)},
                        refs=lambda pos: ctx.refs(kind, owed, pos, lag=lag[pos]),
                        since=ctx.month_end(lag + np.maximum(run, 1) - 1))
    return check


def arrears_run(kind: str) -> Check:
    """Money overdue in each of the ``months`` latest months with records."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        has = ctx.has_month(kind)
        lag = _latest(has, p["within_months"])
        grid = np.nan_to_num(ctx.monthly(kind, "arrears_fen"))
        run = _streak(has & (grid > 0), lag)
        mask = run >= p["months"]
        total, _ = _window(np.where(has, grid, np.nan), lag, p["months"])
        start = ctx.month_end(lag + np.maximum(run, 1) - 1)
        rows = ctx.rows(kind)
        owed = rows.where(rows.values("arrears_fen") > 0)
        return ctx.hits(mask, {"run_months": run, "arrears_fen": ctx.at(grid, lag),
                               "month": ctx.month_end(lag), "first_month": start,
                               "total_arrears_fen": total},
                        refs=lambda pos: ctx.refs(kind, owed, pos, limit=p["months"]),
                        since=start)
    return check


def months_with_arrears(kind: str) -> Check:
    """Months of the last ``window_months`` with money overdue."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        w = p["window_months"]
        grid = ctx.monthly(kind, "arrears_fen")[:, :w]
        months = (np.nan_to_num(grid) > 0).sum(axis=1)
        mask = months >= p["min_months"]
        rows = ctx.rows(kind)
        owed = rows.where(rows.values("arrears_fen") > 0)
        owed = owed.where(ctx.month_of(owed.event) > ctx.ref_month - w)
        return ctx.hits(mask, {"arrears_months": months, "window_months": np.full(ctx.n, w)},
                        refs=lambda pos: ctx.refs(kind, owed, pos),
                        since=ctx.first_event(owed))
    return check


def _yoy(ctx: Context, kind: str, column: str, category: str | None, align: str,
         length: int) -> tuple[np.ndarray, ...]:
    """Sum over ``length`` months now and the same calendar months a year earlier, whether
    both windows are complete, and the lag the window starts at."""
    grid = ctx.monthly(kind, column, category)
    if align == "latest":  # the latest month with a record, so a late feed is no fall
        lag = _latest(ctx.has_month(kind, category), 3)
        now, n_now = _window(grid, lag, length)
        before, n_before = _window(grid, lag + 12, length)
        complete = (n_now == length) & (n_before == length)
    else:  # calendar months; a month without a record counts as none (exports)
        lag = np.zeros(ctx.n, np.int64)
        grid = np.nan_to_num(grid)
        now, _ = _window(grid, lag, length)
        before, _ = _window(grid, lag + 12, length)
        complete = ctx.has_month(kind, category).any(axis=1)
    return now, before, complete, lag


def yoy_drop(kind: str, column: str, category: str | None, align: str = "latest") -> Check:
    """A fall of more than ``drop`` over the same calendar months a year earlier: comparing
    like months, the seasonal pattern cancels out."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        m = p["months"]
        now, before, complete, lag = _yoy(ctx, kind, column, category, align, m)
        change = _div(now, before) - 1.0
        mask = complete & (before >= p["min_base"]) & (change < -p["drop"])
        rows = ctx.rows(kind) if category is None else ctx.rows(kind).of(category)
        return ctx.hits(mask, {"now": now, "year_before": before, "change": change,
                               "fall": -change, "month": ctx.month_end(lag)},
                        refs=lambda pos: join_refs(
                            ctx.refs(kind, rows, pos, lag=lag[pos], limit=1),
                            ctx.refs(kind, rows, pos, lag=lag[pos] + 12, limit=1)))
    return check


def feed_stopped(kind: str) -> Check:
    """No record in the last ``gap_months`` after records in most of the year before."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        gap = p["gap_months"]
        has = ctx.has_month(kind)
        before = has[:, gap:gap + 12].sum(axis=1)
        mask = ~has[:, :gap].any(axis=1) & (before >= p["min_months_before"])
        last = ctx.last_event(ctx.rows(kind))
        return ctx.hits(mask, {"prior_months": before, "last_record": last},
                        refs=lambda pos: ctx.refs(kind, ctx.rows(kind), pos, limit=1),
                        since=last)
    return check


def listed(kind: str, *categories: str) -> Check:
    """An active record of ``kind`` (a listing, a seizure): while it lasts."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        rows = ctx.rows(kind)
        if categories:
            rows = rows.of(*categories)
        rows = rows.active()
        count = ctx.count(rows)
        return ctx.hits(count >= p["min_count"],
                        {"active_count": count, "amount_fen": ctx.total(rows, "amount_fen"),
                         "latest": ctx.last_event(rows), "first": ctx.first_event(rows)},
                        refs=lambda pos: ctx.refs(kind, rows, pos),
                        since=ctx.first_event(rows))
    return check


def recent(kind: str, *categories: str) -> Check:
    """At least ``min_count`` records of ``kind`` dated in the last ``days`` days."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        rows = ctx.rows(kind)
        if categories:
            rows = rows.of(*categories)
        rows = ctx.within_days(rows, p["days"])
        count = ctx.count(rows)
        return ctx.hits(count >= p["min_count"],
                        {"event_count": count, "latest": ctx.last_event(rows),
                         "first": ctx.first_event(rows),
                         "amount_fen": ctx.total(rows, "amount_fen")},
                        refs=lambda pos: ctx.refs(kind, rows, pos),
                        since=ctx.first_event(rows))
    return check


def ended_recently(kind: str, *categories: str, none_left: bool = False) -> Check:
    """A record of ``kind`` that ended in the last ``days`` days (and, with ``none_left``,
    no active one remains)."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        rows = ctx.rows(kind)
        if categories:
            rows = rows.of(*categories)
        ended = _ended_between(ctx, rows, p["days"])
        count = ctx.count(ended)
        mask = count > 0
        if none_left:
            mask &= ctx.count(rows.active()) == 0
        end = np.full(ctx.n, _NAT)
        np.maximum.at(end, ended.pos, ctx.ends(ended))
        return ctx.hits(mask, {"ended_count": count, "ended_on": _dates(end),
                               "amount_fen": ctx.total(ended, "amount_fen")},
                        refs=lambda pos: ctx.refs(kind, ended, pos), since=_dates(end))
    return check


def statement(test: Callable[[Context, Mapping[str, Any]], Test],
              with_prev: bool = False) -> Check:
    """A test on the latest annual statement (and the previous one)."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        st = ctx.statements()
        mask, figures = test(ctx, p)
        figures = {"statement_year": st.latest["year"], **figures}

        def refs(pos: np.ndarray) -> list[list[dict[str, Any]]]:
            out = ctx.row_refs(_STATEMENT, st.latest_row[pos])
            if with_prev:
                out = join_refs(out, ctx.row_refs(_STATEMENT, st.prev_row[pos]))
            return out
        return ctx.hits(mask, figures, refs=refs, since=st.filed)
    return check


# ---------------------------------------------------------------------------------------------
# bank credit


def _loan_month(ctx: Context, within: int) -> tuple[np.ndarray, ...]:
    lag = _latest(ctx.has_month("bank_loan"), within)
    days = ctx.at(ctx.monthly("bank_loan", "days", how="max"), lag)
    interest = ctx.at(np.nan_to_num(ctx.monthly("bank_loan", "arrears_fen")), lag)
    balance = ctx.at(ctx.monthly("bank_loan", "amount_fen"), lag)
    return lag, days, interest, balance


def _loan_hits(ctx: Context, mask: np.ndarray, lag: np.ndarray, days: np.ndarray,
               interest: np.ndarray, balance: np.ndarray) -> Hits:
    month = ctx.month_end(lag)
    since = month - np.nan_to_num(days).astype(np.int64) * _DAY
    return ctx.hits(mask, {"overdue_days": days, "interest_fen": interest,
                           "balance_fen": balance, "month": month},
                    refs=lambda pos: ctx.refs("bank_loan", ctx.rows("bank_loan"), pos,
                                              lag=lag[pos]),
                    since=since)


def interest_overdue(ctx: Context, p: Mapping[str, Any]) -> Hits:
    lag, days, interest, balance = _loan_month(ctx, p["within_months"])
    mask = (days > p["days"]) & (interest > 0)
    return _loan_hits(ctx, mask, lag, days, interest, balance)


def loan_default(ctx: Context, p: Mapping[str, Any]) -> Hits:
    lag, days, interest, balance = _loan_month(ctx, p["within_months"])
    return _loan_hits(ctx, days >= p["days"], lag, days, interest, balance)


def loan_overdue(ctx: Context, p: Mapping[str, Any]) -> Hits:
    lag, days, interest, balance = _loan_month(ctx, p["within_months"])
    red = (days >= p["red_days"]) | ((days > p["interest_days"]) & (interest > 0))
    mask = (days >= p["min_days"]) & ~red
    return _loan_hits(ctx, mask, lag, days, interest, balance)


def overdue_repeated(ctx: Context, p: Mapping[str, Any]) -> Hits:
    w = p["window_months"]
    days = ctx.monthly("bank_loan", "days", how="max")[:, :w]
    months = (np.nan_to_num(days) > 0).sum(axis=1)
    worst = np.nanmax(np.where(np.isnan(days), 0, days), axis=1)
    rows = ctx.rows("bank_loan")
    late = rows.where(rows.values("days") > 0)
    late = late.where(ctx.month_of(late.event) > ctx.ref_month - w)
    return ctx.hits(months >= p["min_months"],
                    {"overdue_months": months, "max_overdue_days": worst,
                     "window_months": np.full(ctx.n, w)},
                    refs=lambda pos: ctx.refs("bank_loan", late, pos),
                    since=ctx.first_event(late))


def loan_surge(ctx: Context, p: Mapping[str, Any]) -> Hits:
    lag = _latest(ctx.has_month("bank_loan"), p["within_months"])
    grid = ctx.monthly("bank_loan", "amount_fen")
    span = p["span_months"]
    now = ctx.at(grid, lag)
    then = ctx.at(grid, _shift(lag, span))
    growth = _div(now, then) - 1.0
    mask = (then >= p["min_base_fen"]) & (growth > p["growth"])
    rows = ctx.rows("bank_loan")
    return ctx.hits(mask, {"balance_fen": now, "prior_balance_fen": then, "growth": growth,
                           "month": ctx.month_end(lag), "span_months": np.full(ctx.n, span)},
                    refs=lambda pos: join_refs(
                        ctx.refs("bank_loan", rows, pos, lag=lag[pos]),
                        ctx.refs("bank_loan", rows, pos, lag=lag[pos] + span)))


def loan_to_assets(ctx: Context, p: Mapping[str, Any]) -> Hits:
    lag, _days, _interest, balance = _loan_month(ctx, p["within_months"])
    st = ctx.statements()
    assets = st.latest["total_assets"]
    ratio = _div(balance, assets)
    return ctx.hits(ratio > p["ratio"],
                    {"balance_fen": balance, "total_assets_fen": assets, "ratio": ratio,
                     "statement_year": st.latest["year"], "month": ctx.month_end(lag)},
                    refs=lambda pos: join_refs(
                        ctx.refs("bank_loan", ctx.rows("bank_loan"), pos, lag=lag[pos]),
                        ctx.row_refs(_STATEMENT, st.latest_row[pos])))


# ---------------------------------------------------------------------------------------------
# tax


def vat_zero(ctx: Context, p: Mapping[str, Any]) -> Hits:
    w = p["window_months"]
    vat = ctx.monthly("tax_monthly", "amount_fen", "vat")
    recent = vat[:, :w]
    zero = (recent == 0).sum(axis=1)
    paid_before = np.nansum(vat[:, w:w + 12], axis=1)
    mask = (zero >= p["min_zero_months"]) & (paid_before > 0)
    rows = ctx.rows("tax_monthly").of("vat")
    zeros = rows.where(rows.values("amount_fen") == 0)
    zeros = zeros.where(ctx.month_of(zeros.event) > ctx.ref_month - w)
    return ctx.hits(mask, {"zero_months": zero, "window_months": np.full(ctx.n, w),
                           "vat_year_before_fen": paid_before},
                    refs=lambda pos: ctx.refs("tax_monthly", zeros, pos, limit=w),
                    since=ctx.first_event(zeros))


def vat_decline(ctx: Context, p: Mapping[str, Any]) -> Hits:
    vat = ctx.monthly("tax_monthly", "amount_fen", "vat")
    lag = _latest(ctx.has_month("tax_monthly", "vat"), 3)
    w = _take(vat, lag, MONTHS)
    falling = w[:, :-1] < w[:, 1:]
    streak = np.cumprod(falling, axis=1).sum(axis=1)
    start = _shift(lag, streak)
    mask = streak >= p["months"]
    rows = ctx.rows("tax_monthly").of("vat")
    return ctx.hits(mask, {"falling_months": streak, "vat_fen": ctx.at(vat, lag),
                           "vat_start_fen": ctx.at(vat, start), "month": ctx.month_end(lag)},
                    refs=lambda pos: join_refs(
                        ctx.refs("tax_monthly", rows, pos, lag=lag[pos], limit=1),
                        ctx.refs("tax_monthly", rows, pos, lag=start[pos], limit=1)),
                    since=ctx.month_end(start))


# ---------------------------------------------------------------------------------------------
# social insurance and utilities


def headcount_drop(ctx: Context, p: Mapping[str, Any]) -> Hits:
    hc = ctx.monthly("social_insurance", "quantity", "pension")
    lag = _latest(ctx.has_month("social_insurance", "pension"), p["within_months"])
    span = p["span_months"]
    before_lag = _shift(lag, span)
    now, before = ctx.at(hc, lag), ctx.at(hc, before_lag)
    fall = 1.0 - _div(now, before)
    mask = (before >= p["min_base"]) & (fall > p["drop"])
    rows = ctx.rows("social_insurance").of("pension")
    return ctx.hits(mask, {"headcount": now, "prior_headcount": before, "fall": fall,
                           "month": ctx.month_end(lag), "prior_month": ctx.month_end(before_lag),
                           "span_months": np.full(ctx.n, span)},
                    refs=lambda pos: join_refs(
                        ctx.refs("social_insurance", rows, pos, lag=lag[pos]),
                        ctx.refs("social_insurance", rows, pos, lag=before_lag[pos])))


def power_near_zero(ctx: Context, p: Mapping[str, Any]) -> Hits:
    kwh = ctx.monthly("utility", "quantity", "electricity")
    lag = _latest(ctx.has_month("utility", "electricity"), 3)
    m = p["months"]
    recent = _take(kwh, lag, m)
    base, n_base = _window(kwh, _shift(lag, m), 12)
    mean = _div(base, n_base)
    low = (recent <= p["share"] * mean[:, None]).all(axis=1) & ~np.isnan(recent).any(axis=1)
    mask = low & (n_base >= p["min_months_before"]) & (mean > 0)
    rows = ctx.rows("utility").of("electricity")
    return ctx.hits(mask, {"kwh": ctx.at(kwh, lag), "mean_kwh": mean,
                           "month": ctx.month_end(lag), "months": np.full(ctx.n, m)},
                    refs=lambda pos: ctx.refs("utility", rows, pos, limit=m),
                    since=ctx.month_end(lag + m - 1))


def operations_halted(ctx: Context, p: Mapping[str, Any]) -> Hits:
    gap = p["gap_months"]
    feeds = ("tax_monthly", "social_insurance", "utility")
    recent = np.zeros(ctx.n, dtype=bool)
    active_before = np.zeros(ctx.n, dtype=np.int64)
    last = np.full(ctx.n, _NAT)
    for kind in feeds:
        has = ctx.has_month(kind)
        recent |= has[:, :gap].any(axis=1)
        active_before += has[:, gap:gap + 12].sum(axis=1) >= p["min_months_before"]
        last = np.maximum(last, ctx.last_event(ctx.rows(kind)).view(np.int64))
    mask = ~recent & (active_before >= p["min_feeds"])
    return ctx.hits(mask, {"feeds_count": active_before, "last_record": _dates(last),
                           "gap_months": np.full(ctx.n, gap)},
                    refs=lambda pos: join_refs(*(ctx.refs(k, ctx.rows(k), pos, limit=1)
                                                 for k in feeds)),
                    since=_dates(last))


def tax_power_diverge(ctx: Context, p: Mapping[str, Any]) -> Hits:
    m = p["months"]
    vat_now, vat_before, vat_ok, lag = _yoy(ctx, "tax_monthly", "amount_fen", "vat", "latest", m)
    kwh_now, kwh_before, kwh_ok, _ = _yoy(ctx, "utility", "quantity", "electricity", "latest", m)
    vat_change = _div(vat_now, vat_before) - 1.0
    kwh_change = _div(kwh_now, kwh_before) - 1.0
    mask = (vat_ok & kwh_ok & (vat_before >= p["min_vat_fen"]) & (kwh_before >= p["min_kwh"])
            & (vat_change > p["vat_rise"]) & (kwh_change < -p["power_fall"]))
    return ctx.hits(mask, {"vat_change": vat_change, "power_change": kwh_change,
                           "power_fall": -kwh_change, "month": ctx.month_end(lag)},
                    refs=lambda pos: join_refs(
                        ctx.refs("tax_monthly", ctx.rows("tax_monthly").of("vat"), pos,
                                 lag=lag[pos], limit=1),
                        ctx.refs("utility", ctx.rows("utility").of("electricity"), pos,
                                 limit=1)))


def tax_under_declared(ctx: Context, p: Mapping[str, Any]) -> Hits:
    """VAT down on a year earlier while power and headcount hold (``scoring.authenticity``)."""
    from ..authenticity import under_declaration  # authenticity reads this package's context

    r = under_declaration(ctx, p)
    figs = r.figures
    since, latest = figs["since_lag"], figs["month_lag"]
    return ctx.hits(r.flagged, {
        "tax_change": figs["tax_change"], "power_change": figs["power_change"],
        "headcount_change": figs["headcount_change"], "gap": figs["gap"],
        "gap_months": figs["gap_months"], "plausibility": r.plausibility,
        "month": ctx.month_end(np.maximum(latest, 0)),
        "since_month": ctx.month_end(np.maximum(since, 0)),
    }, refs=lambda pos: join_refs(
        ctx.refs("tax_monthly", ctx.rows("tax_monthly").of("vat"), pos, lag=latest[pos], limit=1),
        ctx.refs("tax_monthly", ctx.rows("tax_monthly").of("vat"), pos, lag=latest[pos] + 12,
                 limit=1),
        ctx.refs("utility", ctx.rows("utility").of("electricity"), pos, lag=latest[pos], limit=1),
        ctx.refs("utility", ctx.rows("utility").of("electricity"), pos, lag=latest[pos] + 12,
                 limit=1)),
        since=ctx.month_end(np.maximum(since, 0)))


# ---------------------------------------------------------------------------------------------
# judicial


def _revenue(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    st = ctx.statements()
    return st.latest["revenue"], st.latest_row


def lawsuit_large(ctx: Context, p: Mapping[str, Any]) -> Hits:
    rows = ctx.within_days(ctx.rows("court_case").of("defendant").active(), p["days"])
    revenue, statement = _revenue(ctx)
    amount = rows.values("amount_fen")
    share = _div(amount, revenue[rows.pos])
    big = share > p["share"]
    big_rows = rows.where(big)
    best = _per_firm_best(ctx, big_rows.pos, share[big])
    return ctx.hits(best >= 0, {"amount_fen": _pick(amount[big], best, np.nan),
                                "revenue_fen": revenue, "share": _pick(share[big], best, np.nan),
                                "filed": _dates(_pick(big_rows.event, best, _NAT)),
                                "case_count": ctx.count(big_rows)},
                    refs=lambda pos: join_refs(ctx.refs("court_case", big_rows, pos),
                                               ctx.row_refs(_STATEMENT, statement[pos])),
                    since=ctx.first_event(big_rows))


def open_suits_heavy(ctx: Context, p: Mapping[str, Any]) -> Hits:
    rows = ctx.rows("court_case").of("defendant").active()
    revenue, statement = _revenue(ctx)
    total = ctx.total(rows, "amount_fen")
    share = _div(total, revenue)
    return ctx.hits(share > p["share"],
                    {"open_amount_fen": total, "revenue_fen": revenue, "share": share,
                     "case_count": ctx.count(rows)},
                    refs=lambda pos: join_refs(ctx.refs("court_case", rows, pos),
                                               ctx.row_refs(_STATEMENT, statement[pos])),
                    since=ctx.first_event(rows))


def court_enforcement(ctx: Context, p: Mapping[str, Any]) -> Hits:
    seized = ctx.rows("seizure_mortgage").of("seizure").active()
    cases = ctx.rows("court_case").of("defendant")
    s = pd.DataFrame({"pos": seized.pos, "s_event": seized.event, "at": np.arange(len(seized))})
    c = pd.DataFrame({"pos": cases.pos, "c_event": cases.event, "c_at": np.arange(len(cases))})
    pairs = s.merge(c, on="pos")
    gap = pairs["s_event"].to_numpy() - pairs["c_event"].to_numpy()
    pairs = pairs[(gap >= 0) & (gap <= int(p["days"] * _NS_DAY))]
    linked = seized.where(np.isin(np.arange(len(seized)), pairs["at"].to_numpy()))
    suits = cases.where(np.isin(np.arange(len(cases)), pairs["c_at"].to_numpy()))
    return ctx.hits(ctx.count(linked) > 0,
                    {"seizure_count": ctx.count(linked),
                     "seized_amount_fen": ctx.total(linked, "amount_fen"),
                     "seized_on": ctx.first_event(linked), "sued_on": ctx.first_event(suits)},
                    refs=lambda pos: join_refs(ctx.refs("seizure_mortgage", linked, pos),
                                               ctx.refs("court_case", suits, pos, limit=2)),
                    since=ctx.first_event(linked))


# ---------------------------------------------------------------------------------------------
# collateral and registry


def all_estate_mortgaged(ctx: Context, p: Mapping[str, Any]) -> Hits:
    estate = ctx.rows("real_estate").active()
    mortgages = ctx.rows("seizure_mortgage").of("mortgage").active()
    value = ctx.total(estate, "amount_fen")
    secured = ctx.total(mortgages, "amount_fen")
    ratio = _div(secured, value)
    return ctx.hits(ratio >= p["ratio"],
                    {"mortgaged_fen": secured, "estate_value_fen": value, "ratio": ratio,
                     "mortgage_count": ctx.count(mortgages)},
                    refs=lambda pos: join_refs(ctx.refs("seizure_mortgage", mortgages, pos),
                                               ctx.refs("real_estate", estate, pos)),
                    since=ctx.last_event(mortgages))


def capital_reduced(ctx: Context, p: Mapping[str, Any]) -> Hits:
    rows = ctx.within_days(ctx.rows("registry_change").of("capital"), p["days"])
    amount = rows.values("amount_fen")
    before, after = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for i, a in enumerate(rows.objects("attrs")):
        if isinstance(a, dict):
            before[i] = _num(a.get("capital_before_fen"))
            after[i] = _num(a.get("capital_after_fen"))
    cut = np.where(~np.isnan(after) & ~np.isnan(before), before - after, -amount)
    reduced = rows.where(cut > 0)
    cut_fen = np.zeros(ctx.n)
    np.add.at(cut_fen, rows.pos[cut > 0], cut[cut > 0])
    return ctx.hits(ctx.count(reduced) > 0,
                    {"reduction_fen": cut_fen, "changed_on": ctx.last_event(reduced)},
                    refs=lambda pos: ctx.refs("registry_change", reduced, pos),
                    since=ctx.first_event(reduced))


def _num(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return np.nan


def firm_status(ctx: Context, p: Mapping[str, Any]) -> Hits:
    status = ctx.firm_column("status")
    mask = np.isin(status.astype(object), list(p["statuses"]))
    return ctx.hits(mask, {"status": status})


# ---------------------------------------------------------------------------------------------
# people


def _latest_place(ctx: Context, rows: Rows) -> np.ndarray:
    """Place (into ``rows``) of each firm's latest row, -1 when none."""
    return _per_firm_best(ctx, rows.pos, rows.event.astype(float))


def rep_credit_low(ctx: Context, p: Mapping[str, Any]) -> Hits:
    rows = ctx.within_days(ctx.rows("personal_credit"), p["max_age_days"])
    place = _latest_place(ctx, rows)
    score = _pick(rows.values("quantity"), place, np.nan)
    dated = _pick(rows.event, place, _NAT)
    abs_rows = _pick(ctx.absolute(rows), place, -1)
    return ctx.hits(score < p["min_score"], {"credit_score": score, "scored_on": _dates(dated)},
                    refs=lambda pos: ctx.row_refs("personal_credit", abs_rows[pos]))


def rep_credit_drop(ctx: Context, p: Mapping[str, Any]) -> Hits:
    rows = ctx.within_days(ctx.rows("personal_credit"), p["max_age_days"])
    place = _latest_place(ctx, rows)
    q = rows.values("quantity")
    latest = _pick(q, place, np.nan)
    latest_ev = _pick(rows.event, place, _NAT)
    ev_of_firm = latest_ev[rows.pos]
    prior = (rows.event < ev_of_firm) & (rows.event >= ev_of_firm - p["window_days"] * _NS_DAY)
    best = np.full(ctx.n, np.nan)
    np.fmax.at(best, rows.pos[prior], q[prior])
    drop = best - latest
    earlier = rows.where(prior)
    peak = _per_firm_best(ctx, earlier.pos, earlier.values("quantity"))
    abs_latest = _pick(ctx.absolute(rows), place, -1)
    abs_peak = _pick(ctx.absolute(earlier), peak, -1)
    return ctx.hits(drop >= p["drop"],
                    {"credit_score": latest, "prior_best": best, "drop": drop,
                     "scored_on": _dates(latest_ev)},
                    refs=lambda pos: join_refs(ctx.row_refs("personal_credit", abs_latest[pos]),
                                               ctx.row_refs("personal_credit", abs_peak[pos])))


# ---------------------------------------------------------------------------------------------
# financial statements


def t_negative_equity(ctx: Context, p: Mapping[str, Any]) -> Test:
    eq = ctx.statements().latest["equity"]
    return eq < p["max_equity_fen"], {"equity_fen": eq}


def t_current_ratio(ctx: Context, p: Mapping[str, Any]) -> Test:
    st = ctx.statements().latest
    ratio = _div(st["current_assets"], st["current_liabilities"])
    return ratio < p["ratio"], {"current_ratio": ratio,
                                "current_assets_fen": st["current_assets"],
                                "current_liabilities_fen": st["current_liabilities"]}


def t_losses(ctx: Context, p: Mapping[str, Any]) -> Test:
    st = ctx.statements()
    now, before = st.latest["net_profit"], st.prev["net_profit"]
    consecutive = st.prev["year"] == st.latest["year"] - 1
    return (now < 0) & (before < 0) & consecutive, {"net_profit_fen": now,
                                                    "prior_net_profit_fen": before}


def t_debt_ratio(ctx: Context, p: Mapping[str, Any]) -> Test:
    st = ctx.statements().latest
    ratio = _div(st["total_liabilities"], st["total_assets"])
    return ratio > p["ratio"], {"debt_ratio": ratio, "total_liabilities_fen":
                                st["total_liabilities"], "total_assets_fen": st["total_assets"]}


def t_revenue_drop(ctx: Context, p: Mapping[str, Any]) -> Test:
    st = ctx.statements()
    now, before = st.latest["revenue"], st.prev["revenue"]
    fall = 1.0 - _div(now, before)
    consecutive = st.prev["year"] == st.latest["year"] - 1
    return consecutive & (fall > p["drop"]), {"revenue_fen": now, "prior_revenue_fen": before,
                                              "fall": fall}


def t_loss_erodes_equity(ctx: Context, p: Mapping[str, Any]) -> Test:
    st = ctx.statements().latest
    loss = -st["net_profit"]
    share = _div(loss, st["equity"])
    return (loss > 0) & (share > p["share"]), {"net_loss_fen": loss, "equity_fen": st["equity"],
                                               "share": share}


def t_cash_burn(ctx: Context, p: Mapping[str, Any]) -> Test:
    st = ctx.statements()
    now, before = st.latest["operating_cash_flow"], st.prev["operating_cash_flow"]
    consecutive = st.prev["year"] == st.latest["year"] - 1
    return consecutive & (now < 0) & (before < 0), {"operating_cash_flow_fen": now,
                                                    "prior_operating_cash_flow_fen": before}


def statement_overdue(ctx: Context, p: Mapping[str, Any]) -> Hits:
    st = ctx.statements()
    month, day = (int(x) for x in str(p["deadline"]).split("-"))
    deadline = pd.Timestamp(ctx.as_of.year, month, day) + pd.Timedelta(days=p["grace_days"])
    due_year = ctx.as_of.year - (1 if ctx.as_of > deadline else 2)
    mask = st.max_year < due_year
    rows = ctx.rows(_STATEMENT)
    return ctx.hits(mask, {"latest_year": st.max_year, "due_year": np.full(ctx.n, due_year)},
                    refs=lambda pos: ctx.refs(_STATEMENT, rows, pos, limit=1))


# ---------------------------------------------------------------------------------------------
# rating (score history)


def _grade_moves(ctx: Context, lookback_days: int,
                 grades: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Each firm's latest grade and score, and those in force ``lookback_days`` earlier."""
    return ctx.memo(("grades", lookback_days, grades),
                    lambda: _compute_grade_moves(ctx, lookback_days, grades))


def _compute_grade_moves(ctx: Context, lookback_days: int,
                         grades: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    s = ctx.scores()
    out = None
    if s is not None and len(s):
        pos = s["pos"].to_numpy()
        at = s["as_of"].to_numpy().astype("datetime64[ns]").view(np.int64)
        rank = {g: i for i, g in enumerate(grades)}
        gidx = np.array([rank.get(g, np.nan) for g in s["grade"].to_numpy()], dtype=float)
        score = s["score"].to_numpy(dtype=float)
        last = np.r_[pos[1:] != pos[:-1], True]  # sorted by (pos, as_of)
        cutoff = ctx.as_of_ns - lookback_days * _NS_DAY
        old = at <= cutoff
        old_pos = pos[old]
        old_last = np.flatnonzero(old)[np.r_[old_pos[1:] != old_pos[:-1], True]] if len(
            old_pos) else np.zeros(0, np.int64)
        out = {k: np.full(ctx.n, np.nan) for k in ("grade", "prior_grade", "score",
                                                   "prior_score")}
        when = np.full(ctx.n, _NAT)
        prior_when = np.full(ctx.n, _NAT)
        g_text = np.full(ctx.n, None, dtype=object)
        pg_text = np.full(ctx.n, None, dtype=object)
        li = np.flatnonzero(last)
        out["grade"][pos[li]], out["score"][pos[li]], when[pos[li]] = gidx[li], score[li], at[li]
        g_text[pos[li]] = s["grade"].to_numpy()[li]
        out["prior_grade"][pos[old_last]] = gidx[old_last]
        out["prior_score"][pos[old_last]] = score[old_last]
        prior_when[pos[old_last]] = at[old_last]
        pg_text[pos[old_last]] = s["grade"].to_numpy()[old_last]
        out.update({"when": _dates(when), "prior_when": _dates(prior_when),
                    "grade_text": g_text, "prior_grade_text": pg_text})
    return out


def grade_check(lo: int, hi: int | None) -> Check:
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        m = _grade_moves(ctx, p["lookback_days"], tuple(p["grades"]))
        if m is None:
            return ctx.hits(np.zeros(ctx.n, dtype=bool))
        bands = m["grade"] - m["prior_grade"]
        mask = bands >= lo
        if hi is not None:
            mask &= bands <= hi
        return ctx.hits(mask, _grade_figures(m, bands), since=m["when"])
    return check


def _grade_figures(m: dict[str, np.ndarray], bands: np.ndarray) -> dict[str, np.ndarray]:
    return {"grade": m["grade_text"], "prior_grade": m["prior_grade_text"],
            "score": m["score"], "prior_score": m["prior_score"], "bands": bands,
            "rated_on": m["when"], "prior_rated_on": m["prior_when"]}


def score_drop(ctx: Context, p: Mapping[str, Any]) -> Hits:
    m = _grade_moves(ctx, p["lookback_days"], tuple(p["grades"]))
    if m is None:
        return ctx.hits(np.zeros(ctx.n, dtype=bool))
    bands = m["grade"] - m["prior_grade"]
    drop = m["prior_score"] - m["score"]
    mask = (drop >= p["points"]) & (bands <= 0)
    return ctx.hits(mask, {**_grade_figures(m, bands), "points_lost": drop}, since=m["when"])


# ---------------------------------------------------------------------------------------------
# contagion (red partners supplied by the caller)


def _red(ctx: Context) -> pd.Series | None:
    """Red firms (by uscc) red by as_of, with the date they turned red."""
    partners = ctx.partners
    if partners is None:
        return None

    def compute() -> pd.Series:
        since = partners.red_since()
        return since[since.isna() | (since <= ctx.as_of)]
    return ctx.memo("red", compute)


def _active_edges(ctx: Context, frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None or not len(frame):
        return None
    start = pd.to_datetime(frame["start_date"], errors="coerce")
    end = pd.to_datetime(frame["end_date"], errors="coerce") if "end_date" in frame else None
    ok = start.isna() | (start <= ctx.as_of)
    if end is not None:
        ok &= end.isna() | (end > ctx.as_of)
    return frame[ok.to_numpy()]


def _edges(ctx: Context) -> pd.DataFrame | None:
    """Active guarantees with both ends placed in the universe and among the red firms
    (-1 where not): columns {guarantor,guaranteed}_{uscc,pos,red}, amount_fen, record_key."""
    return ctx.memo("edges", lambda: _compute_edges(ctx))


def _compute_edges(ctx: Context) -> pd.DataFrame | None:
    red = _red(ctx)
    g = None if red is None else _active_edges(ctx, ctx.partners.guarantees)
    out = None
    if g is not None:
        red_index = pd.Index(red.index)
        out = pd.DataFrame({
            "amount_fen": pd.to_numeric(g["amount_fen"], errors="coerce").fillna(0).to_numpy(),
            "record_key": (g["record_key"].to_numpy() if "record_key" in g
                           else np.full(len(g), None, dtype=object)),
        })
        for side in ("guarantor", "guaranteed"):
            usccs = g[f"{side}_uscc"].astype(str).to_numpy()
            out[f"{side}_uscc"] = usccs
            out[f"{side}_pos"] = ctx.index.get_indexer(usccs)
            out[f"{side}_red"] = red_index.get_indexer(usccs)
        out = out[out["guarantor_uscc"] != out["guaranteed_uscc"]]
    return out


def _guarantee_links(ctx: Context, me: str, partner: str) -> pd.DataFrame | None:
    """Active guarantees whose ``partner`` side is red and whose ``me`` side is in the
    universe: columns pos, partner, amount_fen, red_since, record_key."""
    e = _edges(ctx)
    if e is None:
        return None
    sel = e[(e[f"{me}_pos"].to_numpy() >= 0) & (e[f"{partner}_red"].to_numpy() >= 0)]
    if not len(sel):
        return None
    red = _red(ctx)
    return pd.DataFrame({
        "pos": sel[f"{me}_pos"].to_numpy(),
        "partner": sel[f"{partner}_uscc"].to_numpy(),
        "amount_fen": sel["amount_fen"].to_numpy(),
        "red_since": red.to_numpy()[sel[f"{partner}_red"].to_numpy()],
        "record_key": sel["record_key"].to_numpy(),
    })


def _link_refs(links: pd.DataFrame, pos: np.ndarray, role: str,
               limit: int = 5) -> list[list[dict[str, Any]]]:
    slot = {int(p): i for i, p in enumerate(pos.tolist())}
    out: list[list[dict[str, Any]]] = [[] for _ in range(len(pos))]
    links = links.sort_values(["pos", "amount_fen"], ascending=[True, False], kind="stable")
    for p_, partner, amount, since, key in zip(
            links["pos"].tolist(), links["partner"].tolist(), links["amount_fen"].tolist(),
            links["red_since"].tolist(), links["record_key"].tolist(), strict=True):
        k = slot.get(p_)
        if k is None or len(out[k]) >= limit:
            continue
        d: dict[str, Any] = {"kind": "guarantee", "role": role, "partner_uscc": partner,
                             "amount_fen": int(amount)}
        if since is not None and not pd.isna(since):
            d["partner_red_since"] = pd.Timestamp(since).date().isoformat()
        if key is not None and not (isinstance(key, float) and np.isnan(key)):
            d["record_key"] = key
        out[k].append(d)
    return out


def _exposure(ctx: Context, links: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = links["pos"].to_numpy()
    count = np.bincount(pos, minlength=ctx.n)
    amount = np.bincount(pos, weights=links["amount_fen"].to_numpy(), minlength=ctx.n)
    partners = links.groupby("pos")["partner"].first()
    first = np.full(ctx.n, None, dtype=object)
    first[partners.index.to_numpy()] = partners.to_numpy()
    return count, amount, first


def contagion_check(me: str, partner: str, role: str) -> Check:
    """Fires for firms with an active guarantee to or from a red firm."""
    def check(ctx: Context, p: Mapping[str, Any]) -> Hits:
        links = _guarantee_links(ctx, me, partner)
        if links is None:
            return ctx.hits(np.zeros(ctx.n, dtype=bool))
        count, amount, first = _exposure(ctx, links)
        mask = (count >= 1) & (amount >= p["min_amount_fen"])
        return ctx.hits(mask, {"partner_count": count, "exposure_fen": amount,
                               "partner": first},
                        refs=lambda pos: _link_refs(links, pos, role))
    return check


def guarantee_loss_big(ctx: Context, p: Mapping[str, Any]) -> Hits:
    links = _guarantee_links(ctx, "guarantor", "guaranteed")
    if links is None:
        return ctx.hits(np.zeros(ctx.n, dtype=bool))
    count, amount, first = _exposure(ctx, links)
    st = ctx.statements()
    equity = st.latest["equity"]
    share = _div(amount, equity)
    mask = (count >= 1) & ((share > p["share_of_equity"]) | (equity <= 0))
    return ctx.hits(mask, {"partner_count": count, "exposure_fen": amount, "partner": first,
                           "equity_fen": equity, "share": share},
                    refs=lambda pos: join_refs(_link_refs(links, pos, "guarantor"),
                                               ctx.row_refs(_STATEMENT, st.latest_row[pos])))


def related_red(ctx: Context, p: Mapping[str, Any]) -> Hits:
    red = _red(ctx)
    rel = _active_edges(ctx, None if ctx.partners is None else ctx.partners.relations)
    if red is None or rel is None:
        return ctx.hits(np.zeros(ctx.n, dtype=bool))
    rel = rel[rel["role"].isin(list(p["roles"]))]
    firm = rel["uscc"].astype(str)
    mine = rel.assign(pos=ctx.index.get_indexer(firm))
    mine = mine[mine["pos"] >= 0][["pos", "uscc", "person_id", "role"]]
    theirs = rel[firm.isin(red.index).to_numpy()][["uscc", "person_id", "role"]]
    pairs = mine.merge(theirs, on="person_id", suffixes=("", "_partner"))
    pairs = pairs[pairs["uscc"].astype(str) != pairs["uscc_partner"].astype(str)]
    pairs = pairs.drop_duplicates(["pos", "uscc_partner"])
    pos_all = pairs["pos"].to_numpy()
    count = np.bincount(pos_all, minlength=ctx.n)
    first = np.full(ctx.n, None, dtype=object)
    head = pairs.groupby("pos")["uscc_partner"].first()
    first[head.index.to_numpy()] = head.to_numpy()

    def refs(pos: np.ndarray) -> list[list[dict[str, Any]]]:
        slot = {int(x): i for i, x in enumerate(pos.tolist())}
        out: list[list[dict[str, Any]]] = [[] for _ in range(len(pos))]
        for p_, partner, role, role_p in zip(pairs["pos"].tolist(),
                                             pairs["uscc_partner"].tolist(),
                                             pairs["role"].tolist(),
                                             pairs["role_partner"].tolist(), strict=True):
            k = slot.get(p_)
            if k is not None and len(out[k]) < 5:
                since = red.get(partner)
                d = {"kind": "relation", "partner_uscc": partner, "role": role,
                     "partner_role": role_p}
                if since is not None and not pd.isna(since):
                    d["partner_red_since"] = pd.Timestamp(since).date().isoformat()
                out[k].append(d)
        return out
    return ctx.hits(count >= 1, {"partner_count": count, "partner": first}, refs=refs)
