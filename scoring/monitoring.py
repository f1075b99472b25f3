"""Model quality and stability: AUC, KS, Brier, population stability index (PSI).

PSI alone can miss a drift that hurts ranking (see the stack notes), so monitor AUC/KS and the
bad rate by grade as well once outcomes are known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from .grades import GRADES
from .scorecard import Scorecard

__all__ = ["bad_rate_by_grade", "grade_migration", "ks_statistic", "metrics", "psi", "stability_report"]


def ks_statistic(y: np.ndarray, pd_: np.ndarray) -> float:
    """Kolmogorov–Smirnov separation of bad and good PD distributions (max TPR - FPR)."""
    fpr, tpr, _ = roc_curve(np.asarray(y), np.asarray(pd_))
    return float(np.max(tpr - fpr))


def metrics(y: np.ndarray, pd_: np.ndarray) -> dict[str, float]:
    """AUC, KS and Brier score of predicted PDs."""
    y = np.asarray(y).astype(int)
    pd_ = np.asarray(pd_, dtype=float)
    return {"auc": float(roc_auc_score(y, pd_)), "ks": ks_statistic(y, pd_),
            "brier": float(brier_score_loss(y, pd_))}


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """PSI between two distributions given as shares (or counts) over the same bins."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def _score_bins(train_scores: np.ndarray, n: int = 10) -> np.ndarray:
    edges = np.unique(np.quantile(train_scores, np.linspace(0, 1, n + 1)[1:-1]))
    return edges


def stability_report(model: Scorecard, X: pd.DataFrame,
                     scores: np.ndarray | None = None) -> pd.DataFrame:
    """PSI of the score (deciles of the training scores) and of each feature (the model's
    bins, missing included) between the training sample and a later scoring run.

    Rule of thumb: < 0.1 stable, 0.1–0.25 watch, > 0.25 shifted.
    """
    if scores is None:
        scores = model.rate(X, keep_values=False).score
    edges = _score_bins(model.train_scores_)
    e = np.bincount(np.searchsorted(edges, model.train_scores_, side="right"),
                    minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, scores, side="right"), minlength=len(edges) + 1)
    rows = [("score", psi(e, a))]
    codes = model._codes(X)
    for j, b in enumerate(model.bins_):
        now = np.bincount(codes[:, j], minlength=b.n_codes + 1)
        rows.append((b.name, psi(model.bin_frequencies_[j], now)))
    out = pd.DataFrame(rows, columns=["variable", "psi"])
    out["status"] = pd.cut(out["psi"], [-np.inf, 0.1, 0.25, np.inf],
                           labels=["stable", "watch", "shifted"]).astype(str)
    return out


def bad_rate_by_grade(grades: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Firms, share and observed bad rate per grade."""
    df = pd.DataFrame({"grade": np.asarray(grades), "bad": np.asarray(y).astype(int)})
    out = df.groupby("grade")["bad"].agg(firms="size", bad_rate="mean")
    out["share"] = out["firms"] / out["firms"].sum()
    return out


def grade_migration(before: np.ndarray, after: np.ndarray,
                    grades: tuple[str, ...] = GRADES) -> dict[str, object]:
    """How the same firms' grades move between two models (or two dates): the number of firms,
    how many change grade, that share, how many move by more than one grade, and the full
    migration matrix ``{from: {to: firms}}`` (rows: ``before``)."""
    before = np.asarray(before, dtype=object)
    after = np.asarray(after, dtype=object)
    if before.shape != after.shape:
        raise ValueError("before and after must grade the same firms")
    n = int(before.size)
    rank = {g: i for i, g in enumerate(grades)}
    changed = before != after
    far = np.array([abs(rank[a] - rank[b]) > 1 for a, b in zip(before, after, strict=True)], dtype=bool)
    matrix = {g: {h: int(np.sum((before == g) & (after == h))) for h in grades} for g in grades}
    return {"firms": n, "changed": int(changed.sum()),
            "share": float(changed.mean()) if n else 0.0, "moved_two_or_more": int(far.sum()),
            "matrix": matrix}
