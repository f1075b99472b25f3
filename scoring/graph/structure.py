"""Guarantee circles, chains and related firms.

A *guarantee circle* (担保圈) is a set of firms each of which, through a chain of guarantees,
ends up standing behind every other: a strongly connected component of the guarantee graph
with at least two members. A *chain* (担保链) is a path of guarantees; its direction here is
the direction distress travels, from a guaranteed firm to the firm guaranteeing it (if the
borrower fails, the guarantor pays).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import csgraph

from .network import GuaranteeNetwork

__all__ = [
    "Circles",
    "chains",
    "expand_frontier",
    "find_circles",
    "reach_counts",
    "related_firms",
    "related_groups",
]


@dataclass(frozen=True, slots=True)
class Circles:
    """Guarantee circles of a network.

    ``table``: one row per circle, largest first (then most money): ``circle_id``, ``size``,
    ``members`` (tuple of usccs, sorted), ``guarantees`` (links inside the circle),
    ``amount_fen`` (money guaranteed inside the circle) and ``outside_amount_fen`` (money the
    members guarantee for firms outside it). ``circle_of``: circle id per firm, -1 outside any.
    ``component``: the strongly connected component of every node (circles and single firms).
    """

    table: pd.DataFrame
    circle_of: pd.Series
    component: np.ndarray


def find_circles(net: GuaranteeNetwork) -> Circles:
    """Strongly connected components of the guarantee graph with two or more firms."""
    A = net.guarantees
    _, comp = csgraph.connected_components(A, directed=True, connection="strong")
    size = np.bincount(comp, minlength=int(comp.max(initial=-1)) + 1)
    coo = A.tocoo()
    inside = comp[coo.row] == comp[coo.col]
    k = len(size)
    amount_in = np.bincount(comp[coo.row[inside]], weights=coo.data[inside], minlength=k)
    links_in = np.bincount(comp[coo.row[inside]], minlength=k)
    amount_out = np.bincount(comp[coo.row[~inside]], weights=coo.data[~inside], minlength=k)

    circ = np.flatnonzero(size >= 2)
    order = np.lexsort((-amount_in[circ], -size[circ]))
    circ = circ[order]
    circle_id = np.full(k, -1, dtype=np.int64)
    circle_id[circ] = np.arange(len(circ))

    nodes = np.flatnonzero(circle_id[comp] >= 0)
    usccs = net.usccs.to_numpy()
    members: list[tuple[str, ...]] = [()] * len(circ)
    if len(nodes):
        cid = circle_id[comp[nodes]]
        srt = np.lexsort((usccs[nodes].astype(str), cid))
        nodes, cid = nodes[srt], cid[srt]
        cuts = np.flatnonzero(np.diff(cid)) + 1
        for c, grp in zip(cid[np.r_[0, cuts]], np.split(nodes, cuts), strict=True):
            members[int(c)] = tuple(usccs[grp].tolist())
    table = pd.DataFrame({
        "circle_id": np.arange(len(circ), dtype=np.int64),
        "size": size[circ].astype(np.int64),
        "members": pd.Series(members, dtype=object),
        "guarantees": links_in[circ].astype(np.int64),
        "amount_fen": np.rint(amount_in[circ]).astype(np.int64),
        "outside_amount_fen": np.rint(amount_out[circ]).astype(np.int64),
    })
    circle_of = pd.Series(circle_id[comp], index=net.usccs, name="circle_id")
    return Circles(table=table, circle_of=circle_of, component=comp)


def expand_frontier(indptr: np.ndarray, indices: np.ndarray,
                    nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All CSR entries of the rows ``nodes``: (position of the row in ``nodes``, entry index
    into ``indices``/``data``), in one vectorised gather."""
    start = indptr[nodes]
    count = indptr[nodes + 1] - start
    owner = np.repeat(np.arange(len(nodes), dtype=np.int64), count)
    offset = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count,
                                                                     count)
    return owner, start[owner] + offset


def reach_counts(adj: sp.csr_matrix, sources: np.ndarray | None = None,
                 weight: np.ndarray | None = None, batch: int = 4096) -> np.ndarray:
    """For each source node, the number (or total ``weight``) of the *other* nodes reachable
    from it along ``adj``.

    A breadth-first search from many sources at once: (source, node) pairs are int64 keys
    kept sorted, so each round is a gather over the frontier's edges, a binary search against
    the pairs already seen and one merge. The work is the sum of the reached sets' edges,
    fine for local networks (guarantee chains are).
    """
    adj = adj.tocsr()
    n = adj.shape[0]
    src = np.arange(n, dtype=np.int64) if sources is None else np.asarray(sources, np.int64)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=float)
    out = np.zeros(len(src))
    has_out = np.diff(adj.indptr) > 0
    for lo in range(0, len(src), batch):
        part = src[lo:lo + batch]
        live = np.flatnonzero(has_out[part])
        if not len(live):
            continue
        seen = live * n + part[live]  # sorted: live is increasing
        front = seen
        while len(front):
            owner, ent = expand_frontier(adj.indptr, adj.indices, front % n)
            keys = np.unique((front // n)[owner] * n + adj.indices[ent])
            pos = np.searchsorted(seen, keys)
            new = pos == len(seen)
            new[~new] = seen[pos[~new]] != keys[~new]
            front = keys[new]
            seen = np.insert(seen, pos[new], front)
        node = seen % n
        out[lo + live] = np.bincount(seen // n, weights=w[node], minlength=len(part))[live]
        out[lo + live] -= w[part[live]]
    return out if weight is not None else np.rint(out).astype(np.int64)


def _condensation(comp: np.ndarray, adj: sp.csr_matrix) -> sp.csr_matrix:
    """The DAG of strongly connected components: one link per pair of components joined."""
    k = int(comp.max(initial=-1)) + 1
    coo = adj.tocoo()
    a, b = comp[coo.row], comp[coo.col]
    keep = a != b
    dag = sp.csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(k, k))
    dag.sum_duplicates()
    dag.data[:] = 1.0
    return dag


def _longest_chain(dag: sp.csr_matrix) -> np.ndarray:
    """Longest path, in links, from each node of a DAG."""
    k = dag.shape[0]
    # peel sinks layer by layer: a component's chain is 1 + the longest of its successors
    length = np.zeros(k, dtype=np.int64)
    outdeg = np.diff(dag.indptr).astype(np.int64)
    rev = dag.T.tocsr()
    layer = np.flatnonzero(outdeg == 0)
    level = 0
    while len(layer):
        length[layer] = level
        _, ent = expand_frontier(rev.indptr, rev.indices, layer)
        preds = rev.indices[ent]
        outdeg -= np.bincount(preds, minlength=k)
        cand = np.unique(preds)
        layer = cand[outdeg[cand] == 0]
        level += 1
    return length


def chains(net: GuaranteeNetwork, circles: Circles | None = None) -> pd.DataFrame:
    """Per firm: how far distress starting at it can travel up the guarantee chains.

    Columns (index uscc): ``circle_id`` (-1 outside circles); ``exposed_firms``: firms that
    stand, directly or down a chain, behind its debts (they are hit if it fails);
    ``backed_firms``: firms whose debts it stands behind, directly or through others (their
    failure can reach it); ``chain_length``: links on the longest guarantee chain from it
    towards the firms exposed to it, a circle counting as one stop (its members reach one
    another, so they share one value); ``guarantors`` / ``guaranteed``: direct
    counts, and ``guaranteed_by_fen`` / ``guarantees_fen``: the money on those links.
    """
    circles = circles if circles is not None else find_circles(net)
    A = net.guarantees
    exposure = A.T.tocsr()  # d -> g: d failing hits its guarantor g
    comp = circles.component
    # members of a component reach each other and the same components beyond: count on the
    # component DAG, each component weighing its number of firms
    size = np.bincount(comp).astype(float)
    up = _condensation(comp, exposure)
    down = up.T.tocsr()
    exposed = reach_counts(up, weight=size) + size - 1
    backed = reach_counts(down, weight=size) + size - 1
    return pd.DataFrame({
        "circle_id": circles.circle_of.to_numpy(),
        "exposed_firms": np.rint(exposed[comp]).astype(np.int64),
        "backed_firms": np.rint(backed[comp]).astype(np.int64),
        "chain_length": _longest_chain(up)[comp],
        "guarantors": np.diff(exposure.indptr).astype(np.int64),
        "guaranteed": np.diff(A.indptr).astype(np.int64),
        "guaranteed_by_fen": np.rint(np.asarray(A.sum(axis=0)).ravel()).astype(np.int64),
        "guarantees_fen": np.rint(np.asarray(A.sum(axis=1)).ravel()).astype(np.int64),
    }, index=net.usccs)


def related_groups(net: GuaranteeNetwork) -> pd.Series:
    """Group id per firm: firms linked by any guarantee or shared person, however indirectly
    (the "mother cell" and its "child cells"). Isolated firms form groups of one."""
    both = (net.guarantees != 0).astype(np.int8) + (net.ties != 0).astype(np.int8)
    _, label = csgraph.connected_components(both, directed=True, connection="weak")
    return pd.Series(label.astype(np.int64), index=net.usccs, name="group_id")


def related_firms(net: GuaranteeNetwork, usccs: Iterable[str]) -> pd.DataFrame:
    """The firms directly tied to each of ``usccs``: one row per (uscc, related_uscc,
    relation) with relation ``guarantor`` (it guarantees the firm), ``guaranteed`` (the firm
    guarantees it) or ``shared_person``; ``amount_fen`` on guarantees, ``people`` on ties."""
    idx = net.index(usccs)
    names = net.usccs.to_numpy()
    parts = []
    for rel, M in (("guarantor", net.guarantees.T.tocsr()), ("guaranteed", net.guarantees),
                   ("shared_person", net.ties)):
        owner, ent = expand_frontier(M.indptr, M.indices, idx)
        val = M.data[ent]
        parts.append(pd.DataFrame({
            "uscc": names[idx[owner]],
            "related_uscc": names[M.indices[ent]],
            "relation": rel,
            "amount_fen": pd.array(np.rint(val).astype(np.int64) if rel != "shared_person"
                                   else [pd.NA] * len(ent), dtype="Int64"),
            "people": pd.array(np.rint(val).astype(np.int64) if rel == "shared_person"
                               else [pd.NA] * len(ent), dtype="Int64"),
        }))
    return pd.concat(parts, ignore_index=True)
