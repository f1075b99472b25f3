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

__all__ = ["COMPONENTS", "DIMENSIONS", "PANEL_COLUMNS", "SUM_COLUMNS", "CreditIndexWeights", "add_sums",
           "credit_index", "index_from_sums", "index_sums"]

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


#: :func:`index_sums`' columns besides ``group``, ``month`` and ``prev``: the firm-months
#: counted, and their components' sums in the month (``s_``) and in the firm's previous month
#: (``p_``).
SUM_COLUMNS = ("n", *(f"s_{c}" for c in COMPONENTS), *(f"p_{c}" for c in COMPONENTS))


def _checked(panel: pd.DataFrame, base_month: object | None) -> pd.DataFrame:
    missing = [c for c in PANEL_COLUMNS if c not in panel]
    if missing:
        raise ValueError(f"panel: missing columns {missing}")
    data = panel.loc[:, list(PANEL_COLUMNS)].copy()
    data["month"] = pd.to_datetime(data["month"]).dt.normalize()
    firm, month = data["firm"].to_numpy(), data["month"].to_numpy()
    later = (firm[1:] > firm[:-1]) | ((firm[1:] == firm[:-1]) & (month[1:] > month[:-1]))
    if not later.all():  # not yet in firm and month order (a panel read from the store is)
        data = data.sort_values(["firm", "month"], kind="stable")
        firm, month = data["firm"].to_numpy(), data["month"].to_numpy()
    if ((firm[1:] == firm[:-1]) & (month[1:] == month[:-1])).any():
        raise ValueError("panel: one row per firm and month")
    if base_month is not None:
        data = data[data["month"] >= pd.Timestamp(base_month).normalize()]
    return data


def index_sums(panel: pd.DataFrame, firms: pd.DataFrame, *, by: str = "region",
               base_month: object | None = None) -> pd.DataFrame:
    """What :func:`credit_index` reads of a panel, as sums that add up across panels of disjoint
    firms (the parts of a region): per ``group`` (None for firms without the attribute),
    ``month`` and ``prev`` (each firm's previous month in its panel, NaT for its first), the
    :data:`SUM_COLUMNS`. A firm is matched in month ``m`` exactly when its previous month is
    the region's month before ``m``, so the parts need not know the region's months."""
    if by not in DIMENSIONS:
        raise ValueError(f"by: one of {sorted(DIMENSIONS)}, not {by!r}")
    data = _checked(panel, base_month)  # in firm and month order
    column = DIMENSIONS[by]
    if column is None:
        codes = pd.Series(REGION, index=data.index, dtype=object)
    else:
        attrs: Mapping[object, object] = firms.set_index("firm")[column].to_dict()
        codes = data["firm"].map(attrs)
        codes = codes.where(codes.isna(), codes.astype(str)).astype(object)
    values = _values(data)
    first = (data["firm"] != data["firm"].shift()).to_numpy()
    prev_month = data["month"].shift().where(~first)
    previous = values.shift()
    previous.loc[first] = 0.0
    frame = pd.DataFrame({"group": codes.to_numpy(), "month": data["month"].to_numpy(),
                          "prev": prev_month.to_numpy(), "n": np.ones(len(data), dtype=np.int64)})
    for c in COMPONENTS:
        frame[f"s_{c}"] = values[c].to_numpy()
    for c in COMPONENTS:
        frame[f"p_{c}"] = previous[c].to_numpy()
    return add_sums([frame])


def add_sums(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The :func:`index_sums` of the parts' firms together."""
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["group", "month", "prev", *SUM_COLUMNS])
    frame["month"] = pd.to_datetime(frame["month"])
    frame["prev"] = pd.to_datetime(frame["prev"])
    return (frame.groupby(["group", "month", "prev"], dropna=False, sort=True)[list(SUM_COLUMNS)].sum()
            .reset_index())


def _group_series(sums: pd.DataFrame, months_all: list[pd.Timestamp], before: dict[pd.Timestamp, pd.Timestamp],
                  base: pd.Timestamp, min_firms: int, w: np.ndarray) -> list[dict[str, object]]:
    """The published points of one group (``sums``: its rows of :func:`index_sums`)."""
    s_cols = [f"s_{c}" for c in COMPONENTS]
    p_cols = [f"p_{c}" for c in COMPONENTS]
    expected = pd.to_datetime(sums["month"].map(before))
    matched_row = (sums["prev"].to_numpy(dtype="datetime64[ns]") == expected.to_numpy(dtype="datetime64[ns]"))
    all_of = sums.groupby("month")[["n", *s_cols]].sum()
    matched_of = sums[matched_row].groupby("month")[["n", *s_cols, *p_cols]].sum()
    points: list[dict[str, object]] = []
    level: float | None = None  # the index of the previous month, None when the chain is broken
    for m in months_all:
        n = int(all_of.at[m, "n"]) if m in all_of.index else 0
        if n < min_firms:
            level = None
            continue
        means = all_of.loc[m, s_cols].to_numpy(dtype=float) / n
        restart = level is None
        matched = 0
        if not restart:
            matched = int(matched_of.at[m, "n"]) if m in matched_of.index else 0
            if matched < min_firms:
                restart = True
            else:
                row = matched_of.loc[m]
                level = level * _link(row[p_cols].to_numpy(dtype=float) / matched,
                                      row[s_cols].to_numpy(dtype=float) / matched, w)
        if restart:
            level, matched = 100.0, 0
        points.append({"month": m, "index": float(level), "firms": n,
                       "matched": int(matched), "restart": bool(restart and m != base),
                       "components": {c: float(v) for c, v in zip(COMPONENTS, means, strict=True)}})
    return points


def index_from_sums(sums: pd.DataFrame, *, min_firms: int = 1, base_month: object | None = None,
                    weights: CreditIndexWeights | None = None) -> tuple[pd.Timestamp | None,
                                                                         dict[str, list[dict[str, object]]]]:
    """:func:`credit_index` from the panel's :func:`index_sums` (of one part or of all parts
    added by :func:`add_sums`)."""
    if min_firms < 1:
        raise ValueError("min_firms: must be at least 1")
    w = (weights or CreditIndexWeights()).as_array()
    if sums.empty:
        return (None if base_month is None else pd.Timestamp(base_month).normalize()), {}
    months_all = [pd.Timestamp(m) for m in sorted(sums["month"].unique())]
    base = months_all[0] if base_month is None else pd.Timestamp(base_month).normalize()
    before = dict(zip(months_all[1:], months_all[:-1], strict=True))
    coded = sums[sums["group"].notna()]
    out: dict[str, list[dict[str, object]]] = {}
    for code, rows in coded.groupby("group", sort=True):
        points = _group_series(rows, months_all, before, base, min_firms, w)
        if points:
            out[str(code)] = points
    return base, out


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
    if min_firms < 1:
        raise ValueError("min_firms: must be at least 1")
    return index_from_sums(index_sums(panel, firms, by=by, base_month=base_month), min_firms=min_firms,
                           base_month=base_month, weights=weights)
