"""A monthly macro risk index per industry section and per town, from grades, warnings and
defaults.

For each month end and each group of firms (the whole region, each GB/T 4754 section, each
town) it counts, over the firms existing that month (founded on or before the month end):

* ``share_cd``: share of graded firms whose latest grade known at the month end is C or D;
* ``mean_pd``: their mean probability of default;
* ``red_per_100`` / ``yellow_per_100``: red and yellow warnings open at any time during the
  month, per 100 firms;
* ``default_rate``: firms whose first default falls in the month, over the firms not yet
  defaulted when it began.

Each row also carries the sums behind its ratios (``bad``, ``pd_sum``, ``red``, ``yellow``,
``at_risk``), so :func:`merge_groups` can pool groups too small to publish on their own.

The composite ``index`` (0-100) is a weighted mean of the components, each divided by a fixed
anchor and capped at 1 (see :class:`MacroWeights`). Fixed anchors, not ranks among groups, keep
the index comparable across months, groups and regions: 0 means no risk signal at all, 100
every component at or beyond its anchor. A component a group lacks (no graded firm, no
warnings frame given) drops out and the remaining weights are rescaled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

__all__ = ["DIMENSIONS", "MacroWeights", "macro_index"]

#: Grouping dimensions of the index and the firm column each reads (None = the whole region).
DIMENSIONS: dict[str, str | None] = {
    "region": None,
    "industry": "industry_section",
    "town": "town",
}

_COMPONENTS = ("share_cd", "mean_pd", "red_per_100", "yellow_per_100", "default_rate_annual")
_BAD_GRADES = ("C", "D")


@dataclass(frozen=True, slots=True)
class MacroWeights:
    """Weights (summing to 1) and anchors of the composite index.

    A component contributes ``weight * min(1, value / anchor)``. Defaults: half the firms
    graded C/D is about Weihai's normal split, so ``share_cd`` is anchored at 1 (all firms);
    a mean PD of 20 %, 10 red or 30 yellow warnings per 100 firms and an annualised default
    rate (monthly x 12) of 20 % each count as the worst case. A normal county scores ~30.
    """

    share_cd: float = 0.25
    mean_pd: float = 0.20
    red_per_100: float = 0.15
    yellow_per_100: float = 0.10
    default_rate_annual: float = 0.30
    anchor_share_cd: float = 1.0
    anchor_mean_pd: float = 0.20
    anchor_red_per_100: float = 10.0
    anchor_yellow_per_100: float = 30.0
    anchor_default_rate_annual: float = 0.20

    def __post_init__(self) -> None:
        w = [getattr(self, c) for c in _COMPONENTS]
        if any(x < 0 for x in w) or not np.isclose(sum(w), 1.0):
            raise ValueError("weights: must be non-negative and sum to 1")
        if any(getattr(self, f.name) <= 0 for f in fields(self) if f.name.startswith("anchor_")):
            raise ValueError("anchors: must be positive")


def _naive(s: pd.Series) -> pd.Series:
    """Dates as naive timestamps; aware ones are read in China time (months end there)."""
    s = pd.to_datetime(s)
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    return s


def _month_of(dates: pd.Series, months: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Position of the month (given by its end) each date falls in: -1 before the first
    month, len(months) after the last; and which dates are missing."""
    d = _naive(dates)
    ends = (months + pd.Timedelta(days=1)).to_numpy()  # a month ends at the next midnight
    first_start = (months[0] - pd.offsets.MonthBegin(1)).to_datetime64()
    pos = np.searchsorted(ends, d.to_numpy(), side="right")
    missing = d.isna().to_numpy()
    pos = np.where(d.to_numpy() < first_start, -1, pos)
    return np.where(missing, len(months), pos), missing


def _ffill_cols(a: np.ndarray) -> np.ndarray:
    """Carry each row's last non-NaN value forward along the columns."""
    idx = np.where(~np.isnan(a), np.arange(a.shape[1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = a[np.arange(a.shape[0])[:, None], idx]
    return out


def macro_index(firms: pd.DataFrame, grades: pd.DataFrame,
                warnings: pd.DataFrame | None = None,
                defaults: pd.Series | pd.DataFrame | None = None, *,
                months: Sequence[object] | pd.DatetimeIndex | None = None,
                weights: MacroWeights | None = None) -> pd.DataFrame:
    """The monthly macro risk index (see the module docstring), one row per (month,
    dimension, group).

    ``firms``: ``uscc``, ``industry_section``, ``town`` and optionally ``founded_on``.
    ``grades``: score history rows ``uscc``, ``as_of``, ``grade`` (A..D), ``pd``; the latest
    row on or before a month end counts for that month. ``warnings``: ``uscc``, ``level``
    (red/yellow/blue), ``opened_at``, ``closed_at`` (NaT while open). ``defaults``: first
    default date per firm, a Series indexed by uscc or a frame with ``uscc``, ``default_date``.
    ``months``: the month ends to report (default: every month end spanned by the grades).
    """
    w = weights or MacroWeights()
    uscc = pd.Index(firms["uscc"].to_numpy(dtype=object))
    if uscc.has_duplicates:
        raise ValueError("firms: uscc must be unique")
    n = len(uscc)
    if months is None:
        asof = _naive(grades["as_of"]).dropna()
        if not len(asof):
            raise ValueError("months: no grades to take the months from; pass months")
        months = pd.date_range(asof.min() + pd.offsets.MonthEnd(0),
                               asof.max() + pd.offsets.MonthEnd(0), freq="ME")
    months = pd.DatetimeIndex(pd.to_datetime(list(months))).normalize()
    if not len(months) or not months.is_monotonic_increasing or months.has_duplicates:
        raise ValueError("months: must be increasing month ends")
    M = len(months)

    exists = np.ones((n, M), dtype=bool)
    if "founded_on" in firms:
        founded = _naive(firms["founded_on"]).to_numpy()
        exists = ~(founded[:, None] > months.to_numpy()[None, :])

    # latest grade and PD per firm and month, carried forward
    bad = np.full((n, M), np.nan)
    pd_ = np.full((n, M), np.nan)
    g = grades.loc[grades["uscc"].isin(uscc)]
    if len(g):
        fi = uscc.get_indexer(g["uscc"])
        mi, missing = _month_of(g["as_of"], months)
        order = np.lexsort((_naive(g["as_of"]).to_numpy(), fi))
        order = order[~missing[order] & (mi[order] < M)]
        fi, mi = fi[order], np.maximum(mi[order], 0)  # grades before the first month carry in
        last = np.r_[(fi[1:] != fi[:-1]) | (mi[1:] != mi[:-1]), True]  # latest of each cell
        fi, mi, rows = fi[last], mi[last], order[last]
        bad[fi, mi] = np.isin(g["grade"].astype(str).to_numpy()[rows], _BAD_GRADES)
        pd_[fi, mi] = pd.to_numeric(g["pd"]).to_numpy(dtype=float)[rows]
        bad, pd_ = _ffill_cols(bad), _ffill_cols(pd_)
    graded = ~np.isnan(bad) & exists

    # first default month per firm
    dmonth = np.full(n, M + 1)
    if defaults is not None:
        ds = (defaults.set_index("uscc")["default_date"] if isinstance(defaults, pd.DataFrame)
              else defaults)
        m, missing = _month_of(ds.reindex(uscc), months)
        dmonth = np.where(missing, M + 1, m)  # -1: defaulted before the first month
    col = np.arange(M)[None, :]
    at_risk = exists & (dmonth[:, None] >= col)
    new_default = exists & (dmonth[:, None] == col)

    # red / yellow warnings open at any time in the month
    red = np.zeros((n, M + 1))
    yellow = np.zeros((n, M + 1))
    if warnings is not None and len(warnings):
        wr = warnings.loc[warnings["uscc"].isin(uscc)]
        fi = uscc.get_indexer(wr["uscc"])
        lo, no_open = _month_of(wr["opened_at"], months)
        if "closed_at" in wr:
            hi, still_open = _month_of(wr["closed_at"], months)
        else:
            hi, still_open = np.full(len(wr), M), np.ones(len(wr), dtype=bool)
        hi = np.where(still_open, M - 1, np.minimum(hi, M - 1))
        lo = np.maximum(lo, 0)
        ok = ~no_open & (lo < M) & (hi >= lo)
        lvl = wr["level"].astype(str).to_numpy()
        for arr, level in ((red, "red"), (yellow, "yellow")):
            sel = ok & (lvl == level)
            np.add.at(arr, (fi[sel], lo[sel]), 1.0)
            np.add.at(arr, (fi[sel], hi[sel] + 1), -1.0)
        red, yellow = np.cumsum(red, axis=1)[:, :M], np.cumsum(yellow, axis=1)[:, :M]
    else:
        red, yellow = red[:, :M], yellow[:, :M]

    frames = []
    for dim, column in DIMENSIONS.items():
        if column is None:
            code, labels = np.zeros(n, dtype=np.int64), np.array(["all"], dtype=object)
        else:
            code, labels = pd.factorize(firms[column].astype(object).fillna("?"), sort=True)
            labels = np.asarray(labels, dtype=object)
        k = len(labels)

        def total(x: np.ndarray, code: np.ndarray = code, k: int = k) -> np.ndarray:
            key = (code[:, None] * M + col).ravel()
            return np.bincount(key, weights=x.ravel().astype(float), minlength=k * M)

        n_firms = total(exists)
        n_graded = total(graded)
        with np.errstate(divide="ignore", invalid="ignore"):
            share_cd = total(np.where(graded, bad, 0.0)) / n_graded
            mean_pd = total(np.where(graded, pd_, 0.0)) / n_graded
            red_100 = 100 * total(np.where(exists, red, 0.0)) / n_firms
            yel_100 = 100 * total(np.where(exists, yellow, 0.0)) / n_firms
            n_default = total(new_default)
            rate = n_default / total(at_risk)
        frames.append(pd.DataFrame({
            "month": np.tile(months.to_numpy(), k),
            "dimension": dim,
            "group": np.repeat(labels, M),
            "firms": n_firms.astype(np.int64),
            "graded": n_graded.astype(np.int64),
            "share_cd": share_cd,
            "mean_pd": mean_pd,
            "red_per_100": red_100 if warnings is not None else np.nan,
            "yellow_per_100": yel_100 if warnings is not None else np.nan,
            "defaults": n_default.astype(np.int64),
            "default_rate": rate if defaults is not None else np.nan,
            # the sums behind the ratios, so groups can be merged later (see merge_groups)
            "bad": total(np.where(graded, bad, 0.0)),
            "pd_sum": total(np.where(graded, pd_, 0.0)),
            "red": total(np.where(exists, red, 0.0)) if warnings is not None else np.nan,
            "yellow": total(np.where(exists, yellow, 0.0)) if warnings is not None else np.nan,
            "at_risk": total(at_risk).astype(np.int64) if defaults is not None else -1,
        }))
    out = pd.concat(frames, ignore_index=True)
    out["index"] = composite(out, w)
    return out


def composite(frame: pd.DataFrame, weights: MacroWeights | None = None) -> np.ndarray:
    """The 0-100 index of rows holding the components (``default_rate`` monthly)."""
    w = weights or MacroWeights()
    values = {
        "share_cd": frame["share_cd"].to_numpy(dtype=float),
        "mean_pd": frame["mean_pd"].to_numpy(dtype=float),
        "red_per_100": frame["red_per_100"].to_numpy(dtype=float),
        "yellow_per_100": frame["yellow_per_100"].to_numpy(dtype=float),
        "default_rate_annual": 12 * frame["default_rate"].to_numpy(dtype=float),
    }
    num = np.zeros(len(frame))
    den = np.zeros(len(frame))
    for c in _COMPONENTS:
        x = values[c]
        have = ~np.isnan(x)
        part = np.minimum(np.where(have, x, 0.0) / getattr(w, "anchor_" + c), 1.0)
        num += getattr(w, c) * part * have
        den += getattr(w, c) * have
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 100 * num / den, np.nan)


#: The counts and sums a merged group adds up (``at_risk`` is -1 when defaults were not given).
SUMS = ("firms", "graded", "defaults", "bad", "pd_sum", "red", "yellow", "at_risk")


def merge_groups(rows: pd.DataFrame, group: str, weights: MacroWeights | None = None) -> dict[str, object]:
    """One row pooling ``rows`` (groups of one month and dimension, with the sums
    :func:`macro_index` writes) as group ``group``: counts and sums added, ratios and the
    index recomputed as if the firms had been one group from the start."""
    if not len(rows):
        raise ValueError("rows: nothing to merge")
    sums = {c: float(pd.to_numeric(rows[c]).sum(min_count=1)) for c in SUMS}
    has_warnings = not rows["red"].isna().any()
    has_defaults = bool((pd.to_numeric(rows["at_risk"]) >= 0).all())

    def ratio(num: float, den: float, scale: float = 1.0) -> float:
        return scale * num / den if den > 0 else float("nan")

    out: dict[str, object] = {
        "month": rows["month"].iloc[0], "dimension": rows["dimension"].iloc[0], "group": group,
        "firms": int(sums["firms"]), "graded": int(sums["graded"]),
        "share_cd": ratio(sums["bad"], sums["graded"]),
        "mean_pd": ratio(sums["pd_sum"], sums["graded"]),
        "red_per_100": ratio(sums["red"], sums["firms"], 100.0) if has_warnings else float("nan"),
        "yellow_per_100": ratio(sums["yellow"], sums["firms"], 100.0) if has_warnings else float("nan"),
        "defaults": int(sums["defaults"]),
        "default_rate": ratio(sums["defaults"], sums["at_risk"]) if has_defaults else float("nan"),
        "bad": sums["bad"], "pd_sum": sums["pd_sum"],
        "red": sums["red"] if has_warnings else float("nan"),
        "yellow": sums["yellow"] if has_warnings else float("nan"),
        "at_risk": int(sums["at_risk"]) if has_defaults else -1,
    }
    out["index"] = float(composite(pd.DataFrame([out]), weights)[0])
    return out


__all__ += ["SUMS", "composite", "merge_groups"]
