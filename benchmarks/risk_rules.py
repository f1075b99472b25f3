"""Warning-rule scan throughput: every rule over a synthetic county, in-process.

Generates ``--firms`` firms with ``server.demo.synth.generate_region`` (not part of any
figure), gives them a six-month score history derived from the region's latent health (so the
rating rules have something to compare) and red partners from a first scan (so the
contagion rules run over the region's guarantees and relations), then times:

* ``risk_full_scan``: ``scoring.risk.evaluate`` over all firms and all rules, findings and
  their bilingual texts included (median of ``--repeat`` runs; target 30 s at 120,000 firms);
* ``risk_incremental_scan``: the same for a random 1 % of the firms, handed only their own
  records, as after an ingested batch;
* ``risk_incremental_scan_full_frame``: the 1 % again, but handed the whole records frame.

Prints one JSON object per line: ``{"name", "value", "unit", "target", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.risk import RULES, RedPartners, evaluate, red_firms  # noqa: E402
from server.demo.synth import Region, generate_region  # noqa: E402


def score_history(region: Region, months: int = 6) -> pd.DataFrame:
    """A monthly score and grade per firm for the last ``months`` month ends, from latent
    health (grades split roughly as Weihai's A/B/C/D shares)."""
    h = region.health[:, -months:]
    score = np.clip(600 + 120 * h, 0, 1000)
    cuts = np.quantile(score[:, -1], [0.09, 0.48, 0.86])
    grade = np.array(list("DCBA"))[np.searchsorted(cuts, score)]
    n = len(region.firms)
    return pd.DataFrame({"uscc": np.repeat(region.firms["uscc"].to_numpy(), months),
                         "as_of": np.tile(region.months[-months:], n),
                         "score": score.ravel(), "grade": grade.ravel()})


def _timed(repeat: int, fn: object) -> tuple[float, list[float], object]:
    runs, out = [], None
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        out = fn()  # type: ignore[operator]
        runs.append(time.perf_counter() - t)
    return float(np.median(runs)), runs, out


def run(firms: int, seed: int, repeat: int) -> list[dict[str, object]]:
    """The figures, as JSON-ready dicts."""
    t = time.perf_counter()
    region = generate_region(firms, seed=seed)
    gen_s = time.perf_counter() - t
    as_of = pd.Timestamp(region.end)
    scores = score_history(region)
    first = evaluate(region.records, region.firms, as_of, scores=scores)
    partners = RedPartners(red_firms(first, as_of), region.guarantees, region.relations)
    kw = {"scores": scores, "red_partners": partners}

    full_s, full_runs, found = _timed(
        repeat, lambda: evaluate(region.records, region.firms, as_of, **kw))
    levels = pd.Series([f.level for f in found]).value_counts().to_dict()
    firing = len({f.uscc for f in found})

    rng = np.random.default_rng(seed)
    subset = sorted(rng.choice(region.firms["uscc"].to_numpy(), max(1, firms // 100),
                               replace=False))
    mine = region.records[region.records["uscc"].isin(subset)].reset_index(drop=True)
    inc_s, inc_runs, inc = _timed(repeat, lambda: evaluate(
        mine, region.firms, as_of, firms_subset=subset, **kw))
    frame_s, frame_runs, _ = _timed(repeat, lambda: evaluate(
        region.records, region.firms, as_of, firms_subset=subset, **kw))

    context = {"firms": firms, "records": len(region.records), "rules": len(RULES),
               "generate_s": round(gen_s, 1), "load_avg_1m": round(os.getloadavg()[0], 2),
               "cpus": os.cpu_count()}
    return [
        {"name": "risk_full_scan", "value": round(full_s, 2), "unit": "s",
         "target": 30.0 if firms >= 120_000 else None, "findings": len(found),
         "firms_with_findings": firing, "findings_by_level": levels,
         "runs_s": [round(v, 2) for v in full_runs], **context},
        {"name": "risk_incremental_scan", "value": round(inc_s, 3), "unit": "s", "target": None,
         "subset_firms": len(subset), "subset_records": len(mine), "findings": len(inc),
         "runs_s": [round(v, 3) for v in inc_runs], **context},
        {"name": "risk_incremental_scan_full_frame", "value": round(frame_s, 3), "unit": "s",
         "target": None, "subset_firms": len(subset),
         "runs_s": [round(v, 3) for v in frame_runs], **context},
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description="warning-rule scan throughput")
    ap.add_argument("--firms", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for row in run(args.firms, args.seed, args.repeat):
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
