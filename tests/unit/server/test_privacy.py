"""The small-group rule (server.privacy): properties over random industry hierarchies."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.privacy import Group, min_firms, narrowest, publishable


@st.composite
def hierarchies(draw: st.DrawFn) -> tuple[list[Group], dict[str, list[str]]]:
    """A region of sections of divisions (some firms in no listed division, as when a division
    is left out), with every firm's chain of group codes, narrowest first."""
    groups: list[Group] = []
    chains: dict[str, list[str]] = {}
    region = 0
    for s in range(draw(st.integers(0, 4))):
        sec = f"S{s}"
        sec_firms = 0
        for d in range(draw(st.integers(0, 4))):
            n = draw(st.integers(0, 12))
            groups.append(Group("division", f"{sec}:{d}", n, sec))
            chains.update({f"{sec}:{d}#{i}": [f"{sec}:{d}", sec, "all"] for i in range(n)})
            sec_firms += n
        loose = draw(st.integers(0, 6))
        chains.update({f"{sec}#{i}": [sec, "all"] for i in range(loose)})
        groups.append(Group("section", sec, sec_firms + loose, "all"))
        region += sec_firms + loose
    groups.append(Group("region", "all", region))
    return groups, chains


def _derivable(groups: list[Group], published: frozenset[str], chains: dict[str, list[str]],
               subset: tuple[str, ...]) -> bool:
    """Whether the sum over ``subset``'s firms is a linear combination of published sums."""
    firms = sorted(chains)
    rows = [[1.0 if g.code in chains[f] else 0.0 for f in firms]
            for g in groups if g.code in published]
    target = [1.0 if f in subset else 0.0 for f in firms]
    if not rows:
        return False
    a = np.array(rows)
    return np.linalg.matrix_rank(np.vstack([a, target])) == np.linalg.matrix_rank(a)


@settings(max_examples=300, deadline=None)
@given(hierarchies(), st.integers(1, 6))
def test_published_groups_and_their_remainders_are_never_below_k(h, k):
    groups, _chains = h
    published = publishable(groups, k)
    by_code = {g.code: g for g in groups}
    for code in published:
        g = by_code[code]
        assert g.firms - 1 >= k  # k firms besides a viewer inside the group
        assert g.parent is None or g.parent in published  # no child without its parent
        remainder = g.firms - sum(c.firms for c in groups if c.parent == code and c.code in published)
        assert remainder == 0 or remainder - 1 >= k
    assert ("all" in published) == (by_code["all"].firms >= k + 1)


@settings(max_examples=150, deadline=None)
@given(hierarchies(), st.integers(1, 3))
def test_no_group_under_k_can_be_derived_by_differencing(h, k):
    groups, chains = h
    if len(chains) > 40:
        return
    published = publishable(groups, k)
    for size in range(1, k + 1):  # any k firms or fewer: a viewer plus fewer than k others
        for subset in itertools.islice(itertools.combinations(sorted(chains), size), 300):
            assert not _derivable(groups, published, chains, subset), subset


@settings(max_examples=300, deadline=None)
@given(hierarchies(), st.integers(1, 6), st.data())
def test_narrowest_publishable_group_is_chosen_in_fallback_order(h, k, data):
    groups, chains = h
    if not chains:
        return
    firm = data.draw(st.sampled_from(sorted(chains)))
    by_code = {g.code: g for g in groups}
    chain = [by_code[c] for c in chains[firm]]
    published = publishable(groups, k)
    chosen = narrowest(chain, k, allowed=published)
    if chosen is None:
        assert not any(g.code in published for g in chain)
        return
    assert chosen.firms - 1 >= k and chosen.code in published
    before = chain[:chain.index(chosen)]
    assert all(g.code not in published for g in before)  # nothing narrower was allowed


@given(st.lists(st.integers(0, 30), min_size=1, max_size=4), st.integers(1, 8), st.booleans())
def test_narrowest_counts_the_viewer_out(sizes, k, viewer_in):
    chain = [Group("g", f"g{i}", n) for i, n in enumerate(sorted(sizes))]
    chosen = narrowest(chain, k, viewer_in_group=viewer_in)
    eligible = [g for g in chain if g.firms - viewer_in >= k]
    assert chosen == (eligible[0] if eligible else None)


def test_a_two_firm_division_falls_back_and_its_section_hides_the_difference():
    groups = [Group("region", "all", 40), Group("section", "A", 2, "all"),
              Group("section", "C", 38, "all"), Group("division", "C:13", 36, "C"),
              Group("division", "C:14", 2, "C")]
    published = publishable(groups, 5)
    # A (2 firms) is withheld, and so is C: region minus C would be A's total.
    assert published == {"all"}
    chain = [groups[4], groups[2], groups[0]]
    assert narrowest(chain, 5, allowed=published).level == "region"
    assert min_firms(5) == 6 and min_firms(5, viewer_in_group=False) == 5


def test_bad_hierarchies_are_refused():
    with pytest.raises(ValueError, match="parent"):
        publishable([Group("division", "C:13", 9, "C")], 5)
    with pytest.raises(ValueError, match="firms"):
        publishable([Group("region", "all", 3), Group("section", "C", 9, "all")], 5)
    with pytest.raises(ValueError, match="k"):
        narrowest([], 0)
