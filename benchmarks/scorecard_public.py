"""Xinbao's scorecard against optbinning, scorecardpy, toad and a black-box HGB.

Same run, same data (../shared/data: German credit; Polish bankruptcy, 5th year), 70/30 split
stratified on the target with random_state=42, and 5-fold stratified CV AUC on the whole set.
Prints one JSON line per dataset and pipeline:
{"dataset", "pipeline", "auc", "ks", "brier", "cv_auc", "fit_s", "score100k_s"}.
``score100k_s`` times scoring 100,000 rows (test rows resampled); for xinbao it includes the
0..1000 score, grade, per-feature points, dimension scores and top-3 reason codes.

scorecardpy's woebin asks on stdin before binning columns with many values: we answer "1"
(continue) through a patched ``input``; it runs with its own default settings.
Run: .venv/bin/python benchmarks/scorecard_public.py [--data DIR] [--skip-cv] [--only NAME]
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.scorecard import Scorecard  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEED = 42
N_SCORE = 100_000

# A pipeline: fit(X_train, y_train) -> predict(X) -> PD, plus a "batch scoring" callable.
Fitted = tuple[Callable[[pd.DataFrame], np.ndarray], Callable[[pd.DataFrame], object]]


def load(name: str, data_dir: Path) -> tuple[pd.DataFrame, np.ndarray]:
    if name == "german":
        df = pd.read_csv(data_dir / "german_credit.csv")
        y = (df.pop("creditability") == "bad").astype(int).to_numpy()
    else:
        df = pd.read_csv(data_dir / "polish_bankruptcy_5year.csv")
        y = df.pop("class").astype(int).to_numpy()
    return df, y


@contextlib.contextmanager
def quiet() -> Any:
    """Silence library chatter (progress bars, CVXPY import errors, warnings)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------------------- pipelines
def fit_xinbao(X: pd.DataFrame, y: np.ndarray) -> Fitted:
    m = Scorecard(random_state=SEED).fit(X, y)
    return (lambda Z: m.predict_proba(Z)[:, 1]), (lambda Z: m.rate(Z, keep_values=False))


def fit_hgb(X: pd.DataFrame, y: np.ndarray) -> Fitted:
    Xc = X.copy()
    for c in Xc.columns:
        if not pd.api.types.is_numeric_dtype(Xc[c]):
            Xc[c] = Xc[c].astype("category")
    cats = {c: Xc[c].cat.categories for c in Xc.columns if str(Xc[c].dtype) == "category"}

    def prep(Z: pd.DataFrame) -> pd.DataFrame:
        Z = Z.copy()
        for c, cat in cats.items():
            Z[c] = pd.Categorical(Z[c], categories=cat)
        return Z

    m = HistGradientBoostingClassifier(random_state=SEED, categorical_features="from_dtype")
    m.fit(Xc, y)
    def f(Z: pd.DataFrame) -> np.ndarray:
        return m.predict_proba(prep(Z))[:, 1]

    return f, f


def fit_optbinning(X: pd.DataFrame, y: np.ndarray) -> Fitted:
    with quiet():
        from optbinning import BinningProcess

        cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        bp = BinningProcess(list(X.columns), categorical_variables=cats)
        bp.fit(X, y)
        W = bp.transform(X, metric="woe")
        lr = LogisticRegression(max_iter=2000).fit(W, y)

    def pd_(Z: pd.DataFrame) -> np.ndarray:
        with quiet():
            return lr.predict_proba(bp.transform(Z, metric="woe"))[:, 1]

    return pd_, pd_


def fit_scorecardpy(X: pd.DataFrame, y: np.ndarray) -> Fitted:
    with quiet():
        import scorecardpy as sc

        train = X.copy()
        train["y"] = y
        real_input = builtins.input
        builtins.input = lambda *a, **k: "1"  # "continue" to its prompts on many-valued columns
        try:
            bins = sc.woebin(train, y="y")
        finally:
            builtins.input = real_input
        woe = sc.woebin_ply(train, bins).fillna(0)
        cols = [c for c in woe.columns if c != "y"]
        lr = LogisticRegression(max_iter=2000).fit(woe[cols], y)
        card = sc.scorecard(bins, lr, cols)

    def pd_(Z: pd.DataFrame) -> np.ndarray:
        with quiet():
            w = sc.woebin_ply(Z, bins).fillna(0)
            return lr.predict_proba(w[cols])[:, 1]

    def batch(Z: pd.DataFrame) -> object:
        with quiet():
            return sc.scorecard_ply(Z, card)

    return pd_, batch


def fit_toad(X: pd.DataFrame, y: np.ndarray) -> Fitted:
    with quiet():
        import toad

        train = X.copy()
        train["y"] = y
        comb = toad.transform.Combiner()
        comb.fit(train, y="y", method="chi", min_samples=0.05, empty_separate=True)
        binned = comb.transform(train)
        woe_t = toad.transform.WOETransformer()
        W = woe_t.fit_transform(binned, binned["y"], exclude=["y"])
        cols = [c for c in W.columns if c != "y"]
        lr = LogisticRegression(max_iter=2000).fit(W[cols], y)

    def pd_(Z: pd.DataFrame) -> np.ndarray:
        with quiet():
            W2 = woe_t.transform(comb.transform(Z))
            return lr.predict_proba(W2[cols].astype(float).fillna(0))[:, 1]

    return pd_, pd_


PIPELINES: dict[str, Callable[[pd.DataFrame, np.ndarray], Fitted]] = {
    "xinbao": fit_xinbao,
    "optbinning": fit_optbinning,
    "scorecardpy": fit_scorecardpy,
    "toad": fit_toad,
    "hgb_blackbox": fit_hgb,
}


def ks(y: np.ndarray, p: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def run(dataset: str, name: str, X: pd.DataFrame, y: np.ndarray, cv: bool) -> dict[str, Any]:
    fit = PIPELINES[name]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=SEED)
    Xtr, Xte = Xtr.reset_index(drop=True), Xte.reset_index(drop=True)
    t0 = time.perf_counter()
    predict, batch = fit(Xtr, ytr)
    fit_s = time.perf_counter() - t0
    p = np.asarray(predict(Xte), dtype=float)
    big = Xte.sample(N_SCORE, replace=True, random_state=SEED).reset_index(drop=True)
    t0 = time.perf_counter()
    batch(big)
    score_s = time.perf_counter() - t0
    cv_auc = None
    if cv:
        aucs = []
        skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
        for tr, te in skf.split(X, y):
            pr, _ = fit(X.iloc[tr].reset_index(drop=True), y[tr])
            aucs.append(roc_auc_score(y[te], pr(X.iloc[te].reset_index(drop=True))))
        cv_auc = round(float(np.mean(aucs)), 4)
    return {"dataset": dataset, "pipeline": name, "auc": round(roc_auc_score(yte, p), 4),
            "ks": round(ks(yte, p), 4), "brier": round(brier_score_loss(yte, p), 4),
            "cv_auc": cv_auc, "fit_s": round(fit_s, 2), "score100k_s": round(score_s, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--skip-cv", action="store_true", help="skip the 5-fold CV (faster)")
    ap.add_argument("--only", action="append", help="run only these pipelines")
    ap.add_argument("--datasets", default="german,polish")
    args = ap.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    for dataset in args.datasets.split(","):
        X, y = load(dataset, args.data)
        for name in args.only or list(PIPELINES):
            print(json.dumps(run(dataset, name, X, y, cv=not args.skip_cv)), flush=True)


if __name__ == "__main__":
    main()
