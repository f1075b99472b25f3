"""Issue 16: a region scored in parts (by a hash of the USCC) equals the region scored whole.

Shared meters are split before the region is, the industry percentiles and averages are
computed over the merged region; everything else a firm's score reads is its own. Checked on a
generated region with shared meters, from the rows and from the feature store's cells, with the
hard rules and a history with re-declarations, for several numbers of parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _assert_same(got, want) -> None:
    pd.testing.assert_frame_equal(got.features, want.features, check_exact=True)
    pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
    pd.testing.assert_frame_equal(got.industry, want.industry, check_exact=True)
    pd.testing.assert_frame_equal(got.overrides, want.overrides, check_exact=True)
    pd.testing.assert_frame_equal(got.batch.contributions_frame(), want.batch.contributions_frame())
    np.testing.assert_array_equal(got.batch.sources_seen, want.batch.sources_seen)
    np.testing.assert_array_equal(got.batch.suspect, want.batch.suspect)
    a, b = got.authenticity, want.authenticity
    assert a.index.equals(b.index)
    pd.testing.assert_frame_equal(a.frame(), b.frame(), check_exact=True)
    for name, check in b.checks.items():
        for figure, values in check.figures.items():
            np.testing.assert_array_equal(a.checks[name].figures[figure], values, err_msg=f"{name} {figure}")
    for k in b.month_ends:
        np.testing.assert_array_equal(a.month_ends[k], b.month_ends[k])
    assert [a.of(u) for u in a.index[:40]] == [b.of(u) for u in b.index[:40]]


@pytest.fixture(scope="module")
def region():
    from scoring.authenticity import split_shared_meters
    from server.demo.synth import generate_region

    region = generate_region(300, seed=4)
    return region.firms, split_shared_meters(region.records), region.records


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_a_region_scored_in_parts_equals_the_region_scored_whole(fitted, region, parts) -> None:
    from scoring.feature_store import CELL_ONLY_KINDS, cells_of, split_cells
    from scoring.overrides import OverrideRuleSet
    from scoring.partitioned import part_of, score_in_parts
    from scoring.pipeline import score_region

    firms, records, raw = region
    rules = OverrideRuleSet.default(now=pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime())
    as_of = (records["event_date"].max() + pd.offsets.MonthEnd(0)).date()
    # a history with three VAT months of one firm re-declared, for the re-declaration check
    vat = records[(records["kind"] == "tax_monthly") & (records["category"] == "vat")]
    uscc = vat["uscc"].iloc[len(vat) // 2]
    old = vat[vat["uscc"] == uscc].sort_values("event_date").tail(3)
    history = pd.concat([records.assign(known_from=records["event_date"], superseded_at=pd.NaT),
                         old.assign(known_from=old["event_date"],
                                    superseded_at=pd.Timestamp(as_of) - pd.Timedelta(days=3),
                                    amount_fen=old["amount_fen"] // 3)], ignore_index=True)
    firms = firms.sample(frac=1.0, random_state=1).reset_index(drop=True)  # any order is kept
    kept = part_of(firms["uscc"], parts)
    assert len(set(kept.tolist())) == parts  # every part has firms
    want = score_region(fitted, firms, records, as_of, overrides=rules, history=history)
    assert want.authenticity.checks["redeclaration"].flagged.any()
    got = score_in_parts(fitted, firms, records, as_of, parts, overrides=rules, history=history)
    _assert_same(got, want)
    # from the cells, as the server re-scores
    cells = split_cells(cells_of(raw))
    rest = records[~records["kind"].isin(CELL_ONLY_KINDS)]
    got = score_in_parts(fitted, firms, rest, as_of, parts, cells=cells, overrides=rules, history=history)
    _assert_same(got, want)


def test_the_parts_are_the_same_everywhere_and_each_firm_is_in_one() -> None:
    from scoring.partitioned import part_of, split_region

    usccs = [f"91330000{i:010d}" for i in range(500)]
    # CRC-32, not Python's salted hash: fixed values
    assert part_of(usccs[:3], 8).tolist() == part_of(list(usccs[:3]), 8).tolist()
    import zlib

    assert part_of(["X"], 5)[0] == zlib.crc32(b"X") % 5
    firms = pd.DataFrame({"uscc": usccs})
    rows = pd.DataFrame({"uscc": np.repeat(usccs, 2), "v": np.arange(1000)})
    parts = split_region(firms, 4, records=rows, cells=None)
    assert sorted(u for p in parts for u in p["firms"]["uscc"]) == sorted(usccs)
    for p in parts:
        assert set(p["records"]["uscc"]) == set(p["firms"]["uscc"]) and p["cells"] is None
    assert sum(len(p["records"]) for p in parts) == 1000


def test_linked_groups_join_every_firm_tied_through_shared_keys() -> None:
    """A firm's group is the smallest USCC of the firms it reaches through keys read by two
    firms, however many steps away, firms outside the list included; checked against a plain
    search over random pairs."""
    from scoring.partitioned import linked_groups

    rng = np.random.default_rng(7)
    for _ in range(20):
        usccs = [f"9133{i:014d}" for i in rng.permutation(60)]
        outside = [f"9144{i:014d}" for i in range(5)]
        n = int(rng.integers(0, 80))
        pair_firms = rng.choice(usccs + outside, n)
        pair_keys = rng.choice([f"M{k}" for k in range(40)], n)
        reads: dict[str, set[str]] = {}
        for f, k in zip(pair_firms, pair_keys, strict=True):
            reads.setdefault(str(f), set()).add(str(k))
        want = []
        for u in usccs:  # every firm reachable from u
            seen, todo = {u}, [u]
            while todo:
                f = todo.pop()
                for g, keys in reads.items():
                    if g not in seen and keys & reads.get(f, set()):
                        seen.add(g)
                        todo.append(g)
            want.append(min(seen))
        assert linked_groups(usccs, pair_firms, pair_keys).tolist() == want


def test_firms_of_one_group_go_to_one_part_and_their_rows_with_them() -> None:
    from scoring.partitioned import part_of, split_region

    usccs = [f"91330000{i:010d}" for i in range(400)]
    groups = [usccs[i - i % 4] for i in range(400)]  # fours, keyed by their first
    firms = pd.DataFrame({"uscc": usccs})
    stray = "9144000000000000XX"  # a row of a firm not in the list goes by its own USCC
    rows = pd.DataFrame({"uscc": [*np.repeat(usccs, 2), stray], "v": np.arange(801)})
    parts = split_region(firms, 5, groups, records=rows)
    by_hash = pd.Series(part_of(usccs, 5)).groupby(groups).nunique()
    assert (by_hash > 1).any()  # by the USCC alone, groups would be cut
    where = {u: k for k, p in enumerate(parts) for u in p["firms"]["uscc"]}
    assert sorted(where) == usccs
    for i in range(0, 400, 4):
        assert len({where[u] for u in usccs[i:i + 4]}) == 1
    for p in parts:
        assert set(p["records"]["uscc"]) - {stray} == set(p["firms"]["uscc"])
    assert sum(len(p["records"]) for p in parts) == 801
    assert [stray in set(p["records"]["uscc"]) for p in parts].count(True) == 1
