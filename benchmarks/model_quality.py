"""Model quality on a generated region: Xinbao's scorecard against InterpretML's EBM.

One run on a synthetic county (``--firms`` 20,000, seed 7, data ending 2026-10-31):
- the development population: firms that owe a bank during the 12-month outcome window
  (borrowers and granted applicants, ``region_dataset(population="exposed")``), the only firms
  whose default can be observed;
- strict out-of-time: both models train on the indicators as of end-24, end-27 and end-30
  months (labels: default within 12 months, so no training label reaches past end-12) and are
  tested on the exposed firms as of end-12 (labels up to the end);
- EBM is ``ExplainableBoostingClassifier(interactions=0)`` with the catalogue's monotone
  directions, on the same indicator matrix;
- default rate by grade on the out-of-time firms, and for the firms among them taking their first
  loan (no loan before the date) the mean PD beside their observed default rate
  (``first_loan_mean_pd``);
- the grade shares of the firms outside the population (no loan in the window), scored by the
  same scorecard as if they applied (``unexposed_grade_share``);
- the share of firms (as of the end) whose grade differs between two fits that differ only in
  ``random_state``.

Prints JSON lines ``{"name", "value", ...}``: oot_auc_xinbao, oot_ks_xinbao, oot_brier_xinbao,
the same for ebm, default_rate_A..D (with firm counts), first_loan_mean_pd,
unexposed_grade_share_A..D, grade_change_share_seeds.
Targets (issue 11): AUC >= EBM's; A < B < C < D with B at least twice A; grade changes <= 1 %.

Then the public data (../shared/data: German credit; Polish bankruptcy, 5th year): 5-fold
stratified CV AUC (shuffled, random_state 42), mean and sd over the folds, for Xinbao's generic
scorecard, EBM (interactions = 0), optbinning, scorecardpy, toad (the pipelines of
``benchmarks/scorecard_public.py``), LightGBM and scikit-learn's HGB as black boxes:
lines ``{"name": "cv_auc", "dataset", "pipeline", "value", "sd"}``. Target: Xinbao >= EBM and
>= every scorecard library on both.
Run: .venv/bin/python benchmarks/model_quality.py [--firms N] [--seed S] [--bags B]
     [--skip-region] [--skip-public]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scorecard_public, beside this file

from scoring.features import compute_features
from scoring.indicators import INDICATORS
from scoring.monitoring import metrics
from scoring.pipeline import indicator_scorecard, region_dataset
from server.demo.synth import generate_region

END = date(2026, 10, 31)


def _month_end(months_back: int) -> pd.Timestamp:
    return pd.Timestamp(END) - pd.DateOffset(months=months_back) + pd.offsets.MonthEnd(0)


def _emit(name: str, value: float, **extra: object) -> None:
    print(json.dumps({"name": name, "value": round(float(value), 4), **extra}), flush=True)


def _categorical(X: pd.DataFrame) -> pd.DataFrame:
    X = X.copy()
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = X[c].astype("category")
    return X


def fit_ebm(X: pd.DataFrame, y: np.ndarray):
    from interpret.glassbox import ExplainableBoostingClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ExplainableBoostingClassifier(interactions=0, random_state=42).fit(X, y)
    return (lambda Z: m.predict_proba(Z)[:, 1]), None


def fit_lightgbm(X: pd.DataFrame, y: np.ndarray):
    import lightgbm as lgb

    Xc = _categorical(X)
    cats = {c: Xc[c].cat.categories for c in Xc.columns if str(Xc[c].dtype) == "category"}
    m = lgb.LGBMClassifier(random_state=42, verbose=-1).fit(Xc, y)

    def predict(Z: pd.DataFrame) -> np.ndarray:
        Z = Z.copy()
        for c, cat in cats.items():
            Z[c] = pd.Categorical(Z[c], categories=cat)
        return m.predict_proba(Z)[:, 1]

    return predict, None


def public(data_dir: Path) -> None:
    """5-fold CV AUC of every pipeline on German and Polish, as cv_auc lines."""
    import scorecard_public as sp
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    pipelines = {"xinbao": sp.fit_xinbao, "ebm": fit_ebm, "optbinning": sp.fit_optbinning,
                 "scorecardpy": sp.fit_scorecardpy, "toad": sp.fit_toad, "lightgbm": fit_lightgbm,
                 "hgb_blackbox": sp.fit_hgb}
    for dataset in ("german", "polish"):
        X, y = sp.load(dataset, data_dir)
        folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=42).split(X, y))
        for name, fit in pipelines.items():
            t = time.perf_counter()
            aucs = []
            for tr, te in folds:
                predict, _ = fit(X.iloc[tr].reset_index(drop=True), y[tr])
                aucs.append(roc_auc_score(y[te], predict(X.iloc[te].reset_index(drop=True))))
            print(json.dumps({"name": "cv_auc", "dataset": dataset, "pipeline": name,
                              "value": round(float(np.mean(aucs)), 4), "sd": round(float(np.std(aucs)), 4),
                              "folds": len(aucs), "fit_s": round(time.perf_counter() - t, 1)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bags", type=int, default=20)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--skip-region", action="store_true")
    ap.add_argument("--skip-public", action="store_true")
    args = ap.parse_args()
    if not args.skip_region:
        region_figures(args)
    if not args.skip_public:
        public(args.data)


def region_figures(args: argparse.Namespace) -> None:
    region = generate_region(args.firms, seed=args.seed, end=END)
    train_dates = [_month_end(m) for m in (24, 27, 30)]
    X, y = region_dataset(region.firms, region.records, train_dates, 12)
    Xt, yt = region_dataset(region.firms, region.records, [_month_end(12)], 12)
    firm_of = X.index.to_numpy()  # bags draw whole firms (a firm is a row at three dates)
    common = {"firms": args.firms, "seed": args.seed, "train_rows": len(y),
              "test_rows": len(yt), "test_bad_rate": round(float(yt.mean()), 4)}

    t = time.perf_counter()
    model = indicator_scorecard(n_bags=args.bags, random_state=1).fit(X, y.to_numpy(), groups=firm_of)
    fit_s = time.perf_counter() - t
    batch = model.rate(Xt)
    m = metrics(yt.to_numpy(), batch.pd)
    for k in ("auc", "ks", "brier"):
        _emit(f"oot_{k}_xinbao", m[k], fit_s=round(fit_s, 1), **common)

    from interpret.glassbox import ExplainableBoostingClassifier

    mono = [-INDICATORS[c].direction for c in X.columns]  # EBM: +1 = rises with P(default)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ebm = ExplainableBoostingClassifier(interactions=0, monotone_constraints=mono,
                                            random_state=1).fit(X, y.to_numpy())
        p_ebm = ebm.predict_proba(Xt)[:, 1]
    fit_s = time.perf_counter() - t
    m = metrics(yt.to_numpy(), p_ebm)
    for k in ("auc", "ks", "brier"):
        _emit(f"oot_{k}_ebm", m[k], fit_s=round(fit_s, 1), **common)

    rates = pd.Series(yt.to_numpy()).groupby(batch.grade).agg(["mean", "size"])
    for g in "ABCD":
        rate, n = (rates.loc[g, "mean"], int(rates.loc[g, "size"])) if g in rates.index else (np.nan, 0)
        _emit(f"default_rate_{g}", rate, firms_in_grade=n, **common)

    test_day = _month_end(12)
    loans = region.records[region.records["kind"] == "bank_loan"]
    borrowed = set(loans.loc[loans["event_date"] <= test_day, "uscc"])
    first = ~Xt.index.isin(list(borrowed))
    _emit("first_loan_mean_pd", batch.pd[first].mean(), observed_default_rate=round(float(yt[first].mean()), 4),
          first_loan_firms=int(first.sum()), **common)
    Xa, _ = region_dataset(region.firms, region.records, [test_day], 12, population="all")
    rest = model.rate(Xa[~Xa.index.isin(Xt.index)])
    shares = pd.Series(rest.grade).value_counts(normalize=True)
    for g in "ABCD":
        _emit(f"unexposed_grade_share_{g}", shares.get(g, 0.0), unexposed_firms=len(rest.grade), **common)

    now = compute_features(region.records, pd.Timestamp(END), firms=region.firms)
    other = indicator_scorecard(n_bags=args.bags, random_state=2).fit(X, y.to_numpy(), groups=firm_of)
    a, b = model.rate(now), other.rate(now)
    moved = a.grade != b.grade
    _emit("grade_change_share_seeds", moved.mean(), firms_scored=len(now),
          max_score_move=int(np.abs(a.score.astype(int) - b.score.astype(int)).max()),
          random_states=[1, 2], **common)


if __name__ == "__main__":
    main()
