"""The warning scan in parts (``server.risk.scan.PART_RECORDS``): it holds one part's records at a
time, and writes exactly what the rules give over every record at once.

The reference is the rule library itself run the way the scan used to run it: every record of the
region in one frame, the firms' own rules, then the contagion rules with the red firms found.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

pytestmark = pytest.mark.anyio


def _key(uscc: str, code: str, level: str, evidence: dict, zh: str, en: str) -> tuple:
    return uscc, code, level, json.dumps(evidence, sort_keys=True, default=str), zh, en


async def _written() -> set[tuple]:
    """The open warnings as (firm, rule, level, evidence, messages), DebtRank's left out."""
    from server.tables.risk import Warning

    rows = await Warning.select(
        Warning.firm.uscc.as_alias("uscc"), Warning.rule_code, Warning.level, Warning.evidence,
        Warning.message_zh, Warning.message_en,
    ).where(Warning.closed_at.is_null() & (Warning.rule_code != "C01_CONTAGION")).output(load_json=True)
    out = {_key(r["uscc"], r["rule_code"], r["level"], r["evidence"], r["message_zh"],
                r["message_en"]) for r in rows}
    assert len(out) == len(rows)
    return out


async def _from_nothing(engine, settings, firm_ids=None, **kw):
    """A scan with every warning gone first, so it raises all it finds."""
    from server.risk.scan import scan
    from server.tables.risk import Warning

    await Warning.delete(force=True)
    return await scan(engine, settings, None, firm_ids, **kw)


async def _reference(engine, day, subset: set[str] | None) -> set[tuple]:
    """What the rules find over every record of the region at once (as the scan did before it
    ran in parts), for ``subset``'s own rules and the contagion rules of its tied firms."""
    from scoring.records import FIRM_COLUMNS
    from scoring.risk import RULES, RedPartners, evaluate, red_firms, runnable
    from server.risk.frames import load_guarantees, load_relations, load_scores, to_json
    from server.risk.scan import SCORE_DAYS, _neighbours
    from server.scores.frames import load_firms, load_records

    firms = await load_firms(engine)
    frame = firms[list(FIRM_COLUMNS)]
    records = await load_records(engine, day, with_keys=True)
    scores = await load_scores(day - timedelta(days=SCORE_DAYS), None)
    guarantees, relations = await load_guarantees(), await load_relations()
    base = evaluate(records, frame, day, firms_subset=None if subset is None else sorted(subset),
                    scores=scores, rules=runnable(scores=True, red_partners=False))
    everyone = evaluate(records, frame, day, scores=scores, rules=runnable(scores=True, red_partners=False))
    partners = RedPartners(red=red_firms(everyone, day), guarantees=guarantees, relations=relations)
    tied = None if subset is None else sorted(subset | _neighbours(subset, guarantees, relations, day))
    contagion = evaluate(records, frame, day, firms_subset=tied, red_partners=partners,
                         rules=[r.code for r in RULES.values() if r.kind == "contagion"])
    return {_key(f.uscc, f.rule_code, f.level, json.loads(to_json(f.evidence)), f.message_zh,
                 f.message_en) for f in base + contagion}


async def _records_per_firm() -> float:
    from server.tables.firms import Firm
    from server.tables.ingest import DeptRecord

    return await DeptRecord.count() / await Firm.count()


async def test_a_full_scan_in_parts_writes_what_one_pass_over_every_record_finds(engine, settings, demo):
    from server.risk.frames import region_day

    one = await _from_nothing(engine, settings, part_records=10**12)
    assert one.details["parts"] == 1
    in_one = await _written()
    assert len(in_one) > 100 and one.red_firms > 0 and one.contagion_firms > 0

    # about 7 firms a part: dozens of parts, the last one short
    many = await _from_nothing(engine, settings, part_records=int(7 * await _records_per_firm()))
    assert many.details["parts"] >= 20
    assert await _written() == in_one
    assert in_one == await _reference(engine, region_day(None), None)
    for figure in ("raised", "red_firms", "contagion_firms", "lost_cover", "debtrank",
                   "fund_draw_fen"):
        assert getattr(many, figure) == getattr(one, figure), figure
    assert many.details["systemic"] == one.details["systemic"] and one.details["systemic"]


async def test_an_incremental_scan_in_parts_writes_what_one_pass_finds(engine, settings, demo):
    from server.risk.frames import region_day
    from server.tables.firms import Firm
    from server.tables.risk import Warning

    # the firms of a batch: some red ones and their guarantee partners among them
    full = await _from_nothing(engine, settings)
    red = await Warning.select(Warning.firm).where(
        (Warning.level == "red") & (Warning.kind != "contagion")).limit(15)
    others = await Firm.select(Firm.id).order_by(Firm.id).limit(45)
    ids = sorted({r["firm"] for r in red} | {r["id"] for r in others})
    usccs = {r["uscc"] for r in await Firm.select(Firm.uscc).where(Firm.id.is_in(ids))}
    assert full.red_firms > 0 and len(ids) > 45

    one = await _from_nothing(engine, settings, ids, part_records=10**12)
    in_one = await _written()
    many = await _from_nothing(engine, settings, ids, part_records=int(3 * await _records_per_firm()))
    assert one.scope == many.scope == "incremental" and many.details["parts"] >= 10
    assert await _written() == in_one
    # contagion on a tied firm reads the red status of firms outside the batch: from the open
    # warnings the scan just deleted, so compare the batch's own rules with the reference
    own = {k for k in in_one if k[0] in usccs and not _contagion(k[1])}
    reference = await _reference(engine, region_day(None), usccs)
    assert own == {k for k in reference if k[0] in usccs and not _contagion(k[1])}
    assert (many.raised, many.red_firms) == (one.raised, one.red_firms)


async def test_a_scan_in_two_passes_writes_what_a_scan_of_every_record_writes(engine, settings, demo, monkeypatch):
    """In process a scan reads the monthly feeds from the feature store, then every record of
    only the firms that a rule reading those feeds' rows found (``server.risk.passes``): it
    writes exactly what reading every record writes, evidence rows included."""
    from server.risk import passes

    every = await _from_nothing(engine, settings, from_store=False)
    written = await _written()
    monthly = ("tax_monthly", "social_insurance", "utility", "customs_export")
    cites_monthly = {k for k in written if any(f'"kind": "{kind}"' in k[3] for kind in monthly)}
    assert len(cites_monthly) >= 5

    again: set[str] = set()
    records_in_parts = passes.records_in_parts

    def second_pass(engine, day, parts, **kw):
        again.update(u for part in parts for u in part)
        return records_in_parts(engine, day, parts, **kw)

    monkeypatch.setattr(passes, "records_in_parts", second_pass)
    for part_records in (10**12, int(7 * await _records_per_firm())):  # one part, and many
        again.clear()
        two = await _from_nothing(engine, settings, part_records=part_records)
        assert two.details["passes"] == 2
        assert await _written() == written
        assert (two.raised, two.red_firms, two.contagion_firms) == (every.raised, every.red_firms,
                                                                   every.contagion_firms)
        # every firm whose warning cites a monthly row was read again, and only some firms were
        assert {k[0] for k in cites_monthly} <= again and len(again) < two.firms


def _contagion(code: str) -> bool:
    from scoring.risk import RULES

    return code == "C01_CONTAGION" or RULES[code].kind == "contagion"


async def test_records_read_in_parts_are_each_parts_own_records(engine, demo):
    """``records_in_parts`` (one pass on PostgreSQL, split into Arrow files by part) gives each
    part what ``load_records`` gives for it alone: its rows, keys and split shared meters."""
    from server.risk.frames import region_day
    from server.scores.frames import load_records, records_in_parts
    from server.tables.firms import Firm
    from server.tables.ingest import DeptRecord

    usccs = [r["uscc"] for r in await Firm.select(Firm.uscc).order_by(Firm.id)]
    parts = [usccs[i:i + 23] for i in range(0, 120, 23)]  # 6 parts, some firms in none
    # Rows rewritten as they were move to the end of PostgreSQL's heap: a scan then returns
    # them after younger rows, and a warning's cited rows must not depend on that.
    await DeptRecord.raw("UPDATE dept_record SET attrs = attrs WHERE id IN (SELECT id FROM dept_record "
                         "WHERE uscc = {} AND source = 'utility' ORDER BY id LIMIT 40)", usccs[3])
    day = region_day(None)
    seen = []
    async for part, frame in records_in_parts(engine, day, parts, with_keys=True):
        alone = await load_records(engine, day, part, with_keys=True)
        assert len(frame) == len(alone) > 0
        # both in the order the rows were stored, so the same rows are cited either way
        assert frame["record_id"].is_monotonic_increasing and alone["record_id"].is_monotonic_increasing
        assert frame.equals(alone), part
        assert set(frame["uscc"]) <= set(part)
        seen.append(part)
    assert seen == parts
    whole = await load_records(engine, day, with_keys=True)
    assert whole["record_id"].is_monotonic_increasing


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite reads part by part, no COPY
async def test_a_split_or_a_copy_that_fails_half_way_fails_the_read_and_leaves_nothing_open(engine, demo,
                                                                                       monkeypatch):
    """On PostgreSQL the COPY streams through a pipe into the split, which runs in a thread
    (``_copy_split``). Either side failing half-way fails the read with its own error, in
    time, with no pipe or part file left: the split's failure (not the broken pipe it leaves
    the COPY), and a query that fails after rows went out (the split ends at the pipe's end
    of file and must not pass a partial read on)."""
    import asyncio
    import glob
    import os
    import tempfile

    import asyncpg
    from piccolo.engine.postgres import PostgresEngine

    from server.risk.frames import region_day
    from server.scores import frames
    from server.tables.firms import Firm

    assert isinstance(engine, PostgresEngine)
    usccs = [r["uscc"] for r in await Firm.select(Firm.uscc).order_by(Firm.id)]
    parts = [usccs[i:i + 40] for i in range(0, len(usccs), 40)]
    day = region_day(None)
    open_fds = len(os.listdir("/proc/self/fd"))
    left = set(glob.glob(f"{tempfile.gettempdir()}/xinbao-parts-*"))

    async def read_all() -> int:
        n = 0
        async for _, frame in frames.records_in_parts(engine, day, parts, with_keys=True):
            n += len(frame)
        return n

    whole = await asyncio.wait_for(read_all(), 60)
    assert whole > 10_000

    def breaks_after_a_few_rows(fh, types):
        fh.read(4096)  # the COPY goes on writing into a pipe nobody reads to the end
        raise ValueError("the split broke")

    with monkeypatch.context() as m:
        m.setattr(frames, "_csv_reader", breaks_after_a_few_rows)
        with pytest.raises(ValueError, match="the split broke"):
            await asyncio.wait_for(read_all(), 60)

    query = frames._records_query

    def fails_half_way(*args, **kwargs):
        sql, values = query(*args, **kwargs)
        return sql + " AND 1 / (CASE WHEN id > (SELECT MAX(id) / 2 FROM dept_record) THEN 0 ELSE 1 END) = 1", values

    with monkeypatch.context() as m:
        m.setattr(frames, "_records_query", fails_half_way)
        with pytest.raises(asyncpg.DivisionByZeroError):
            await asyncio.wait_for(read_all(), 60)

    assert await asyncio.wait_for(read_all(), 60) == whole  # and the next read is whole again
    assert len(os.listdir("/proc/self/fd")) <= open_fds
    assert set(glob.glob(f"{tempfile.gettempdir()}/xinbao-parts-*")) <= left


async def test_a_subsets_shared_meters_are_split_as_the_whole_regions(engine, demo):
    """A firm read alone, or in a part, gets the shared meters' readings the whole region's read
    gives it: the split weighs the other firms on the meter by their headcount and their own
    meters' electricity per head, so those are read too. (Read alone it once got the pooled
    reading split with partners whose headcount was unknown.)"""
    from server.risk.frames import region_day
    from server.scores.frames import load_records

    day = region_day(None)
    whole = await load_records(engine, day, with_keys=True)
    split = whole["attrs"].map(lambda a: isinstance(a, dict) and "meter_reported" in a)
    shared = sorted(set(whole.loc[split, "uscc"]))
    assert len(shared) >= 2, "the demo region has firms on shared meters"
    others = sorted(set(whole["uscc"]) - set(shared))[:5]
    for subset in ([[u] for u in shared] + [shared[::2] + others]):
        alone = await load_records(engine, day, subset, with_keys=True)
        mine = whole[whole["uscc"].isin(subset)].reset_index(drop=True)
        assert alone.equals(mine), subset


async def test_a_full_scan_on_dask_writes_what_the_scan_in_process_writes(engine, settings, demo,
                                                                        dask_cluster):
    """With ``dask_scheduler`` set, a full scan's parts (and a batch's, when there are several)
    are read and evaluated by the cluster's workers: the same warnings, evidence and messages
    as in process. A worker killed
    while it evaluates a part, the scheduler gives the part to the other and the scan writes the
    same; with no worker left the scan fails with the reason and writes nothing."""
    import dataclasses

    from server.tables.risk import RiskSnapshot, Warning
    from tests.integration.dask_cluster import kill_while_running, kill_worker

    address, workers = dask_cluster
    on_dask = dataclasses.replace(settings, dask_scheduler=address)
    size = int(3 * await _records_per_firm())  # about 3 firms a part: some 100 parts
    here = await _from_nothing(engine, settings, part_records=size)
    want = await _written()
    assert len(want) > 100 and "dask" not in here.details

    # the workers read their own parts, in the two passes: this process reads no record
    from server.risk import passes
    from server.risk import scan as scanning

    def not_here(*args, **kwargs):
        raise AssertionError("the submitting process read the region's records")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(scanning, "records_in_parts", not_here)
        for name in ("load_cells", "load_row_kinds", "records_in_parts"):
            m.setattr(passes, name, not_here)
        there = await _from_nothing(engine, on_dask, part_records=size)
    assert there.details["dask"] and there.details["passes"] == 2
    assert there.details["parts"] == here.details["parts"] >= 50
    assert await _written() == want
    # every record read in this process and the parts handed to the workers: the same
    streamed = await _from_nothing(engine, on_dask, part_records=size, from_store=False)
    assert streamed.details["dask"] and "passes" not in streamed.details and await _written() == want
    for figure in ("raised", "red_firms", "contagion_firms", "lost_cover", "debtrank", "fund_draw_fen"):
        assert getattr(there, figure) == getattr(here, figure), figure
    assert there.details["systemic"] == here.details["systemic"]

    # the firms of a batch, in many parts: on the cluster too, the same as in process
    from server.tables.firms import Firm

    ids = [r["id"] for r in await Firm.select(Firm.id).order_by(Firm.id).limit(60)]
    one = await _from_nothing(engine, settings, ids, part_records=size)
    batch = await _written()
    many = await _from_nothing(engine, on_dask, ids, part_records=size)
    assert one.scope == many.scope == "incremental" and many.details["parts"] >= 10 and many.details["dask"]
    assert await _written() == batch and batch

    # a worker killed (as an out-of-memory kill would) while it evaluates a part
    again = await kill_while_running(address, workers[0],
                                     lambda: _from_nothing(engine, on_dask, part_records=size))
    assert again.details["dask"] and await _written() == want

    # no worker left: the scan says so and writes nothing
    kill_worker(workers[1], address, left=0)
    open_before, snapshots = await Warning.count(), await RiskSnapshot.count()
    from server.risk.scan import scan

    with pytest.raises(RuntimeError, match="no worker"):
        await scan(engine, on_dask, None, part_records=size)
    assert (await Warning.count(), await RiskSnapshot.count()) == (open_before, snapshots)


async def test_a_partners_other_shared_meter_is_not_taken_for_its_own(engine):
    """Firm A shares meter M1 with P; P also shares M2 with Q. P's electricity per head is
    measured on meters of its own only, so A's records read alone must learn that M2 is shared
    too (Q's rows on it): without them P's M2 months count as its own and A's share of M1 moves.
    (The same case for the feature store's cells: ``test_score_from_store.py``.)"""
    import json
    from datetime import UTC, date, datetime

    from server.risk.frames import region_day
    from server.scores.frames import load_records
    from server.tables.ingest import DeptRecord

    a, p, q = (f"9XSPLITR{n}000000000"[:18] for n in "APQ")
    now = datetime.now(UTC)

    def row(uscc: str, source: str, category: str, month: int, quantity: float, meter: str | None) -> DeptRecord:
        day = date(2024, month, 28)
        return DeptRecord(source=source, record_key=f"{uscc}-{category}-{meter}-{month}", uscc=uscc,
                          event_date=day, category=category, quantity=quantity, batch_id=0, received_at=now,
                          attrs=json.dumps({"meter_id": meter}) if meter else None)

    rows = []
    for m in (1, 2, 3):
        rows += [row(a, "utility", "electricity", m, 300.0, "M1-RTEST"),
                 row(a, "utility", "electricity", m, 200.0, "MA-RTEST"),
                 row(a, "social_insurance", "pension", m, 10, None),
                 row(p, "utility", "electricity", m, 300.0, "M1-RTEST"),
                 row(p, "utility", "electricity", m, 50.0, "MP-RTEST"),
                 row(p, "utility", "electricity", m, 500.0, "M2-RTEST"),
                 row(p, "social_insurance", "pension", m, 5, None),
                 row(q, "utility", "electricity", m, 400.0, "M2-RTEST"),
                 row(q, "social_insurance", "pension", m, 8, None)]
    await DeptRecord.insert(*rows)
    try:
        day = region_day(None)
        whole = await load_records(engine, day, with_keys=True)
        mine = whole[whole["uscc"] == a].reset_index(drop=True)
        m1 = mine["attrs"].map(lambda x: isinstance(x, dict) and x.get("meter_id") == "M1-RTEST")
        assert m1.sum() == 3 and (mine.loc[m1, "quantity"] != 300.0).all()
        alone = await load_records(engine, day, [a], with_keys=True)
        pd.testing.assert_frame_equal(alone, mine)
    finally:
        await DeptRecord.delete().where(DeptRecord.uscc.is_in([a, p, q]))
