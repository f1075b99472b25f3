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
from datetime import date
from typing import Any

import pandas as pd

from scoring.risk import Finding
from server.cluster import connect, large_tasks, submit_held
from server.engines import reading
from server.risk.passes import in_two_passes

__all__ = ["scan_on_dask", "scan_part"]


def scan_part(database_url: str, part: list[str], firms: pd.DataFrame, day: date,
              scores: pd.DataFrame | None, rules: list[str]) -> list[Finding]:
    """One part's findings of the firms' own rules, read by the worker (runs on a worker)."""
    async def run() -> list[Finding]:
        async with reading(database_url) as engine:
            return await in_two_passes(engine, part, firms, day, scores, rules, len(part))

    return asyncio.run(run())


def scan_on_dask(address: str, database_url: str, parts: list[list[str]], firms: pd.DataFrame, day: date,
                 scores: pd.DataFrame | None, rules: list[str]) -> list[Finding]:
    """The findings of every part, each read and evaluated by a worker, in the parts' order
    (blocking: call it in a worker thread)."""
    with connect(address) as client:
        shared: dict[str, Any] = {"firms": submit_held(client, firms), "scores": submit_held(client, scores)}
        with large_tasks():
            futures = [client.submit(scan_part, database_url, part, shared["firms"], day, shared["scores"], rules,
                                     pure=False) for part in parts]
        done: list[list[Finding]] = client.gather(futures)
    return [f for part in done for f in part]
