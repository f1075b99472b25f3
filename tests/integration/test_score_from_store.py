"""Issue 16: a full re-score reads the feature store, not the monthly feeds' rows.

``score_platform`` at one date reads the firm-month cells, the current rows of the other kinds
(``load_row_kinds``, on a partial index) and the tax history of the firms with a re-declaration
(``load_redeclared_history``). On the demo region, with a firm's VAT re-declared, the scores it
stores and the feed-health figures equal, exactly, those of the path that reads every version of
every record, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

pytestmark = pytest.mark.anyio

_COMPARED = ("score", "grade", "pd", "dimensions", "reasons", "data_confidence", "model_version")


async def _redeclare(engine, months: int = 3) -> str:
    """A firm's last ``months`` VAT declarations replaced by ones twice as high (re-declared a
    day ago, in a batch of their own), the cells rebuilt and the arrivals counted as a
    correction does: the re-declaration check's case."""
    from server import db
    from server.ingest.cells import count_batch, rebuild
    from server.tables.ingest import DeptRecord, IngestBatch

    vat = await DeptRecord.select(DeptRecord.id, DeptRecord.uscc, DeptRecord.event_date,
                                  DeptRecord.amount_fen, DeptRecord.batch_id, DeptRecord.record_key).where(
        (DeptRecord.source == "tax_monthly") & (DeptRecord.category == "vat")
        & DeptRecord.superseded_at.is_null() & (DeptRecord.amount_fen > 0)).order_by(DeptRecord.id)
    uscc = vat[len(vat) // 2]["uscc"]
    mine = sorted((r for r in vat if r["uscc"] == uscc), key=lambda r: r["event_date"])[-months:]
    when = datetime.now(UTC) - timedelta(days=1)
    department = (await IngestBatch.select(IngestBatch.department).where(
        IngestBatch.id == mine[0]["batch_id"]).first())["department"]
    async with db.write_transaction():
        batch = IngestBatch(department=department, source="tax_monthly", filename="re-declaration",
                            received_at=when, rows=len(mine), accepted=len(mine), duplicates=0, rejected=0)
        await batch.save()
        for r in mine:
            await DeptRecord(source="tax_monthly", record_key=f"{r['record_key']}#re", uscc=uscc,
                             event_date=r["event_date"], category="vat", amount_fen=r["amount_fen"] * 2,
                             batch_id=batch.id, received_at=when).save()
            await DeptRecord.update({DeptRecord.superseded_at: when}).where(DeptRecord.id == r["id"])
        await rebuild(uscc, "tax_monthly")
        await count_batch(batch.id, "tax_monthly")
    return uscc


async def _run_rows(run_id: int) -> dict[str, dict]:
    from server.tables.scores import ScoreHistory

    rows = await ScoreHistory.select(ScoreHistory.firm.uscc, *(getattr(ScoreHistory, c) for c in _COMPARED)).where(
        ScoreHistory.run == run_id)
    out = {}
    for r in rows:
        for c in ("dimensions", "reasons", "data_confidence"):
            if isinstance(r[c], str):
                r[c] = json.loads(r[c])
        out[r.pop("firm.uscc")] = r
    return out


async def _last_run_and_health() -> tuple[int, dict]:
    from server.tables.risk import FEED_HEALTH, RiskSnapshot
    from server.tables.scores import ScoringRun

    run = await ScoringRun.select(ScoringRun.id).order_by(ScoringRun.id, ascending=False).first()
    health = await RiskSnapshot.select(RiskSnapshot.data).where(RiskSnapshot.kind == FEED_HEALTH).order_by(
        RiskSnapshot.id, ascending=False).first()
    data = health["data"]
    return run["id"], json.loads(data) if isinstance(data, str) else data


async def test_a_rescore_from_the_store_stores_what_the_records_give(client, demo, engine, settings):
    from server.scores.pipeline import score_platform
    from server.tables.ingest import IngestBatch

    uscc = await _redeclare(engine)
    # the demo's archives are back-filled (known from their event days): make two feeds arrive
    # as live ones do, at ingestion, so that lateness has figures to get right
    await IngestBatch.update({IngestBatch.backfill: False}).where(
        IngestBatch.source.is_in(["tax_monthly", "utility"]))
    from_rows = await score_platform(settings, engine=engine, from_store=False, reason="rows")
    rows_run, rows_health = await _last_run_and_health()
    from_cells = await score_platform(settings, engine=engine, reason="store")  # the default
    cells_run, cells_health = await _last_run_and_health()
    assert cells_run != rows_run
    assert from_cells == {**from_rows}  # the same date, model, firms and count
    want, got = await _run_rows(rows_run), await _run_rows(cells_run)
    assert len(want) == from_rows["firms"] > 100
    assert got == want
    # the re-declaration was read: the firm's data is doubted by the check, on both paths
    checks = got[uscc]["data_confidence"]["authenticity"]
    assert "redeclaration" in [f["check"] for f in checks["findings"]]
    assert got[uscc]["data_confidence"]["level"] != "high"
    assert cells_health == rows_health
    late = {d["department"]: d for d in cells_health["departments"]}
    assert late["tax"]["lateness_days_median"] > 15 and late["utilities"]["late_share"] > 0.3
    assert late["tax"]["lateness_days_p90"] > late["tax"]["lateness_days_median"]
    assert late["bank"]["lateness_days_median"] == 0  # still back-filled


async def test_the_other_kinds_read_finds_its_partial_index(client, demo, engine):
    """The WHERE of ``load_row_kinds`` states the migration's index predicate word for word, so
    PostgreSQL can answer it from the index instead of scanning every record."""
    from piccolo.engine.postgres import PostgresEngine

    from server.piccolo_migrations.xinbao_2026_12_06t01_30_00_000000 import ROW_KINDS
    from server.scores.frames import ROW_KINDS_PREDICATE, load_row_kinds

    assert ROW_KINDS == ROW_KINDS_PREDICATE
    rows = await load_row_kinds(engine)
    from scoring.feature_store import CELL_ONLY_KINDS

    assert len(rows) and not rows["kind"].isin(CELL_ONLY_KINDS).any()
    assert {"bank_loan", "court_case"} <= set(rows["kind"])
    if not isinstance(engine, PostgresEngine):
        return
    sql = "EXPLAIN SELECT uscc FROM dept_record WHERE " + ROW_KINDS_PREDICATE
    conn = await engine.get_new_connection()
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in await conn.fetch(sql))
        # the records are partitioned by source: the partial index is each partition's share
        shares = {r[0] for r in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'dept_record_row_kinds'::regclass")}
    finally:
        await conn.close()
    import re

    used = set(re.findall(r"(?:Index Scan|Bitmap Index Scan|Index Only Scan)(?: Backward)? (?:using|on) (\w+)", plan))
    assert used and used <= shares and "Seq Scan" not in plan, plan
    assert not any(f"dept_record_{kind} " in plan for kind in CELL_ONLY_KINDS), plan  # pruned: never read


async def test_the_data_end_read_from_the_store_is_the_records_own(client, demo, engine):
    """The nightly job's "which month is now" reads the store's months, not every record."""
    from server.scores.frames import load_records
    from server.scores.pipeline import data_end, stored_data_end

    records = await load_records(engine)
    assert await stored_data_end(engine) == data_end(records)
    # with the monthly feeds' latest month taken away, the next month back is the end
    from server.tables.ingest import FirmMonth

    latest = (await FirmMonth.select(FirmMonth.month).order_by(FirmMonth.month, ascending=False).first())["month"]
    taken = await FirmMonth.select(*FirmMonth.all_columns(exclude=[FirmMonth.id])).where(FirmMonth.month == latest)
    await FirmMonth.delete().where(FirmMonth.month == latest)
    try:
        monthly = records["kind"].isin(["tax_monthly", "social_insurance", "utility", "bank_loan"])
        month = records["event_date"].dt.to_period("M")
        kept = records[~monthly | (month < month[monthly].max())]
        assert await stored_data_end(engine) == data_end(kept)
    finally:  # the module's other tests read the whole store
        await FirmMonth.insert(*(FirmMonth(**row) for row in taken))


async def test_the_preview_drift_and_model_health_read_the_store_and_say_what_the_records_say(
        client, demo, engine, settings, tokens, monkeypatch):
    """A weight profile's preview, the drift check and the model's health read the feature
    store (and the other kinds' rows), not the monthly feeds' rows: each gives what it gave
    from every record."""
    from datetime import date

    from server.scores import health, profile_change
    from server.scores.frames import load_records

    crisis = {"name": "crisis", "reason": "tax halved", "valid_from": str(date.today()),
              "adjustments": [{"target": "kind:tax_monthly", "factor": 0.5}]}

    async def answers() -> tuple:
        r = await client.post("/api/weight-profiles/preview", json=crisis, headers=tokens["admin"])
        assert r.status_code == 200, r.text
        checked = await health.check_model_health(engine, settings)
        checked.pop("checked_at", None)
        return r.json(), await health.check_drift(engine, settings), checked

    from_store = await answers()
    assert from_store[0]["changed"] > 0 and from_store[1]["firms"] > 100 and from_store[2]["periods"]

    async def every_record(engine, as_of=None):  # what these read before the store
        return None, await load_records(engine, as_of)

    async def every_row(engine):
        return await load_records(engine)

    monkeypatch.setattr(profile_change, "load_scoring_inputs", every_record)
    monkeypatch.setattr(health, "load_scoring_inputs", every_record)
    monkeypatch.setattr(health, "load_row_kinds", every_row)
    assert await answers() == from_store


async def test_one_null_value_reads_as_none(client, demo, engine):
    """``load_scalar`` of a NULL (no cell of a kind yet): None on both engines, not an error
    (through COPY a lone NULL is an empty line, which the CSV reader skips)."""
    from server.scores.frames import load_scalar

    assert await load_scalar(engine, "SELECT MAX(month) FROM firm_month WHERE kind = 'no such kind'") is None
    assert await load_scalar(engine, "SELECT MAX(month) FROM firm_month") > 0


async def test_a_subsets_cells_are_split_as_the_whole_regions(demo, engine):
    """``load_cells(usccs=...)`` (the re-score of the firms a batch touched) gives each firm the
    cells the whole region's read gives it: a shared meter's reading split with the other firms
    on it weighed by their headcount and their own meters' electricity per head, which the
    subset's read fetches by meter (``firm_month_meter``)."""
    from server.scores.frames import load_cells

    key = ["uscc", "kind", "category", "meter", "month"]
    whole = (await load_cells(engine)).sort_values(key).reset_index(drop=True)
    shared = sorted(set(whole.loc[whole["meter_firms"] > 1, "uscc"]))
    assert len(shared) >= 2, "the demo region has firms on shared meters"
    raw = await load_cells(engine, split=False)
    assert not raw.sort_values(key).reset_index(drop=True)["quantity_sum"].equals(whole["quantity_sum"])
    others = sorted(set(whole["uscc"]) - set(shared))[:5]
    for subset in [[u] for u in shared] + [shared[::2] + others]:
        alone = (await load_cells(engine, usccs=subset)).sort_values(key).reset_index(drop=True)
        mine = whole[whole["uscc"].isin(subset)].reset_index(drop=True)
        assert len(alone) == len(mine) > 0
        pd.testing.assert_frame_equal(alone, mine, obj=f"cells of {subset}")


async def test_a_partners_other_shared_meter_is_not_taken_for_its_own(demo, engine):
    """Firm A shares meter M1 with P; P also shares M2 with Q. P's electricity per head is
    measured on meters of its own only, so A's read alone must learn that M2 is shared too (Q's
    cells on it): without them P's M2 months count as its own and A's share of M1 moves."""
    from datetime import date

    from server.scores.frames import load_cells
    from server.tables.ingest import FirmMonth

    a, p, q = (f"9XSPLIT{n}0000000000"[:18] for n in "APQ")
    months = [648, 649, 650]  # 2024-01 .. 2024-03

    def cell(uscc: str, kind: str, category: str, meter: str, month: int, quantity: float) -> FirmMonth:
        return FirmMonth(uscc=uscc, kind=kind, category=category, meter=meter, month=month, rows=1,
                         first_event=date(1970 + month // 12, month % 12 + 1, 1), quantity_sum=quantity,
                         quantity_n=1, quantity_max=quantity)

    cells = []
    for m in months:
        cells += [cell(a, "utility", "electricity", "M1-TEST", m, 300.0),
                  cell(a, "utility", "electricity", "MA-TEST", m, 200.0),
                  cell(a, "social_insurance", "pension", "", m, 10),
                  cell(p, "utility", "electricity", "M1-TEST", m, 300.0),
                  cell(p, "utility", "electricity", "MP-TEST", m, 50.0),
                  cell(p, "utility", "electricity", "M2-TEST", m, 500.0),
                  cell(p, "social_insurance", "pension", "", m, 5),
                  cell(q, "utility", "electricity", "M2-TEST", m, 400.0),
                  cell(q, "social_insurance", "pension", "", m, 8)]
    await FirmMonth.insert(*cells)
    try:
        key = ["uscc", "kind", "category", "meter", "month"]
        whole = await load_cells(engine)
        whole = whole[whole["uscc"] == a].sort_values(key).reset_index(drop=True)
        m1 = whole[whole["meter"] == "M1-TEST"]
        assert (m1["meter_firms"] == 2).all() and not (m1["quantity_sum"] == 300.0).any()
        alone = (await load_cells(engine, usccs=[a])).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, whole)

        # P's cells leave M1 (a correction): A reads M1 alone. On PostgreSQL ``firm_meter`` still
        # names P on M1 (pairs are never taken away), so A's read fetches P's cells for nothing,
        # and still gives what the whole region's read gives.
        await FirmMonth.delete().where((FirmMonth.uscc == p) & (FirmMonth.meter == "M1-TEST"))
        whole = await load_cells(engine)
        whole = whole[whole["uscc"] == a].sort_values(key).reset_index(drop=True)
        m1 = whole[whole["meter"] == "M1-TEST"]
        assert (m1["meter_firms"] == 1).all() and (m1["quantity_sum"] == 300.0).all()
        if engine.engine_type == "postgres":
            pairs = await engine.run_ddl("SELECT uscc FROM firm_meter WHERE meter = 'M1-TEST'")
            assert sorted(r["uscc"] for r in pairs) == sorted([a, p])
        alone = (await load_cells(engine, usccs=[a])).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, whole)
    finally:
        await FirmMonth.delete().where(FirmMonth.uscc.is_in([a, p, q]))


async def test_a_region_larger_than_a_part_is_re_scored_part_by_part_here_to_the_same_rows(
        client, demo, engine, settings, monkeypatch):
    """Without a cluster, a re-score of more firms than ``score_part_firms`` reads and scores the
    store part by part in this process (``score_stored_in_process``), as the cluster's workers
    do: the region's store is never read at once, and every firm's stored score, grade, PD,
    dimensions, reasons and data confidence, and the feed health, equal the whole re-score's."""
    import dataclasses

    from scoring.partitioned import part_of
    from server.scores import distributed, frames, pipeline
    from server.scores.pipeline import score_platform
    from server.tables.firms import Firm

    whole = await score_platform(settings, engine=engine, reason="whole")
    whole_run, whole_health = await _last_run_and_health()
    firms = await Firm.count()
    in_parts = dataclasses.replace(settings, score_part_firms=max(1, firms // 3))
    read: list[int] = []
    real = distributed.score_stored_part
    tied: list[list[str]] = []  # per part: the firms of other parts on its meters
    real_tied = frames._firms_on_meters

    def one_part(model, url, part, as_of, **kwargs):
        read.append(len(part))
        return real(model, url, part, as_of, **kwargs)

    async def on_meters(engine, keys, besides):
        tied.append(found := await real_tied(engine, keys, besides))
        return found

    def not_whole(*args, **kwargs):
        raise AssertionError("the re-score in parts read the whole region's store")

    with monkeypatch.context() as m:
        m.setattr(distributed, "score_stored_part", one_part)
        m.setattr(frames, "_firms_on_meters", on_meters)
        for name in ("_store_inputs", "load_scoring_inputs", "load_record_history"):
            m.setattr(pipeline, name, not_whole)
        parted = await score_platform(in_parts, engine=engine, reason="parts")
    parted_run, parted_health = await _last_run_and_health()
    assert len(read) >= 3 and sum(read) == firms and max(read) < firms  # every firm, in parts
    # the firms on a shared meter went to one part (``meter_groups``): no part read another's
    # firms to split its meters, where parts by the USCC alone would have
    assert tied and not any(tied), tied
    usccs = [r["uscc"] for r in await Firm.select(Firm.uscc)]
    groups = await frames.meter_groups(engine, usccs)
    by_uscc = pd.Series(part_of(usccs, len(read))).groupby(groups).nunique()
    assert (by_uscc > 1).any(), "the demo region has a shared meter whose firms' USCCs fall in two parts"
    assert parted_run != whole_run and parted == whole
    want = await _run_rows(whole_run)
    assert len(want) > 100
    assert await _run_rows(parted_run) == want
    assert parted_health == whole_health


async def test_a_whole_region_of_many_cells_is_re_scored_on_huge_pages_to_the_same_rows(
        client, demo, engine, settings, monkeypatch):
    """A whole-region re-score in this process asks numpy for huge pages while it runs when the
    packs hold at least ``LARGE_BATCH_CELLS`` cells (``server.runtime.large_batch``), and puts
    the setting back after; a smaller one leaves it alone. The stored rows are the same either
    way. SQLite keeps no packs: its re-score never asks."""
    from piccolo.engine.postgres import PostgresEngine

    from server import runtime
    from server.scores import pipeline
    from server.scores.frames import packed_cells
    from server.scores.pipeline import score_platform
    from server.tables.ingest import FirmMonth

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    switch = runtime._madvise_hugepage()
    before = switch(False)  # as ``tune_memory`` leaves a process where huge pages stall
    seen: list[bool] = []
    real = pipeline._store_inputs

    async def reading(*args, **kwargs):
        now = switch(True)
        switch(now)
        seen.append(bool(now))
        return await real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_store_inputs", reading)
    try:
        small = await score_platform(settings, engine=engine, reason="small")
        small_run, small_health = await _last_run_and_health()
        cells = await packed_cells(engine)
        if isinstance(engine, PostgresEngine):  # every firm packed by the re-score: the packs hold every cell
            assert cells == await FirmMonth.count() > 10_000
        else:
            assert cells == 0
        monkeypatch.setattr(runtime, "LARGE_BATCH_CELLS", max(cells, 1))
        large = await score_platform(settings, engine=engine, reason="large")
        large_run, large_health = await _last_run_and_health()
        after = switch(False)
    finally:
        switch(before)
    assert seen == [False, isinstance(engine, PostgresEngine)]
    assert after is False  # put back
    assert large == small and large_run != small_run
    want = await _run_rows(small_run)
    assert len(want) > 100 and await _run_rows(large_run) == want
    assert large_health == small_health
