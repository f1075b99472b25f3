"""Guarantee-network timings: building the graph, finding circles, DebtRank contagion.

For each size in ``--firms`` (20,000 then 120,000 by default) it generates a synthetic region
with ``server.demo.synth.generate_region`` (not timed), then times, median of ``--repeat``:

* ``build_graph``: ``build_network`` from the guarantees and the firm-person relations on the
  region's last day (guarantees active then, shared legal representatives / shareholders);
* ``capital``: ``capital_buffer`` (latest statement equity, else registered capital);
* ``scc``: ``find_circles`` (strongly connected components with their members and money);
* ``chains``: ``chains`` (reach in both directions and longest chain for every firm);
* ``debtrank``: the two-state DebtRank core from 1 % of the firms initially distressed
  (h = 1), and ``contagion``: the same plus shortest paths, exposures and losses;
* ``systemic_importance``: DebtRank of every firm failing alone.

With networkx installed (the ``bench`` extra) it also times networkx's strongly connected
components on the same graph as a reference. ``--densify-to`` adds random same-town
guarantees to the largest region until it has that many links and times SCC and DebtRank
again (the issue's target graph has >= 300,000 guarantee links; the generator makes fewer).

Prints one JSON object per line: ``{"name", "value", "unit", "target", ...context}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.graph import (  # noqa: E402
    GuaranteeNetwork,
    build_network,
    capital_buffer,
    chains,
    contagion,
    debtrank,
    find_circles,
    impact_matrix,
    relative_value,
    systemic_importance,
)
from server.demo.synth import generate_region  # noqa: E402


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls, and the last result."""
    runs, out = [], None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), out


def emit(name: str, value: float, unit: str = "s", target: float | None = None,
         **context: Any) -> None:
    print(json.dumps({"name": name, "value": round(value, 4), "unit": unit, "target": target,
                      **context}), flush=True)


def densify(g: pd.DataFrame, firms: pd.DataFrame, links: int, day: pd.Timestamp,
            seed: int) -> pd.DataFrame:
    """Add random guarantees between firms of the same town until ``links`` distinct
    guarantor -> guaranteed pairs are active."""
    rng = np.random.default_rng(seed)
    while True:
        active = g.loc[(g["start_date"] <= day) & (g["end_date"] > day)]
        pairs = active["guarantor_uscc"] + active["guaranteed_uscc"]
        need = links - int(pairs[active["guarantor_uscc"] != active["guaranteed_uscc"]].nunique())
        if need <= 0:
            return g
        g = pd.concat([g, _random_links(g, firms, need + need // 50 + 1, day, rng)],
                      ignore_index=True)


def _random_links(g: pd.DataFrame, firms: pd.DataFrame, need: int, day: pd.Timestamp,
                  rng: np.random.Generator) -> pd.DataFrame:
    """``need`` guarantees between random firms of the same town, active on ``day``."""
    town = firms["town"].to_numpy()
    order = np.argsort(town, kind="stable")
    _, start, count = np.unique(town[order], return_index=True, return_counts=True)
    src = rng.integers(0, len(firms), need)
    t = np.searchsorted(start, np.searchsorted(town[order], town[src]), side="right") - 1
    dst = order[start[t] + (rng.random(need) * count[t]).astype(np.int64)]
    usccs = firms["uscc"].to_numpy()
    return pd.DataFrame({
        "guarantor_uscc": usccs[src], "guaranteed_uscc": usccs[dst],
        "amount_fen": rng.choice(g["amount_fen"].to_numpy(), need),
        "start_date": day - pd.Timedelta(days=30), "end_date": day + pd.Timedelta(days=365),
    })


def contagion_runs(net: GuaranteeNetwork, capital: pd.Series, repeat: int, seed: int,
                   ctx: dict[str, Any], prefix: str = "") -> None:
    rng = np.random.default_rng(seed)
    red = rng.choice(net.n, max(net.n // 100, 1), replace=False)
    W = impact_matrix(net, capital)
    v = relative_value(net, capital)
    h0 = np.zeros(net.n)
    h0[red] = 1.0
    dr_s, res = timed(lambda: debtrank(impact_matrix(net, capital), h0, v), repeat)
    core_s, _ = timed(lambda: debtrank(W, h0, v), repeat)
    ct_s, ct = timed(lambda: contagion(net, net.usccs[red], capital), repeat)
    hit = int((res.h > 0).sum()) - len(red)
    emit(prefix + "debtrank_1pct", dr_s, target=5.0, initially_distressed=len(red),
         firms_hit=hit, rounds=res.rounds, debtrank_R=round(res.debtrank, 6),
         core_only_s=round(core_s, 4), **ctx)
    emit(prefix + "contagion_1pct_with_paths", ct_s, firms_hit=len(ct.firms) - len(red),
         max_hops=int(ct.firms["hops"].max()), **ctx)


def run_size(n: int, args: argparse.Namespace, densify_to: int | None) -> None:
    t0 = time.perf_counter()
    region = generate_region(n, seed=args.seed)
    gen_s = time.perf_counter() - t0
    day = pd.Timestamp(region.end)
    firms, rel, g = region.firms, region.relations, region.guarantees
    records = region.records
    del region

    build_s, net = timed(lambda: build_network(g, rel, as_of=day, firms=firms), args.repeat)
    ctx = {"firms": n, "guarantee_links": net.n_guarantees,
           "person_ties": int(net.ties.nnz // 2), "generate_s": round(gen_s, 1),
           "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    emit("build_graph", build_s, **ctx)
    cap_s, capital = timed(lambda: capital_buffer(firms, records, day), args.repeat)
    records = None  # frees the records (GBs at 120,000 firms): nothing else reads them
    emit("capital", cap_s, **ctx)
    scc_s, circles = timed(lambda: find_circles(net), args.repeat)
    t = circles.table
    emit("scc", scc_s, circles=len(t), largest_circle=int(t["size"].max()) if len(t) else 0,
         firms_in_circles=int(t["size"].sum()), **ctx)
    nx_scc(net, args.repeat, ctx)
    ch_s, ch = timed(lambda: chains(net, circles), args.repeat)
    emit("chains", ch_s, longest_chain=int(ch["chain_length"].max()),
         max_exposed_firms=int(ch["exposed_firms"].max()), **ctx)
    contagion_runs(net, capital, args.repeat, args.seed, ctx)
    si_s, si = timed(lambda: systemic_importance(net, capital, top=20), 1)
    emit("systemic_importance_all_firms", si_s,
         top_debtrank=round(float(si["debtrank"].iloc[0]), 6),
         top_firms_hit=int(si["firms_hit"].iloc[0]), **ctx)

    if densify_to:
        dense_g = densify(g, firms, densify_to, day, args.seed)
        b_s, dense = timed(lambda: build_network(dense_g, rel, as_of=day, firms=firms), 1)
        dctx = {**ctx, "guarantee_links": dense.n_guarantees, "densified": True}
        emit("dense_build_graph", b_s, **dctx)
        s_s, dc = timed(lambda: find_circles(dense), args.repeat)
        emit("dense_scc", s_s, circles=len(dc.table),
             largest_circle=int(dc.table["size"].max()) if len(dc.table) else 0, **dctx)
        nx_scc(dense, 1, dctx, prefix="dense_")
        contagion_runs(dense, capital, args.repeat, args.seed, dctx, prefix="dense_")


def nx_scc(net: GuaranteeNetwork, repeat: int, ctx: dict[str, Any], prefix: str = "") -> None:
    """networkx's SCCs on the same graph, as a reference (skipped without networkx)."""
    try:
        import networkx as nx
    except ImportError:
        return
    coo = net.guarantees.tocoo()

    def run() -> int:
        G = nx.DiGraph()
        G.add_nodes_from(range(net.n))
        G.add_edges_from(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
        return sum(1 for c in nx.strongly_connected_components(G) if len(c) >= 2)

    s, k = timed(run, repeat)
    emit(prefix + "scc_networkx_reference", s, circles=k, **ctx)


def main() -> None:
    ap = argparse.ArgumentParser(description="guarantee network and contagion timings")
    ap.add_argument("--firms", type=int, nargs="+", default=[20_000, 120_000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--densify-to", type=int, default=300_000,
                    help="links for the extra dense run on the largest size (0: skip)")
    args = ap.parse_args()
    sizes = sorted(args.firms)
    for i, n in enumerate(sizes):
        run_size(n, args, args.densify_to if i == len(sizes) - 1 else None)


if __name__ == "__main__":
    main()
