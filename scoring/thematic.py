"""Thematic analysis of a region (issue 14), pure: group figures from a firm table, location
quotients of industry clusters, resource intensities and their outliers, and the secondary
suppression of a two-way table so that no withheld cell can be recovered from its row and
column totals. The server reads the data and applies the minimum group size; nothing here
knows where the figures go."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "FIRM_FRAME_COLUMNS", "GRADES", "RESOURCES", "WARNING_LEVELS", "group_figures", "location_quotients",
    "resource_intensity", "robust_outliers", "suppress_table",
]

GRADES = ("A", "B", "C", "D")
WARNING_LEVELS = ("red", "yellow", "blue")
RESOURCES = ("electricity", "water", "gas")

#: One row per firm: who it is (section, division, town, size), its latest grade and score,
#: its open warnings, the last twelve months of tax, headcount and resource use, its loans.
FIRM_FRAME_COLUMNS = (
    "firm", "section", "division", "town", "size", "grade", "score",
    "red", "yellow", "blue", "tax_yuan", "headcount",
    "electricity", "water", "gas",
    "loans", "loan_amount_yuan", "outstanding_yuan", "fund_exposure_yuan",
)
_SUMS = ("red", "yellow", "blue", "tax_yuan", "headcount", "electricity", "water", "gas", "loans",
         "loan_amount_yuan", "outstanding_yuan", "fund_exposure_yuan")


#: Sums that few firms of a group may make up alone (a loan, the fund's cover): the count of
#: firms contributing to each (``n_<column>``) goes with it, so a caller can withhold a sum that
#: would be one firm's figure.
_CONTRIBUTED = ("loan_amount_yuan", "outstanding_yuan", "fund_exposure_yuan")


def group_figures(frame: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Per group of ``by``: ``firms``, the count of each grade (``grade_A`` ...), ``mean_score``
    over graded firms, the sums of ``_SUMS`` (warnings by level, tax, headcount, resource use,
    loans and exposure), and ``n_<column>``: how many firms contribute to each sum of
    ``_CONTRIBUTED``. Missing values count as absent, never as zero scores."""
    keys = [by] if isinstance(by, str) else list(by)
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "firms", *(f"grade_{g}" for g in GRADES), "mean_score", *_SUMS,
                                     *(f"n_{c}" for c in _CONTRIBUTED)])
    grades = pd.get_dummies(frame["grade"]).reindex(columns=list(GRADES), fill_value=False).astype(int)
    work = pd.concat([frame[keys + ["score", *_SUMS]], grades.add_prefix("grade_"),
                      (frame[list(_CONTRIBUTED)] > 0).astype(int).add_prefix("n_")], axis=1)
    out = work.groupby(keys, sort=True, dropna=False).agg(
        firms=("score", "size"), mean_score=("score", "mean"),
        **{f"grade_{g}": (f"grade_{g}", "sum") for g in GRADES},
        **{c: (c, "sum") for c in _SUMS},
        **{f"n_{c}": (f"n_{c}", "sum") for c in _CONTRIBUTED},
    ).reset_index()
    return out


def location_quotients(frame: pd.DataFrame, row: str, col: str, measure: str | None = None) -> pd.Series:
    """The location quotient of each (row, col) cell: the cell's share of its column (a town)
    over the row's share of the whole (an industry's share of the region). ``measure`` None
    counts firms; else sums the column ``measure`` (tax, headcount). NaN where a total is 0."""
    values = frame.assign(_one=1.0)["_one" if measure is None else measure].astype(float)
    work = frame[[row, col]].assign(v=values.to_numpy())
    cell = work.groupby([row, col])["v"].sum()
    by_row = work.groupby(row)["v"].sum()
    by_col = work.groupby(col)["v"].sum()
    total = float(values.sum())
    rows = by_row.reindex(cell.index.get_level_values(0)).to_numpy()
    cols = by_col.reindex(cell.index.get_level_values(1)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        lq = (cell.to_numpy() / cols) / (rows / total) if total > 0 else np.full(len(cell), np.nan)
    lq = np.where(np.isfinite(lq), lq, np.nan)
    return pd.Series(lq, index=cell.index, name="lq")


def resource_intensity(figures: pd.DataFrame) -> pd.DataFrame:
    """Per group: each resource's use per 10,000 yuan of tax and per head (NaN where the group
    paid no tax or insured nobody: a ratio over nothing is not a figure)."""
    out = pd.DataFrame(index=figures.index)
    tax = figures["tax_yuan"].astype(float).where(figures["tax_yuan"] > 0)
    heads = figures["headcount"].astype(float).where(figures["headcount"] > 0)
    for r in RESOURCES:
        use = figures[r].astype(float)
        out[f"{r}_per_10k_tax"] = use / (tax / 10_000)
        out[f"{r}_per_head"] = use / heads
    return out


def robust_outliers(values: Mapping[Hashable, float], threshold: float = 3.5, *,
                    log: bool = False) -> set[Hashable]:
    """Keys whose value is an outlier by the modified z-score (Iglewicz and Hoaglin): |0.6745 ·
    (x − median) / MAD| > ``threshold``; with a MAD of 0 the mean absolute deviation stands in
    (scaled by 1.2533, as for a normal distribution), and with that 0 too nothing is an outlier.
    ``log``: on log(1 + x), for ratios that spread multiplicatively (use per unit of tax). NaNs
    are skipped; fewer than four values name no outlier (too few to tell)."""
    clean = {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v) and (not log or v >= 0)}
    if len(clean) < 4:
        return set()
    x = np.array(list(clean.values()))
    if log:
        x = np.log1p(x)
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med)))
    if mad > 0:
        z = 0.6745 * (x - med) / mad
    else:
        mean_ad = float(np.mean(np.abs(x - med)))
        if mean_ad == 0:
            return set()
        z = (x - med) / (1.2533 * mean_ad)
    return {k for k, zi in zip(clean, z, strict=True) if abs(zi) > threshold}


def suppress_table(cells: Mapping[tuple[Hashable, Hashable], int], need: int) -> set[tuple[Hashable, Hashable]]:
    """The cells of a two-way table of firm counts that may be published beside its row and
    column totals. A cell of fewer than ``need`` firms is withheld (primary suppression); then,
    in every row and column whose withheld cells add up to more than 0 and fewer than ``need``
    firms (the total minus the cells shown would give them away), the smallest published cell
    is withheld too, until no line has such a remainder (secondary suppression). A line whose
    whole total is under ``need`` has nothing left to withhold; its total is not published
    either (the caller applies the same minimum to totals)."""
    if need < 1:
        raise ValueError("need: must be at least 1")
    lines: dict[tuple[int, Hashable], list[tuple[Hashable, Hashable]]] = defaultdict(list)
    for cell, n in cells.items():
        if n < 0:
            raise ValueError(f"cells: negative count for {cell!r}")
        if n:
            lines[(0, cell[0])].append(cell)
            lines[(1, cell[1])].append(cell)
    shown = {c for c, n in cells.items() if n >= need}
    changed = True
    while changed:
        changed = False
        for members in lines.values():
            withheld = sum(cells[c] for c in members if c not in shown)
            if 0 < withheld < need:
                candidates = [c for c in members if c in shown]
                if candidates:
                    shown.discard(min(candidates, key=lambda c: (cells[c], str(c))))
                    changed = True
    return shown
