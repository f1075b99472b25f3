"""Model quality on a generated region: Xinbao's scorecard against InterpretML's EBM.

One run on a synthetic county (``--firms`` 20,000, seed 7, data ending 2026-10-31):
- strict out-of-time: both models train on the indicators as of end-24, end-27 and end-30
  months (labels: default within 12 months, so no training label reaches past end-12) and are
  tested on the firms as of end-12 (labels up to the end);
- EBM is ``ExplainableBoostingClassifier(interactions=0)`` with the catalogue's monotone
  directions, on the same indicator matrix;
- default rate by grade on the out-of-time firms;
- the share of firms (as of the end) whose grade differs between two fits that differ only in
  ``random_state``.

Prints JSON lines ``{"name", "value", ...}``: oot_auc_xinbao, oot_ks_xinbao, oot_brier_xinbao,
the same for ebm, default_rate_A..D (with firm counts), grade_change_share_seeds.
Targets (issue 11): AUC >= EBM's; A < B < C < D with B at least twice A; grade changes <= 1 %.
Run: .venv/bin/python benchmarks/model_quality.py [--firms N] [--seed S] [--bags B]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from datetime import date

import numpy as np
import pandas as pd

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bags", type=int, default=10)
    args = ap.parse_args()

    region = generate_region(args.firms, seed=args.seed, end=END)
    train_dates = [_month_end(m) for m in (24, 27, 30)]
    X, y = region_dataset(region.firms, region.records, train_dates, 12)
    Xt, yt = region_dataset(region.firms, region.records, [_month_end(12)], 12)
    common = {"firms": args.firms, "seed": args.seed, "train_rows": len(y),
              "test_rows": len(yt), "test_bad_rate": round(float(yt.mean()), 4)}

    t = time.perf_counter()
    model = indicator_scorecard(n_bags=args.bags, random_state=1).fit(X, y.to_numpy())
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

    now = compute_features(region.records, pd.Timestamp(END), firms=region.firms)
    other = indicator_scorecard(n_bags=args.bags, random_state=2).fit(X, y.to_numpy())
    a, b = model.rate(now), other.rate(now)
    moved = a.grade != b.grade
    _emit("grade_change_share_seeds", moved.mean(), firms_scored=len(now),
          max_score_move=int(np.abs(a.score.astype(int) - b.score.astype(int)).max()),
          random_states=[1, 2], **common)


if __name__ == "__main__":
    main()
