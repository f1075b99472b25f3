"""Ingesting a department batch: read, validate per row, store every good row exactly once.

A batch is written in chunks, each one transaction holding its rows, its report rows and the
batch's progress (:func:`_commit_chunk`): a batch that fails half-way (a crash, a lost
connection) keeps its committed chunks and stays ``running``, and the same file sent again
resumes after them. A file of millions of rows streams instead of sitting in memory.

CSV files of record sources (the 10⁸-row feeds) take the Arrow fast path (``fastpath``):
same results, validated column-wise, and the next chunk is read and validated in a worker
thread while the database writes the current one; on PostgreSQL two chunks of records are
written at a time (:class:`_TwoChunks`). Everything else takes the Python path.
"""

from __future__ import annotations

import asyncio
import csv
import fcntl
import hashlib
import io
import json
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from scoring.records import RECORD_KINDS, STATEMENT_ITEMS, section_of
from server.engines import sqlite_path_of
from server.ingest.cells import add_new_rows, is_store_kind
from server.ingest.fastpath import (
    FIRM_FIELDS,
    LINK_TABLES,
    ArrowRecordValidator,
    PreparedFirms,
    PreparedLinks,
    PreparedRecords,
    copy_new_records,
    prepare_firms,
    prepare_links,
    prepare_records,
    store_records,
    supports_fast_path,
)
from server.ingest.parse import ArrowBlock, FeedFormatError, RawRow, read_batches, read_csv_blocks
from server.ingest.schemas import BatchOut, DepartmentHealth, FeedField, FeedHealth, FeedSource
from server.ingest.sources import (
    EARLIER_IN_BATCH,
    SOURCES,
    Rejection,
    Repeat,
    RowValidator,
    Source,
    canonical_address,
    clean_text,
)
from server.ingest.store import (
    RECORD_COLUMNS,
    RECORD_CONFLICT,
    BatchWriter,
    end_session,
    hold_source,
    open_writer,
    utcnow,
    writer_for,
)
from server.texts import Lang, Text, t
from server.texts.stored import revive, store

__all__ = ["REPORT_LIMIT", "IngestError", "IngestResult", "Repeat", "batch_department", "feed_health", "ingest",
           "pack_message", "rejection_report", "unpack_message"]

CHUNK_ROWS = 100_000
# The first chunk of a large CSV file holds at most this many rows, the next twice as many,
# and so on up to a block: the database starts writing after a short read, and each chunk's
# read and check (in a worker thread) fit inside the write of the one before.
FIRST_CHUNK_ROWS = 10_000
REPORT_LIMIT = 100  # rejected (and repeated) rows listed in the answer; all are in the report
REPORT_COLUMNS = ("batch_id", "seq", "row_no", "kind", "field", "message", "first_row")


class IngestError(ValueError):
    """The batch as a whole is refused (unknown source, unreadable file, missing columns).
    ``message`` is a Text: the error handler renders it in the reader's language."""

    def __init__(self, field: str, message: Text, status_code: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status_code = status_code


@dataclass(slots=True)
class IngestResult:
    """What a batch did. ``rejected`` and ``repeated`` hold the first ``REPORT_LIMIT`` entries (in
    row order); the counts are complete, and every entry is in the batch's report."""

    batch_id: int | None
    source: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    rejected_count: int = 0  # rejections (a row may have several)
    rejected_rows: int = 0  # distinct rows rejected
    repeated: list[Repeat] = field(default_factory=list)
    repeated_count: int = 0
    touched_usccs: set[str] = field(default_factory=set)
    store_seconds: float = 0.0  # time spent writing (vs reading and validating), for tuning
    resumed_after: int = 0  # a broken-off batch resumed: the rows it had committed before
    # This chunk's entries, written to the report (and counted) by ``_flush_report``.
    pending: list[Rejection] = field(default_factory=list)
    pending_repeats: list[Repeat] = field(default_factory=list)
    _seq: int = 0


async def batch_department(batch_id: int) -> str | None:
    """The code of the department that sent a batch (None: no such batch)."""
    from server.tables.ingest import IngestBatch

    row = await IngestBatch.select(IngestBatch.department.code).where(IngestBatch.id == batch_id).first()
    return None if row is None else row["department.code"]


_REPORT_PAGE = 5000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(cell: object) -> object:
    """A spreadsheet must not run a cell that quotes input (``=HYPERLINK(...)``) as a formula."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


# A report's messages are stored as their template and fields (server.texts.stored), so each
# operator reads them in their own language; rows stored before are plain text, shown as they are.
_PACK_LIMIT = 2000  # characters of stored JSON; quoted input is cut to fit (the text was cut at 500)


def pack_message(message: str) -> str:
    """What the batch's report stores of a row's message: a Text as its template and fields
    (rendered for each reader by ``unpack_message``), other text cut and cleaned."""
    if isinstance(message, Text):
        packed = store(message, _PACK_LIMIT)
        if revive(packed) is not None:
            return packed
    return clean_text(str.__str__(message), 500)


def unpack_message(stored: str, lang: Lang) -> str:
    """A stored report message in ``lang``: packed ones rendered, plain (older) ones as they are."""
    text = revive(stored)
    return stored if text is None else clean_text(text.render(lang), 500)


async def rejection_report(batch_id: int, lang: Lang) -> AsyncIterator[bytes]:
    """Every rejected and repeated row of a batch as CSV (UTF-8 with BOM, for spreadsheets),
    page by page, so a million-row report streams in constant memory; messages in ``lang``."""
    from server.tables.ingest import IngestBatch

    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["row", "kind", "field", "message", "first_row"])
    yield ("\ufeff" + buf.getvalue()).encode()
    last = -1
    while True:
        page = await IngestBatch.raw(
            "SELECT seq, row_no, kind, field, message, first_row FROM ingest_rejection "
            "WHERE batch_id = {} AND seq > {} ORDER BY seq LIMIT {}", batch_id, last, _REPORT_PAGE)
        if not page:
            return
        buf.seek(0)
        buf.truncate()
        for r in page:
            out.writerow([r["row_no"], r["kind"], _csv_safe(r["field"]), _csv_safe(unpack_message(r["message"], lang)),
                          "" if r["first_row"] is None else r["first_row"]])
        yield buf.getvalue().encode()
        last = page[-1]["seq"]


def department_sources(department: str | None) -> list[FeedSource]:
    """The feeds a department sends, with their columns (record kinds named as people name them)."""
    out = []
    for src in SOURCES.values():
        if src.department != department:
            continue
        kind = RECORD_KINDS.get(src.code)
        out.append(FeedSource(
            code=src.code, target=src.target, name_zh=kind.name_zh if kind else src.code,
            name_en=kind.name_en if kind else src.code.replace("_", " "),
            fields=[FeedField(name=f.name, type=f.type, required=f.required, choices=list(f.choices))
                    for f in src.fields]))
    return out


async def department_batches(department: str | None, limit: int, before_id: int | None) -> list[BatchOut]:
    """A department's batches, newest first (``before_id``: the page after the one that ended
    there); ``report_url`` where the batch has rejected or in-batch repeated rows to report."""
    from server.tables.ingest import IngestBatch

    query = IngestBatch.select(
        IngestBatch.id, IngestBatch.source, IngestBatch.filename, IngestBatch.received_at, IngestBatch.rows,
        IngestBatch.accepted, IngestBatch.duplicates, IngestBatch.rejected, IngestBatch.backfill,
        IngestBatch.state,
    ).where(IngestBatch.department.code == department)
    if before_id is not None:
        query = query.where(IngestBatch.id < before_id)
    rows = await query.order_by(IngestBatch.id, ascending=False).limit(limit)
    reported: set[int] = set()
    if rows:
        ids = ", ".join(str(int(r["id"])) for r in rows)  # integers from the database
        found = await IngestBatch.raw(f"SELECT DISTINCT batch_id FROM ingest_rejection WHERE batch_id IN ({ids})")
        reported = {int(r["batch_id"]) for r in found}
    return [BatchOut(id=r["id"], source=r["source"], filename=r["filename"], received_at=r["received_at"],
                     rows=r["rows"], accepted=r["accepted"], duplicates=r["duplicates"], rejected=r["rejected"],
                     backfill=bool(r["backfill"]), state=r["state"],
                     report_url=f"/api/ingest/batches/{r['id']}/rejected" if r["id"] in reported else None)
            for r in rows]


async def feed_health(department: str | None, *, days: int = 90) -> FeedHealth:
    """The feed-health screen for one department (an operator's own) or all (None): the
    figures of the last full scoring run and the rejected-row rate of the last ``days`` days."""
    from server.tables.ingest import Department, IngestBatch
    from server.tables.risk import FEED_HEALTH, RiskSnapshot

    snap = await RiskSnapshot.select(RiskSnapshot.as_of, RiskSnapshot.data).where(
        RiskSnapshot.kind == FEED_HEALTH).order_by(RiskSnapshot.id, ascending=False).output(load_json=True).first()
    stored = {d["department"]: d for d in ((snap or {}).get("data") or {}).get("departments", [])}
    since = datetime.now(UTC) - timedelta(days=days)
    batches = await IngestBatch.select(IngestBatch.department.code, IngestBatch.rows, IngestBatch.rejected).where(
        IngestBatch.received_at >= since)
    sent: dict[str, list[int]] = {}
    for b in batches:
        totals = sent.setdefault(b["department.code"], [0, 0, 0])
        totals[0] += 1
        totals[1] += int(b["rows"] or 0)
        totals[2] += int(b["rejected"] or 0)
    query = Department.select(Department.code, Department.name_zh, Department.name_en).order_by(Department.code)
    if department is not None:
        query = query.where(Department.code == department)
    out = []
    for d in await query:
        code = d["code"]
        kinds = [k for k, s in SOURCES.items() if s.department == code]
        figures = {k: v for k, v in stored.get(code, {}).items() if k not in ("department", "kinds")}
        n, rows, rejected = sent.get(code, [0, 0, 0])
        out.append(DepartmentHealth(
            department=code, name_zh=d["name_zh"], name_en=d["name_en"], kinds=kinds, **figures,
            batches_90d=n, rows_90d=rows, rejected_90d=rejected,
            rejected_rate=round(rejected / rows, 4) if rows else None))
    return FeedHealth(as_of=(snap or {}).get("as_of"), departments=out)


def get_source(code: str) -> Source:
    try:
        return SOURCES[code]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise IngestError("source", t("unknown source {code!r}; known sources: {known}", code=code, known=known),
                          404) from None


async def ingest(
    engine: Engine,
    source_code: str,
    chunks: Iterable[bytes],
    fmt: str,
    *,
    filename: str = "",
    user_id: int | None = None,
    person_salt: str = "xinbao-person",
    today: date | None = None,
    backfill: bool = False,
    fingerprint: str | None = None,
) -> IngestResult:
    """Validate and store one batch of a source; see the module docstring for guarantees.
    ``backfill``: the batch is the department's archive (its records are known from their
    event date, for training on past dates; see ``scoring.records.known_at``).
    ``fingerprint``: the file's SHA-256; a batch of the same source and fingerprint that broke
    off (its writer died) is resumed after its last committed chunk instead of starting anew."""
    source = get_source(source_code)
    fast = fmt == "csv" and supports_fast_path(source.fields, source.code)
    try:
        if fast:
            header, blocks = read_csv_blocks(chunks, chunk_rows())
        else:
            header, batches = read_batches(chunks, fmt, chunk_rows())
    except FeedFormatError as exc:
        raise IngestError(exc.field, exc.message, 400) from exc
    validator = RowValidator(source, today or date.today())
    if fmt == "csv":
        missing = validator.missing_columns(header)
        if missing:
            raise IngestError(missing[0], t("required column(s) missing from the header: {columns}",
                                            columns=", ".join(missing)))

    async with claim_file(engine, source.code, fingerprint) as claimed:
        if not claimed:
            raise IngestError("file", t("this file is being stored right now by another upload; "
                                        "wait for it to finish"), 409)
        async with hold_source(engine, source.code):  # one batch of a source at a time
            result, received_at, skip = await _begin_batch(engine, source, filename, user_id, backfill, fingerprint)
            try:
                if fast:
                    await _ingest_arrow(engine, blocks, ArrowRecordValidator(validator, header), header, result,
                                        received_at, person_salt, skip)
                else:
                    await _ingest_python(engine, batches, validator, header, result, received_at, person_salt,
                                         skip)
            except FeedFormatError as exc:  # the file broke off mid-way (e.g. bad UTF-8)
                await _end_batch(engine, result, "failed")
                raise IngestError(exc.field, exc.message, 400) from exc
            await _end_batch(engine, result, "done")
    return result


def file_sha256(path: str) -> str:
    """A file's fingerprint: a resend of a broken-off batch's file resumes it."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def chunk_rows() -> int:
    """Rows per chunk: each is validated, written and committed with the batch's progress, so
    a file of millions of rows never holds one transaction for long and a resend resumes."""
    return max(int(os.environ.get("XINBAO_INGEST_CHUNK_ROWS", CHUNK_ROWS)), 1)


async def _begin_batch(engine: Engine, source: Source, filename: str, user_id: int | None, backfill: bool,
                       fingerprint: str | None) -> tuple[IngestResult, datetime, int]:
    """The batch to store into, committed: the broken-off batch of this file (its counts so far
    and its first report rows restored, and the rows it committed, to skip) or a new one."""
    async with open_writer(engine) as w:
        department_id = await _department_id(w, source.department)
        if fingerprint is not None:
            found = await w.fetch(
                "SELECT id, received_at, rows, accepted, duplicates, rejected FROM ingest_batch "
                "WHERE source = ? AND fingerprint = ? AND state = 'running' AND department = ? AND backfill = ? "
                "ORDER BY id DESC LIMIT 1", (source.code, fingerprint, department_id, backfill))
            if found:
                batch_id, received_at, rows, accepted, duplicates, rejected = found[0]
                result = IngestResult(batch_id=int(batch_id), source=source.code, rows=rows, accepted=accepted,
                                      duplicates=duplicates, rejected_rows=rejected, resumed_after=rows)
                await _restore_report(w, result)
                return result, _as_datetime(received_at), int(rows)
        received_at = utcnow()
        batch_id = await w.insert_returning_id("ingest_batch", {
            "department": department_id, "source": source.code, "filename": clean_text(filename, 200),
            "received_at": received_at, "rows": 0, "accepted": 0, "duplicates": 0,
            "rejected": 0, "submitted_by": user_id, "backfill": backfill, "state": "running",
            "fingerprint": fingerprint,
        })
    return IngestResult(batch_id=batch_id, source=source.code), received_at, 0


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


async def _restore_report(w: BatchWriter, result: IngestResult) -> None:
    """A resumed batch's report so far: counts, the next entry's number, and the first
    ``REPORT_LIMIT`` rejected and repeated rows for the answer."""
    counts = await w.fetch("SELECT kind, COUNT(*), COALESCE(MAX(seq), -1) FROM ingest_rejection "
                           "WHERE batch_id = ? GROUP BY kind", (result.batch_id,))
    for kind, n, last in counts:
        if kind == "rejected":
            result.rejected_count = int(n)
        else:
            result.repeated_count = int(n)
        result._seq = max(result._seq, int(last) + 1)
    for kind in ("rejected", "duplicate"):
        rows = await w.fetch("SELECT row_no, field, message, first_row FROM ingest_rejection "
                             "WHERE batch_id = ? AND kind = ? ORDER BY seq LIMIT ?",
                             (result.batch_id, kind, REPORT_LIMIT))
        for row_no, name, message, first in rows:
            text = revive(message) or message
            if kind == "rejected":
                result.rejected.append(Rejection(int(row_no), name, text))
            else:
                result.repeated.append(Repeat(int(row_no), name, text, first))


async def _end_batch(engine: Engine, result: IngestResult, state: str) -> None:
    async with open_writer(engine) as w:
        await w.execute("UPDATE ingest_batch SET state = ? WHERE id = ?", (state, result.batch_id))


class claim_file:  # noqa: N801 - used as ``async with claim_file(engine, source, sha) as claimed``
    """One writer per file at a time: the same file sent twice at once would otherwise resume
    the same broken-off batch twice. PostgreSQL: a session advisory lock on a connection held
    for the batch; SQLite: an exclusive ``flock`` beside the database file. Both go with the
    process, so a writer that dies leaves its batch free to resume. No fingerprint: no claim."""

    def __init__(self, engine: Engine, source: str, fingerprint: str | None) -> None:
        self.engine = engine
        self.key = None if fingerprint is None else f"{source}:{fingerprint}"
        self._conn: Any = None
        self._fd: int | None = None

    async def __aenter__(self) -> bool:
        if self.key is None:
            return True
        lock_id = int.from_bytes(hashlib.sha256(self.key.encode()).digest()[:8], "big", signed=True)
        if isinstance(self.engine, PostgresEngine):
            self._conn = await self.engine.get_new_connection()
            got = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id)
            if not got:
                await self._conn.close()
                self._conn = None
            return bool(got)
        path = f"{sqlite_path_of(self.engine)}.ingest-{lock_id & 0xFFFFFFFF:08x}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await end_session(self._conn)
        if self._fd is not None:
            os.close(self._fd)


async def _commit_chunk(engine: Engine, result: IngestResult, last_row: int, store: Any) -> None:
    """One chunk in its own transaction: its rows, its report entries and the batch's progress
    (rows through ``last_row`` and the counts), so what is committed and what the batch says
    was committed never differ."""
    t0 = time.perf_counter()
    async with open_writer(engine) as w:
        await store(w)
        await _progress(w, result, last_row)
    result.store_seconds += time.perf_counter() - t0


async def _progress(w: BatchWriter, result: IngestResult, last_row: int) -> None:
    """A chunk's report entries and the batch's progress, in the chunk's transaction."""
    result.rows = last_row
    await _flush_report(w, result)
    await w.execute(
        "UPDATE ingest_batch SET rows = ?, accepted = ?, duplicates = ?, rejected = ? WHERE id = ?",
        (result.rows, result.accepted, result.duplicates, result.rejected_rows, result.batch_id))


class _TwoChunks:
    """PostgreSQL: a batch's chunks of records written two at a time, each in its own
    transaction on its own connection, committed in the file's order.

    A chunk's rows go into ``dept_record`` (``fastpath.copy_new_records``) while the chunk
    before it writes its cells and commits: the two halves of a monthly feed's work, each on a
    server core. Everything else a chunk does (the fallbacks of ``store_records``, the cells,
    the report, the batch's progress) waits until the chunk before has committed, and reads
    what it committed. So the batch's progress always names a prefix of the file, a chunk whose
    predecessor failed rolls back, and a resend resumes as after a one-at-a-time write.

    A chunk copies before the chunk before it has committed only if that chunk copied its own
    rows: that chunk then writes no more records, so it never waits for a key the later chunk
    holds while the later chunk waits for its commit, a wait the server could not see. (If it
    did not copy, it inserts its rows later, on conflict, and the later chunk copies after
    its commit.) At most two chunks are open: ``submit`` returns once its chunk's copy is
    made or given up, and the chunk before it has ended."""

    def __init__(self) -> None:
        self.last: asyncio.Task[None] | None = None
        self.copied = False  # whether the last chunk's rows were copied

    async def submit(self, write: Any) -> None:
        """Start ``write(previous, early, copied)``: a coroutine that copies its rows (before
        ``previous``, the chunk before or None, has ended only if ``early``), sets the future
        ``copied`` to whether it did, awaits ``previous`` and then finishes."""
        previous = self.last
        copied: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.last = asyncio.create_task(write(previous, previous is None or self.copied, copied))
        await asyncio.wait([self.last, copied], return_when=asyncio.FIRST_COMPLETED)
        self.copied = copied.done() and copied.result()
        if previous is not None:
            await asyncio.wait([previous])
        if self.last.done() or (previous is not None and (previous.cancelled() or previous.exception())):
            await self.drain()  # a chunk failed: its error (the chunk after it rolled back)

    async def drain(self) -> None:
        """Wait for the chunks being written; raise the first one's error (each awaits the one
        before it, so the last holds the first error)."""
        last, self.last = self.last, None
        if last is not None:
            await last

    async def settle(self) -> None:
        """On an error elsewhere: let the chunks being written end, their errors retrieved."""
        last, self.last = self.last, None
        if last is not None:
            await asyncio.wait([last])
            if not last.cancelled():
                last.exception()


async def _flush_report(w: BatchWriter, result: IngestResult) -> None:
    """Write a chunk's rejected and repeated rows to the batch's report (``ingest_rejection``),
    count them and keep the first ``REPORT_LIMIT`` for the answer. Chunks come in row order, so
    sorting each chunk keeps the whole report in row order, and memory stays one chunk's."""
    if not result.pending and not result.pending_repeats:
        return
    rejected = sorted(result.pending, key=lambda r: r.row)
    repeated = sorted(result.pending_repeats, key=lambda r: r.row)
    result.pending, result.pending_repeats = [], []
    result.rejected_count += len(rejected)
    result.rejected_rows += len({r.row for r in rejected})
    result.repeated_count += len(repeated)
    result.rejected.extend(rejected[: max(REPORT_LIMIT - len(result.rejected), 0)])
    result.repeated.extend(repeated[: max(REPORT_LIMIT - len(result.repeated), 0)])
    entries = sorted([(r.row, "rejected", r.field, r.message, None) for r in rejected]
                     + [(r.row, "duplicate", r.field, r.message, r.first_row) for r in repeated],
                     key=lambda e: e[0])
    rows = [(result.batch_id, result._seq + i, row, kind, clean_text(name, 100), pack_message(message), first)
            for i, (row, kind, name, message, first) in enumerate(entries)]
    result._seq += len(rows)
    await w.copy_rows("ingest_rejection", REPORT_COLUMNS, rows)


def _drop_repeats(good: Good, key: tuple[str, ...], result: IngestResult, *, keep_last: bool = False) -> Good:
    """Rows repeating the key of another row of this chunk are not written: each is counted as a
    duplicate and listed with the row that is (the first; the last for registry updates)."""
    keys = list(zip(*(good.cols[f] for f in key), strict=True))
    seen: dict[tuple, int] = {}
    keep = [True] * len(keys)
    order = range(len(keys) - 1, -1, -1) if keep_last else range(len(keys))
    name = key[-1]
    what = t("{first} and {second}", first=key[0], second=key[1]) if len(key) == 2 else key[0]
    for i in order:
        j = seen.setdefault(keys[i], i)
        if j != i:
            keep[i] = False
            stored = good.numbers[j]
            result.pending_repeats.append(Repeat(good.numbers[i], name, t(
                "repeats the {key} of row {row} of this batch, which is the one stored; counted as a duplicate",
                key=what, row=stored), stored))
    dropped = keep.count(False)
    if not dropped:
        return good
    result.duplicates += dropped
    return good.where(keep)


async def _ingest_python(engine: Engine, batches: Iterator[list[RawRow]], validator: RowValidator,
                         header: list[str], result: IngestResult, received_at: datetime,
                         person_salt: str, skip: int) -> None:
    """Row-wise path: JSON Lines, financial statements, CSV that Arrow cannot read exactly."""
    source = validator.source
    store = _STORES[source.target]
    names = [f.name for f in source.fields]
    for chunk in batches:
        if skip:
            chunk = [r for r in chunk if r[0] > skip]  # committed before the batch broke off
            if not chunk:
                continue
        numbers, cols, present = _columns(chunk, header, names, result)
        keep, clean, rejections = validator.validate_columns(numbers, cols, present)
        result.pending.extend(rejections)
        good = Good([numbers[i] for i in keep], clean)
        await _commit_chunk(engine, result, chunk[-1][0],
                            lambda w, good=good: store(w, good, result, result.batch_id, received_at, person_salt))


# A prepared chunk: (last row number, rejections, good rows ready to write) from the fast
# path, or (last row number, rejections, good rows as columns) from a block Python had to read.
_Prepared = tuple[int, list[Rejection], "PreparedRecords | PreparedFirms | PreparedLinks | Good"]


async def _ingest_arrow(engine: Engine, blocks: Iterator[ArrowBlock | list[RawRow]],
                        checker: ArrowRecordValidator, header: list[str], result: IngestResult,
                        received_at: datetime, person_salt: str, skip: int) -> None:
    """CSV of record and registry sources: chunk k+1 is read and validated in a worker thread
    while chunk k is written, so parsing and the database's work overlap on two cores."""
    validator = checker.validator
    source = validator.source
    names = [f.name for f in source.fields]
    encoder = writer_for(engine)
    batch_id = result.batch_id
    assert batch_id is not None

    ramp = FIRST_CHUNK_ROWS  # the most rows of the next chunk cut from a block, doubling
    rest: list[ArrowBlock] = []  # what is left of a block the ramp cut

    def prepare() -> _Prepared | None:
        nonlocal ramp
        while (block := rest.pop() if rest else next(blocks, None)) is not None:
            if isinstance(block, ArrowBlock):
                if block.start + block.table.num_rows <= skip:
                    continue  # committed before the batch broke off
                if block.start < skip:
                    block = ArrowBlock(skip, block.table.slice(skip - block.start))
                if ramp and block.table.num_rows > 2 * ramp:
                    rest.append(ArrowBlock(block.start + ramp, block.table.slice(ramp)))
                    block = ArrowBlock(block.start, block.table.slice(0, ramp))
                    ramp *= 2
                else:
                    ramp = 0  # filled: blocks go whole
                checked = checker.check(block)
                if source.target == "firm":
                    firms = prepare_firms(encoder, checked.table, received_at)
                    if firms is not None:
                        return checked.last_row, checked.rejections, firms
                if source.target in LINK_TABLES:
                    links = prepare_links(encoder, checked.table, source.target,
                                          lambda person_id: person_hash(person_id, person_salt))
                    if links is not None:
                        return checked.last_row, checked.rejections, links
                if source.target != "record":
                    return checked.last_row, checked.rejections, Good.of(checked.table, names)
                prepared = prepare_records(encoder, checked.table, result.source, batch_id, received_at)
                return checked.last_row, checked.rejections, prepared
            block = [r for r in block if r[0] > skip]
            if not block:
                continue
            shape = IngestResult(batch_id=None, source=source.code)
            numbers, cols, present = _columns(block, header, names, shape)
            keep, clean, rejections = validator.validate_columns(numbers, cols, present)
            return block[-1][0], shape.pending + rejections, Good([numbers[i] for i in keep], clean)
        return None

    store_good = _STORES[source.target]

    async def store_prepared(w: BatchWriter, good: PreparedRecords, copied: bool = False) -> None:
        accepted, duplicates, touched = await store_records(
            w, good, received_at, result.pending, result.pending_repeats,
            batch_id=batch_id, earlier=result.accepted > 0, copied=copied)
        result.accepted += accepted
        result.duplicates += duplicates
        result.touched_usccs |= touched

    async def write_records(previous: asyncio.Task[None] | None, early: bool, copied: asyncio.Future[bool],
                            last_row: int, rejections: list[Rejection], good: PreparedRecords) -> None:
        t0 = time.perf_counter()
        async with open_writer(engine) as w:
            if previous is not None and not early:
                await previous
            new = await copy_new_records(w, good, received_at)
            copied.set_result(new)
            if previous is not None:
                await previous
            result.pending.extend(rejections)
            await store_prepared(w, good, new)
            await _progress(w, result, last_row)
        result.store_seconds += time.perf_counter() - t0

    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, prepare)
    two = _TwoChunks()
    try:
        while (item := await pending) is not None:
            pending = loop.run_in_executor(None, prepare)
            last_row, rejections, good = item
            if isinstance(good, PreparedRecords) and encoder.is_postgres:
                await two.submit(lambda previous, early, copied, last_row=last_row, rejections=rejections, good=good:
                                 write_records(previous, early, copied, last_row, rejections, good))
                continue
            await two.drain()
            result.pending.extend(rejections)
            if isinstance(good, Good):
                await _commit_chunk(engine, result, last_row, lambda w, good=good: store_good(
                    w, good, result, batch_id, received_at, person_salt))
            elif isinstance(good, PreparedLinks):
                await _commit_chunk(engine, result, last_row, lambda w, good=good: _store_prepared_links(
                    w, good, result, batch_id, received_at, person_salt, names))
            elif isinstance(good, PreparedFirms):
                await _commit_chunk(engine, result, last_row,
                                    lambda w, good=good: _store_prepared_firms(w, good, result, received_at))
            else:
                await _commit_chunk(engine, result, last_row, lambda w, good=good: store_prepared(w, good))
        await two.drain()
    finally:
        await two.settle()
        if not pending.done():  # an error while writing: let the reader thread finish first
            await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()  # retrieved: the error being raised (if any) is the one reported


@dataclass(slots=True)
class Good:
    """The valid rows of a chunk, as columns; ``numbers`` are their 1-based row numbers."""

    numbers: list[int]
    cols: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.numbers)

    @classmethod
    def of(cls, table: Any, names: list[str]) -> Good:
        """The rows of a checked Arrow block (its ``_row`` numbers and the columns ``names``)."""
        return cls(table["_row"].to_pylist(), {name: table[name].to_pylist() for name in names})

    def where(self, keep: list[bool]) -> Good:
        return Good([n for n, k in zip(self.numbers, keep, strict=True) if k],
                    {c: [v for v, k in zip(col, keep, strict=True) if k] for c, col in self.cols.items()})


def _columns(chunk: list[RawRow], header: list[str], names: list[str], result: IngestResult
             ) -> tuple[list[int], dict[str, list[object]], set[str]]:
    """Rows of good shape turned into columns; rows of bad shape rejected whole."""
    numbers: list[int] = []
    rows: list[Any] = []
    for n, cells, problem in chunk:
        if problem:
            name = cells.get("_field", "row") if isinstance(cells, dict) else "row"
            result.pending.append(Rejection(n, str(name), problem))
        else:
            numbers.append(n)
            rows.append(cells)
    if header:  # CSV: lists of cells in header order
        transposed = list(zip(*rows, strict=True)) if rows else [()] * len(header)
        by_name = dict(zip(header, transposed, strict=True))
        cols = {name: list(by_name[name]) if name in by_name else [None] * len(rows) for name in names}
        return numbers, cols, set(header)
    present: set[str] = set()
    for d in rows:
        present.update(d)
    return numbers, {name: [d.get(name) for d in rows] for name in names}, present


async def _department_id(w: BatchWriter, code: str) -> int:
    found = await w.fetch("SELECT id FROM department WHERE code = ?", (code,))
    if found:
        return int(found[0][0])
    return await w.insert_returning_id("department", {"code": code, "name_zh": code, "name_en": code})


async def _known_firms(w: BatchWriter, usccs: Iterable[str]) -> dict[str, int]:
    keys = sorted(set(usccs))
    return await w.existing("firm", "uscc", keys, value_column="id")


async def _only_known_firms(w: BatchWriter, good: Good, fields: tuple[str, ...],
                            result: IngestResult) -> tuple[Good, dict[str, int]]:
    """Drop (and reject) rows naming a firm the registry does not have."""
    firms = await _known_firms(w, (u for f in fields for u in good.cols[f]))
    keep = [True] * len(good)
    for f in fields:
        for i, (n, u) in enumerate(zip(good.numbers, good.cols[f], strict=True)):
            if keep[i] and u not in firms:
                keep[i] = False
                result.pending.append(Rejection(n, f, t("no registered firm has this code: {code}", code=u)))
    return (good if all(keep) else good.where(keep)), firms


async def _store_records(w: BatchWriter, good: Good, result: IngestResult, batch_id: int,
                         received_at: datetime, _salt: str) -> None:
    if not good:
        return
    good, _ = await _only_known_firms(w, good, ("uscc",), result)
    good = _drop_repeats(good, ("uscc", "record_key"), result)
    c, n = good.cols, len(good)
    none = [None] * n
    if result.source == "financial_statement":
        items = [c[k] for k in STATEMENT_ITEMS]
        attrs = [json.dumps(dict(zip(STATEMENT_ITEMS, vals, strict=True)), separators=(",", ":"))
                 for vals in zip(*items, strict=True)]
        amount = c["revenue"]
    elif RECORD_KINDS[result.source].attr_fields:  # text kept in attrs (meter number, supply address)
        names = RECORD_KINDS[result.source].attr_fields
        if "supply_address" in c:  # stored canonical: one place is one text
            c["supply_address"] = [canonical_address(v) if v else v for v in c["supply_address"]]
        present = [[(k, c[k][i]) for k in names if k in c and c[k][i]] for i in range(n)]
        # as the fast path writes them: the text as it is (the fields hold nothing JSON escapes)
        attrs = [json.dumps(dict(p), separators=(",", ":"), ensure_ascii=False) if p else None for p in present]
        amount = c.get("amount_yuan", none)
    else:
        attrs, amount = none, c.get("amount_yuan", none)
    quantity = [None if q is None else float(q) for q in c["quantity"]] if "quantity" in c else none
    rows = list(zip(
        [result.source] * n, c["record_key"], c["uscc"], c["event_date"], c.get("end_date", none),
        c.get("category", none), amount, c.get("arrears_yuan", none), quantity, c.get("days", none),
        c.get("status", none), attrs, [batch_id] * n, [received_at] * n, strict=True,
    ))
    # Only when an earlier chunk of this batch stored rows can a key repeat one of them.
    cells = is_store_kind(result.source)
    mark = await w.max_id("dept_record", result.source) if result.accepted or cells else None
    inserted = await w.insert_ignore("dept_record", RECORD_COLUMNS, rows, RECORD_CONFLICT)
    if cells and inserted:  # the feature store, in the same transaction
        await add_new_rows(w, result.source, batch_id, mark)
    if result.accepted and inserted < n:
        earlier = await w.record_keys_in_batch(batch_id, result.source, list(zip(c["uscc"], c["record_key"],
                                                                                 strict=True)), mark)
        result.pending_repeats.extend(
            Repeat(row, "record_key", EARLIER_IN_BATCH) for row, u, k in zip(
                good.numbers, c["uscc"], c["record_key"], strict=True) if (u, k) in earlier)
    result.accepted += inserted
    result.duplicates += n - inserted
    if inserted:
        result.touched_usccs.update(c["uscc"])


async def _store_firms(w: BatchWriter, good: Good, result: IngestResult, batch_id: int,
                       received_at: datetime, _salt: str) -> None:
    """Firms are upserted: a changed registration updates the firm, an identical one is a duplicate."""
    if not good:
        return
    good = _drop_repeats(good, ("uscc",), result, keep_last=True)  # the latest registration wins
    c = good.cols
    rows = [(uscc, name, section_of(division), division, town, capital, founded, size, status,
             received_at, received_at)
            for uscc, name, division, town, capital, founded, size, status in zip(
                c["uscc"], c["name"], c["industry_division"], c["town"], c["registered_capital_yuan"],
                c["founded_on"], c["size_class"], c["status"], strict=True)]
    inserted, updated = await w.upsert("firm", "uscc", FIRM_FIELDS, rows, stamped=("updated_at",),
                                       insert_only=("created_at",))
    result.accepted += inserted + updated
    result.duplicates += len(good) - inserted - updated
    result.touched_usccs.update(c["uscc"])


async def _store_prepared_firms(w: BatchWriter, firms: PreparedFirms, result: IngestResult,
                                received_at: datetime) -> None:
    """``_store_firms`` for a block the fast path made ready (no code twice in it)."""
    rows = firms.rows
    inserted, updated = await w.upsert_table("firm", "uscc", FIRM_FIELDS, rows, firms.payload, received_at,
                                             stamped=("updated_at",), insert_only=("created_at",))
    result.accepted += inserted + updated
    result.duplicates += rows.num_rows - inserted - updated
    result.touched_usccs.update(rows["uscc"].to_pylist())


def person_hash(person_id: str, salt: str) -> str:
    """Identity numbers are never stored; a salted hash links the same person across firms."""
    return hashlib.sha256(f"{salt}:{person_id.strip().upper()}".encode()).hexdigest()


async def _store_relations(w: BatchWriter, good: Good, result: IngestResult, batch_id: int,
                           received_at: datetime, salt: str) -> None:
    if not good:
        return
    good, firms = await _only_known_firms(w, good, ("uscc",), result)
    good = _drop_repeats(good, ("record_key",), result)
    c = good.cols
    hashes = [person_hash(p, salt) for p in c["person_id"]]
    names = dict(zip(hashes, c["person_name"], strict=True))
    # new people first (a person already stored keeps the name stored), then every id at once
    await w.insert_ignore("person", ("id_hash", "name"), sorted(names.items()), "id_hash")
    people = await w.existing("person", "id_hash", sorted(names), value_column="id")
    rows = [
        (key, firms[u], people[h], role, None if share is None else Decimal(str(share)), start, end)
        for key, u, h, role, share, start, end in zip(
            c["record_key"], c["uscc"], hashes, c["role"], c["share_pct"], c["start_date"],
            c["end_date"], strict=True)
    ]
    inserted = await w.insert_ignore("firm_person", ("record_key", "firm", "person", "role", "share_pct",
                                                      "start_date", "end_date"), rows, "record_key")
    result.accepted += inserted
    result.duplicates += len(rows) - inserted
    result.touched_usccs.update(c["uscc"])


async def _store_guarantees(w: BatchWriter, good: Good, result: IngestResult, batch_id: int,
                            received_at: datetime, _salt: str) -> None:
    if not good:
        return
    good, firms = await _only_known_firms(w, good, ("guarantor_uscc", "guaranteed_uscc"), result)
    good = _drop_repeats(good, ("record_key",), result)
    c = good.cols
    rows = [
        (key, firms[a], firms[b], amount, start, end)
        for key, a, b, amount, start, end in zip(
            c["record_key"], c["guarantor_uscc"], c["guaranteed_uscc"], c["amount_yuan"],
            c["start_date"], c["end_date"], strict=True)
    ]
    inserted = await w.insert_ignore("guarantee", ("record_key", "guarantor", "guaranteed", "amount_fen",
                                                   "start_date", "end_date"), rows, "record_key")
    result.accepted += inserted
    result.duplicates += len(rows) - inserted
    result.touched_usccs.update(c["guarantor_uscc"] + c["guaranteed_uscc"])


class _UnknownFirm(Exception):
    """A fast-path block names a firm the registry lacks: undo it and go row-wise."""


async def _store_prepared_links(w: BatchWriter, links: PreparedLinks, result: IngestResult, batch_id: int,
                                received_at: datetime, salt: str, names: list[str]) -> None:
    """A relations or guarantees block the fast path made ready (PostgreSQL, no key twice in
    it): staged by one binary COPY, then the new people and the links written by the server,
    which turns codes into ids. When fewer links are new than the block has rows (a key
    stored before, or a firm the registry lacks), the block's firms are looked up; if one is
    missing, what the block wrote is undone and it goes row-wise, which rejects just the rows
    naming it and stores the others, row for row what the fast path stores."""
    spec = LINK_TABLES[links.target]
    rows = links.table.num_rows
    await w.stage_binary(spec.stage, spec.columns, links.links)
    try:
        async with w.savepoint():
            if links.people is not None:  # new people first, by hash; a stored person keeps its name
                await w.stage_binary("stage_new_people", (("id_hash", "text"), ("name", "text")), links.people)
                await w.run("INSERT INTO person (id_hash, name) SELECT id_hash, name FROM stage_new_people "
                            "ORDER BY id_hash ON CONFLICT (id_hash) DO NOTHING")
            inserted = await w.run(spec.insert)
            if inserted < rows and await w.unknown_keys(spec.stage, spec.firm_columns, "firm", "uscc"):
                raise _UnknownFirm
    except _UnknownFirm:
        await _STORES[links.target](w, Good.of(links.table, names), result, batch_id, received_at, salt)
        return
    result.accepted += inserted
    result.duplicates += rows - inserted
    result.touched_usccs.update(links.touched)


_STORES = {
    "record": _store_records,
    "firm": _store_firms,
    "relation": _store_relations,
    "guarantee": _store_guarantees,
}
