"""Issue 16, must-show 2: the feature store's cells packed one row per firm (``firm_pack``).

A pack is a copy of a firm's cells; the cells' rows stay the truth. On the demo region in
PostgreSQL, through chunks of new rows on both ingestion paths, a firm whose every cell is
removed and a writer that commits while its firm is being packed, ``load_cells`` (packs for the
firms not marked changed, rows for the marked ones, in one snapshot) equals the cells' rows
read directly, value for value, for the region and for a subset, split and not."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from tests.conftest import module_database_url

pytestmark = pytest.mark.anyio

HEADER = "record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"


@pytest.fixture(scope="module")
def db_url(request, tmp_path_factory):
    """PostgreSQL only: the packs are PostgreSQL's (SQLite reads the cells' rows)."""
    yield from module_database_url("postgres", request, tmp_path_factory)


def _sorted(cells: pd.DataFrame) -> pd.DataFrame:
    from scoring.feature_store import CELL_KEY

    return cells.sort_values(list(CELL_KEY)).reset_index(drop=True)


async def rows(engine, usccs=None) -> pd.DataFrame:
    """The cells' rows, read directly (no pack)."""
    from server.scores.frames import _cells, among

    if usccs is None:
        return await _cells(engine)
    where, args = among(engine, "uscc", usccs)
    return await _cells(engine, f" WHERE {where}", tuple(args))


async def marked(engine) -> set[str]:
    from server.scores.frames import read_frame

    return set((await read_frame(engine, "SELECT uscc FROM firm_pack_dirty"))["uscc"])


async def packed(engine, usccs: list[str]) -> pd.DataFrame:
    """The cells the packs of ``usccs`` hold, whether current or not."""
    from server.scores.cell_packs import PACK_COLUMNS, PackedCells

    conn = await engine.get_new_connection()
    try:
        got = await conn.fetch(f"SELECT {', '.join(PACK_COLUMNS)} FROM firm_pack WHERE uscc = ANY($1)", usccs)
    finally:
        await conn.close()
    out = PackedCells(sum(r["n"] for r in got))
    out.add(list(got))
    return out.frame()


async def assert_reads_equal(engine, subset: list[str]) -> pd.DataFrame:
    """Every read through the packs equals the rows: the region and a subset, as stored and
    split (a subset's split is the region's)."""
    from scoring.feature_store import split_cells
    from server.scores.frames import load_cells

    want = await rows(engine)
    assert len(want) > 0
    got = await load_cells(engine, split=False)
    pd.testing.assert_frame_equal(_sorted(got), _sorted(want), check_exact=True, check_dtype=True)
    pd.testing.assert_frame_equal(_sorted(await load_cells(engine)), _sorted(split_cells(want)), check_exact=True)
    mine = _sorted(await load_cells(engine, usccs=subset))
    whole = _sorted(split_cells(want))
    pd.testing.assert_frame_equal(mine, whole[whole["uscc"].isin(subset)].reset_index(drop=True), check_exact=True)
    return want


async def test_packs_read_as_the_cells_rows_through_batches_and_removals(client, demo, engine, settings, monkeypatch):
    from server.after_ingest import after_ingest
    from server.ingest import services
    from server.scores.frames import FETCH_UP_TO_FIRMS, load_firms
    from server.scores.packing import pack_dirty
    from server.tables.ingest import FirmMonth

    firms = (await load_firms(engine))["uscc"].tolist()
    with_cells = set((await rows(engine))["uscc"])
    subset = sorted(with_cells)[:FETCH_UP_TO_FIRMS + 10]  # read through the packs too
    assert await marked(engine) == with_cells  # a database from before the packs: every firm marked
    await assert_reads_equal(engine, subset)  # all as rows

    done = await pack_dirty(engine, firms_per_round=7)  # many rounds
    assert (done.firms, done.removed, done.still_marked) == (len(with_cells), 0, 0)
    assert await marked(engine) == set()
    await assert_reads_equal(engine, subset)  # all as packs

    # new rows on both ingestion paths: COPY (csv) and the row-wise upsert (jsonl); a cell that
    # gets a second row, a month before any
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    touched = firms[:2] + firms[-1:]
    for fmt in ("csv", "jsonl"):
        lines = [f"PK{fmt}-{i}-a,{u},2024-03-15,vat,12.34,0" for i, u in enumerate(touched)]
        lines += [f"PK{fmt}-{i}-b,{u},2018-0{5 if fmt == 'csv' else 6}-30,income,7," for i, u in enumerate(touched)]
        body = (HEADER + "\n".join(lines) + "\n").encode()
        if fmt == "jsonl":
            import json

            names = HEADER.strip().split(",")
            body = "".join(json.dumps({k: v for k, v in zip(names, line.split(","), strict=True) if v}) + "\n"
                           for line in lines).encode()
        result = await services.ingest(engine, "tax_monthly", [body], fmt)
        assert result.accepted == 6, result.rejected
        assert await marked(engine) == set(touched)
        # the marked firms' packs are out of date, so reading them would be wrong
        stale = _sorted(await packed(engine, touched))
        assert not stale.equals(_sorted(await rows(engine, touched)))
        await assert_reads_equal(engine, sorted({*subset, *touched}))
        await after_ingest(engine, settings, touched)  # step 0 packs them
        assert await marked(engine) == set()
        pd.testing.assert_frame_equal(_sorted(await packed(engine, touched)), _sorted(await rows(engine, touched)),
                                      check_exact=True)

    # a region-sized batch is left to the nightly re-score and scan, but its firms are packed
    from server import after_ingest as following

    monkeypatch.setattr(following, "INCREMENTAL_LIMIT", 1)
    await FirmMonth.update({FirmMonth.rows: FirmMonth.rows}).where(FirmMonth.uscc.is_in(touched))
    assert await marked(engine) == set(touched)
    assert await after_ingest(engine, settings, touched) is None
    assert await marked(engine) == set()
    await assert_reads_equal(engine, subset)

    # a firm left with no cell: its pack goes
    gone = sorted(with_cells)[0]
    await FirmMonth.delete().where(FirmMonth.uscc == gone)
    assert await marked(engine) == {gone}
    await assert_reads_equal(engine, subset)
    done = await pack_dirty(engine)
    assert (done.firms, done.removed) == (0, 1)
    assert (await packed(engine, [gone])).empty
    want = await assert_reads_equal(engine, subset)
    assert gone not in set(want["uscc"])

    # the cells truncated (no delete trigger fires) and filled again from the records: no
    # stale pack is read in between, and the refill marks every firm
    from server.ingest.cells import fill_from_records
    from server.scores.frames import load_cells

    conn = await engine.get_new_connection()
    try:
        await conn.execute("TRUNCATE firm_month")
        assert await conn.fetchval("SELECT count(*) FROM firm_pack") == 0
    finally:
        await conn.close()
    assert (await load_cells(engine, split=False)).empty and await marked(engine) == set()
    await fill_from_records(engine)
    assert await marked(engine) == set((await rows(engine))["uscc"])
    await assert_reads_equal(engine, subset)
    await pack_dirty(engine)
    await assert_reads_equal(engine, subset)


async def test_a_writer_committing_while_its_firm_is_packed_leaves_it_marked(client, demo, engine):
    """A real concurrent writer on PostgreSQL: it changes a marked firm's cells and holds its
    transaction open while a packing run reads the old cells and writes the pack; the run's
    clearing of the mark waits for the writer, then sees a new change number and leaves the mark,
    so the reader goes on reading that firm's rows, which hold the writer's change."""
    from server.scores.frames import load_cells
    from server.scores.packing import pack_dirty

    cells = await rows(engine)
    firm = sorted(set(cells["uscc"]))[1]
    conn = await engine.get_new_connection()
    writer = await engine.get_new_connection()
    try:
        await conn.execute("UPDATE firm_month SET rows = rows WHERE uscc = $1", firm)  # marked, committed
        assert firm in await marked(engine)
        before = await conn.fetchval("SELECT change FROM firm_pack_dirty WHERE uscc = $1", firm)
        tx = writer.transaction()
        await tx.start()
        await writer.execute("UPDATE firm_month SET days_n = days_n + 1000 WHERE uscc = $1", firm)
        pid = writer.get_server_pid()
        run = asyncio.ensure_future(pack_dirty(engine))
        for _ in range(200):  # until the run waits on the writer's lock on the mark
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND $1 = ANY(pg_blocking_pids(pid))", pid)
            if waiting or run.done():
                break
            await asyncio.sleep(0.05)
        assert waiting == 1 and not run.done()
        await tx.commit()
        done = await run
        assert done.still_marked == 1
        after = await conn.fetchval("SELECT change FROM firm_pack_dirty WHERE uscc = $1", firm)
        assert after is not None and after != before
        # the pack was written from the cells before the writer's change: the rows are read
        stale = await packed(engine, [firm])
        assert (stale["days_n"] < 1000).all()
        got = _sorted(await load_cells(engine, split=False))
        want = _sorted(await rows(engine))
        assert (want.loc[want["uscc"] == firm, "days_n"] >= 1000).all()
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        # the next run packs the change
        assert (await pack_dirty(engine)).firms == 1
        assert await marked(engine) == set()
        assert np.array_equal(_sorted(await packed(engine, [firm]))["days_n"].to_numpy(),
                              _sorted(await rows(engine, [firm]))["days_n"].to_numpy())
    finally:
        await writer.close()
        await conn.close()


async def test_a_packing_run_cancelled_while_it_waits_leaves_the_next_one_free(client, demo, engine):
    """A run cancelled while it waits on a writer (a request timed out, a process stopping)
    takes its lock with it: the next run packs, and the firm the writer changed is read right."""
    from server.scores.frames import load_cells
    from server.scores.packing import pack_dirty

    firm = sorted(set((await rows(engine))["uscc"]))[2]
    conn = await engine.get_new_connection()
    writer = await engine.get_new_connection()
    try:
        await conn.execute("UPDATE firm_month SET rows = rows WHERE uscc = $1", firm)  # marked, committed
        tx = writer.transaction()
        await tx.start()
        await writer.execute("UPDATE firm_month SET days_n = days_n + 7 WHERE uscc = $1", firm)
        pid = writer.get_server_pid()
        run = asyncio.ensure_future(pack_dirty(engine))
        for _ in range(200):
            if await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND $1 = ANY(pg_blocking_pids(pid))", pid):
                break
            await asyncio.sleep(0.05)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        await tx.commit()
        done = await asyncio.wait_for(pack_dirty(engine), timeout=30)
        assert done.firms >= 1 and await marked(engine) == set()
        pd.testing.assert_frame_equal(_sorted(await load_cells(engine, split=False)), _sorted(await rows(engine)),
                                      check_exact=True)
    finally:
        await writer.close()
        await conn.close()
