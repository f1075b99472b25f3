"""DebtRank contagion through guarantees (Battiston et al., 2012, "DebtRank: Too Central to
Fail? Financial Networks, the FED and Systemic Risk", Sci. Rep. 2:541).

Direction and capital. A guarantor is exposed to the firm it guarantees: if the guaranteed
firm defaults, the guarantor must pay. So distress flows *against* the guarantee arrows, from
the guaranteed firm ``i`` to its guarantor ``j``, and the impact of ``i`` on ``j`` is

    W[i, j] = min(1, A[j, i] / C[j])

where ``A[j, i]`` is the money (fen) ``j`` guarantees of ``i``'s loans and ``C[j]`` is ``j``'s
capital: the loss it can absorb before it fails itself. Capital is an input vector (fen); use
:func:`scoring.graph.capital_buffer` (equity of the latest statement, else registered
capital). A firm with no capital left (``C <= 0``) is fully hit by any exposure (W = 1).

Distress ``h[j]`` in [0, 1] is the share of ``j``'s capital lost (1 = failed). The algorithm
is the standard two-state one: a firm is Sound, Distressed or Inactive; the initially
shocked firms are Distressed; each round every Distressed firm passes ``W[i, j] * h[i]`` on
to its guarantors and becomes Inactive, and every firm whose distress rose from zero becomes
Distressed. So each firm propagates exactly once, which keeps a circle from amplifying its
own losses. The DebtRank of the scenario is ``R = sum_j v[j] h[j](end) - sum_j v[j] h[j](0)``
with ``v`` the firms' relative economic value (default: share of total capital), the share
of the system's value lost beyond the initial shock.

Final distress grows with the initial shock on a given set of firms, but adding firms to the
shocked set can lower some firm's distress: a firm reached early by a small shock turns
Inactive and passes nothing of what reaches it later. That is the algorithm as published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import csgraph

from .network import GuaranteeNetwork
from .structure import expand_frontier

__all__ = [
    "Contagion",
    "DebtRankResult",
    "FundDraw",
    "contagion",
    "debtrank",
    "debtrank_many",
    "expected_fund_draw",
    "impact_matrix",
    "relative_value",
    "systemic_importance",
]


def impact_matrix(net: GuaranteeNetwork,
                  capital: pd.Series | Sequence[float] | np.ndarray) -> sp.csr_matrix:
    """``W[i, j] = min(1, A[j, i] / C[j])``: the share of guarantor ``j``'s capital lost if the
    firm ``i`` it guarantees fails (see the module docstring). ``capital`` is fen per firm, a
    Series keyed by uscc (a firm missing has no buffer) or an array in node order."""
    C = net.align(capital, "capital", fill=0.0)
    W = net.guarantees.T.tocsr(copy=True)  # W[i, j] = A[j, i]
    guarantor = W.indices  # column j of every stored entry
    with np.errstate(divide="ignore", invalid="ignore"):
        W.data = np.where(C[guarantor] > 0, W.data / C[guarantor], 1.0)
    np.minimum(W.data, 1.0, out=W.data)
    W.eliminate_zeros()
    return W


def relative_value(net: GuaranteeNetwork,
                   capital: pd.Series | Sequence[float] | np.ndarray) -> np.ndarray:
    """Each firm's share of the total (non-negative) capital: the default ``v`` of DebtRank."""
    C = np.clip(net.align(capital, "capital", fill=0.0), 0.0, None)
    total = C.sum()
    return C / total if total > 0 else np.full(net.n, 1.0 / max(net.n, 1))


@dataclass(frozen=True, slots=True)
class DebtRankResult:
    """One DebtRank run, arrays in node order.

    ``h``: final distress; ``h0``: initial shock; ``round``: the round a firm became
    Distressed (0 for the shocked firms, -1 never); ``rounds``: rounds until no firm was
    Distressed; ``debtrank``: R, the value lost beyond the initial shock.
    """

    h: np.ndarray
    h0: np.ndarray
    round: np.ndarray
    rounds: int
    debtrank: float


def debtrank(W: sp.csr_matrix, shock: np.ndarray, value: np.ndarray | None = None,
             max_rounds: int | None = None) -> DebtRankResult:
    """Two-state DebtRank from an initial distress vector ``shock`` (values in [0, 1]).

    Each round gathers only the Distressed firms' rows of ``W`` (a CSR row gather and one
    ``bincount``), so a round costs the edges leaving the frontier plus O(n).
    """
    W = W.tocsr()
    n = W.shape[0]
    h0 = np.asarray(shock, dtype=float)
    if h0.shape != (n,):
        raise ValueError(f"shock: expected {n} values, got {h0.shape}")
    if np.isnan(h0).any() or (h0 < 0).any() or (h0 > 1).any():
        raise ValueError("shock: distress must lie in [0, 1]")
    v = np.full(n, 1.0 / max(n, 1)) if value is None else np.asarray(value, dtype=float)
    h = h0.copy()
    became = np.where(h0 > 0, 0, -1).astype(np.int64)
    front = np.flatnonzero(h0 > 0)
    t = 0
    limit = n + 1 if max_rounds is None else max_rounds
    while len(front) and t < limit:
        t += 1
        owner, ent = expand_frontier(W.indptr, W.indices, front)
        gain = np.bincount(W.indices[ent], weights=W.data[ent] * h[front][owner], minlength=n)
        hit = np.flatnonzero(gain > 0)
        h[hit] = np.minimum(1.0, h[hit] + gain[hit])
        front = hit[became[hit] < 0]  # Sound firms turn Distressed; the rest stay Inactive
        became[front] = t
    return DebtRankResult(h=h, h0=h0, round=became, rounds=t,
                          debtrank=float(v @ h - v @ h0))


def debtrank_many(W: sp.csr_matrix, seeds: np.ndarray, shock: float = 1.0,
                  batch: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DebtRank of many one-firm scenarios at once: firm ``seeds[s]`` alone starts with
    distress ``shock``. Returns the distress of every affected firm as sparse triplets
    ``(scenario, node, h)``, scenario being the position in ``seeds``.

    Scenarios run side by side on int64 keys ``scenario * n + node``; a round gathers the
    frontier's edges, sums them per key and merges into the sorted state, so the work is the
    sum of the scenarios' own cascades rather than scenarios x network.
    """
    W = W.tocsr()
    n = W.shape[0]
    seeds = np.asarray(seeds, dtype=np.int64)
    out_s: list[np.ndarray] = [np.empty(0, np.int64)]
    out_n: list[np.ndarray] = [np.empty(0, np.int64)]
    out_h: list[np.ndarray] = [np.empty(0, float)]
    for lo in range(0, len(seeds), batch):
        part = seeds[lo:lo + batch]
        keys = np.arange(len(part), dtype=np.int64) * n + part  # sorted: scenario-major
        vals = np.full(len(part), float(shock))
        front_k, front_v = keys, vals
        while len(front_k) and shock > 0:
            owner, ent = expand_frontier(W.indptr, W.indices, front_k % n)
            k = (front_k // n)[owner] * n + W.indices[ent]
            uk, inv = np.unique(k, return_inverse=True)
            gain = np.bincount(inv, weights=W.data[ent] * front_v[owner])
            pos = np.searchsorted(keys, uk)
            known = pos < len(keys)
            known[known] = keys[pos[known]] == uk[known]
            at = pos[known]
            vals[at] = np.minimum(1.0, vals[at] + gain[known])
            front_k = uk[~known]
            front_v = np.minimum(1.0, gain[~known])
            ins = pos[~known]
            keys = np.insert(keys, ins, front_k)
            vals = np.insert(vals, ins, front_v)
        out_s.append(keys // n + lo)
        out_n.append(keys % n)
        out_h.append(vals)
    return np.concatenate(out_s), np.concatenate(out_n), np.concatenate(out_h)


@dataclass(frozen=True, slots=True)
class Contagion:
    """What a set of firms turning red does to the firms that guarantee them.

    ``firms``: one row per affected firm (distress > 0), sources first then by distress:
    ``uscc``, ``distress`` (h, share of its capital lost), ``source`` (a red firm itself),
    ``round`` (when it became distressed), ``hops`` and ``path``: the shortest chain of
    guarantees from a red firm to it (usccs, red firm first), ``path_amounts_fen``: the money
    on each link of that chain, ``source_uscc``: the red firm the path starts at;
    ``exposure_fen``: what it guarantees of distressed firms, ``loss_fen``: the expected call
    on those guarantees, sum over them of (their distress x its guarantee), and
    ``capital_loss_fen``: DebtRank's own reading, distress x capital.

    ``lost_cover``: borrowers a red firm guarantees (their cover is now doubtful):
    ``uscc``, ``guarantor_uscc``, ``amount_fen``. ``debtrank``: R of the scenario.
    """

    firms: pd.DataFrame
    lost_cover: pd.DataFrame
    debtrank: float
    rounds: int


def _paths(W: sp.csr_matrix, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first order and predecessors from all sources at once (a virtual root)."""
    n = W.shape[0]
    root = sp.csr_matrix((np.ones(len(sources)), (np.zeros(len(sources), np.int64), sources)),
                         shape=(1, n))
    G = sp.vstack([W, root]).tocsr()
    G = sp.hstack([G, sp.csr_matrix((n + 1, 1))]).tocsr()
    order, pred = csgraph.breadth_first_order(G, n, directed=True, return_predecessors=True)
    return order[1:], pred


def contagion(net: GuaranteeNetwork, red: Iterable[str],
              capital: pd.Series | Sequence[float] | np.ndarray, *,
              shock: float = 1.0, value: np.ndarray | None = None,
              min_distress: float = 0.0) -> Contagion:
    """DebtRank from the firms ``red`` (each starting with distress ``shock``), with the path,
    exposure and estimated loss of every firm it reaches (``min_distress`` drops the faint).
    A red firm outside the network has no guarantees and hits nobody: it is left out."""
    pos = net.usccs.get_indexer(list(red))
    red_idx = np.unique(pos[pos >= 0]).astype(np.int64)
    W = impact_matrix(net, capital)
    C = np.clip(net.align(capital, "capital", fill=0.0), 0.0, None)
    v = relative_value(net, capital) if value is None else net.align(value, "value")
    h0 = np.zeros(net.n)
    h0[red_idx] = shock
    res = debtrank(W, h0, v)
    A = net.guarantees
    usccs = net.usccs.to_numpy()

    affected = np.flatnonzero(res.h > 0)
    order, pred = _paths(W, red_idx if shock > 0 else np.empty(0, np.int64))
    hops = np.full(net.n, -1, dtype=np.int64)
    path: list[tuple[str, ...] | None] = [None] * net.n
    amounts: list[tuple[int, ...] | None] = [None] * net.n
    origin = np.full(net.n, -1, dtype=np.int64)
    links: dict[int, int] = {}
    if len(order):
        deeper = order[pred[order] != net.n]
        p = pred[deeper]
        links = dict(zip(deeper.tolist(),
                         np.rint(np.asarray(A[deeper, p]).ravel()).astype(np.int64).tolist(),
                         strict=True))
    for j in order.tolist():
        i = int(pred[j])
        if i == net.n:
            hops[j], path[j], amounts[j], origin[j] = 0, (usccs[j],), (), j
        else:
            hops[j] = hops[i] + 1
            path[j] = path[i] + (usccs[j],)  # type: ignore[operator]
            amounts[j] = amounts[i] + (links[j],)  # type: ignore[operator]
            origin[j] = origin[i]

    distressed = (res.h > 0).astype(float)
    exposure = A @ distressed
    loss = A @ res.h
    firms = pd.DataFrame({
        "uscc": usccs[affected],
        "distress": res.h[affected],
        "source": res.h0[affected] > 0,
        "round": res.round[affected],
        "hops": hops[affected],
        "source_uscc": usccs[origin[affected]],
        "path": pd.Series([path[j] for j in affected], dtype=object),
        "path_amounts_fen": pd.Series([amounts[j] for j in affected], dtype=object),
        "exposure_fen": np.rint(exposure[affected]).astype(np.int64),
        "loss_fen": np.rint(loss[affected]).astype(np.int64),
        "capital_loss_fen": np.rint(res.h[affected] * C[affected]).astype(np.int64),
    })
    firms = firms.loc[firms["distress"] >= min_distress]
    firms = firms.sort_values(["source", "distress", "hops", "uscc"],
                              ascending=[False, False, True, True], kind="stable")

    cover = A[red_idx].tocoo()
    lost = pd.DataFrame({
        "uscc": usccs[cover.col],
        "guarantor_uscc": usccs[red_idx[cover.row]],
        "amount_fen": np.rint(cover.data).astype(np.int64),
    }).sort_values(["uscc", "guarantor_uscc"], kind="stable")
    return Contagion(firms=firms.reset_index(drop=True), lost_cover=lost.reset_index(drop=True),
                     debtrank=res.debtrank, rounds=res.rounds)


def systemic_importance(net: GuaranteeNetwork,
                        capital: pd.Series | Sequence[float] | np.ndarray, *,
                        top: int | None = 20, value: np.ndarray | None = None,
                        candidates: Iterable[str] | None = None,
                        batch: int = 2048) -> pd.DataFrame:
    """The firms whose failure alone would hit the others most: DebtRank of each firm failing
    on its own (``h = 1`` on it, nothing else), largest first.

    Columns (index uscc): ``debtrank`` (R of its failure: value lost by the others),
    ``firms_hit`` (others distressed), ``failed`` (others driven to h = 1), ``calls_fen`` (the
    expected calls on all guarantees in the cascade, its own guarantors' included). Firms
    nobody guarantees hit no one and get zeros. ``top=None`` keeps every firm.

    The work is the sum of every firm's own cascade: fast on local guarantee networks (a
    120,000-firm county in well under a second), but quadratic if one circle spans most of
    the region; ``candidates`` then limits the firms tried (the others get zeros).
    """
    W = impact_matrix(net, capital)
    v = relative_value(net, capital) if value is None else net.align(value, "value")
    backed = np.asarray(net.guarantees.sum(axis=0)).ravel()  # money guaranteed of each firm
    seeds = np.flatnonzero(np.diff(W.indptr) > 0)
    if candidates is not None:
        seeds = np.intersect1d(seeds, net.index(list(candidates)))
    s, node, h = debtrank_many(W, seeds, 1.0, batch=batch)
    other = node != seeds[s]
    k = len(seeds)
    R = np.zeros(net.n)
    hit = np.zeros(net.n, dtype=np.int64)
    failed = np.zeros(net.n, dtype=np.int64)
    calls = np.zeros(net.n)
    R[seeds] = np.bincount(s[other], weights=v[node[other]] * h[other], minlength=k)
    hit[seeds] = np.bincount(s[other], minlength=k)
    failed[seeds] = np.bincount(s[other & (h >= 1.0)], minlength=k)
    calls[seeds] = np.bincount(s, weights=backed[node] * h, minlength=k)
    out = pd.DataFrame({"debtrank": R, "firms_hit": hit, "failed": failed,
                        "calls_fen": np.rint(calls).astype(np.int64)}, index=net.usccs)
    out = out.iloc[np.lexsort((net.usccs.to_numpy().astype(str), -out["calls_fen"].to_numpy(),
                               -out["debtrank"].to_numpy()))]
    return out if top is None else out.head(top)


@dataclass(frozen=True, slots=True)
class FundDraw:
    """Expected draw on the guarantee fund: ``per_firm_fen`` (int64, input order) and its sum
    ``total_fen``; ``p_default`` is the default probability used for each firm."""

    per_firm_fen: np.ndarray
    total_fen: int
    p_default: np.ndarray


def expected_fund_draw(distress: Sequence[float] | np.ndarray,
                       covered_fen: Sequence[int] | np.ndarray,
                       share: Sequence[float] | np.ndarray, *,
                       base_pd: Sequence[float] | np.ndarray | None = None,
                       lgd: float | Sequence[float] | np.ndarray = 1.0) -> FundDraw:
    """Expected claims on the guarantee fund from the loans it covers of affected firms.

    For each firm: ``p = 1 - (1 - base_pd) * (1 - distress)`` (distress read as an extra,
    independent chance of default on top of its own PD, 0 if not given), and the expected
    draw is ``p * lgd * share * covered_fen`` where ``covered_fen`` is the outstanding balance
    of its loans the fund covers and ``share`` the fund's share of a loss (0..1, e.g. 0.8 for
    grade A). ``lgd`` is the loss given default before the fund's share (1 = nothing
    recovered). Rounded to whole fen per firm; the total is the sum of the rounded parts.
    """
    h = np.asarray(distress, dtype=float)
    cov = np.asarray(covered_fen, dtype=float)
    sh = np.broadcast_to(np.asarray(share, dtype=float), h.shape)
    base = np.zeros_like(h) if base_pd is None else np.asarray(base_pd, dtype=float)
    loss_rate = np.broadcast_to(np.asarray(lgd, dtype=float), h.shape)
    for name, arr in (("distress", h), ("share", sh), ("base_pd", base), ("lgd", loss_rate)):
        if arr.shape != h.shape:
            raise ValueError(f"{name}: expected shape {h.shape}, got {arr.shape}")
        if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
            raise ValueError(f"{name}: values must lie in [0, 1]")
    if cov.shape != h.shape:
        raise ValueError(f"covered_fen: expected shape {h.shape}, got {cov.shape}")
    if np.isnan(cov).any() or (cov < 0).any():
        raise ValueError("covered_fen: must not be negative")
    p = 1.0 - (1.0 - base) * (1.0 - h)
    per = np.rint(p * loss_rate * sh * cov).astype(np.int64)
    return FundDraw(per_firm_fen=per, total_fen=int(per.sum()), p_default=p)
