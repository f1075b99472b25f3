"""The full re-score on a Dask cluster (issue 16): ``XINBAO_DASK_SCHEDULER`` names its scheduler.

The process that runs the re-score (the CLI, the nightly job) cuts the region's firms into
parts by a hash of the USCC (``scoring.partitioned``) and hands each part, with the model, to
the cluster's workers; it submits and merges, it does not compute. From the store, the hash is
of each firm's meter group (``server.scores.frames.meter_groups``): the firms on a shared
meter, and on those firms' other meters, land in one part, so a part splits its meters'
readings without reading another part's firms, and makes its firms' stored texts itself.

- From the feature store (:func:`score_stored_on_dask`, the one-date re-score): each worker
  reads its own part's cells, rows and tax history from the database (``database_url``), so
  the submitting process never holds the region and the reading spreads over the workers.
  Besides its scores, a part hands back what the feed health reads of it.
- From the records (:func:`score_on_dask`, back-scores): this process reads the region and
  ships each part.
- Without a cluster, with ``XINBAO_SCORE_PART_FIRMS`` set, a region of more firms than that
  is re-scored from the store in the same parts, one after another in this process
  (:func:`score_stored_in_process`), so that memory follows a part and not the region.

The result equals the in-process score exactly (``tests/integration/test_score_on_dask.py``).
Dask reschedules a part whose worker died on another worker; with no worker left, or no
scheduler, the re-score fails with the reason (it does not quietly compute here instead).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from scoring.authenticity import feed_health_rows
from scoring.partitioned import Part, merge_scores, score_in_parts, score_part, split_region
from scoring.pipeline import RegionScores, score_region
from scoring.records import rows_where
from server.cluster import connect, large_tasks, worker_threads
from server.engines import reading
from server.scores.frames import (
    event_dates,
    latest_months,
    load_cells,
    load_redeclared_history,
    load_row_kinds,
)
from server.scores.run_rows import run_texts

__all__ = ["PARTS_PER_WORKER", "StoredPart", "Texts", "live_firms", "score_on_dask", "score_stored_in_process",
           "score_stored_on_dask", "score_stored_part"]

#: A run's stored texts of its firms (``server.scores.run_rows.run_texts``): the dimension
#: scores, the reasons and the data confidence, as JSON, one per firm.
Texts = tuple[list[str], list[str], list[str]]
#: What a part scored from the store hands back: its scores and its firms' texts (None when none
#: of its firms was founded by the date), the rows the feed health reads of it
#: (``feed_health_rows``) and each kind's latest month (``latest_months``). A firm's texts
#: read its own row only, so the workers make them and the submitter only puts them in order
#: (on Dask they were a fifth of the submitter's work at 120,000 firms).
StoredPart = tuple[RegionScores | None, Texts | None, pd.DataFrame, dict[str, int]]

#: Parts per worker thread: a few each, so a slow or lost worker's share is spread.
PARTS_PER_WORKER = 2


def score_on_dask(address: str, model: Any, firms: pd.DataFrame, records: pd.DataFrame, as_of: date,
                  *, cells: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                  **kwargs: Any) -> RegionScores:
    """:func:`scoring.pipeline.score_region` of the region, computed by the cluster's workers
    (blocking: call it in a worker thread)."""
    with connect(address) as client:
        parts = max(1, worker_threads(client) * PARTS_PER_WORKER)

        def map_parts(pieces: list[Part]) -> list[RegionScores]:
            # each part and the model inside its task: the scheduler runs it again on another
            # worker when its worker dies (``server.cluster``), and hands the parts out as the
            # workers free (a model held by one worker drew the parts to it; see below)
            with large_tasks():
                futures = [client.submit(score_part, model, piece, as_of=as_of, pure=False, **kwargs)
                           for piece in pieces]
            return client.gather(futures)

        return score_in_parts(model, firms, records, as_of, parts, cells=cells, history=history,
                              map_parts=map_parts, **kwargs)


def live_firms(firms: pd.DataFrame, as_of: date | pd.Timestamp) -> pd.DataFrame:
    """The firms founded by ``as_of``: those a run as of that date scores."""
    return firms[pd.to_datetime(firms["founded_on"]) <= pd.Timestamp(as_of)].reset_index(drop=True)


async def _read_part(database_url: str, usccs: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One part's cells (shared meters split as the region's), current rows of the other kinds
    and re-declared tax history, read by the worker from the database."""
    async with reading(database_url) as engine:
        cells = await load_cells(engine, usccs=usccs)
        records = await load_row_kinds(engine, usccs=usccs)
        history = await load_redeclared_history(engine, usccs)
    return cells, records, history


def score_stored_part(model: Any, database_url: str, firms: pd.DataFrame, as_of: date,
                      **kwargs: Any) -> StoredPart:
    """Read one part of the region from the feature store and score its firms founded by
    ``as_of``, as the in-process re-score scores them (runs on a worker)."""
    cells, records, history = asyncio.run(_read_part(database_url, firms["uscc"].astype(str).tolist()))
    end = pd.Timestamp(as_of)
    seen = feed_health_rows(event_dates(cells), end)
    latest = latest_months(cells, end)
    live = live_firms(firms, end)
    if live.empty:
        return None, None, seen, latest
    known = rows_where(records, (records["event_date"] <= end).to_numpy())
    declared = history[(history["kind"] == "tax_monthly") & (history["category"] == "vat")]
    scored = score_region(model, live, known, as_of, cells=cells, history=declared, **kwargs)
    return scored, run_texts(scored), seen, latest


def score_stored_in_process(database_url: str, model: Any, firms: pd.DataFrame, as_of: date, parts: int,
                            groups: np.ndarray | None = None,
                            **kwargs: Any) -> tuple[RegionScores, Texts, pd.DataFrame, dict[str, int]]:
    """:func:`score_stored_on_dask` without a cluster: the same parts, each read from the store
    and scored in turn in this process (blocking: call it in a worker thread). Only one part's
    inputs are held at a time: at 120,000 firms the whole region's cells held at once took
    7.6 GB of memory."""
    return _merge_stored([score_stored_part(model, database_url, p["firms"], as_of, **kwargs)
                          for p in split_region(firms, parts, groups)], firms, as_of)


def _merge_stored(done: list[StoredPart], firms: pd.DataFrame,
                  as_of: date) -> tuple[RegionScores, Texts, pd.DataFrame, dict[str, int]]:
    """The parts' scores as the region's, their texts in the region's order, with what the feed
    health reads over all of them."""
    latest: dict[str, int] = {}
    for _, _, _, mine in done:
        for kind, month in mine.items():
            latest[kind] = max(month, latest.get(kind, month))
    seen = pd.concat([s for _, _, s, _ in done], ignore_index=True)
    scored = [(r, t) for r, t, _, _ in done if r is not None]
    live = live_firms(firms, as_of)
    result = merge_scores(live, [r for r, _ in scored])
    # the order ``merge_scores`` puts the parts' rows in: the live firms'
    index = pd.Index(np.concatenate([np.asarray(r.table.index, dtype=object) for r, _ in scored]))
    order = index.get_indexer(live["uscc"]).tolist()
    texts = tuple([every[i] for i in order]
                  for every in ([x for _, t in scored for x in t[k]] for k in range(3)))
    return result, texts, seen, latest


def score_stored_on_dask(address: str, database_url: str, model: Any, firms: pd.DataFrame, as_of: date,
                         groups: np.ndarray | None = None,
                         **kwargs: Any) -> tuple[RegionScores, Texts, pd.DataFrame, dict[str, int]]:
    """:func:`scoring.pipeline.score_region` of the firms founded by ``as_of``, each part read
    from the store and scored by a worker (blocking: call it in a worker thread); with the
    rows the feed health reads and each kind's latest month, over all of ``firms``. ``groups``
    (one per firm, ``meter_groups``): the firms of a group go to one part."""
    with connect(address) as client:
        parts = max(1, worker_threads(client) * PARTS_PER_WORKER)
        pieces = split_region(firms, parts, groups)
        # The model (tens of kB) inside each part's task, not a task of its own that each part
        # waits on: a part's task then depends on nothing, so the scheduler hands the parts out
        # to the workers as each one frees. Held by one worker, the model drew the parts to it
        # (measured at 3,000 firms: three of four parts on the worker holding it, the other
        # worker idle for the last one).
        futures = [client.submit(score_stored_part, model, database_url, p["firms"], as_of, pure=False, **kwargs)
                   for p in pieces]
        done: list[StoredPart] = client.gather(futures)
    return _merge_stored(done, firms, as_of)
