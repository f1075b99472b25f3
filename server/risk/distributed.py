"""The warning scan's parts on a Dask cluster (issue 16): ``XINBAO_DASK_SCHEDULER`` names it.

Each worker reads its own part of the region from the database (``database_url``) in the
scan's two passes (``server.risk.passes.in_two_passes``: the monthly feeds from the feature
store, then every record of the firms a rule reading those feeds' rows found) and evaluates
the firms' own rules; the submitting process reads no record and only gathers the findings.
The findings equal the scan's in process (``tests/integration/test_scan_parts.py``). Dask runs
a part whose worker died again on another worker; with no worker left, or no scheduler, the
scan fails with the reason (``server.cluster.ClusterUnavailable``)."""

from __future__ import annotations

import asyncio
import bisect
import itertools
from datetime import date
from typing import Any

import pandas as pd

from scoring.risk import Finding
from server.cluster import connect, large_tasks, submit_held
from server.engines import reading
from server.risk.passes import STORE_PART_FIRMS, in_two_passes

__all__ = ["grouped", "scan_on_dask", "scan_part"]


def scan_part(database_url: str, part: list[str], firms: pd.DataFrame, day: date,
              scores: pd.DataFrame | None, rules: list[str], chunk_firms: int | None = None) -> list[Finding]:
    """The findings of the firms' own rules of ``part`` (one part of the scan, or several
    together), read by the worker; its second pass reads ``chunk_firms`` firms' records at a
    time (all of them if None). Runs on a worker."""
    async def run() -> list[Finding]:
        async with reading(database_url) as engine:
            return await in_two_passes(engine, part, firms, day, scores, rules, chunk_firms or len(part))

    return asyncio.run(run())


def grouped(parts: list[list[str]], groups: int) -> list[list[list[str]]]:
    """``parts`` in ``groups`` runs of neighbouring parts (as many as the parts if they are
    fewer), each about a ``groups``-th of the firms, in the parts' order."""
    if not parts:
        return []
    groups = max(1, min(groups, len(parts)))
    reached = list(itertools.accumulate(len(p) for p in parts))
    total = reached[-1] if reached else 0
    cuts = [0]
    for k in range(1, groups):
        # the first part that reaches the k-th share, leaving a part for each group after
        at = bisect.bisect_left(reached, total * k / groups) + 1
        cuts.append(min(max(at, cuts[-1] + 1), len(parts) - (groups - k)))
    cuts.append(len(parts))
    return [parts[a:b] for a, b in itertools.pairwise(cuts)]


def scan_on_dask(address: str, database_url: str, parts: list[list[str]], firms: pd.DataFrame, day: date,
                 scores: pd.DataFrame | None, rules: list[str]) -> list[Finding]:
    """The findings of every part, in the parts' order (blocking: call it in a worker thread).
    Neighbouring parts go to a worker together, as one task of at least ``STORE_PART_FIRMS``
    firms or one per worker, whichever makes more tasks: the worker then reads them in one
    pass each (a task per part read its cells, rows and records part by part: at 1,000 firms
    of Weihai's density, 38 parts, 26.3 s against 9.7 s in process). Each task's second pass
    reads a part's worth of firms' records at a time, so a worker's memory still follows the
    part."""
    with connect(address) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        firms_total = sum(len(p) for p in parts)
        tasks = grouped(parts, max(workers, -(-firms_total // STORE_PART_FIRMS)))
        shared: dict[str, Any] = {"firms": submit_held(client, firms), "scores": submit_held(client, scores)}
        with large_tasks():
            futures = [client.submit(scan_part, database_url, [u for part in group for u in part], shared["firms"],
                                     day, shared["scores"], rules, max(len(p) for p in group), pure=False)
                       for group in tasks]
        done: list[list[Finding]] = client.gather(futures)
    return [f for part in done for f in part]
