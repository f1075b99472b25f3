"""``server.risk.distributed.grouped``: the scan's parts handed to Dask workers in runs of
neighbouring parts, every part once, in order, in as many runs as asked (or parts)."""

from __future__ import annotations

import random

import pytest


@pytest.mark.parametrize("seed", range(5))
def test_every_part_lands_once_in_order_in_the_runs_asked(seed):
    from server.risk.distributed import grouped

    rng = random.Random(seed)
    for n in range(1, 15):
        for groups in range(1, 8):
            parts = [[f"{n}-{i}-{j}" for j in range(rng.randint(1, 9))] for i in range(n)]
            runs = grouped(parts, groups)
            assert [p for run in runs for p in run] == parts
            assert len(runs) == min(groups, n) and all(runs)


def test_runs_hold_about_equal_firms():
    from server.risk.distributed import grouped

    parts = [[str(i)] * 30 for i in range(38)]  # 38 parts of 30 firms, 2 workers
    assert [sum(map(len, run)) for run in grouped(parts, 2)] in ([570, 570], [600, 540])
    assert grouped([], 3) == []
