"""Guarantee graph: circles, chains, DebtRank contagion and the fund's expected draw.

Small graphs have their expected numbers worked out by hand in the tests; random graphs are
checked against networkx and against a literal, loop-by-loop DebtRank written here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from scoring.graph import (
    GuaranteeNetwork,
    build_network,
    capital_buffer,
    chains,
    contagion,
    debtrank,
    debtrank_many,
    expected_fund_draw,
    find_circles,
    impact_matrix,
    reach_counts,
    related_firms,
    related_groups,
    systemic_importance,
)

DAY = "2025-06-30"
WAN = 1_000_000  # fen in 10,000 yuan


def guarantees(edges: list[tuple[str, str, int]], start: str = "2025-01-01",
               end: str | None = "2026-12-31") -> pd.DataFrame:
    return pd.DataFrame({
        "guarantor_uscc": [e[0] for e in edges],
        "guaranteed_uscc": [e[1] for e in edges],
        "amount_fen": [e[2] for e in edges],
        "start_date": pd.to_datetime([start] * len(edges)),
        "end_date": pd.to_datetime([end] * len(edges)),
    })


def network(edges: list[tuple[str, str, int]], firms: list[str] | None = None) -> GuaranteeNetwork:
    return build_network(guarantees(edges), as_of=DAY, firms=firms)


def random_network(n: int, m: int, seed: int) -> GuaranteeNetwork:
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    names = [f"F{i:04d}" for i in range(n)]
    edges = [(names[a], names[b], int(rng.integers(1, 100)) * WAN)
             for a, b in zip(src, dst, strict=True) if a != b]
    return network(edges, firms=names)


def clustered_network(groups: int, size: int, p: float, cross: int, seed: int) -> GuaranteeNetwork:
    """Dense little groups (circles form inside them) joined by a few random guarantees."""
    rng = np.random.default_rng(seed)
    n = groups * size
    names = [f"F{i:04d}" for i in range(n)]
    a, b = np.divmod(np.arange(size * size), size)
    pairs = [(g * size + a, g * size + b) for g in range(groups)]
    src = np.concatenate([x for x, _ in pairs] + [rng.integers(0, n, cross)])
    dst = np.concatenate([y for _, y in pairs] + [rng.integers(0, n, cross)])
    keep = (src != dst) & ((rng.random(len(src)) < p) | (np.arange(len(src)) >= len(src) - cross))
    edges = [(names[x], names[y], int(rng.integers(1, 100)) * WAN)
             for x, y in zip(src[keep], dst[keep], strict=True)]
    return network(edges, firms=names)


# --------------------------------------------------------------------------- building


def test_network_keeps_active_guarantees_sums_pairs_and_drops_self() -> None:
    g = pd.concat([
        guarantees([("A", "B", 30 * WAN), ("A", "B", 20 * WAN), ("B", "B", 5 * WAN)]),
        guarantees([("C", "A", 7 * WAN)], start="2024-01-01", end=DAY),  # ended on the day
        guarantees([("B", "C", 9 * WAN)], start="2025-07-01"),  # not started yet
        guarantees([("C", "B", 4 * WAN)], end=None),  # open-ended
    ], ignore_index=True)
    net = build_network(g, as_of=DAY, firms=["C", "B", "A"])
    assert list(net.usccs) == ["C", "B", "A"]
    A = net.guarantees.toarray()
    c, b, a = 0, 1, 2
    assert A[a, b] == 50 * WAN
    assert A[c, b] == 4 * WAN
    assert A[b, b] == 0 and A[c, a] == 0 and A[b, c] == 0
    assert net.n_guarantees == 2
    edges = net.edges().sort_values("guarantor_uscc").reset_index(drop=True)
    assert edges.to_dict("list") == {"guarantor_uscc": ["A", "C"], "guaranteed_uscc": ["B", "B"],
                                     "amount_fen": [50 * WAN, 4 * WAN]}
    # without a date every guarantee counts
    assert build_network(g).guarantees.nnz == 4


def test_network_appends_firms_named_only_by_guarantees() -> None:
    net = build_network(guarantees([("Z", "A", WAN), ("Y", "Q", WAN)]), as_of=DAY,
                        firms=pd.DataFrame({"uscc": ["Q", "A"]}))
    assert list(net.usccs) == ["Q", "A", "Y", "Z"]
    with pytest.raises(KeyError):
        net.index(["nobody"])


def test_person_ties_count_shared_reps_and_shareholders_only_while_active() -> None:
    rel = pd.DataFrame({
        "uscc": ["A", "B", "A", "C", "C", "D", "E", "F", "F"],
        "person_id": ["p1", "p1", "p2", "p2", "p1", "s1", "s1", "p3", "p1"],
        "role": ["legal_rep", "shareholder", "shareholder", "shareholder", "legal_rep",
                 "supervisor", "supervisor", "legal_rep", "shareholder"],
        "start_date": pd.to_datetime(["2020-01-01"] * 8 + ["2025-07-01"]),
        "end_date": pd.to_datetime([None, None, None, None, "2025-03-01", None, None, None, None]),
    })
    net = build_network(guarantees([]), rel, as_of=DAY)
    T = pd.DataFrame(net.ties.toarray(), index=net.usccs, columns=net.usccs)
    assert T.loc["A", "B"] == 1 and T.loc["B", "A"] == 1  # p1
    assert T.loc["A", "C"] == 1  # p2 (p1 left C in March)
    assert T.loc["B", "C"] == 0
    assert T.loc["D", "E"] == 0  # supervisors do not tie firms by default
    assert T.loc["A", "F"] == 0  # p1 joins F only in July
    assert np.all(np.diag(T.to_numpy()) == 0)
    with_sup = build_network(guarantees([]), rel, as_of=DAY, roles=("supervisor",))
    Ts = pd.DataFrame(with_sup.ties.toarray(), index=with_sup.usccs, columns=with_sup.usccs)
    assert Ts.loc["D", "E"] == 1


def test_capital_buffer_prefers_latest_known_equity() -> None:
    firms = pd.DataFrame({"uscc": ["A", "B", "C", "D"],
                          "registered_capital_fen": [100 * WAN, 200 * WAN, 300 * WAN, 400 * WAN]})
    records = pd.DataFrame({
        "uscc": ["A", "A", "B", "C", "D"],
        "kind": ["financial_statement"] * 4 + ["tax_monthly"],
        "event_date": pd.to_datetime(["2024-04-30", "2025-04-30", "2025-04-30", "2025-08-31",
                                      "2025-04-30"]),
        "attrs": [{"equity": 50 * WAN}, '{"equity": 70000000}', {"equity": -5 * WAN},
                  {"equity": 1}, None],
    })
    cap = capital_buffer(firms, records, as_of=DAY)
    assert cap.to_dict() == {"A": 70 * WAN, "B": 0.0, "C": 300 * WAN, "D": 400 * WAN}


# --------------------------------------------------------------------------- circles, chains


# A -> B means A guarantees B.  A->B->C->A is a circle, D<->E a mutual pair, then E->F->G.
CIRCLES_EDGES = [("A", "B", 10 * WAN), ("B", "C", 20 * WAN), ("C", "A", 30 * WAN),
                 ("D", "E", 5 * WAN), ("E", "D", 6 * WAN), ("E", "F", 7 * WAN),
                 ("F", "G", 8 * WAN), ("C", "D", 9 * WAN)]


def test_circles_of_a_hand_built_graph() -> None:
    net = network(CIRCLES_EDGES, firms=list("ABCDEFGH"))
    c = find_circles(net)
    t = c.table
    assert t["members"].tolist() == [("A", "B", "C"), ("D", "E")]
    assert t["size"].tolist() == [3, 2]
    assert t["guarantees"].tolist() == [3, 2]
    assert t["amount_fen"].tolist() == [60 * WAN, 11 * WAN]
    assert t["outside_amount_fen"].tolist() == [9 * WAN, 7 * WAN]  # C->D, E->F
    assert c.circle_of.to_dict() == {"A": 0, "B": 0, "C": 0, "D": 1, "E": 1, "F": -1, "G": -1,
                                     "H": -1}


def test_chains_of_a_hand_built_graph() -> None:
    ch = chains(network(CIRCLES_EDGES, firms=list("ABCDEFGH")))
    # if G fails, F pays; F's failure hits E; E's hits D (and D's E); D's failure hits C,
    # which is in the circle with A and B
    assert ch.loc["G", "exposed_firms"] == 6  # F, E, D, C, B, A
    assert ch.loc["G", "chain_length"] == 3  # G -> F -> {D, E} -> {A, B, C}
    assert ch.loc["A", "exposed_firms"] == 2 and ch.loc["A", "chain_length"] == 0
    assert ch.loc["D", "exposed_firms"] == 4  # E, A, B, C
    assert ch.loc["A", "backed_firms"] == 6  # B, C, D, E, F, G
    assert ch.loc["G", "backed_firms"] == 0
    assert ch.loc["H", ["exposed_firms", "backed_firms", "chain_length"]].tolist() == [0, 0, 0]
    assert ch.loc["E", "guarantors"] == 1 and ch.loc["E", "guaranteed"] == 2
    assert ch.loc["E", "guarantees_fen"] == 13 * WAN and ch.loc["D", "guaranteed_by_fen"] == 15 * WAN


def test_circles_and_reach_agree_with_networkx_on_a_random_graph() -> None:
    nx = pytest.importorskip("networkx")
    net = clustered_network(40, 10, 0.15, 120, seed=3)
    G = nx.DiGraph()
    G.add_nodes_from(range(net.n))
    coo = net.guarantees.tocoo()
    G.add_edges_from(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    expected = {frozenset(net.usccs[list(s)]) for s in nx.strongly_connected_components(G)
                if len(s) >= 2}
    got = {frozenset(m) for m in find_circles(net).table["members"]}
    assert len(expected) >= 10 and got == expected
    backed = reach_counts(net.guarantees)
    exposed = chains(net)["exposed_firms"].to_numpy()
    for i in range(net.n):
        assert backed[i] == len(nx.descendants(G, i))
        assert exposed[i] == len(nx.ancestors(G, i))


def test_circles_agree_with_a_transitive_closure() -> None:
    net = clustered_network(8, 8, 0.2, 10, seed=11)
    R = (net.guarantees.toarray() > 0) | np.eye(net.n, dtype=bool)
    for _ in range(7):  # 2**7 > 60 steps
        R = (R.astype(np.int64) @ R.astype(np.int64)) > 0
    same = R & R.T
    expected = {frozenset(net.usccs[np.flatnonzero(row)]) for row in same if row.sum() >= 2}
    got = {frozenset(m) for m in find_circles(net).table["members"]}
    assert len(expected) >= 3 and got == expected


def test_related_firms_and_groups() -> None:
    rel = pd.DataFrame({"uscc": ["G", "H"], "person_id": ["p", "p"],
                        "role": ["legal_rep", "legal_rep"],
                        "start_date": pd.to_datetime(["2020-01-01"] * 2),
                        "end_date": pd.to_datetime([None, None])})
    net = build_network(guarantees(CIRCLES_EDGES), rel, as_of=DAY, firms=list("ABCDEFGHI"))
    r = related_firms(net, ["E", "G"]).sort_values(["uscc", "relation", "related_uscc"])
    rows = list(r[["uscc", "related_uscc", "relation"]].itertuples(index=False, name=None))
    assert rows == [("E", "D", "guaranteed"), ("E", "F", "guaranteed"), ("E", "D", "guarantor"),
                    ("G", "F", "guarantor"), ("G", "H", "shared_person")]
    assert r.loc[r["relation"] == "guarantor", "amount_fen"].tolist() == [5 * WAN, 8 * WAN]
    groups = related_groups(net)
    assert groups["A"] == groups["H"]  # H is tied to G by a person, G to the rest by guarantees
    assert groups["I"] != groups["A"]


# --------------------------------------------------------------------------- DebtRank by hand

# Chain: Y guarantees X's loan (50), Z guarantees Y's (30). Capital X 100, Y 100, Z 60.
# W[X, Y] = 50/100 = 0.5, W[Y, Z] = 30/60 = 0.5.  X fails (h = 1):
#   round 1: X -> Y: h_Y = 0.5;  round 2: Y -> Z: h_Z = 0.5 * 0.5 = 0.25.
#   v = capital share = (100, 100, 60) / 260;  R = (100*0.5 + 60*0.25) / 260 = 65/260 = 0.25.
CHAIN = [("Y", "X", 50 * WAN), ("Z", "Y", 30 * WAN)]
CHAIN_CAPITAL = pd.Series({"X": 100 * WAN, "Y": 100 * WAN, "Z": 60 * WAN})


def test_debtrank_on_a_three_firm_chain() -> None:
    net = network(CHAIN, firms=["X", "Y", "Z"])
    W = impact_matrix(net, CHAIN_CAPITAL).toarray()
    assert W.tolist() == [[0, 0.5, 0], [0, 0, 0.5], [0, 0, 0]]
    res = contagion(net, ["X"], CHAIN_CAPITAL)
    f = res.firms.set_index("uscc")
    assert f["distress"].to_dict() == {"X": 1.0, "Y": 0.5, "Z": 0.25}
    assert res.debtrank == pytest.approx(0.25)
    assert f["source"].to_dict() == {"X": True, "Y": False, "Z": False}
    assert f["round"].to_dict() == {"X": 0, "Y": 1, "Z": 2}
    assert f.loc["Z", "path"] == ("X", "Y", "Z")
    assert f.loc["Z", "path_amounts_fen"] == (50 * WAN, 30 * WAN)
    assert f.loc["Y", "path"] == ("X", "Y") and f.loc["X", "path"] == ("X",)
    assert f["source_uscc"].tolist() == ["X", "X", "X"]
    # exposure: what each guarantees of distressed firms; loss: guarantee x their distress
    assert f["exposure_fen"].to_dict() == {"X": 0, "Y": 50 * WAN, "Z": 30 * WAN}
    assert f["loss_fen"].to_dict() == {"X": 0, "Y": 50 * WAN, "Z": 15 * WAN}
    assert f["capital_loss_fen"].to_dict() == {"X": 100 * WAN, "Y": 50 * WAN, "Z": 15 * WAN}
    assert res.lost_cover.empty  # X guarantees nobody
    # a milder shock on the same firm: Y = 0.5 * 0.4, Z = 0.5 * 0.2; R = (100*0.2 + 60*0.1)/260
    mild = contagion(net, ["X"], CHAIN_CAPITAL, shock=0.4)
    assert mild.firms.set_index("uscc")["distress"].to_dict() == pytest.approx(
        {"X": 0.4, "Y": 0.2, "Z": 0.1})
    assert mild.debtrank == pytest.approx(26 / 260)
    # a red firm outside the network hits nobody
    assert contagion(net, ["X", "nobody"], CHAIN_CAPITAL).debtrank == pytest.approx(0.25)
    # Y turning red: Z pays, X loses its guarantor's cover
    res_y = contagion(net, ["Y"], CHAIN_CAPITAL)
    assert res_y.firms.set_index("uscc")["distress"].to_dict() == {"Y": 1.0, "Z": 0.5}
    assert res_y.lost_cover.to_dict("list") == {"uscc": ["X"], "guarantor_uscc": ["Y"],
                                               "amount_fen": [50 * WAN]}


# Circle: A guarantees B, B guarantees C, C guarantees A, 50 each; capital 100 each, so
# W[B, A] = W[C, B] = W[A, C] = 0.5 and distress runs A -> C -> B -> A.  A fails:
#   round 1: h_C = 0.5;  round 2: h_B = 0.25;  round 3: B passes 0.125 back to A, already
#   at 1 and Inactive, so it stops.  v = 1/3 each: R = (0.5 + 0.25) / 3 = 0.25.
# A shocked to 0.4 instead: h_C = 0.2, h_B = 0.1, h_A = 0.4 + 0.05 = 0.45;
#   R = (0.05 + 0.1 + 0.2) / 3 = 0.35 / 3.
CYCLE = [("A", "B", 50 * WAN), ("B", "C", 50 * WAN), ("C", "A", 50 * WAN)]
CYCLE_CAPITAL = pd.Series({"A": 100 * WAN, "B": 100 * WAN, "C": 100 * WAN})


def test_debtrank_on_a_three_firm_circle() -> None:
    net = network(CYCLE)
    full = contagion(net, ["A"], CYCLE_CAPITAL)
    assert full.firms.set_index("uscc")["distress"].to_dict() == {"A": 1.0, "C": 0.5, "B": 0.25}
    assert full.debtrank == pytest.approx(0.25)
    assert full.rounds == 3
    assert full.firms.set_index("uscc").loc["B", "path"] == ("A", "C", "B")
    part = contagion(net, ["A"], CYCLE_CAPITAL, shock=0.4)
    assert part.firms.set_index("uscc")["distress"].to_dict() == pytest.approx(
        {"A": 0.45, "C": 0.2, "B": 0.1})
    assert part.debtrank == pytest.approx(0.35 / 3)


def test_each_firm_propagates_once_so_a_circle_does_not_amplify_itself() -> None:
    # guarantees as large as the capital: W = 1 on every link of the circle.  A at 0.4:
    #   C = 0.4, B = 0.4, A = 0.4 + 0.4 = 0.8, and A (Inactive) passes nothing on again.
    #   Were firms allowed to propagate repeatedly, all three would end at 1.
    net = network([(a, b, 100 * WAN) for a, b, _ in CYCLE])
    W = impact_matrix(net, CYCLE_CAPITAL)
    res = debtrank(W, np.array([0.4, 0.0, 0.0]))
    assert res.h.tolist() == pytest.approx([0.8, 0.4, 0.4])
    assert res.round.tolist() == [0, 2, 1]


def test_a_small_extra_shock_can_shield_a_firm_by_using_up_its_one_propagation() -> None:
    # b guarantees a, j guarantees b and c, k guarantees j; every guarantee = capital (W = 1).
    # a fails: b, j, k all fail (rounds 1, 2, 3).  Add c at 0.01: j turns Distressed in
    # round 1 with 0.01, passes that to k in round 2 and is Inactive when a's loss arrives.
    net = network([("b", "a", 100 * WAN), ("j", "b", 100 * WAN), ("j", "c", 100 * WAN),
                   ("k", "j", 100 * WAN)])
    W = impact_matrix(net, pd.Series(100 * WAN, index=net.usccs))
    a, c, j, k = net.index(["a", "c", "j", "k"])
    alone = np.zeros(net.n)
    alone[a] = 1.0
    both = alone.copy()
    both[c] = 0.01
    assert debtrank(W, alone).h[[j, k]].tolist() == [1.0, 1.0]
    assert debtrank(W, both).h[[j, k]].tolist() == pytest.approx([1.0, 0.01])


def test_firm_without_capital_is_fully_hit_and_impact_is_capped_at_one() -> None:
    net = network([("Y", "X", 500 * WAN), ("Z", "X", 10 * WAN)])
    W = impact_matrix(net, pd.Series({"X": 100 * WAN, "Y": 100 * WAN})).toarray()  # Z missing
    x, y, z = net.index(["X", "Y", "Z"])
    assert W[x, y] == 1.0 and W[x, z] == 1.0


def test_systemic_importance_on_the_chain() -> None:
    net = network(CHAIN, firms=["X", "Y", "Z"])
    si = systemic_importance(net, CHAIN_CAPITAL, top=None)
    assert si.index.tolist() == ["X", "Y", "Z"]
    assert si.loc["X", "debtrank"] == pytest.approx(0.25)
    assert si.loc["Y", "debtrank"] == pytest.approx(0.5 * 60 / 260)  # Z at 0.5
    assert si.loc["Z", "debtrank"] == 0
    assert si["firms_hit"].tolist() == [2, 1, 0]
    assert si["failed"].tolist() == [0, 0, 0]
    # calls: X's guarantor pays 50 x 1, Z pays 30 x 0.5
    assert si.loc["X", "calls_fen"] == 65 * WAN and si.loc["Y", "calls_fen"] == 30 * WAN
    assert systemic_importance(net, CHAIN_CAPITAL, top=1).index.tolist() == ["X"]
    only_y = systemic_importance(net, CHAIN_CAPITAL, top=None, candidates=["Y"])
    assert only_y["debtrank"].to_dict() == pytest.approx({"Y": 0.5 * 60 / 260, "X": 0, "Z": 0})


# --------------------------------------------------------------------------- DebtRank at large


def literal_debtrank(W: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """Battiston et al.'s update rules, firm by firm, with explicit S/D/I states."""
    n = len(h0)
    h = h0.copy()
    state = np.where(h0 > 0, "D", "S")
    while (state == "D").any():
        prev_h, prev_state = h.copy(), state.copy()
        for j in range(n):
            gain = sum(W[i, j] * prev_h[i] for i in range(n) if prev_state[i] == "D")
            h[j] = min(1.0, prev_h[j] + gain)
        for j in range(n):
            if prev_state[j] == "D":
                state[j] = "I"
            elif h[j] > 0 and prev_state[j] == "S":
                state[j] = "D"
    return h


def random_case(seed: int, n: int = 80, m: int = 160) -> tuple[GuaranteeNetwork, pd.Series]:
    net = random_network(n, m, seed)
    rng = np.random.default_rng(seed + 100)
    capital = pd.Series(rng.integers(20, 300, net.n) * WAN, index=net.usccs)
    return net, capital


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_debtrank_matches_the_literal_algorithm(seed: int) -> None:
    net, capital = random_case(seed)
    W = impact_matrix(net, capital)
    rng = np.random.default_rng(seed)
    h0 = np.where(rng.random(net.n) < 0.05, rng.uniform(0.2, 1.0, net.n), 0.0)
    res = debtrank(W, h0)
    expected = literal_debtrank(W.toarray(), h0)
    assert (expected > h0).sum() >= 5  # the cascade went somewhere
    np.testing.assert_allclose(res.h, expected, rtol=0, atol=1e-12)


def test_debtrank_invariants_on_a_random_network() -> None:
    net, capital = random_case(7, n=300, m=700)
    W = impact_matrix(net, capital)
    rng = np.random.default_rng(7)
    seeds = rng.choice(net.n, 6, replace=False)
    h0 = np.zeros(net.n)
    h0[seeds] = rng.uniform(0.3, 0.9, len(seeds))
    res = debtrank(W, h0)
    assert np.all((res.h >= 0) & (res.h <= 1))
    assert np.all(res.h >= h0)
    # exactly the firms a chain of exposures leads to from the shocked ones are hit
    dist = csgraph.shortest_path(W, directed=True, unweighted=True, indices=seeds).min(axis=0)
    reachable = np.isfinite(dist)
    assert reachable.sum() > 20
    assert np.array_equal(res.h > 0, reachable)
    # the round a firm turns Distressed is its distance from the shocked set
    assert np.array_equal(res.round[reachable], dist[reachable].astype(int))
    # a stronger shock on the same firms never leaves anyone better off
    stronger = debtrank(W, np.minimum(1.0, h0 * 1.5))
    assert np.all(stronger.h >= res.h - 1e-15) and stronger.h.sum() > res.h.sum()
    # the shocked firms' own loss is not counted in R
    v = np.full(net.n, 1 / net.n)
    assert res.debtrank == pytest.approx(float(v @ (res.h - h0)))


def test_many_scenarios_at_once_equal_one_at_a_time() -> None:
    net, capital = random_case(5, n=200, m=420)
    W = impact_matrix(net, capital)
    seeds = np.arange(0, net.n, 3)
    s, node, h = debtrank_many(W, seeds, 0.7, batch=16)
    got = sp.csr_matrix((h, (s, node)), shape=(len(seeds), net.n)).toarray()
    for k, i in enumerate(seeds):
        h0 = np.zeros(net.n)
        h0[i] = 0.7
        np.testing.assert_allclose(got[k], debtrank(W, h0).h, rtol=0, atol=1e-12)


def test_systemic_importance_ranks_by_single_firm_debtrank() -> None:
    net, capital = random_case(9, n=150, m=300)
    si = systemic_importance(net, capital, top=10)
    W = impact_matrix(net, capital)
    v = (capital / capital.sum()).to_numpy()
    alone = []
    for i in range(net.n):
        h0 = np.zeros(net.n)
        h0[i] = 1.0
        alone.append(debtrank(W, h0, v).debtrank)
    best = np.sort(alone)[::-1][:10]
    np.testing.assert_allclose(si["debtrank"].to_numpy(), best, rtol=1e-12)
    assert si["debtrank"].iloc[0] > 0
    first = net.index([si.index[0]])[0]
    assert alone[first] == pytest.approx(si["debtrank"].iloc[0])


def test_contagion_paths_are_shortest_chains_of_real_guarantees() -> None:
    net, capital = random_case(4, n=300, m=650)
    rng = np.random.default_rng(4)
    red = list(rng.choice(net.usccs, 5, replace=False))
    res = contagion(net, red, capital)
    f = res.firms
    assert len(f) > 30
    A = net.guarantees
    W = impact_matrix(net, capital)
    dist = csgraph.shortest_path(W, unweighted=True, indices=net.index(red)).min(axis=0)
    for row in f.itertuples(index=False):
        path = row.path
        assert path[0] in red and path[-1] == row.uscc and path[0] == row.source_uscc
        assert len(path) - 1 == row.hops == dist[net.index([row.uscc])[0]]
        idx = net.index(path)
        # each next firm guarantees the previous one, with the amount reported
        amounts = [int(A[g, d]) for d, g in zip(idx[:-1], idx[1:], strict=True)]
        assert all(a > 0 for a in amounts)
        assert list(row.path_amounts_fen) == amounts
    assert f["source"].sum() == len(red)
    # loss = sum over the firms it guarantees of amount x their distress
    h = pd.Series(0.0, index=net.usccs)
    h[f["uscc"]] = f["distress"].to_numpy()
    expected = np.rint(A @ h.to_numpy()).astype(np.int64)
    assert np.array_equal(f["loss_fen"].to_numpy(), expected[net.index(f["uscc"])])
    assert (f["loss_fen"] <= f["exposure_fen"]).all()
    faint = contagion(net, red, capital, min_distress=0.1).firms
    assert 0 < len(faint) < len(f) and faint["distress"].min() >= 0.1


# --------------------------------------------------------------------------- guarantee fund


def test_expected_fund_draw_by_hand() -> None:
    # p = 1 - (1 - pd)(1 - h): 1, 1 - 0.9 * 0.5 = 0.55, 0.5
    # draw = p * share * covered: 1*0.8*1000 = 800, 0.55*0.6*2000 = 660, 0.5*0.4*3000 = 600
    d = expected_fund_draw([1.0, 0.5, 0.0], [1000 * WAN, 2000 * WAN, 3000 * WAN],
                           [0.8, 0.6, 0.4], base_pd=[0.0, 0.1, 0.5])
    assert d.per_firm_fen.tolist() == [800 * WAN, 660 * WAN, 600 * WAN]
    assert d.total_fen == 2060 * WAN
    assert d.p_default.tolist() == pytest.approx([1.0, 0.55, 0.5])
    # half recovered: half the draw
    assert expected_fund_draw([1.0], [1000 * WAN], 0.8, lgd=0.5).total_fen == 400 * WAN
    assert expected_fund_draw([0.0], [1000 * WAN], 0.8).total_fen == 0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"distress": [1.2], "covered_fen": [1], "share": [0.5]}, "distress"),
    ({"distress": [0.2], "covered_fen": [-1], "share": [0.5]}, "covered_fen"),
    ({"distress": [0.2], "covered_fen": [1], "share": [80]}, "share"),
    ({"distress": [0.2, 0.1], "covered_fen": [1], "share": 0.5}, "covered_fen"),
])
def test_expected_fund_draw_rejects_bad_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        expected_fund_draw(**kwargs)  # type: ignore[arg-type]


def test_debtrank_rejects_a_shock_outside_zero_one() -> None:
    net = network(CHAIN)
    with pytest.raises(ValueError, match="^shock:"):
        debtrank(impact_matrix(net, CHAIN_CAPITAL), np.array([1.5, 0, 0]))
