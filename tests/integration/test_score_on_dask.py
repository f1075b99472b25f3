"""Issue 16: the full re-score on a Dask cluster equals the re-score in process.

The test starts a real cluster of its own, as separate processes over TCP on 127.0.0.1 (a
scheduler and two workers without nannies, so that each worker is the process the test can
kill). With ``dask_scheduler`` set, ``score_platform`` cuts the firms by USCC hash and each
worker reads its part of the feature store and scores it (the submitting process reads none of
the region): every firm's stored score, grade, PD, dimensions, reasons and data confidence, and
the feed health, equal the in-process run's. A worker killed while it scores a part, the other
scores every part to the same result; with no worker left the re-score fails with the reason and
writes nothing."""

from __future__ import annotations

import dataclasses

import pytest

from tests.integration.dask_cluster import cluster_modules, kill_while_running, kill_worker
from tests.integration.test_score_from_store import _last_run_and_health, _run_rows

pytestmark = pytest.mark.anyio


async def test_the_re_score_on_dask_equals_the_re_score_in_process(client, demo, engine, settings, dask_cluster,
                                                                  monkeypatch):
    from server.dask_preload import BATCH_MODULES
    from server.scores import distributed
    from server.scores.pipeline import score_platform
    from server.tables.scores import ScoringRun

    address, workers = dask_cluster
    # the scheduler (which unpickles the tasks) and each worker imported the batch tasks' code
    # when they started (``--preload server.dask_preload``): the first re-score does not wait for it
    imported = cluster_modules(address, BATCH_MODULES)
    assert len(imported) == 3 and all(found == list(BATCH_MODULES) for found in imported.values())
    here = await score_platform(settings, engine=engine, reason="here")
    here_run, here_health = await _last_run_and_health()
    on_dask = dataclasses.replace(settings, dask_scheduler=address)

    def not_here(*args, **kwargs):
        raise AssertionError("the submitting process read the region's store")

    # each worker reads its own part of the store: this process never reads the region
    from server.scores import pipeline

    with monkeypatch.context() as m:
        for name in ("_store_inputs", "load_scoring_inputs", "load_record_history"):
            m.setattr(pipeline, name, not_here)
        there = await score_platform(on_dask, engine=engine, reason="dask")
    there_run, there_health = await _last_run_and_health()
    assert there_run != here_run and there == here
    want = await _run_rows(here_run)
    assert len(want) > 100
    assert await _run_rows(there_run) == want
    assert there_health == here_health

    # from every record (the back-scores' path): this process reads the region and ships each
    # part inside its task (``score_on_dask``); the same rows as in process
    await score_platform(settings, engine=engine, from_store=False, reason="rows here")
    rows_here, _ = await _last_run_and_health()
    await score_platform(on_dask, engine=engine, from_store=False, reason="rows dask")
    rows_there, _ = await _last_run_and_health()
    assert rows_there != rows_here and len(await _run_rows(rows_there)) > 100
    assert await _run_rows(rows_there) == await _run_rows(rows_here)

    # a worker dies (killed, as an out-of-memory kill would) while it scores a part: the
    # scheduler runs its tasks (the part, the model) again on the other, which scores every part
    monkeypatch.setattr(distributed, "PARTS_PER_WORKER", 40)  # many short parts: time to see one run
    await kill_while_running(address, workers[0],
                             lambda: score_platform(on_dask, engine=engine, reason="one worker"))
    one_run, _ = await _last_run_and_health()
    assert await _run_rows(one_run) == want

    # no worker left: the re-score says so and writes no run
    kill_worker(workers[1], address, left=0)
    runs = await ScoringRun.count()
    with pytest.raises(RuntimeError, match="no worker"):
        await score_platform(on_dask, engine=engine, reason="no worker")
    assert await ScoringRun.count() == runs
