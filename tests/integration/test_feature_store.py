"""Issue 16: the firm-month feature store (``firm_month``, ``scoring.feature_store``).

Ingestion keeps it in step with the records in the same transaction, on SQLite and PostgreSQL:
after the demo region is ingested, the stored cells equal the cells computed from the current
records, and the 66 indicators read from the cells equal those read from the records, exactly,
at month ends and between them. New rows in small chunks, a cell that gets a second row,
duplicate keys, a resent file and a superseded record keep the store equal to the records."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.anyio

HEADER = "record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"


async def raw_records(engine) -> pd.DataFrame:
    """The current records as stored (no meter split), in RECORD_COLUMNS form."""
    from server.scores import frames

    return frames.normalise_records(await frames._query(engine, frames._RECORD_SQL))


def _sorted(cells: pd.DataFrame) -> pd.DataFrame:
    from scoring.feature_store import CELL_KEY

    return cells.sort_values(list(CELL_KEY)).reset_index(drop=True)


async def assert_store_matches(engine) -> pd.DataFrame:
    """The stored cells equal the cells of the current records, value for value."""
    from scoring.feature_store import cells_of
    from server.scores.frames import load_cells

    stored = _sorted(await load_cells(engine, split=False))
    want = _sorted(cells_of(await raw_records(engine)))
    assert len(want) > 0
    pd.testing.assert_frame_equal(stored, want, check_exact=True, check_dtype=True)
    await assert_arrivals_match(engine)
    return stored


async def assert_arrivals_match(engine) -> None:
    """``feed_arrival`` counts every version of the monthly kinds' rows per day, batch and
    arrival time, as the records do."""
    from scoring.feature_store import STORE_KINDS
    from server.scores import frames

    kinds = ", ".join(f"'{k}'" for k in STORE_KINDS)
    by_rows = await frames._query(engine, "SELECT source AS kind, event_date, batch_id, received_at, "
                                          f"COUNT(*) AS rows FROM dept_record WHERE source IN ({kinds}) "
                                          "GROUP BY 1, 2, 3, 4")
    kept = await frames._query(engine, "SELECT kind, event_date, batch_id, received_at, rows FROM feed_arrival")

    def norm(df: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({"kind": df["kind"].astype(str), "event_date": pd.to_datetime(df["event_date"]),
                            "batch_id": df["batch_id"].astype("int64"),
                            "received_at": frames._utc_naive(df["received_at"]),
                            "rows": df["rows"].astype("int64")})
        return out.sort_values(["kind", "event_date", "batch_id", "received_at"]).reset_index(drop=True)

    want = norm(by_rows)
    assert len(want) > 0
    pd.testing.assert_frame_equal(norm(kept), want, check_exact=True)


async def test_stored_cells_equal_the_records_and_give_the_same_indicators(client, demo, engine):
    from scoring.feature_store import STORE_KINDS
    from scoring.features import compute_features
    from server.scores.frames import load_cells, load_firms, load_records

    stored = await assert_store_matches(engine)
    assert set(stored["kind"]) == set(STORE_KINDS)
    firms = await load_firms(engine)
    records = await load_records(engine)  # shared meters split, as every scoring path reads them
    cells = await load_cells(engine)
    split = cells["quantity_sum"].to_numpy() != stored["quantity_sum"].to_numpy()
    assert split.any()  # the demo has shared meters: the split is part of what is compared
    others = records[~records["kind"].isin(STORE_KINDS)]
    end = records["event_date"].max() + pd.offsets.MonthEnd(0)
    for as_of in (end, end - pd.offsets.MonthEnd(3), end - pd.DateOffset(days=12),
                  end - pd.offsets.MonthEnd(14)):
        want = compute_features(records, as_of, firms=firms)
        got = compute_features(others, as_of, firms=firms, cells=cells)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert want.notna().to_numpy().mean() > 0.5


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])  # the Arrow path and the row-wise path
async def test_the_store_follows_chunks_duplicates_resends_and_corrections(client, demo, engine, monkeypatch, fmt):
    import json
    from datetime import UTC, datetime

    from server import db
    from server.ingest import services
    from server.ingest.cells import count_batch, rebuild
    from server.scores.frames import load_firms
    from server.tables.ingest import DeptRecord, IngestBatch

    usccs = (await load_firms(engine))["uscc"].tolist()[:3]
    rows = []
    early = "2019-01-31" if fmt == "csv" else "2019-02-28"  # a month of its own per test
    for i, u in enumerate(usccs):
        # a second VAT row in a month the firm already has (the cell adds it), a month before
        # any, and a row without arrears (a row, but no arrears value)
        rows += [f"FS{fmt}-{i}-a,{u},2024-03-15,vat,12.34,0", f"FS{fmt}-{i}-b,{u},{early},vat,5,1.5",
                 f"FS{fmt}-{i}-c,{u},{early},income,7,"]
    rows.append(rows[0])  # a key repeated in the file
    body = (HEADER + "\n".join(rows) + "\n").encode()
    if fmt == "jsonl":
        names = HEADER.strip().split(",")
        body = "".join(json.dumps({k: v for k, v in zip(names, r.split(","), strict=True) if v}) + "\n"
                       for r in rows).encode()
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    first = await services.ingest(engine, "tax_monthly", [body], fmt)
    assert first.accepted == 9, first.rejected
    before = await assert_store_matches(engine)
    cell = before[(before["uscc"] == usccs[0]) & (before["kind"] == "tax_monthly")
                  & (before["category"] == "income") & (before["month"] == (2019 - 1970) * 12 + int(early[5:7]) - 1)]
    assert cell[["rows", "amount_fen_n", "arrears_fen_n"]].values.tolist() == [[1, 1, 0]]
    again = await services.ingest(engine, "tax_monthly", [body], fmt)  # resent: nothing new
    assert again.accepted == 0
    pd.testing.assert_frame_equal(await assert_store_matches(engine), before)

    # a correction supersedes a record and stores its replacement in a batch of its own (as
    # server.objections does): the firm's cells are rebuilt, the new version's arrival counted
    old = await DeptRecord.select(DeptRecord.id, DeptRecord.batch_id).where(
        (DeptRecord.uscc == usccs[1]) & (DeptRecord.record_key == f"FS{fmt}-1-b")).first()
    department = (await IngestBatch.select(IngestBatch.department).where(
        IngestBatch.id == old["batch_id"]).first())["department"]
    async with db.write_transaction():
        now = datetime.now(UTC)
        batch = IngestBatch(department=department, source="tax_monthly", filename="correction",
                            received_at=now, rows=1, accepted=1, duplicates=0, rejected=0)
        await batch.save()
        await DeptRecord(source="tax_monthly", record_key=f"FS{fmt}-1-b#c1", uscc=usccs[1],
                         event_date=pd.Timestamp(early).date(), category="vat", amount_fen=1,
                         batch_id=batch.id, received_at=now).save()
        await DeptRecord.update({DeptRecord.superseded_at: now}).where(DeptRecord.id == old["id"])
        await rebuild(usccs[1], "tax_monthly")
        await count_batch(batch.id, "tax_monthly")
    after = await assert_store_matches(engine)
    assert not after.equals(before)


async def test_a_database_from_before_the_store_gets_it_filled_from_its_records(client, demo, engine):
    """The migration that brings re-scoring from the store fills an empty store (and its
    arrivals) from the records a database already holds, and leaves a kept one alone."""
    from server.ingest.cells import fill_from_records
    from server.tables.ingest import FeedArrival, FirmMonth

    kept = await assert_store_matches(engine)
    await fill_from_records(engine)  # kept: nothing added twice
    pd.testing.assert_frame_equal(await assert_store_matches(engine), kept)
    await FirmMonth.delete(force=True)
    await FeedArrival.delete(force=True)
    await fill_from_records(engine)
    pd.testing.assert_frame_equal(await assert_store_matches(engine), kept)
