"""Issue 16: on PostgreSQL the scoring frames are read with ``COPY ... TO STDOUT`` into Arrow
(no Python object per row). They must equal, value for value and dtype for dtype, what the
row-wise read gives (asyncpg records into ``DataFrame.from_records``: ``frames._pg_rows``, the
reference), on the demo region: every record, a subset of firms on a past day, the keys, every
version of every record, the firms; and a record with NULLs, odd text and a far date. Reads
of a few firms (``FETCH_UP_TO_FIRMS``) are fetched row by row, and give the same again."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tests.conftest import module_database_url

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db_url(request, tmp_path_factory):
    """PostgreSQL only: the COPY path is PostgreSQL's (SQLite reads through sqlite3 as before)."""
    yield from module_database_url("postgres", request, tmp_path_factory)


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_exact=True)


async def test_copy_frames_equal_the_row_wise_read(client, demo, engine, monkeypatch):
    from server.scores import frames

    # records as they may be stored: NULLs, JSON text with commas, quotes and a newline, an
    # end date pandas cannot hold (a record is read back as stored, whatever fed it)
    from server.tables.ingest import DeptRecord

    uscc = (await frames.load_firms(engine))["uscc"].iloc[3]
    await DeptRecord.raw(
        "INSERT INTO dept_record (source, record_key, uscc, event_date, end_date, amount_fen, attrs, batch_id, "
        "received_at) VALUES ('bank_loan', 'COPY-ODD-1', {}, '2024-02-29', '2999-12-31', NULL, {}, (SELECT max(id) FROM ingest_batch), now()), "
        "('bank_loan', 'COPY-ODD-2', {}, '2024-03-01', NULL, 5, NULL, (SELECT max(id) FROM ingest_batch), now())",
        uscc, '{"note": "a, \\"b\\"\\nc", "n": 1}', uscc)

    firms = (await frames.load_firms(engine))["uscc"].tolist()
    calls = [
        lambda: frames.load_records(engine),
        lambda: frames.load_records(engine, as_of=date(2025, 6, 30), usccs=firms[:40]),
        lambda: frames.load_records(engine, usccs=firms[10:20], with_keys=True),
        lambda: frames.load_record_history(engine),
        lambda: frames.load_record_history(engine, usccs=firms[:5], kinds=("tax_monthly",)),
        lambda: frames.load_firms(engine),
        # the kinds the store does not keep: framed while the COPY arrives (``streamed``)
        lambda: frames.load_row_kinds(engine),
        lambda: frames.load_row_kinds(engine, as_of=date(2025, 6, 30), with_keys=True),
    ]
    monkeypatch.setattr(frames, "FETCH_UP_TO_FIRMS", -1)  # every read by COPY
    copied = [await call() for call in calls]
    monkeypatch.setattr(frames, "_pg_frame", frames._pg_rows)  # the reference: row by row
    monkeypatch.setattr(frames, "_pg_frame_streamed",
                        lambda engine, sql, args, expect=0, conn=None: frames._pg_rows(engine, sql, args))
    reference = [await call() for call in calls]
    # reads of a few firms take the row-wise path on their own (COPY is not even reachable)
    monkeypatch.setattr(frames, "FETCH_UP_TO_FIRMS", 10**9)
    monkeypatch.setattr(frames, "_pg_frame", None)  # must not be used
    few = [await call() for call in calls[1:3]] + [await calls[4]()]
    for got, want in zip(few, [reference[1], reference[2], reference[4]], strict=True):
        _same(got, want)
    for got, want in zip(copied, reference, strict=True):
        assert len(want) > 0
        _same(got, want)
    records = copied[0]
    odd = records[records["uscc"].eq(uscc) & records["kind"].eq("bank_loan")
                  & records["event_date"].isin([pd.Timestamp("2024-02-29"), pd.Timestamp("2024-03-01")])
                  & (records["amount_fen"].isna() | records["amount_fen"].eq(5))]
    assert len(odd) == 2 and odd["end_date"].isna().all()  # 2999-12-31 is NaT in both reads
    assert {"note": 'a, "b"\nc', "n": 1} in odd["attrs"].tolist()
    # repeated texts share one object: a firm's USCC on all its records
    same_firm = records.index[records["uscc"] == uscc]
    assert len({id(v) for v in records.loc[same_firm, "uscc"]}) == 1
