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

__all__ = ["HEALTH_BANDS", "bad_rate_by_grade", "grade_migration", "ks_statistic", "metrics", "period_health", "psi",
           "stability_report"]


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


#: The band each monitored figure should stay in (low, high; None = open). A figure outside
#: its band raises a model-health alert. ``observed_to_expected``: defaults seen / PDs summed.
HEALTH_BANDS: dict[str, tuple[float | None, float | None]] = {
    "auc": (0.70, None),
    "ks": (0.30, None),
    "observed_to_expected": (0.5, 2.0),
    "psi_score": (None, 0.25),
}

#: Fewer defaults than this in a period: AUC, KS and the ratio are too noisy to alert on.
MIN_DEFAULTS_FOR_ALERTS = 10


def _outside(name: str, value: float | None, bands: dict[str, tuple[float | None, float | None]]) -> bool:
    if value is None or name not in bands:
        return False
    low, high = bands[name]
    return (low is not None and value < low) or (high is not None and value > high)


def period_health(scored: pd.DataFrame, grades: tuple[str, ...] = GRADES,
                  bands: dict[str, tuple[float | None, float | None]] | None = None) -> list[dict[str, object]]:
    """Model performance on matured outcomes, one entry per scoring period.

    ``scored`` has one row per firm and period: ``as_of``, the stored ``pd`` and ``grade``,
    and ``bad`` (1 if the firm defaulted within the horizon after ``as_of``; only periods whose
    horizon has passed belong here). Each entry gives the firms, defaults, AUC and KS (None
    when a period has one class), the defaults expected (PDs summed) against those observed,
    the bad rate by grade, and ``alerts``: the figures outside ``bands`` (``HEALTH_BANDS``),
    judged only when the period has at least ``MIN_DEFAULTS_FOR_ALERTS`` defaults.
    """
    bands = HEALTH_BANDS if bands is None else bands
    out: list[dict[str, object]] = []
    for as_of, g in scored.groupby("as_of", sort=True):
        y = g["bad"].to_numpy().astype(int)
        p = g["pd"].to_numpy(dtype=float)
        both = 0 < y.sum() < len(y)
        m = metrics(y, p) if both else {"auc": None, "ks": None, "brier": float(np.mean((p - y) ** 2))}
        expected, observed = float(p.sum()), int(y.sum())
        ratio = observed / expected if expected > 0 else None
        by_grade = {}
        for grade in grades:
            mask = g["grade"].to_numpy() == grade
            n = int(mask.sum())
            by_grade[grade] = {"firms": n, "defaults": int(y[mask].sum()),
                               "bad_rate": float(y[mask].mean()) if n else None,
                               "mean_pd": float(p[mask].mean()) if n else None}
        entry: dict[str, object] = {
            "as_of": str(pd.Timestamp(as_of).date()), "firms": len(y), "defaults": observed,
            "auc": m["auc"], "ks": m["ks"], "brier": m["brier"],
            "expected_defaults": round(expected, 2), "observed_to_expected": ratio,
            "by_grade": by_grade,
        }
        alerts = []
        if observed >= MIN_DEFAULTS_FOR_ALERTS:
            alerts = [{"figure": k, "value": entry[k], "band": list(bands[k])}
                      for k in ("auc", "ks", "observed_to_expected") if _outside(k, entry[k], bands)]
            ranked = [by_grade[k]["bad_rate"] for k in grades if by_grade[k]["firms"]]
            if any(worse < better for better, worse in zip(ranked, ranked[1:], strict=False)):
                alerts.append({"figure": "bad_rate_by_grade", "value": ranked, "band": "rising from A to D"})
        entry["alerts"] = alerts
        out.append(entry)
    return out
