"""Re-scoring throughput: features -> score -> grade -> reasons -> dimensions, in-process.

Generates a synthetic region of ``--gen-firms`` firms (120,000 by default: ~25-35 s and ~5 GB,
not part of any figure) with ``server.demo.synth.generate_region``, trains the indicator
scorecard on it (features 12 months before the end, default within the next 12 months; a
``--train-sample`` of the training half keeps the fit short), then times, on the scoring date:

* ``features_s``: ``compute_features`` from the raw records of all generated firms;
* ``score_s``: score, grade, per-indicator points, dimension scores and top-3 reason codes for
  the same ``--firms`` rows (only when fewer firms were generated are feature rows repeated up
  to ``--firms``; the JSON then says so in ``rows_repeated`` and ``features_extrapolated``);
* ``pipeline_s``: the two together for ``--firms`` firms (median of ``--repeat`` runs; every run
  is printed too);
* ``scorecardpy_ply_s``: scorecardpy's ``scorecard_ply`` on the same rows (a scorecardpy card
  fitted on a sample of the same training data), and the ratios.

Prints one JSON object per line.
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
    ap.add_argument("--gen-firms", type=int, default=120_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--train-sample", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scorecardpy-sample", type=int, default=5_000)
    ap.add_argument("--skip-scorecardpy", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    region = generate_region(args.gen_firms, seed=args.seed)
    gen_s = time.perf_counter() - t0
    end = pd.Timestamp(region.end)
    train_as_of = end - pd.offsets.MonthEnd(12)
    firms, records = region.firms, region.records
    del region

    X_all = compute_features(records, train_as_of, firms)
    y_all = default_labels(records, train_as_of, 12, firms)
    X_all = X_all.loc[y_all.index]
    # Half the firms train (a sample of them, to keep the fit short), the other half checks
    # AUC and the bad rate by grade.
    rng = np.random.default_rng(args.seed)
    test = rng.random(len(y_all)) < 0.5
    train = np.flatnonzero(~test)
    train = np.sort(rng.choice(train, min(args.train_sample, len(train)), replace=False))
    X_train, y = X_all.iloc[train], y_all.iloc[train]
    t0 = time.perf_counter()
    model = indicator_scorecard(random_state=42).fit(X_train, y.to_numpy())
    fit_s = time.perf_counter() - t0
    held = model.rate(X_all[test], keep_values=False)
    test_m = metrics(y_all[test].to_numpy(), held.pd)
    by_grade = bad_rate_by_grade(held.grade, y_all[test].to_numpy())
    del X_all

    features_runs, score_runs = [], []
    for _ in range(max(args.repeat, 1)):
        t0 = time.perf_counter()
        X_now = compute_features(records, end, firms)
        features_runs.append(time.perf_counter() - t0)
        reps = int(np.ceil(args.firms / len(X_now)))
        X_big = X_now if reps == 1 else pd.concat([X_now] * reps)
        X_big = X_big.iloc[: args.firms]
        t0 = time.perf_counter()
        batch = model.rate(X_big, keep_values=False)
        score_runs.append(time.perf_counter() - t0)
    grades = pd.Series(batch.grade).value_counts(normalize=True).sort_index().round(3)
    # Feature time scales with firms; it is only extrapolated when fewer were generated.
    scale = args.firms / len(X_now)
    pipeline_runs = [f * scale + s for f, s in zip(features_runs, score_runs, strict=True)]
    features_s, score_s = float(np.median(features_runs)), float(np.median(score_runs))
    pipeline_s = float(np.median(pipeline_runs))

    out = {"benchmark": "rescore", "firms": int(args.firms), "generated_firms": len(X_now),
           "rows_repeated": reps > 1, "features_extrapolated": len(X_now) != args.firms,
           "records": len(records), "generate_s": round(gen_s, 2),
           "train_rows": len(train), "fit_s": round(fit_s, 2),
           "test_auc": round(test_m["auc"], 4), "test_ks": round(test_m["ks"], 4),
           "bad_rate": round(float(y_all.mean()), 4),
           "test_grade_share": by_grade["share"].round(3).to_dict(),
           "test_bad_rate_by_grade": by_grade["bad_rate"].round(4).to_dict(),
           "features_s": round(features_s, 2), "score_s": round(score_s, 3),
           "pipeline_s": round(pipeline_s, 2), "target_s": 5.0,
           "pipeline_runs_s": [round(v, 2) for v in pipeline_runs],
           "features_runs_s": [round(v, 2) for v in features_runs],
           "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
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
                    "ply_over_xinbao_score": round(ply_s / score_s, 1),
                    "ply_over_xinbao_pipeline": round(ply_s / pipeline_s, 1)})
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
