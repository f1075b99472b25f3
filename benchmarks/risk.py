"""Issue 5's figures in one run: warning scan, DebtRank at scale, push fan-out.

* ``warning_scan_full``: every warning rule over a synthetic county of ``--firms`` firms
  (120,000 by default), findings and their texts included (target <= 30 s);
* ``debtrank_1pct_shock``: two-state DebtRank from 1 % of the firms initially distressed, on
  the county's guarantee network densified with random same-town guarantees to
  ``--edges`` links (target <= 5 s), with ``debtrank_networkx_reference``: the same algorithm
  written over a networkx DiGraph (the usual way), timed in the same run and checked to give
  the same distress vector;
* ``push_fanout_p99`` (and p50): one event to ``--subscribers`` connected subscribers
  (target p99 <= 1 s), measured by ``benchmarks/push_fanout.py``.

One JSON object per line: ``{"name", "value", "unit", "target", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scoring.graph import build_network, capital_buffer, debtrank, impact_matrix, relative_value  # noqa: E402
from scoring.risk import RedPartners, evaluate, red_firms  # noqa: E402
from server.demo.synth import generate_region  # noqa: E402


def emit(name: str, value: float, unit: str, target: float | None, **context: Any) -> None:
    print(json.dumps({"name": name, "value": round(value, 4), "unit": unit, "target": target,
                      **context}, ensure_ascii=False), flush=True)


def networkx_debtrank(W: Any, shock: np.ndarray) -> np.ndarray:
    """Reference: two-state DebtRank over a networkx DiGraph, node by node (Battiston et al.
    2012): each round every distressed firm passes ``W[i, j] * h_i`` to each neighbour, then
    goes inactive; sound firms hit turn distressed; h is capped at 1."""
    import networkx as nx

    coo = W.tocoo()
    G = nx.DiGraph()
    G.add_nodes_from(range(W.shape[0]))
    G.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    h = {i: float(x) for i, x in enumerate(shock)}
    state = {i: ("D" if x > 0 else "U") for i, x in enumerate(shock)}
    frontier = [i for i, s in state.items() if s == "D"]
    while frontier:
        prev = {i: h[i] for i in frontier}
        gained: dict[int, float] = {}
        for i in frontier:
            for j, data in G[i].items():
                gained[j] = gained.get(j, 0.0) + data["weight"] * prev[i]
        for i in frontier:
            state[i] = "I"
        nxt = []
        for j, add in gained.items():
            h[j] = min(1.0, h[j] + add)  # every firm takes the loss; only the Sound propagate
            if state[j] == "U" and add > 0:
                state[j] = "D"
                nxt.append(j)
        frontier = sorted(nxt)
    return np.array([h[i] for i in range(W.shape[0])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=120_000)
    ap.add_argument("--edges", type=int, default=300_000)
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    ctx = {"firms": args.firms, "cpus": os.cpu_count()}

    t = time.perf_counter()
    region = generate_region(args.firms, seed=args.seed)
    ctx["generate_s"] = round(time.perf_counter() - t, 1)
    as_of = pd.Timestamp(region.end)

    # Warning scan: a first pass finds the red firms the contagion rules start from.
    from risk_rules import score_history

    scores = score_history(region)
    first = evaluate(region.records, region.firms, as_of, scores=scores)
    partners = RedPartners(red_firms(first, as_of), region.guarantees, region.relations)
    t = time.perf_counter()
    found = evaluate(region.records, region.firms, as_of, scores=scores, red_partners=partners)
    emit("warning_scan_full", time.perf_counter() - t, "s", 30.0, findings=len(found),
         records=len(region.records), load_avg_1m=round(os.getloadavg()[0], 2), **ctx)

    # DebtRank on the densified guarantee network.
    from contagion import densify

    capital = capital_buffer(region.firms, region.records, as_of)
    g = densify(region.guarantees, region.firms, args.edges, as_of, args.seed)
    net = build_network(g, region.relations, as_of=as_of, firms=region.firms)
    del region
    W = impact_matrix(net, capital)
    v = relative_value(net, capital)
    rng = np.random.default_rng(args.seed)
    h0 = np.zeros(net.n)
    h0[rng.choice(net.n, net.n // 100, replace=False)] = 1.0
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        res = debtrank(impact_matrix(net, capital), h0, v)
        runs.append(time.perf_counter() - t)
    emit("debtrank_1pct_shock", float(np.median(runs)), "s", 5.0, guarantee_links=net.n_guarantees,
         initially_distressed=int(h0.sum()), firms_hit=int((res.h > 0).sum() - h0.sum()),
         rounds=res.rounds, runs_s=[round(x, 3) for x in runs], **ctx)
    try:
        t = time.perf_counter()
        ref = networkx_debtrank(W, h0)
        emit("debtrank_networkx_reference", time.perf_counter() - t, "s", None,
             guarantee_links=net.n_guarantees, max_abs_diff=float(np.abs(ref - res.h).max()), **ctx)
    except ImportError:
        pass

    # Push fan-out over the platform's channels.
    try:
        from push_fanout import measure_fanout
    except ImportError:
        return
    for row in asyncio.run(measure_fanout(args.subscribers)):
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
