"""Can the department data be believed? Cross-source checks, per firm, with their evidence.

Departments see one side of a firm each, and each side has its own distortions: what a firm
declares to the tax office may be far below its real sales, a meter shared by several firms
is billed to one of them (so the others look as if production stopped), seasonal firms keep
using power when they do not sell, and customs sees only direct exports, not those sent
through an agent. These checks read several sources against each other:

* :func:`split_shared_meters` recognises an electricity meter that several firms report in
  the same month (same ``meter_id``) and splits the pooled reading among them, weighted by
  each firm's insured headcount times its own electricity per head in months on a meter of
  its own. Every scoring and warning path reads the split readings, so a shared meter is
  never read as a collapse of one firm and a surge of another.
* ``under_declaration``: VAT falling against the same months a year earlier while the firm's
  (split) electricity use and insured headcount hold. Comparing like calendar months cancels
  seasonality per firm, which is what a firm's own industry pattern would do and more
  (seasonal firms that keep power on when idle cancel out too). Months with tax arrears are
  compared only with months in arrears: a firm that declares and does not pay is late,
  not under-declaring.
* ``shared_meter``: the firm's electricity comes from a meter shared with other firms.
* ``agent_exports``: customs shows the firm's exports stopping while tax and electricity hold;
  the likely reading is exports through an agent, not a collapse of trade.
* ``property_assets``: the real estate the firm owns is assessed above the total assets it
  declares in its latest statement.

Each check gives a plausibility in [0, 1] (1 = the sources agree) and the figures behind it;
:func:`assess` sums them up per firm as a data-confidence level (``high``, ``medium``,
``low``) with the departments the evaluation rests on. Pure: frames in, arrays out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._codes import factorize_objects, month_numbers
from .records import RECORD_KINDS, is_history
from .risk.context import MONTHS, Context

__all__ = [
    "CHECKS",
    "CHECK_DEPARTMENTS",
    "DEFAULTS",
    "SUSPECT",
    "SUSPECT_CHECKS",
    "SUMMARY",
    "TEXTS",
    "Assessment",
    "CheckResult",
    "agent_reading",
    "assess",
    "feed_health",
    "feed_health_rows",
    "exports_revenue",
    "finding_texts",
    "meter_ids",
    "meter_key",
    "month_text",
    "split_shared_meters",
    "redeclaration",
    "under_declaration",
    "wage_bill",
]

#: The checks, in the order they are reported.
CHECKS: tuple[str, ...] = ("under_declaration", "wage_bill", "redeclaration", "shared_meter", "agent_exports",
                           "exports_revenue", "property_assets")

#: Thresholds of the checks.
DEFAULTS: dict[str, Any] = {
    "window_months": 6,  # months compared with the same months a year earlier
    "min_pairs": 4,  # comparable month pairs needed
    "min_vat_fen": 300_000,  # VAT in the base months, below which a fall says little
    "min_kwh": 600.0,  # electricity in the base months
    "min_gap": 0.3,  # tax this share below what power and headcount say (per month and over all)
    "hold": 0.6,  # power and headcount "hold": at least this share of a year earlier
    "min_months": 3,  # months of the window that must each show the gap
    "export_quiet_months": 6,  # months without customs exports
    "export_before_months": 6,  # months with exports in the year before
    "export_hold": 0.5,  # tax and power hold at this share for the agent reading
    "property_ratio": 2.0,  # owned property above this multiple of declared total assets
    "exports_over_revenue": 1.1,  # a year's customs exports above this multiple of its declared revenue
    "min_premium_fen": 100_000,  # pension premiums in the base months, below which a fall says little
    "redeclared_within_months": 6,  # a re-declaration this recent counts as sudden
    "redeclared_min_change": 0.3,  # a re-declared month moves by at least this share
    "redeclared_min_months": 2,  # months re-declared at once
}

_ELECTRICITY = "electricity"


# ---------------------------------------------------------------------------------------------
# shared meters


def _address_key(address: str) -> str:
    """A supply address as a meter key: width-folded (NFKC) and without spaces, so "人民路88号"
    and "人民路 ８８号" are one place."""
    return "@" + "".join(unicodedata.normalize("NFKC", address).split())


def meter_key(attrs: Any) -> str | None:
    """What tells a utility row's meter: its ``meter_id``, else its ``supply_address`` (a
    utility that reports by address; the key starts with ``@``), else None."""
    if not isinstance(attrs, dict):
        return None
    meter = attrs.get("meter_id")
    if meter:
        return str(meter)
    address = attrs.get("supply_address")
    return _address_key(str(address)) if address else None


def meter_ids(records: pd.DataFrame) -> np.ndarray:
    """The meter key (:func:`meter_key`) of each row (None where there is none)."""
    out = np.full(len(records), None, dtype=object)
    attrs = records["attrs"].to_numpy()
    util = np.flatnonzero((records["kind"].to_numpy() == "utility") & (attrs != None))  # noqa: E711
    for i in util.tolist():
        out[i] = meter_key(attrs[i])
    return out


def shared_meter_months(meters: np.ndarray, month: np.ndarray,
                        uscc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For electricity readings (each a meter, a month as an integer and a firm): whether the
    reading's meter is shared that month (two or more firms report it), and the firms as codes
    and their USCCs (``pd.factorize``). Counted on integer codes: tens of millions of rows pass
    here."""
    # by the objects' identities (``factorize_objects``: ``pd.factorize``'s codes and uniques;
    # a read holds one object per distinct meter and USCC, so no text is hashed per row)
    meter_code = factorize_objects(pd.Series(meters, dtype=object, copy=False))[0].astype(np.int64)
    month = month.astype(np.int64) - int(month.min())
    uscc_code, usccs = factorize_objects(pd.Series(uscc, dtype=object, copy=False))
    cell = meter_code * (int(month.max()) + 1) + month
    pairs = pd.unique(cell * len(usccs) + uscc_code)
    firms_per_cell = np.bincount(pairs // len(usccs), minlength=int(cell.max()) + 1)
    return firms_per_cell[cell] >= 2, uscc_code, np.asarray(usccs, dtype=object)


def split_shared_meters(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with each shared electricity meter's pooled reading split among its firms.

    A meter is shared in a month when two or more firms report electricity rows with its
    ``meter_id`` for that month (or, for a utility that reports by place, the same
    ``supply_address``, compared width-folded and without spaces). The pooled reading (the sum of what they report) is split in
    proportion to each firm's insured headcount that month times its own electricity per
    head, measured in months on a meter of its own (the median; the median of the firms on
    the meter where a firm never had one; headcount alone where none did; equal shares
    where no firm has headcount). A firm's reading of the meter in a month is the sum of its rows
    (a utility may send several reads a month); its share goes on its last row of the month and
    0 on its other rows. The split rows keep the reading as reported in ``attrs``
    (``meter_reported``), with ``meter_total`` and ``meter_firms``. Rows already split are
    left as they are, so splitting twice changes nothing. In a history frame only the
    versions valid now are split. The frame is returned unchanged (the same object) when no
    meter is shared.
    """
    if records.empty or "attrs" not in records.columns:
        return records
    kind, cat = records["kind"].to_numpy(), records["category"].to_numpy()
    current = (records["superseded_at"].isna().to_numpy() if "superseded_at" in records.columns
               else True)  # a history frame: the versions valid now
    elec = np.flatnonzero((cat == _ELECTRICITY) & (kind == "utility") & current)
    attrs = records["attrs"].to_numpy()
    meters = np.array([(a.get("meter_id") or (_address_key(a["supply_address"]) if a.get("supply_address") else None))
                       if isinstance(a, dict) else None for a in attrs[elec]], dtype=object)  # meter_key, inlined
    has = np.flatnonzero(meters != None)  # noqa: E711
    if not len(has):
        return records
    elec, meters = elec[has], meters[has]
    month = month_numbers(records["event_date"].to_numpy()[elec])
    shared, uscc_code, usccs = shared_meter_months(meters, month, records["uscc"].to_numpy()[elec])
    if not shared.any():
        return records
    fresh = np.array([not (isinstance(attrs[i], dict) and "meter_reported" in attrs[i])
                      for i in elec[shared].tolist()], dtype=bool)
    if not fresh.any():
        return records
    # from here on only the firms ever on a shared meter: their own months give their intensity
    involved = np.isin(uscc_code, np.unique(uscc_code[shared]))
    rows = pd.DataFrame({
        "row": elec[involved],
        "uscc": usccs[uscc_code[involved]],
        "meter": meters[involved],
        "month": records["event_date"].to_numpy()[elec[involved]].astype("datetime64[M]"),
        "kwh": records["quantity"].to_numpy()[elec[involved]],
        "shared": shared[involved],
    })
    fresh_rows = np.zeros(len(elec), dtype=bool)
    fresh_rows[np.flatnonzero(shared)[fresh]] = True
    fresh = fresh_rows[involved]

    # headcount per firm and month (pension insured)
    si = np.flatnonzero((kind == "social_insurance") & (cat == "pension"))
    si = si[pd.Series(records["uscc"].to_numpy()[si]).isin(set(rows["uscc"])).to_numpy()]
    head = (pd.DataFrame({"uscc": records["uscc"].to_numpy()[si],
                          "month": records["event_date"].to_numpy()[si].astype("datetime64[M]"),
                          "head": records["quantity"].to_numpy()[si]})
            .groupby(["uscc", "month"])["head"].max())
    rows["fresh"] = fresh
    # A firm's reading of a meter in a month may come in several rows (meter reads): the rule
    # weighs each firm's monthly reading, so the rows are summed per firm, meter and month first.
    # (One row per firm, meter and month, the usual case, is its own sum.)
    rows["kwh_sum"] = rows.groupby(["uscc", "meter", "month"])["kwh"].transform("sum", min_count=1)
    rows["fresh"] = rows.groupby(["uscc", "meter", "month"])["fresh"].transform("all")
    monthly = rows.drop_duplicates(["uscc", "meter", "month"], keep="last")
    monthly = monthly.join(head, on=["uscc", "month"])
    own = monthly[~monthly["shared"] & (monthly["head"] > 0) & (monthly["kwh_sum"] > 0)]
    per_head = (own["kwh_sum"] / own["head"]).groupby(own["uscc"]).median()

    pool = monthly[monthly["shared"] & monthly["fresh"]].copy()
    pool["per_head"] = pool["uscc"].map(per_head)
    meter_median = pool.groupby("meter")["per_head"].transform("median")
    intensity = pool["per_head"].fillna(meter_median).fillna(1.0)
    weight = pool["head"].fillna(0.0).clip(lower=0.0) * intensity
    key = [pool["meter"], pool["month"]]
    total_w = weight.groupby(key).transform("sum")
    n_on = pool.groupby(["meter", "month"])["uscc"].transform("nunique")
    share = np.where(total_w > 0, weight / total_w.where(total_w > 0, 1.0), 1.0 / n_on)
    total = pool["kwh_sum"].fillna(0.0).groupby(key).transform("sum")
    split = np.round(total.to_numpy() * share, 1)
    # the firm's share goes on its last row of the meter and month, 0 on its other rows (so
    # the month's sum is the share exactly); every row keeps what it reported
    group = pd.MultiIndex.from_frame(pool[["uscc", "meter", "month"]])
    figures = pd.DataFrame({"split": split, "total": total.to_numpy(), "firms": n_on.to_numpy(),
                            "last": pool["row"].to_numpy()}, index=group)
    members = rows[rows["shared"] & rows["fresh"]]
    at = figures.reindex(pd.MultiIndex.from_frame(members[["uscc", "meter", "month"]]))

    out = records.copy(deep=False)
    quantity = out["quantity"].to_numpy(dtype=float, copy=True)
    new_attrs = out["attrs"].to_numpy(dtype=object, copy=True)
    for i, q, t, k, last, rep in zip(members["row"].tolist(), at["split"].tolist(), at["total"].tolist(),
                                     at["firms"].tolist(), at["last"].tolist(), members["kwh"].tolist(),
                                     strict=True):
        base = new_attrs[i] if isinstance(new_attrs[i], dict) else {}
        new_attrs[i] = {**base, "meter_reported": rep, "meter_total": t, "meter_firms": int(k)}
        quantity[i] = q if i == last else 0.0
    out["quantity"] = quantity
    out["attrs"] = pd.Series(new_attrs, index=out.index, dtype=object, copy=False)
    return out


# ---------------------------------------------------------------------------------------------
# the checks


@dataclass(slots=True)
class CheckResult:
    """One check for every firm: whether it flags, how plausible the data is (1 = the
    sources agree, NaN = not enough data to say) and the figures behind it."""

    flagged: np.ndarray
    plausibility: np.ndarray
    figures: dict[str, np.ndarray] = field(default_factory=dict)


def _pairs(now: np.ndarray, before: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(ok, now, 0.0).sum(axis=1), np.where(ok, before, 0.0).sum(axis=1)


def _log_ratio(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(now, before).shape, np.nan)
    ok = (now > 0) & (before > 0)
    np.log(now, out=out, where=ok)
    out = np.where(ok, out - np.log(np.where(ok, before, 1.0)), np.nan)
    return out


@dataclass(frozen=True, slots=True)
class _YearApart:
    """The latest ``window`` months of a firm (from its latest month with a value in the last
    three) and the same months a year earlier, as positions in the (firms x MONTHS) grids."""

    lag: np.ndarray  # the latest month's lag, -1 when none
    has: np.ndarray
    start: np.ndarray
    inside: np.ndarray  # (firms x window): the month and its year-earlier month are in the grid
    now: np.ndarray
    before: np.ndarray

    @classmethod
    def of(cls, anchor: np.ndarray, window: int) -> _YearApart:
        lag = Context.latest_lag(anchor, 3)
        has = lag >= 0
        start = np.where(has, lag, 0)
        idx = start[:, None] + np.arange(window)[None, :]
        base = idx + 12
        return cls(lag, has, start, has[:, None] & (base < MONTHS), np.minimum(idx, MONTHS - 1),
                   np.minimum(base, MONTHS - 1))

    def pair(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A grid's values in the window and a year earlier."""
        return np.take_along_axis(grid, self.now, axis=1), np.take_along_axis(grid, self.before, axis=1)


def under_declaration(ctx: Context, p: Mapping[str, Any] | None = None) -> CheckResult:
    """VAT down on the same months a year earlier while electricity and headcount hold.

    Figures: ``tax_change``, ``power_change``, ``headcount_change`` (ratios now / a year
    earlier - 1 over the comparable months), ``gap`` (how far tax fell below what power and
    headcount say, as a share), ``gap_months`` (months each showing the gap), ``since_lag``
    (the earliest month of the run of gap months, as a lag) and ``month_lag`` (the latest).
    """
    p = {**DEFAULTS, **(p or {})}
    w = int(p["window_months"])
    vat = ctx.monthly("tax_monthly", "amount_fen", "vat")
    owed = ctx.monthly("tax_monthly", "arrears_fen", "vat")
    kwh = ctx.monthly("utility", "quantity", _ELECTRICITY)
    head = ctx.monthly("social_insurance", "quantity", "pension", how="max")
    yr = _YearApart.of(vat, w)
    lag, has, start, inside = yr.lag, yr.has, yr.start, yr.inside
    v_now, v_before = yr.pair(vat)
    o_now, o_before = yr.pair(owed)
    k_now, k_before = yr.pair(kwh)
    h_now, h_before = yr.pair(head)
    # a month in arrears pays part of what was declared: compare it only with a month in
    # arrears a year earlier, and a clean month with a clean one
    same_state = (np.nan_to_num(o_now) > 0) == (np.nan_to_num(o_before) > 0)
    ok = (inside & same_state & (v_now >= 0) & (v_before > 0) & (k_now >= 0) & (k_before > 0))
    pairs = ok.sum(axis=1)
    vn, vb = _pairs(v_now, v_before, ok)
    kn, kb = _pairs(k_now, k_before, ok)
    h_ok = ok & (h_now > 0) & (h_before > 0)
    hn, hb = _pairs(h_now, h_before, h_ok)
    tax_lr = _log_ratio(vn, vb)
    power_lr = _log_ratio(kn, kb)
    head_lr = np.where(h_ok.any(axis=1), _log_ratio(hn, hb), 0.0)
    # what the other sources say the tax should have done: the weaker of power and headcount
    expected = np.minimum(power_lr, head_lr)
    gap_lr = tax_lr - expected
    cut = -np.log1p(-p["min_gap"])  # the share as a log gap
    monthly_gap = (_log_ratio(np.where(ok, v_now, np.nan), np.where(ok, v_before, np.nan))
                   - _log_ratio(np.where(ok, k_now, np.nan), np.where(ok, k_before, np.nan)))
    gap_month = ok & (np.nan_to_num(monthly_gap, nan=0.0) < -cut)
    gap_months = gap_month.sum(axis=1)
    # the run of gap months back from the latest, over every month with a year before it in
    # the grid, gives the start of the disagreement
    span = MONTHS - 12
    same_all = (np.nan_to_num(owed[:, :span]) > 0) == (np.nan_to_num(owed[:, 12:]) > 0)
    all_gap = (_log_ratio(vat[:, :span], vat[:, 12:]) - _log_ratio(kwh[:, :span], kwh[:, 12:]))
    gap_all = same_all & (np.nan_to_num(all_gap, nan=0.0) < -cut)
    back = np.arange(span)[None, :] >= start[:, None]
    run = np.cumprod(np.where(back, gap_all, True), axis=1).sum(axis=1) - start
    since_lag = np.where(gap_months > 0, start + np.maximum(run - 1, 0), -1)
    enough = (pairs >= p["min_pairs"]) & (vb >= p["min_vat_fen"]) & (kb >= p["min_kwh"])
    holds = (power_lr >= np.log(p["hold"])) & (head_lr >= np.log(p["hold"]))
    flagged = enough & holds & (gap_lr < -cut) & (gap_months >= p["min_months"])
    # plausibility: 1 while the gap is within the threshold, falling to 0 at twice it
    plaus = np.where(enough, np.clip(1.0 - (-np.minimum(gap_lr, 0.0) - cut / 2) / (1.5 * cut),
                                     0.0, 1.0), np.nan)
    plaus = np.where(enough & ~holds, np.nan, plaus)
    with np.errstate(invalid="ignore"):
        figures = {
            "tax_change": np.expm1(tax_lr),
            "power_change": np.expm1(power_lr),
            "headcount_change": np.expm1(head_lr),
            "gap": -np.expm1(gap_lr),
            "gap_months": gap_months.astype(np.int64),
            "pairs": pairs.astype(np.int64),
            "since_lag": since_lag.astype(np.int64),
            "month_lag": np.where(has, lag, -1).astype(np.int64),
        }
    return CheckResult(flagged, plaus, figures)


def wage_bill(ctx: Context, p: Mapping[str, Any] | None = None) -> CheckResult:
    """Pension premiums per insured employee down on the same months a year earlier while the
    insured headcount holds: the wage base declared to the social-insurance fund fell, not the
    staff (premiums follow headcount times the declared wage base).

    Like :func:`under_declaration`: the latest ``window_months`` against the same months a year
    earlier (seasons cancel), months in arrears only against months in arrears, a fall of at
    least ``min_gap`` over the window and in ``min_months`` of its months, headcount at least
    ``hold`` of a year earlier. Figures: ``wage_change`` (premiums per head, now / a year
    earlier - 1), ``headcount_change``, ``gap_months``, ``month_lag``."""
    p = {**DEFAULTS, **(p or {})}
    w = int(p["window_months"])
    paid = ctx.monthly("social_insurance", "amount_fen", "pension")
    owed = ctx.monthly("social_insurance", "arrears_fen", "pension")
    head = ctx.monthly("social_insurance", "quantity", "pension", how="max")
    yr = _YearApart.of(head, w)
    lag, has, inside = yr.lag, yr.has, yr.inside
    pay_now, pay_before = yr.pair(paid)
    h_now, h_before = yr.pair(head)
    o_now, o_before = yr.pair(owed)
    same_state = (np.nan_to_num(o_now) > 0) == (np.nan_to_num(o_before) > 0)
    ok = inside & same_state & (pay_now >= 0) & (pay_before > 0) & (h_now > 0) & (h_before > 0)
    pairs = ok.sum(axis=1)
    pn, pb = _pairs(pay_now, pay_before, ok)
    hn, hb = _pairs(h_now, h_before, ok)
    head_lr = _log_ratio(hn, hb)
    rate_lr = _log_ratio(pn, pb) - head_lr  # premiums per head
    cut = -np.log1p(-p["min_gap"])
    monthly = (_log_ratio(np.where(ok, pay_now, np.nan), np.where(ok, pay_before, np.nan))
               - _log_ratio(np.where(ok, h_now, np.nan), np.where(ok, h_before, np.nan)))
    gap_months = (ok & (np.nan_to_num(monthly, nan=0.0) < -cut)).sum(axis=1)
    enough = (pairs >= p["min_pairs"]) & (pb >= p["min_premium_fen"])
    holds = head_lr >= np.log(p["hold"])
    flagged = enough & holds & (rate_lr < -cut) & (gap_months >= p["min_months"])
    plaus = np.where(enough & holds, np.clip(1.0 - (-np.minimum(np.nan_to_num(rate_lr), 0.0) - cut / 2)
                                             / (1.5 * cut), 0.0, 1.0), np.nan)
    with np.errstate(invalid="ignore"):
        figures = {
            "wage_change": np.expm1(rate_lr),
            "headcount_change": np.expm1(head_lr),
            "gap_months": gap_months.astype(np.int64),
            "pairs": pairs.astype(np.int64),
            "month_lag": np.where(has, lag, -1).astype(np.int64),
        }
    return CheckResult(flagged, plaus, figures)


def redeclaration(history: pd.DataFrame | None, index: pd.Index, as_of: Any,
                  p: Mapping[str, Any] | None = None) -> CheckResult:
    """Past months of VAT re-declared recently and by much: corrections made since
    ``redeclared_within_months`` before ``as_of`` (up to now: the scores read the current
    versions) that move at least ``redeclared_min_months`` declared months by
    ``redeclared_min_change`` or more, the current version against the first one replaced. Needs a history frame (every version
    of the records); without one the check says nothing (NaN). Figures: ``months`` re-declared,
    ``change`` (the re-declared months' VAT now over as first declared, - 1) and ``when`` (the
    day of the latest re-declaration)."""
    p = {**DEFAULTS, **(p or {})}
    n = len(index)
    months = np.zeros(n, dtype=np.int64)
    change = np.full(n, np.nan)
    when = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if history is None or not is_history(history) or history.empty:
        return CheckResult(np.zeros(n, dtype=bool), np.full(n, np.nan),
                           {"months": months, "change": change, "when": when})
    day = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    vat = history[(history["kind"] == "tax_monthly") & (history["category"] == "vat")
                  & history["uscc"].isin(index)]
    since = day - pd.DateOffset(months=int(p["redeclared_within_months"]))
    # what is known now: the scores read the current versions of the records (a correction that
    # came after the scoring date counts, as its corrected figure does)
    replaced = vat[vat["superseded_at"].notna() & (vat["superseded_at"] >= since)]
    valid = vat[vat["superseded_at"].isna()]
    first = (replaced.sort_values("superseded_at", kind="stable")
             .drop_duplicates(["uscc", "event_date"], keep="first"))  # as declared before the re-declarations
    pairs = first.merge(valid[["uscc", "event_date", "amount_fen"]], on=["uscc", "event_date"],
                        suffixes=("_old", "_new"))
    plaus = np.full(n, np.nan)
    if len(pairs):
        old = pd.to_numeric(pairs["amount_fen_old"], errors="coerce").astype(float)
        new = pd.to_numeric(pairs["amount_fen_new"], errors="coerce").astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            moved = np.abs(new / old - 1.0) >= p["redeclared_min_change"]
        moved = moved | ((old <= 0) & (new > 0))
        big = pairs[moved.to_numpy()].assign(old=old[moved], new=new[moved])
        if len(big):
            g = big.groupby("uscc")
            per = pd.DataFrame({"months": g["event_date"].nunique(), "old": g["old"].sum(), "new": g["new"].sum(),
                                "when": g["superseded_at"].max()})
            pos = index.get_indexer(per.index)
            months[pos] = per["months"].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                change[pos] = np.where(per["old"] > 0, per["new"] / per["old"] - 1.0, np.nan)
            when[pos] = per["when"].to_numpy().astype("datetime64[D]")
        plaus[index.get_indexer(pairs["uscc"].unique())] = 1.0
        has = months > 0
        plaus[has] = np.clip(1.0 - np.abs(np.nan_to_num(change[has], nan=1.0)), 0.0, 1.0)
    flagged = months >= int(p["redeclared_min_months"])
    return CheckResult(flagged, plaus, {"months": months, "change": change, "when": when})


def shared_meter(ctx: Context, records: pd.DataFrame) -> CheckResult:
    """The firm's electricity, in the last 12 months, came from a meter shared with others
    (as :func:`split_shared_meters` marked the rows). Figures: ``meter_firms`` (most firms on
    one of its meters) and ``shared_months``."""
    if ctx.cells is not None:  # the feature store's cells: one per firm, meter and month
        pos, firms_on = ctx.cells.meters(12)
    else:
        rows = ctx.rows("utility").of(_ELECTRICITY)
        rows = rows.where(ctx.ref_month - ctx.month_of(rows.event) < 12)
        absolute = ctx.absolute(rows)
        attrs = records["attrs"].to_numpy()[absolute] if len(absolute) else np.array([], object)
        firms_on = np.array([a.get("meter_firms", 1) if isinstance(a, dict) else 1 for a in attrs],
                            dtype=np.int64)
        # one per firm, meter and month, as the cells count them: a meter read in several parts
        # a month has a row per part (at a real region's density, a hundred)
        once = pd.DataFrame({"pos": rows.pos, "month": ctx.month_of(rows.event),
                             "meter": [meter_key(a) or "" for a in attrs]}).duplicated().to_numpy()
        pos, firms_on = rows.pos[~once], firms_on[~once]
    most = np.zeros(ctx.n, np.int64)
    np.maximum.at(most, pos, firms_on)
    months = np.bincount(pos[firms_on >= 2], minlength=ctx.n).astype(np.int64)
    flagged = most >= 2
    has = np.bincount(pos, minlength=ctx.n) > 0
    # a shared meter is recognised and split: the readings are still believable, a little less
    plaus = np.where(flagged, 0.8, np.where(has, 1.0, np.nan))
    return CheckResult(flagged, plaus, {"meter_firms": np.where(flagged, most, 1),
                                        "shared_months": months})


def agent_reading(exports: np.ndarray, vat: np.ndarray, kwh: np.ndarray,
                  p: Mapping[str, Any] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The agent reading on (firms x months) grids, lag 0 = latest, NaN = no record: customs
    silent for ``export_quiet_months`` or more after ``export_before_months`` or more with
    exports in the year before the silence, while VAT (where the firm pays any) and
    electricity over the silent months' last ``export_quiet_months`` hold at
    ``export_hold`` of a year earlier. Shared by the check and by the indicators, which
    treat such a firm's export figures as unknown rather than as a collapse."""
    p = {**DEFAULTS, **(p or {})}
    q, b = int(p["export_quiet_months"]), int(p["export_before_months"])
    has = ~np.isnan(exports)
    months = has.shape[1]
    streak = np.cumprod(~has, axis=1).sum(axis=1)  # months without exports, newest first
    lags = np.arange(months)[None, :]
    before = (has & (lags >= streak[:, None]) & (lags < streak[:, None] + 12)).sum(axis=1)
    vat_lr = _log_ratio(np.nansum(vat[:, :q], axis=1), np.nansum(vat[:, 12:12 + q], axis=1))
    kwh_lr = _log_ratio(np.nansum(kwh[:, :q], axis=1), np.nansum(kwh[:, 12:12 + q], axis=1))
    # tax may be nil for a small exempt firm: then power alone says whether trade went on
    holds = ((np.isnan(vat_lr) | (vat_lr >= np.log(p["export_hold"])))
             & (kwh_lr >= np.log(p["export_hold"])))
    flagged = (streak >= q) & (before >= b) & holds
    with np.errstate(invalid="ignore"):
        return flagged, {"export_months_before": before.astype(np.int64),
                         "quiet_months": streak.astype(np.int64),
                         "tax_change": np.expm1(vat_lr), "power_change": np.expm1(kwh_lr)}


def agent_exports(ctx: Context, p: Mapping[str, Any] | None = None) -> CheckResult:
    """Customs shows no exports lately after months of them, while tax and power hold: most
    likely exports through an agent, which customs does not attribute to the firm."""
    exports = ctx.monthly("customs_export", "amount_fen")
    flagged, figures = agent_reading(exports, ctx.monthly("tax_monthly", "amount_fen", "vat"),
                                     ctx.monthly("utility", "quantity", _ELECTRICITY), p)
    exported = (~np.isnan(exports)).any(axis=1)
    plaus = np.where(flagged, 0.6, np.where(exported, 1.0, np.nan))
    return CheckResult(flagged, plaus, figures)


def property_assets(ctx: Context, p: Mapping[str, Any] | None = None) -> CheckResult:
    """Real estate owned (assessed value, active titles) above the declared total assets."""
    p = {**DEFAULTS, **(p or {})}
    rows = ctx.rows("real_estate")
    end = ctx.ends(rows)
    active = rows.where((end == np.iinfo(np.int64).min) | (end > ctx.as_of_ns))
    owned = ctx.total(active, "amount_fen").astype(float)
    st = ctx.statements()
    assets = np.asarray(st.latest["total_assets"], dtype=float)
    known = (assets > 0) & ~np.isnan(assets)
    ratio = np.full(ctx.n, np.nan)
    np.divide(owned, assets, out=ratio, where=known)
    flagged = known & (ratio > p["property_ratio"])
    plaus = np.where(known, np.clip(1.0 - (ratio - 1.0) / p["property_ratio"], 0.0, 1.0), np.nan)
    plaus = np.where(known & (ratio <= 1.0), 1.0, plaus)
    return CheckResult(flagged, plaus, {"property_fen": owned, "total_assets_fen": assets,
                                        "ratio": ratio})


def exports_revenue(ctx: Context, p: Mapping[str, Any] | None = None) -> CheckResult:
    """Customs exports of the latest statement's fiscal year above the revenue the statement
    declares (by ``exports_over_revenue``): exported goods are sales, so the declared revenue is
    too low. Figures: ``exports_fen``, ``revenue_fen``, ``ratio``, ``year``."""
    p = {**DEFAULTS, **(p or {})}
    st = ctx.statements()
    revenue = np.asarray(st.latest["revenue"], dtype=float)
    year = np.asarray(st.latest["year"], dtype=float)
    exports = ctx.monthly("customs_export", "amount_fen")
    ok = ~np.isnan(year) & (revenue > 0)
    # lag of the fiscal year's December: month_end(lag) is the last day of that month
    ref = int(ctx.ref_month)
    dec_lag = np.where(ok, ref - ((np.nan_to_num(year).astype(np.int64) - 1970 + 1) * 12) + 1, -1)
    idx = dec_lag[:, None] + np.arange(12)[None, :]
    inside = ok[:, None] & (idx >= 0) & (idx < MONTHS)
    months = np.take_along_axis(exports, np.clip(idx, 0, MONTHS - 1), axis=1)
    seen = inside & ~np.isnan(months)
    total = np.where(seen, months, 0.0).sum(axis=1)
    whole = inside.all(axis=1) & seen.any(axis=1)
    ratio = np.full(ctx.n, np.nan)
    np.divide(total, revenue, out=ratio, where=whole)
    flagged = whole & (ratio > p["exports_over_revenue"])
    plaus = np.where(whole, np.clip(1.0 - (ratio - 1.0), 0.0, 1.0), np.nan)
    plaus = np.where(whole & (ratio <= 1.0), 1.0, plaus)
    return CheckResult(flagged, plaus, {"exports_fen": total, "revenue_fen": revenue, "ratio": ratio,
                                        "year": year})


# ---------------------------------------------------------------------------------------------
# per firm


_MONTHLY_DEPARTMENTS = ("tax", "hrss", "utilities", "customs", "bank")


#: The indicators each finding puts in doubt: under-declared VAT makes the declared-tax
#: indicators suspect (not the arrears, which are owed money either way); exports above the
#: declared revenue the revenue-based ones. A suspect indicator counts at most as an unknown one
#: (``Scorecard.rate(..., suspect=...)``: never a reward) and is named among the firm's reasons
#: (``scoring.explain``). Findings on weaker evidence are stated, not held against the
#: indicators: property above the declared assets (books keep property at cost, so market value
#: above book value is common) and a re-declaration (also how a firm's disputed data is fixed).
SUSPECT: dict[str, tuple[str, ...]] = {
    "under_declaration": ("vat_12m", "income_tax_12m", "tax_burden", "vat_trend_12m", "vat_decline_streak",
                          "vat_yoy", "tax_electricity_consistency"),
    "exports_revenue": ("revenue_per_employee", "asset_turnover", "receivable_turnover", "net_margin",
                        "gross_margin", "cash_flow_margin", "revenue_growth", "tax_burden"),
}
#: The checks of ``SUSPECT`` in code order: a suspect code ``k`` (1-based) names ``SUSPECT_CHECKS[k - 1]``.
SUSPECT_CHECKS: tuple[str, ...] = tuple(SUSPECT)


@dataclass(slots=True)
class Assessment:
    """Every check for every firm of ``index``, the departments the data rests on and the
    resulting data-confidence level."""

    index: pd.Index
    checks: dict[str, CheckResult]
    departments: np.ndarray  # object array of tuples of department codes
    confidence: np.ndarray  # "high" / "medium" / "low"
    plausibility: np.ndarray  # the lowest plausibility over the checks (NaN: no check applies)
    month_ends: dict[str, np.ndarray]  # since / month of under-declaration, datetime64[D]

    def frame(self) -> pd.DataFrame:
        """One row per firm: confidence, departments, and per check flag and plausibility."""
        out = pd.DataFrame({"confidence": self.confidence,
                            "departments": [len(d) for d in self.departments],
                            "plausibility": self.plausibility}, index=self.index)
        for name, r in self.checks.items():
            out[name] = r.flagged
            out[f"{name}_plausibility"] = r.plausibility
        return out

    def suspect(self, features: list[str] | tuple[str, ...]) -> np.ndarray:
        """(firms x features) int8: 0 where the indicator can be believed, else 1 + the index
        in ``SUSPECT_CHECKS`` of the finding that puts it in doubt (the first, if several)."""
        out = np.zeros((len(self.index), len(features)), dtype=np.int8)
        position = {f: j for j, f in enumerate(features)}
        for k in range(len(SUSPECT_CHECKS) - 1, -1, -1):  # the first check written last: it wins
            name = SUSPECT_CHECKS[k]
            if name not in self.checks:
                continue
            rows = np.asarray(self.checks[name].flagged, dtype=bool)
            if not rows.any():
                continue
            for code in SUSPECT[name]:
                if code in position:
                    out[rows, position[code]] = k + 1
        return out

    def of(self, uscc: str) -> dict[str, Any]:
        """One firm's assessment as plain values: confidence, departments and the findings of
        the checks that flag it, each with its figures."""
        i = int(self.index.get_loc(uscc))
        return self._plain_row(i, self._findings(i), _plain(self.plausibility[i]))

    def plain_rows(self) -> list[dict[str, Any]]:
        """:meth:`of` of every firm, in ``index`` order: the arrays read as Python lists once,
        and the checks' figures read only for the firms a check flags. The firms no check
        flags share one row per distinct (confidence, departments, plausibility): most firms
        of a region, and a few dozen distinct rows. Read the rows; do not change them."""
        flagged = np.zeros(len(self.index), dtype=bool)
        for r in self.checks.values():
            flagged |= np.asarray(r.flagged, dtype=bool)
        raw = np.asarray(self.plausibility, dtype=np.float64)
        plausibility = [_plain(v) for v in raw.tolist()]
        bits = raw.view(np.int64).tolist()  # the key: equal bits, equal text (0.0 and -0.0 apart)
        confidence, departments = self.confidence.tolist(), self.departments.tolist()
        shared: dict[tuple[Any, ...], dict[str, Any]] = {}
        out = []
        for i, hit in enumerate(flagged.tolist()):
            if hit:
                out.append(self._plain_row(i, self._findings(i), plausibility[i]))
                continue
            key = (confidence[i], departments[i], bits[i])
            row = shared.get(key)
            if row is None:
                row = shared[key] = self._plain_row(i, [], plausibility[i])
            out.append(row)
        return out

    def _findings(self, i: int) -> list[dict[str, Any]]:
        findings = []
        for name, r in self.checks.items():
            if not r.flagged[i]:
                continue
            figs = {k: _plain(v[i]) for k, v in r.figures.items()}
            if name == "under_declaration":
                figs["since"] = _plain(self.month_ends["since"][i])
                figs["month"] = _plain(self.month_ends["month"][i])
                figs.pop("since_lag", None)
                figs.pop("month_lag", None)
            zh, en = finding_texts(name, figs)
            findings.append({"check": name, "plausibility": _plain(r.plausibility[i]),
                             "figures": figs, "text_zh": zh, "text_en": en})
        return findings

    def _plain_row(self, i: int, findings: list[dict[str, Any]], plausibility: Any) -> dict[str, Any]:
        departments = list(self.departments[i])
        return {"confidence": str(self.confidence[i]),
                "departments": departments,
                "plausibility": plausibility,
                "summary_zh": SUMMARY[0].format(departments=len(departments)),
                "summary_en": SUMMARY[1].format(departments=len(departments)),
                "findings": findings}


#: What each check's finding says, in Chinese and English (``str.format`` over its figures;
#: ``since`` is a month).
TEXTS: dict[str, tuple[str, str]] = {
    "under_declaration": (
        "自{since}起纳税与用电、用工不一致：增值税同比{tax_change:+.0%}，用电量同比"
        "{power_change:+.0%}，参保人数同比{headcount_change:+.0%}，相差{gap:.0%}",
        "Tax and electricity disagree by {gap:.0%} since {since}: VAT {tax_change:+.0%} on a "
        "year earlier, electricity {power_change:+.0%}, insured headcount "
        "{headcount_change:+.0%}"),
    "wage_bill": (
        "人均社保缴费同比{wage_change:+.0%}，而参保人数同比{headcount_change:+.0%}：申报的缴费工资基数下降，人员未减",
        "Pension premiums per insured employee {wage_change:+.0%} on a year earlier while the insured "
        "headcount is {headcount_change:+.0%}: the declared wage base fell, not the staff"),
    "redeclaration": (
        "{months}个月的增值税于{when}被集中重新申报，较首次申报{change:+.0%}",
        "{months} months of VAT were re-declared at once on {when}, {change:+.0%} on the first declarations"),
    "shared_meter": (
        "电表与其他{others}家企业共用，用电量已按各自用工和用电强度分摊",
        "The electricity meter is shared with {others} other firm(s); its readings are split "
        "by each firm's staff and power per head"),
    "agent_exports": (
        "海关近{quiet_months}个月无直接出口记录，而纳税和用电仍在继续，出口或经代理进行",
        "No direct exports at customs for {quiet_months} months while tax and power go on: "
        "exports probably go through an agent"),
    "exports_revenue": (
        "{year:.0f}年海关出口额为申报营业收入的{ratio:.1f}倍，申报收入偏低",
        "Customs exports in {year:.0f} were {ratio:.1f} times the revenue declared for the year"),
    "property_assets": (
        "名下不动产评估值为申报总资产的{ratio:.1f}倍，申报资产偏低",
        "Real estate owned is assessed at {ratio:.1f} times the total assets declared"),
}

#: The line the evaluation opens its data confidence with.
SUMMARY: tuple[str, str] = ("基于{departments}个部门的数据", "Based on {departments} departments")

_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


def month_text(day: str | None, lang: str) -> str:
    """A month as people write it: ``2026年3月`` / ``March 2026``."""
    if not day:
        return "—"
    y, m = int(day[:4]), int(day[5:7])
    return f"{y}年{m}月" if lang == "zh" else f"{_MONTHS_EN[m - 1]} {y}"


def finding_texts(check: str, figures: Mapping[str, Any]) -> tuple[str, str]:
    """A finding in Chinese and English."""
    zh, en = TEXTS[check]
    values = {k: (np.nan if v is None else v) for k, v in figures.items()}
    values["others"] = max(int(figures.get("meter_firms") or 2) - 1, 1)
    out = []
    for lang, template in (("zh", zh), ("en", en)):
        values["since"] = month_text(figures.get("since"), lang)
        out.append(template.format(**values))
    return out[0], out[1]


def _plain(v: Any) -> Any:
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else str(v.astype("datetime64[D]"))
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _departments(ctx: Context) -> np.ndarray:
    """Departments reporting on the firm: a monthly feed with a record in the last 12
    months, any other with a record known at all."""
    # each firm's departments as bits, in the departments' sorted order; then one tuple per
    # distinct set (a few dozen), not a set built per firm
    departments = sorted({kind.department for kind in RECORD_KINDS.values()})
    bit = {d: np.int64(1) << i for i, d in enumerate(departments)}
    mask = np.zeros(ctx.n, dtype=np.int64)
    for kind in RECORD_KINDS.values():
        if ctx.cells is not None and kind.code in ctx.cells.kinds:  # the feature store's cells
            seen = ctx.cells.any_rows(kind.code, 12 if kind.monthly else None)
        else:
            rows = ctx.rows(kind.code)
            if kind.monthly:
                rows = rows.where(ctx.ref_month - ctx.month_of(rows.event) < 12)
            seen = np.bincount(rows.pos, minlength=ctx.n) > 0
        mask[np.asarray(seen, dtype=bool)] |= bit[kind.department]
    sets, which = np.unique(mask, return_inverse=True)
    named = np.empty(len(sets), dtype=object)
    for k, m in enumerate(sets.tolist()):
        named[k] = tuple(d for i, d in enumerate(departments) if m >> i & 1)
    return named[which.reshape(-1)]


def assess(ctx: Context, records: pd.DataFrame, params: Mapping[str, Any] | None = None,
           history: pd.DataFrame | None = None) -> Assessment:
    """Run every check over the context (built on records already passed through
    :func:`split_shared_meters`) and sum each firm up as a data-confidence level:
    ``low`` when the tax under-declaration check flags or the data rests on fewer than two
    monthly departments, ``medium`` when another check flags (a wage base declared lower, a
    shared meter, exports through an agent, property above declared assets) or fewer than three
    monthly departments
    report, ``high`` otherwise. ``history`` (every version of the records, as
    ``scoring.records`` documents it) lets :func:`redeclaration` see corrections; without it
    that check says nothing."""
    p = {**DEFAULTS, **(params or {})}
    checks = {
        "under_declaration": under_declaration(ctx, p),
        "wage_bill": wage_bill(ctx, p),
        "redeclaration": redeclaration(history, ctx.index, ctx.as_of, p),
        "shared_meter": shared_meter(ctx, records),
        "agent_exports": agent_exports(ctx, p),
        "exports_revenue": exports_revenue(ctx, p),
        "property_assets": property_assets(ctx, p),
    }
    departments = _departments(ctx)
    monthly = np.array([sum(d in _MONTHLY_DEPARTMENTS for d in ds) for ds in departments],
                       dtype=np.int64)
    other = np.zeros(ctx.n, dtype=bool)
    for name, r in checks.items():
        if name != "under_declaration":
            other |= r.flagged
    low = checks["under_declaration"].flagged | (monthly < 2)
    confidence = np.where(low, "low", np.where(other | (monthly < 3), "medium", "high"))
    stack = np.stack([r.plausibility for r in checks.values()], axis=1)
    with np.errstate(all="ignore"):
        lowest = np.where(np.isnan(stack).all(axis=1), np.nan, np.nanmin(
            np.where(np.isnan(stack), np.inf, stack), axis=1))
    ud = checks["under_declaration"].figures
    month_ends = {
        "since": np.where(ud["since_lag"] >= 0, ctx.month_end(np.maximum(ud["since_lag"], 0)),
                          np.datetime64("NaT", "D")),
        "month": np.where(ud["month_lag"] >= 0, ctx.month_end(np.maximum(ud["month_lag"], 0)),
                          np.datetime64("NaT", "D")),
    }
    return Assessment(ctx.index, checks, departments, confidence.astype(object), lowest,
                      month_ends)


# ---------------------------------------------------------------------------------------------
# per department


#: Which departments each check reads: a finding is a disagreement between them.
CHECK_DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "under_declaration": ("tax", "utilities", "hrss"),
    "wage_bill": ("hrss",),
    "redeclaration": ("tax",),
    "shared_meter": ("utilities",),
    "agent_exports": ("customs", "tax", "utilities"),
    "exports_revenue": ("customs", "tax"),
    "property_assets": ("natural_resources", "tax"),
}

_LATE_DAYS = 15  # a month's record arriving later than this after the month end is late


#: Months before a department's latest that :func:`feed_health` reads (continuity's twelve
#: and lateness's two lie within them).
_HEALTH_MONTHS = 12


def feed_health(records: pd.DataFrame, firms: pd.DataFrame, as_of: Any,
                checked: Assessment | None = None,
                arrivals: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """How each department's monthly feeds serve the platform, as of ``as_of``: per
    department, ``coverage`` (share of the trading firms with a record in the latest month
    any of its monthly feeds reports), ``continuity`` (share of the firms it reported in the
    twelve months before that are reported in the latest month), ``lateness`` (median and
    90th-percentile days from the month end to the record's arrival, and the share later
    than 15 days, over the last three reported months; only a history frame, with
    ``known_from``, tells) and ``disagreement`` (per check reading the department, the share
    of the firms it covers that the check flags). Aggregates over all firms only.

    ``records`` needs ``uscc``, ``kind`` and ``event_date`` only (the feature store's cells, with
    ``first_event`` as the event date, serve: a firm is reported in a month when it has a row
    of the month by ``as_of``). ``arrivals`` (``kind``, ``event_date``, ``known_from``, ``rows``:
    how many rows of the kind dated that day arrived then) gives the lateness instead of the
    records' ``known_from``, with the same figures as the rows it counts."""
    ts = pd.Timestamp(as_of)
    live = firms
    if "status" in firms.columns:
        live = live[live["status"].fillna("active") == "active"]
    if "founded_on" in firms.columns:
        live = live[pd.to_datetime(live["founded_on"]).isna() | (pd.to_datetime(live["founded_on"]) <= ts)]
    trading = set(live["uscc"])
    # Every row's kind, firm and month as integers, once: a region's cells are tens of
    # millions, and each department's sets are read from codes, not from its rows' texts. A
    # firm's code indexes the per-firm flags; the code -1 (no uscc) reads their spare last slot.
    kind_code, kind_texts = factorize_objects(records["kind"])
    firm_code, usccs = factorize_objects(records["uscc"])
    firm_index = pd.Index(usccs)
    is_trading = np.append(firm_index.isin(list(trading)), False)
    event = records["event_date"].to_numpy(dtype="datetime64[ns]")
    dated = event <= np.datetime64(ts.as_unit("ns").asm8)  # NaT: never
    # the cells' months are their first events' (``server.scores.frames.event_dates`` passes
    # them): not computed again for tens of millions of rows
    month = records["month"].to_numpy(dtype=np.int64) if "month" in records.columns else month_numbers(event)
    flagged_by = ({} if checked is None else
                  {name: np.append(firm_index.isin(checked.index[np.asarray(r.flagged, dtype=bool)]), False)
                   for name, r in checked.checks.items()})
    # each row's monthly department (its place in ``departments``; -1: none, or not dated by
    # then), read from a table of the few kinds: one pass, not a pass per department
    departments = sorted({k.department for k in RECORD_KINDS.values() if k.monthly})
    place = {k.code: departments.index(k.department) for k in RECORD_KINDS.values() if k.monthly}
    # -1 (no kind): the last entry; 8 bits, as the kinds' codes may be: a code per row
    table = np.array([place.get(k, -1) for k in kind_texts] + [-1], dtype=np.int8 if len(departments) < 127 else np.int64)
    dept_code = np.where(dated, table[kind_code], -1)
    out = []
    for d, dept in enumerate(departments):
        kinds = [k.code for k in RECORD_KINDS.values() if k.monthly and k.department == dept]
        mine = dept_code == d
        if not mine.any():
            continue
        m, firm = month[mine], firm_code[mine]
        latest = int(m.max())
        now = np.unique(firm[m == latest])
        before = np.unique(firm[(m < latest) & (m >= latest - _HEALTH_MONTHS)])
        reported = int(is_trading[now].sum())
        entry: dict[str, Any] = {
            "department": dept, "kinds": kinds,
            "month": str(np.datetime64(latest + 1, "M").astype("datetime64[D]") - 1),
            "firms_reported": reported, "firms_trading": len(trading),
            "coverage": round(reported / len(trading), 4) if trading else None,
            "continuity": (round(len(np.intersect1d(now, before, assume_unique=True)) / len(before), 4)
                           if len(before) else None),
        }
        if arrivals is not None:
            came = arrivals[arrivals["kind"].isin(kinds) & (arrivals["event_date"] <= ts)]
            came_month = came["event_date"].to_numpy(dtype="datetime64[M]").astype(np.int64)
            recent = came[came_month >= latest - 2]
            entry.update(_lateness(recent["event_date"], recent["known_from"], recent["rows"].to_numpy()))
        elif "known_from" in records.columns:
            at = np.flatnonzero(mine)[m >= latest - 2]
            entry.update(_lateness(records["event_date"].iloc[at], records["known_from"].iloc[at], None))
        covered = np.union1d(now, before)
        entry["disagreement"] = {
            name: round(int(flagged_by[name][covered].sum()) / len(covered), 4)
            for name, depts in CHECK_DEPARTMENTS.items()
            if dept in depts and name in flagged_by and len(covered)}
        out.append(entry)
    return out


def feed_health_rows(records: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """The rows of ``records`` (``uscc``, ``kind``, ``event_date`` and, where given,
    ``known_from``) that :func:`feed_health` as of ``as_of`` reads: its departments' monthly
    rows dated by then, over their last thirteen months; without ``known_from``, one row per
    firm, kind and month (the earliest). ``feed_health`` of them, or of the rows of several
    parts of a region put together, equals ``feed_health`` of all the rows: a part's latest month
    is never after the region's, so a part keeps at least the months the region needs."""
    ts = pd.Timestamp(as_of)
    columns = [c for c in ("uscc", "kind", "event_date", "known_from") if c in records.columns]
    # On integer codes of the whole frame's columns (a store's read hands them over: no text is
    # compared or hashed per row), months since 1970-01 and the departments' codes, and the rows
    # taken once at the end. (As periods and texts, the months' objects and the duplicates'
    # hashing were half of a Dask part's time; the kinds compared as texts, a tenth after that.)
    kind, kinds = factorize_objects(records["kind"])
    departments = {k.code: k.department for k in RECORD_KINDS.values() if k.monthly}
    dept_of_kind, _ = pd.factorize(np.array([departments.get(k) for k in kinds.tolist()], dtype=object))
    dept_of_kind = np.append(dept_of_kind, -1)  # a missing kind (code -1): no department
    at = np.flatnonzero((dept_of_kind[kind] >= 0) & (records["event_date"] <= ts).to_numpy())
    if at.size:
        month = month_numbers(records["event_date"].to_numpy()[at])
        dept = dept_of_kind[kind[at]]
        latest = np.full(int(dept.max()) + 1, np.iinfo(np.int64).min)
        np.maximum.at(latest, dept, month)
        keep = month >= latest[dept] - _HEALTH_MONTHS
        at, month = at[keep], month[keep]
    if at.size and "known_from" not in columns:
        # each firm, kind and month's earliest row (the first of equal days), in date order
        firm, _ = factorize_objects(records["uscc"])
        span = int(month.max() - month.min()) + 1
        key = (firm[at].astype(np.int64) * len(kinds) + kind[at]) * span + (month - month.min())
        order = np.argsort(records["event_date"].to_numpy()[at], kind="stable")
        _, first = np.unique(key[order], return_index=True)
        at = at[order[np.sort(first)]]
    return pd.DataFrame({c: records[c].array.take(at) for c in columns}, copy=False)


def _lateness(event: pd.Series, known: pd.Series, rows: np.ndarray | None) -> dict[str, Any]:
    """Median and 90th percentile of the days from the event to the arrival, and the share
    later than ``_LATE_DAYS``; ``rows``: how many rows each (event, arrival) pair stands for
    (the quantiles interpolate as ``numpy.quantile`` does over the rows one by one)."""
    late = (np.asarray((known - event).array.total_seconds(), dtype=float) / 86_400).clip(min=0)
    weight = np.ones(len(late), dtype=np.int64) if rows is None else rows.astype(np.int64)
    keep = (weight > 0) & ~np.isnan(late)
    late, weight = late[keep], weight[keep]
    total = int(weight.sum())
    if total == 0:
        return {"lateness_days_median": None, "lateness_days_p90": None, "late_share": None}
    order = np.argsort(late, kind="stable")
    late, weight = late[order], weight[order]
    upto = np.cumsum(weight)

    def quantile(q: float) -> float:
        h = (total - 1) * q  # the position among the rows sorted one by one
        lo, hi = int(np.floor(h)), int(np.ceil(h))
        pair = late[np.searchsorted(upto, [lo, hi], side="right")]
        return float(np.quantile(pair, h - lo))

    return {"lateness_days_median": round(quantile(0.5), 1),
            "lateness_days_p90": round(quantile(0.9), 1),
            "late_share": round(float(weight[late > _LATE_DAYS].sum() / total), 4)}
