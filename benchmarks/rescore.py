"""Re-scoring throughput: features -> score -> grade -> reasons -> dimensions, in-process.

Generates a synthetic region with ``server.demo.synth.generate_region``, trains the indicator
scorecard on it (features 12 months before the end, default within the next 12 months), then
times, on the scoring date:

* ``features_s``: ``compute_features`` from the raw records of the generated firms;
* ``score_s``: score, grade, per-indicator points, dimension scores and top-3 reason codes for
  ``--firms`` rows (the generated firms' feature rows repeated up to that many when fewer
  firms were generated, to keep generation time and memory modest; say ``--gen-firms 120000``
  to generate them all);
* ``scorecardpy_ply_s``: scorecardpy's ``scorecard_ply`` on the same rows (a scorecardpy card
  fitted on a sample of the same training data), and the ratio.

Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import io
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring import (  # noqa: E402
    bad_rate_by_grade,
    compute_features,
    default_labels,
    indicator_scorecard,
    metrics,
)
from server.demo.synth import generate_region  # noqa: E402


def _scorecardpy_card(X: pd.DataFrame, y: np.ndarray, sample: int) -> tuple[object, float]:
    import scorecardpy as sc
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    idx = rng.choice(len(X), min(sample, len(X)), replace=False)
    train = X.iloc[idx].reset_index(drop=True).copy()
    train["y"] = y[idx]
    real_input = builtins.input
    builtins.input = lambda *a, **k: "1"
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            bins = sc.woebin(train, y="y")
            woe = sc.woebin_ply(train, bins).fillna(0)
            cols = [c for c in woe.columns if c != "y"]
            lr = LogisticRegression(max_iter=2000).fit(woe[cols], train["y"])
            card = sc.scorecard(bins, lr, cols)
    finally:
        builtins.input = real_input
    return card, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description="re-scoring throughput")
    ap.add_argument("--firms", type=int, default=120_000)
    ap.add_argument("--gen-firms", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scorecardpy-sample", type=int, default=5_000)
    ap.add_argument("--skip-scorecardpy", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    region = generate_region(args.gen_firms, seed=args.seed)
    gen_s = time.perf_counter() - t0
    end = pd.Timestamp(region.end)
    train_as_of = end - pd.offsets.MonthEnd(12)
    firms, records = region.firms, region.records

    X_all = compute_features(records, train_as_of, firms)
    y_all = default_labels(records, train_as_of, 12, firms)
    X_all = X_all.loc[y_all.index]
    # Half the firms train, the other half checks AUC and the bad rate by grade.
    test = np.random.default_rng(args.seed).random(len(y_all)) < 0.5
    X_train, y = X_all[~test], y_all[~test]
    t0 = time.perf_counter()
    model = indicator_scorecard(random_state=42).fit(X_train, y.to_numpy())
    fit_s = time.perf_counter() - t0
    held = model.rate(X_all[test], keep_values=False)
    test_m = metrics(y_all[test].to_numpy(), held.pd)
    by_grade = bad_rate_by_grade(held.grade, y_all[test].to_numpy())

    t0 = time.perf_counter()
    X_now = compute_features(records, end, firms)
    features_s = time.perf_counter() - t0

    reps = int(np.ceil(args.firms / len(X_now)))
    X_big = pd.concat([X_now] * reps).iloc[: args.firms]
    t0 = time.perf_counter()
    batch = model.rate(X_big, keep_values=False)
    score_s = time.perf_counter() - t0
    grades = pd.Series(batch.grade).value_counts(normalize=True).sort_index().round(3)

    out = {"benchmark": "rescore", "firms": int(args.firms), "generated_firms": len(X_now),
           "records": len(records), "generate_s": round(gen_s, 2), "fit_s": round(fit_s, 2),
           "test_auc": round(test_m["auc"], 4), "test_ks": round(test_m["ks"], 4),
           "bad_rate": round(float(y_all.mean()), 4),
           "test_grade_share": by_grade["share"].round(3).to_dict(),
           "test_bad_rate_by_grade": by_grade["bad_rate"].round(4).to_dict(),
           "features_s": round(features_s, 2),
           "features_per_120k_s": round(features_s * 120_000 / len(X_now), 2),
           "score_s": round(score_s, 3),
           "pipeline_120k_s": round(features_s * 120_000 / len(X_now) + score_s
                                    * 120_000 / args.firms, 2),
           "grades_now": grades.to_dict()}
    if not args.skip_scorecardpy:
        import scorecardpy as sc

        card, sc_fit_s = _scorecardpy_card(X_train, y.to_numpy(), args.scorecardpy_sample)
        t0 = time.perf_counter()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            sc.scorecard_ply(X_big.reset_index(drop=True), card)
        ply_s = time.perf_counter() - t0
        out.update({"scorecardpy_fit_s": round(sc_fit_s, 1), "scorecardpy_ply_s": round(ply_s, 2),
                    "ply_over_xinbao_score": round(ply_s / score_s, 1)})
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
