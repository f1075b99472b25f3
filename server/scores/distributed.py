"""The full re-score on a Dask cluster (issue 16): ``XINBAO_DASK_SCHEDULER`` names its scheduler.

The process that runs the re-score (the CLI, the nightly job) reads the region once, as it
does in-process, cuts it into parts by a hash of the USCC (``scoring.partitioned``), hands the
parts and the model to the cluster's workers and puts their scores together; the workers
compute, this process only submits and merges. The result equals the in-process score exactly
(``tests/integration/test_score_on_dask.py``). Dask reschedules a part whose worker died on
another worker; with no worker left, or no scheduler, the re-score fails with the reason (it
does not quietly compute here instead).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from scoring.partitioned import Part, score_in_parts, score_part
from scoring.pipeline import RegionScores
from server.cluster import connect, large_tasks, submit_held, worker_threads

__all__ = ["PARTS_PER_WORKER", "score_on_dask"]

#: Parts per worker thread: a few each, so a slow or lost worker's share is spread.
PARTS_PER_WORKER = 2


def score_on_dask(address: str, model: Any, firms: pd.DataFrame, records: pd.DataFrame, as_of: date,
                  *, cells: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                  **kwargs: Any) -> RegionScores:
    """:func:`scoring.pipeline.score_region` of the region, computed by the cluster's workers
    (blocking: call it in a worker thread)."""
    with connect(address) as client:
        parts = max(1, worker_threads(client) * PARTS_PER_WORKER)
        shared = submit_held(client, model)

        def map_parts(pieces: list[Part]) -> list[RegionScores]:
            # each part inside its task, the model in a task of its own: the scheduler runs
            # them again on another worker when theirs dies (``server.cluster``)
            with large_tasks():
                futures = client.map(score_part, [shared] * len(pieces), pieces, as_of=as_of, pure=False,
                                     **kwargs)
            return client.gather(futures)

        return score_in_parts(model, firms, records, as_of, parts, cells=cells, history=history,
                              map_parts=map_parts, **kwargs)
