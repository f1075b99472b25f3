"""The monthly credit index (信用指数): base 100 at a base month, chain-linked on matched firms.

For each group of firms (the region, an industry section or division, a town, a size class)
and each month, four components are averaged over the firms of the group, all higher-is-better:

* ``score``: the mean credit score;
* ``grade_ab``: the share of firms graded A or B;
* ``no_warning``: the share without an open red or yellow warning at the month end;
* ``no_default``: the share that did not default in the month.

Month ``m`` is linked to month ``m-1`` on the firms of the group present in both months only
(the *matched* firms ``F``), so a firm entering or leaving never moves the index::

    R_c(m)  = mean_{f in F} x_c(f, m) / mean_{f in F} x_c(f, m-1)       for each component c
    L(m)    = sum_c w_c * R_c(m)                                         (weights sum to 1)
    I(base) = 100,   I(m) = I(m-1) * L(m)

A component whose previous mean is 0 has no ratio; it drops out of that month's link and the
other weights are rescaled (if all drop out, the link is 1).

K rule: a group's month is published only when the group has at least ``min_firms`` firms in
the month and, for a linked month, at least ``min_firms`` matched firms. A month that fails
breaks the chain: nothing is published for it, and the series restarts at 100 at the next month
that holds enough firms on its own (that point is flagged ``restart``). Levels either side of
a break are therefore not comparable. Pure and deterministic: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["COMPONENTS", "DIMENSIONS", "PANEL_COLUMNS", "CreditIndexWeights", "credit_index"]

#: The firm-month panel: one row per firm and month end.
PANEL_COLUMNS = ("firm", "month", "score", "grade", "warned", "defaulted")

#: Grouping dimensions and the firm attribute column each reads (None = the whole region).
DIMENSIONS: dict[str, str | None] = {
    "region": None,
    "section": "industry_section",
    "division": "industry_division",
    "town": "town",
    "size": "size_class",
}

COMPONENTS = ("score", "grade_ab", "no_warning", "no_default")

#: The code of the whole region's group.
REGION = "all"


@dataclass(frozen=True, slots=True)
class CreditIndexWeights:
    """Fixed weights of the components' month-on-month ratios (non-negative, summing to 1).

    The score carries the most (it sums every indicator); grades, warnings and defaults add
    what the score alone moves slowly on: a grade boundary crossed, a live warning, a default.
    """

    score: float = 0.4
    grade_ab: float = 0.2
    no_warning: float = 0.2
    no_default: float = 0.2

    def __post_init__(self) -> None:
        w = [getattr(self, c) for c in COMPONENTS]
        if any(x < 0 for x in w) or not np.isclose(sum(w), 1.0):
            raise ValueError("weights: must be non-negative and sum to 1")

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, c) for c in COMPONENTS], dtype=float)


def _values(panel: pd.DataFrame) -> pd.DataFrame:
    """The components of each firm-month (one column each)."""
    return pd.DataFrame({
        "score": pd.to_numeric(panel["score"]).astype(float).to_numpy(),
        "grade_ab": panel["grade"].astype(str).isin(["A", "B"]).astype(float).to_numpy(),
        "no_warning": (~panel["warned"].astype(bool)).astype(float).to_numpy(),
        "no_default": (~panel["defaulted"].astype(bool)).astype(float).to_numpy(),
    }, index=panel.index)


def _link(prev: np.ndarray, cur: np.ndarray, w: np.ndarray) -> float:
    """``L(m)`` from the matched firms' component means of two months."""
    ok = prev > 0
    if not ok.any() or w[ok].sum() <= 0:
        return 1.0
    return float(np.sum(w[ok] * cur[ok] / prev[ok]) / w[ok].sum())


def _group_series(values: pd.DataFrame, firms: np.ndarray, months: np.ndarray,
                  months_all: list[pd.Timestamp], base: pd.Timestamp, min_firms: int,
                  w: np.ndarray) -> list[dict[str, object]]:
    """The published points of one group (``values`` holds its firm-months)."""
    by_month: dict[pd.Timestamp, pd.DataFrame] = {}
    for m in months_all:
        sel = months == np.datetime64(m, "ns")
        by_month[m] = pd.DataFrame(values.to_numpy()[sel], index=firms[sel], columns=list(COMPONENTS))
    points: list[dict[str, object]] = []
    level: float | None = None  # the index of the previous month, None when the chain is broken
    prev: pd.DataFrame | None = None
    for m in months_all:
        cur = by_month[m]
        if len(cur) < min_firms:
            level, prev = None, None
            continue
        means = cur.mean().to_numpy()
        restart = level is None
        matched = 0
        if not restart and prev is not None:
            common = cur.index.intersection(prev.index)
            matched = len(common)
            if matched < min_firms:
                restart = True
            else:
                level = level * _link(prev.loc[common].mean().to_numpy(),
                                      cur.loc[common].mean().to_numpy(), w)
        if restart:
            level, matched = 100.0, 0
        points.append({"month": m, "index": float(level), "firms": int(len(cur)),
                       "matched": int(matched), "restart": bool(restart and m != base),
                       "components": {c: float(v) for c, v in zip(COMPONENTS, means, strict=True)}})
        prev = cur
    return points


def credit_index(panel: pd.DataFrame, firms: pd.DataFrame, *, by: str = "region",
                 min_firms: int = 1, base_month: object | None = None,
                 weights: CreditIndexWeights | None = None) -> tuple[pd.Timestamp | None,
                                                                      dict[str, list[dict[str, object]]]]:
    """The credit index of every group of dimension ``by`` (see the module docstring).

    ``panel``: ``PANEL_COLUMNS`` (``month`` a month-end date; ``warned``: an open red/yellow
    warning at the month end; ``defaulted``: a first default in the month), one row per firm
    and month. ``firms``: ``firm`` and the attribute columns of :data:`DIMENSIONS`.
    ``base_month``: the month at 100 (default the panel's first); earlier months are left out.
    Returns the base month and, per group code, its published points in month order: dicts
    with ``month``, ``index``, ``firms``, ``matched`` (0 at a chain start), ``restart`` (a
    chain started after the base month) and the group's ``components`` (means over all its
    firms that month).
    """
    if by not in DIMENSIONS:
        raise ValueError(f"by: one of {sorted(DIMENSIONS)}, not {by!r}")
    if min_firms < 1:
        raise ValueError("min_firms: must be at least 1")
    w = (weights or CreditIndexWeights()).as_array()
    missing = [c for c in PANEL_COLUMNS if c not in panel]
    if missing:
        raise ValueError(f"panel: missing columns {missing}")
    data = panel.loc[:, list(PANEL_COLUMNS)].copy()
    data["month"] = pd.to_datetime(data["month"]).dt.normalize()
    if data.duplicated(["firm", "month"]).any():
        raise ValueError("panel: one row per firm and month")
    if base_month is not None:
        base = pd.Timestamp(base_month).normalize()
        data = data[data["month"] >= base]
    if data.empty:
        return (None if base_month is None else pd.Timestamp(base_month).normalize()), {}
    base = data["month"].min() if base_month is None else pd.Timestamp(base_month).normalize()
    months_all = sorted(data["month"].unique())
    months_all = [pd.Timestamp(m) for m in months_all]
    column = DIMENSIONS[by]
    if column is None:
        codes = pd.Series(REGION, index=data.index)
    else:
        attrs: Mapping[object, object] = firms.set_index("firm")[column].to_dict()
        codes = data["firm"].map(attrs)
        data, codes = data[codes.notna()], codes[codes.notna()].astype(str)
    data = data.sort_values(["month", "firm"], kind="stable")
    codes = codes.loc[data.index]
    values = _values(data)
    out: dict[str, list[dict[str, object]]] = {}
    for code in sorted(codes.unique()):
        sel = (codes == code).to_numpy()
        points = _group_series(values[sel], data["firm"].to_numpy()[sel],
                               data["month"].to_numpy()[sel].astype("datetime64[ns]"),
                               months_all, base, min_firms, w)
        if points:
            out[str(code)] = points
    return base, out
