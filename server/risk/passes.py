"""A part of the warning scan read in two passes (issue 16): the monthly feeds from the feature
store's cells with the other kinds' rows, then every record of only the firms that a rule reading
the monthly feeds' rows found (``scoring.risk.engine.scan_passes``). Used by the scan in process
(``server.risk.scan``) and by each Dask worker (``server.risk.distributed``)."""

from __future__ import annotations

import asyncio
from datetime import date

import pandas as pd
from piccolo.engine.base import Engine

from scoring.risk import Finding, evaluate
from scoring.risk.engine import merge_passes, scan_passes
from server.scores.frames import (
    in_parts,
    load_cells,
    load_row_kinds,
    records_in_parts,
)

__all__ = ["STORE_PART_FIRMS", "in_two_passes"]


#: Firms whose cells and other kinds' rows a scan's first pass reads at once: about 1 M cells at
#: Weihai's density (a read per part of a few dense firms cost 0.11 s each: 4.2 s in 38 parts
#: of 1,000 firms against 0.8 s in one).
STORE_PART_FIRMS = 5_000


async def in_two_passes(engine: Engine, universe: list[str], frame: pd.DataFrame, day: date,
                        scores: pd.DataFrame | None, rules: list[str], chunk_firms: int) -> list[Finding]:
    """The findings of the own rules of the firms of ``universe`` (the region's, or a Dask
    worker's part), read in two passes (``scoring.risk.engine.scan_passes``): the monthly feeds
    from the feature store's cells with the other kinds' rows, ``STORE_PART_FIRMS`` firms at a
    time; then every record of the firms that a rule reading the monthly feeds' rows found, all
    of them read in one go and cut into chunks of ``chunk_firms`` (``records_in_parts``: one
    COPY on PostgreSQL; the memory follows the chunk). The same findings as one pass over every
    record. A month's rows of every firm share the heap's pages, so a read per chunk
    would read each page again for every chunk: on 3,000 firms at Weihai's density the two
    passes read that way took 140-143 s, more than reading every record (123 s)."""
    first: list[Finding] = []
    read_rows: set[str] = set()
    for part in in_parts(universe, STORE_PART_FIRMS):
        cells = await load_cells(engine, usccs=part)
        rows = await load_row_kinds(engine, day, usccs=part, with_keys=True)
        first += await asyncio.to_thread(evaluate, rows, frame, day, firms_subset=part, scores=scores,
                                         rules=rules, cells=cells, read_rows=read_rows)
        del rows, cells
    again = scan_passes(first, read_rows)
    if not again:
        return first
    second: list[Finding] = []
    chunks = in_parts(again, max(1, chunk_firms))
    async for chunk, records in records_in_parts(engine, day, chunks, with_keys=True, dense=True):
        second += await asyncio.to_thread(evaluate, records, frame, day, firms_subset=chunk, scores=scores,
                                          rules=rules)
        del records
    return merge_passes(first, second, again, universe, rules)
