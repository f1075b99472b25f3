"""PostgreSQL writes a batch's chunks of records two at a time (``services._TwoChunks``).

Chunk k+1's rows are copied into ``dept_record`` on a connection of their own while chunk k
writes its cells and commits; k+1 commits only after k. These tests hold chunk 1 inside its
transaction with a real lock (another transaction's uncommitted cell of the same key, which
chunk 1's ``COPY`` into ``firm_month`` must wait for) and look at the server while it waits:

- chunk 2 has copied its rows in its own open transaction, nothing is committed, and no third
  chunk is open;
- when chunk 1's server process is killed, chunk 2 rolls back too, the batch names no row,
  and the file sent again stores every row exactly once, cells included;
- a second batch of the same source waits, before it begins, until the first one ends.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import date

import asyncpg
import pytest

from server.uscc import make_uscc
from tests.conftest import module_database_url

pytestmark = pytest.mark.anyio

CHUNK = 40  # rows per chunk: each file below is three chunks
TAX_HEADER = "record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"


@pytest.fixture(scope="module")
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """PostgreSQL only: SQLite has one writer, and writes its chunks one at a time."""
    yield from module_database_url("postgres", request, tmp_path_factory)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.ingest import services

    monkeypatch.setattr(services, "CHUNK_ROWS", CHUNK)
    monkeypatch.delenv("XINBAO_INGEST_CHUNK_ROWS", raising=False)


def _firms(start: int, n: int) -> list[str]:
    return [make_uscc(start + i) for i in range(n)]


async def _register(engine, usccs: list[str]) -> None:
    from server.ingest.services import ingest

    data = ("uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
            + "".join(f"{u},分块企业{i}号有限公司,34,城关镇,1000000,2015-01-01,small,active\n"
                      for i, u in enumerate(usccs)))
    result = await ingest(engine, "firms", [data.encode()], "csv")
    assert result.accepted == len(usccs)


def _tax_file(prefix: str, usccs: list[str], rows: int = 3 * CHUNK) -> tuple[bytes, list[tuple]]:
    """``rows`` tax records, one per firm and month (each its own cell), and their
    (uscc, month, amount in fen) in file order."""
    lines, cells = [], []
    for n in range(rows):
        uscc, m = usccs[n % len(usccs)], n // len(usccs)
        day = date(2020 + m // 12, 1 + m % 12, 28)
        fen = 100_000 + 37 * n
        lines.append(f"{prefix}-{n},{uscc},{day.isoformat()},vat,{fen // 100}.{fen % 100:02d},0\n")
        cells.append((uscc, (day.year - 1970) * 12 + day.month - 1, fen))
    return (TAX_HEADER + "".join(lines)).encode(), cells


async def _hold_cell(url: str, uscc: str, month: int) -> asyncpg.Connection:
    """Another transaction's uncommitted cell of this key: a writer of the same cell waits for it."""
    conn = await asyncpg.connect(url)
    await conn.execute("BEGIN")
    await conn.execute("INSERT INTO firm_month (uscc, kind, category, meter, month, rows, first_event) "
                       "VALUES ($1, 'tax_monthly', 'vat', '', $2, 1, '2020-01-28')", uscc, month)
    return conn


async def _writers(probe: asyncpg.Connection) -> list[asyncpg.Record]:
    """The server processes holding a write lock on the tax records' partition, and how they wait."""
    return await probe.fetch(
        "SELECT l.pid, a.state, a.wait_event_type, a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.relation = 'dept_record_tax_monthly'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted "
        "ORDER BY l.pid")


async def _until(probe: asyncpg.Connection, check, what: str, seconds: float = 30) -> list[asyncpg.Record]:
    for _ in range(int(seconds / 0.05)):
        rows = await check(probe)
        if rows:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _two_open_chunks(probe: asyncpg.Connection) -> list[asyncpg.Record]:
    rows = await _writers(probe)
    waiting = [r for r in rows if r["wait_event_type"] == "Lock"]
    idle = [r for r in rows if r["state"] == "idle in transaction"]
    return rows if waiting and idle else []


async def _stored(probe: asyncpg.Connection, batch_id: int) -> tuple[int, int, int]:
    """(rows stored by the batch, distinct keys among them, their amounts' sum)."""
    row = await probe.fetchrow("SELECT COUNT(*), COUNT(DISTINCT (uscc, record_key)), COALESCE(SUM(amount_fen), 0) "
                               "FROM dept_record WHERE batch_id = $1", batch_id)
    return int(row[0]), int(row[1]), int(row[2])


async def _cells(probe: asyncpg.Connection, usccs: list[str]) -> list[tuple]:
    rows = await probe.fetch("SELECT uscc, month, rows, amount_fen_sum, amount_fen_n, amount_fen_max FROM firm_month "
                             "WHERE kind = 'tax_monthly' AND uscc = ANY($1::text[]) ORDER BY 1, 2", usccs)
    return [tuple(r) for r in rows]


def _expected_cells(cells: list[tuple]) -> list[tuple]:
    return sorted((u, m, 1, fen, 1, fen) for u, m, fen in cells)


async def test_a_chunk_is_copied_while_the_one_before_it_writes_and_commits_after_it(engine, db_url):
    from server.ingest.services import ingest

    usccs = _firms(61_000, 10)
    await _register(engine, usccs)
    data, cells = _tax_file("TWO", usccs)
    probe = await asyncpg.connect(db_url)
    holder = await _hold_cell(db_url, cells[0][0], cells[0][1])  # chunk 1's first cell
    try:
        task = asyncio.create_task(ingest(engine, "tax_monthly", [data], "csv"))
        open_chunks = await _until(probe, _two_open_chunks, "chunk 2 copied while chunk 1 waits")
        # exactly two chunk transactions: chunk 1 waiting for the held cell (its COPY into
        # firm_month), chunk 2 with its rows copied, waiting for chunk 1; no third
        assert len(open_chunks) == 2, open_chunks
        assert [r["state"] for r in open_chunks if r["wait_event_type"] == "Lock"] == ["active"]
        assert "firm_month" in next(r["query"] for r in open_chunks if r["wait_event_type"] == "Lock")
        batch = await probe.fetchrow("SELECT id, rows, accepted FROM ingest_batch WHERE source = 'tax_monthly' "
                                     "ORDER BY id DESC LIMIT 1")
        assert (batch["rows"], batch["accepted"]) == (0, 0)  # nothing committed yet
        assert await _stored(probe, batch["id"]) == (0, 0, 0)
        await holder.execute("ROLLBACK")
        result = await asyncio.wait_for(task, 60)
    finally:
        await holder.close()
    try:
        assert (result.rows, result.accepted, result.duplicates, result.rejected_rows) == (3 * CHUNK, 3 * CHUNK, 0, 0)
        stored = await _stored(probe, result.batch_id)
        assert stored == (3 * CHUNK, 3 * CHUNK, sum(fen for _, _, fen in cells))
        assert await _cells(probe, usccs) == _expected_cells(cells)
        assert not await _writers(probe)  # every chunk's transaction ended
    finally:
        await probe.close()


async def test_when_a_chunks_server_process_dies_the_next_rolls_back_and_a_resend_stores_each_row_once(
        engine, db_url):
    from server.ingest.services import ingest

    usccs = _firms(62_000, 10)
    await _register(engine, usccs)
    data, cells = _tax_file("DIE", usccs)
    sha = hashlib.sha256(data).hexdigest()
    probe = await asyncpg.connect(db_url)
    holder = await _hold_cell(db_url, cells[0][0], cells[0][1])
    try:
        task = asyncio.create_task(ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha))
        open_chunks = await _until(probe, _two_open_chunks, "chunk 2 copied while chunk 1 waits")
        chunk1 = next(r["pid"] for r in open_chunks if r["wait_event_type"] == "Lock")
        assert await probe.fetchval("SELECT pg_terminate_backend($1)", chunk1)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await asyncio.wait_for(task, 60)
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
    try:
        batch = await probe.fetchrow("SELECT id, rows, accepted, state FROM ingest_batch WHERE fingerprint = $1", sha)
        assert (batch["rows"], batch["accepted"], batch["state"]) == (0, 0, "running")
        assert await _stored(probe, batch["id"]) == (0, 0, 0)  # chunk 2 rolled back with chunk 1
        assert await _cells(probe, usccs) == []
        await _until(probe, lambda p: _none(_writers(p)), "chunk 2's transaction to end")

        again = await ingest(engine, "tax_monthly", [data], "csv", fingerprint=sha)
        assert again.batch_id == batch["id"] and again.resumed_after == 0
        assert (again.rows, again.accepted, again.duplicates, again.rejected_rows) == (3 * CHUNK, 3 * CHUNK, 0, 0)
        assert await _stored(probe, batch["id"]) == (3 * CHUNK, 3 * CHUNK, sum(fen for _, _, fen in cells))
        assert await _cells(probe, usccs) == _expected_cells(cells)
    finally:
        await probe.close()


async def _none(rows) -> list[bool]:
    return [True] if not await rows else []


async def test_a_second_batch_of_the_source_begins_after_the_first_ends(engine, db_url):
    from server.ingest.services import ingest

    usccs = _firms(63_000, 10)
    await _register(engine, usccs)
    first, first_cells = _tax_file("FIRST", usccs)
    second, second_cells = _tax_file("SECOND", usccs[:5], rows=CHUNK)
    probe = await asyncpg.connect(db_url)
    holder = await _hold_cell(db_url, first_cells[0][0], first_cells[0][1])
    try:
        one = asyncio.create_task(ingest(engine, "tax_monthly", [first], "csv"))
        await _until(probe, _two_open_chunks, "the first batch's chunks")
        batches = await probe.fetchval("SELECT COUNT(*) FROM ingest_batch WHERE source = 'tax_monthly'")
        two = asyncio.create_task(ingest(engine, "tax_monthly", [second], "csv"))
        await _until(probe, lambda p: p.fetch("SELECT pid FROM pg_stat_activity WHERE wait_event = 'advisory' "
                                              "AND query LIKE '%pg_advisory_lock%'"),
                     "the second batch waiting for the source")
        await asyncio.sleep(0.3)
        assert not two.done()
        assert await probe.fetchval("SELECT COUNT(*) FROM ingest_batch WHERE source = 'tax_monthly'") == batches
        await holder.execute("ROLLBACK")
        a = await asyncio.wait_for(one, 60)
        b = await asyncio.wait_for(two, 60)
    finally:
        await holder.close()
    try:
        assert b.batch_id > a.batch_id
        assert (a.accepted, b.accepted) == (3 * CHUNK, CHUNK)
        assert await _stored(probe, a.batch_id) == (3 * CHUNK, 3 * CHUNK, sum(f for _, _, f in first_cells))
        assert await _stored(probe, b.batch_id) == (CHUNK, CHUNK, sum(f for _, _, f in second_cells))
        # the two files' records of one firm and month are one cell
        expected: dict[tuple, list[int]] = {}
        for u, m, fen in first_cells + second_cells:
            expected.setdefault((u, m), []).append(fen)
        assert await _cells(probe, usccs) == sorted(
            (u, m, len(f), sum(f), len(f), max(f)) for (u, m), f in expected.items())
    finally:
        await probe.close()


async def test_a_chunk_that_falls_back_is_not_overtaken_by_the_next_chunks_copy(engine, db_url):
    """Chunk 1 meets a key stored before, so it inserts its rows on conflict, and is held at its
    sixth key by another transaction. Chunk 2 repeats chunk 1's later keys. Had chunk 2 copied
    them meanwhile, chunk 1 would wait for chunk 2's uncommitted keys while chunk 2 waits for
    chunk 1's commit: a wait no server sees, for ever. Chunk 2 copies after chunk 1 commits."""
    from server.ingest.services import EARLIER_IN_BATCH, ingest

    (uscc,) = _firms(64_000, 1)
    await _register(engine, [uscc])

    def row(key: str, n: int) -> str:
        return f"{key},{uscc},{date(2015 + n // 12, 1 + n % 12, 28).isoformat()},vat,{100 + n}.00,0\n"

    stored = await ingest(engine, "tax_monthly", [(TAX_HEADER + row("R-000", 0)).encode()], "csv")
    assert stored.accepted == 1
    chunk1 = [row(f"R-{n:03d}", n) for n in range(CHUNK)]  # R-000 is stored: chunk 1 falls back
    chunk2 = [row(f"N-{n:03d}", n) for n in range(6)] + [row(f"R-{n:03d}", n) for n in range(6, CHUNK)]
    probe = await asyncpg.connect(db_url)
    holder = await asyncpg.connect(db_url)
    await holder.execute("BEGIN")
    await holder.execute("INSERT INTO dept_record (source, record_key, uscc, event_date, batch_id) "
                         "VALUES ('tax_monthly', 'R-005', $1, '2015-06-28', $2)", uscc, stored.batch_id)
    try:
        task = asyncio.create_task(ingest(engine, "tax_monthly", [(TAX_HEADER + "".join(chunk1 + chunk2)).encode()],
                                          "csv"))
        # chunk 1's insert waits for the held key; give chunk 2 the time to overtake it
        await _until(probe, lambda p: p.fetch("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND query LIKE 'INSERT INTO dept_record%'"),
                     "chunk 1 waiting for the held key")
        await asyncio.sleep(0.5)
        await holder.execute("ROLLBACK")
        done, _ = await asyncio.wait([task], timeout=30)
        if not done:  # stuck: end the chunks' server processes so that the test fails, not hangs
            await probe.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            await asyncio.wait([task])
            task.exception()
            pytest.fail("the two chunks waited for each other")
        result = task.result()
    finally:
        await holder.close()
    try:
        assert (result.rows, result.accepted, result.duplicates) == (2 * CHUNK, CHUNK - 1 + 6, 1 + CHUNK - 6)
        earlier = [r.row for r in result.repeated if r.message == EARLIER_IN_BATCH]
        assert earlier == list(range(CHUNK + 7, 2 * CHUNK + 1))  # chunk 2's R-006 … (file rows)
        keys = await probe.fetch("SELECT record_key FROM dept_record WHERE uscc = $1 ORDER BY 1", uscc)
        assert [k[0] for k in keys] == sorted([f"N-{n:03d}" for n in range(6)] + [f"R-{n:03d}" for n in range(CHUNK)])
        cells = await probe.fetchval("SELECT SUM(rows) FROM firm_month WHERE uscc = $1", uscc)
        assert cells == CHUNK + 6  # each stored record in its cell once
    finally:
        await probe.close()
