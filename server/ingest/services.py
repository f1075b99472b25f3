"""Ingesting a department batch: read, validate per row, store every good row exactly once.

The whole batch is one transaction: a batch that fails half-way (a crash, a lost connection)
stores nothing, and its retry is then a clean first attempt. Rows are handled in chunks so a
file of millions of rows streams instead of sitting in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from piccolo.engine.base import Engine

from scoring.records import section_of
from server.ingest.parse import FeedFormatError, RawRow, read_rows
from server.ingest.sources import SOURCES, Rejection, RowValidator, Source, statement_attrs
from server.ingest.store import RECORD_COLUMNS, BatchWriter, open_writer, utcnow

__all__ = ["IngestError", "IngestResult", "ingest"]

CHUNK_ROWS = 50_000


class IngestError(ValueError):
    """The batch as a whole is refused (unknown source, unreadable file, missing columns)."""

    def __init__(self, field: str, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status_code = status_code


@dataclass(slots=True)
class IngestResult:
    batch_id: int | None
    source: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    touched_usccs: set[str] = field(default_factory=set)

    @property
    def rejected_rows(self) -> int:
        return len({r.row for r in self.rejected})


def get_source(code: str) -> Source:
    try:
        return SOURCES[code]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise IngestError("source", f"unknown source {code!r}; known sources: {known}", 404) from None


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
) -> IngestResult:
    """Validate and store one batch of a source; see the module docstring for guarantees."""
    source = get_source(source_code)
    try:
        header, rows = read_rows(chunks, fmt)
    except FeedFormatError as exc:
        raise IngestError(exc.field, exc.message, 400) from exc
    validator = RowValidator(source, today or date.today())
    if fmt == "csv":
        missing = validator.missing_columns(header)
        if missing:
            raise IngestError(missing[0], f"required column(s) missing from the header: {', '.join(missing)}")

    received_at = utcnow()
    result = IngestResult(batch_id=None, source=source.code)
    try:
        async with open_writer(engine) as w:
            await w.lock_source(source.code)
            department_id = await _department_id(w, source.department)
            batch_id = await w.insert_returning_id("ingest_batch", {
                "department": department_id, "source": source.code, "filename": filename[:200],
                "received_at": received_at, "rows": 0, "accepted": 0, "duplicates": 0,
                "rejected": 0, "submitted_by": user_id,
            })
            result.batch_id = batch_id
            store = _STORES[source.target]
            for chunk in _chunked(rows, CHUNK_ROWS):
                good: list[tuple[int, dict[str, Any]]] = []
                for n, raw, problem in chunk:
                    result.rows = n
                    if problem:
                        name = str(raw.get("_missing", "row"))
                        result.rejected.append(Rejection(n, name, problem))
                        continue
                    values, errors = validator.validate(n, raw)
                    if errors:
                        result.rejected.extend(errors)
                    else:
                        good.append((n, values))  # type: ignore[arg-type]
                await store(w, source, good, result, batch_id, received_at, person_salt)
            await w.execute(
                "UPDATE ingest_batch SET rows = ?, accepted = ?, duplicates = ?, rejected = ? WHERE id = ?",
                (result.rows, result.accepted, result.duplicates, result.rejected_rows, batch_id),
            )
    except FeedFormatError as exc:  # the file broke off mid-way (e.g. bad UTF-8): nothing stored
        raise IngestError(exc.field, exc.message, 400) from exc
    result.rejected.sort(key=lambda r: r.row)
    return result


def _chunked(rows: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    while chunk := list(islice(rows, size)):
        yield chunk


async def _department_id(w: BatchWriter, code: str) -> int:
    found = await w.fetch("SELECT id FROM department WHERE code = ?", (code,))
    if found:
        return int(found[0][0])
    return await w.insert_returning_id("department", {"code": code, "name_zh": code, "name_en": code})


async def _known_firms(w: BatchWriter, usccs: Iterable[str]) -> dict[str, int]:
    keys = sorted(set(usccs))
    return await w.existing("firm", "uscc", keys, value_column="id")


def _first_per_key(good: list[tuple[int, dict[str, Any]]], key: str, stored: dict[Any, Any]
                   ) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Rows whose key is neither stored nor seen earlier in the batch, and how many were not."""
    seen: set[Any] = set(stored)
    fresh = []
    for n, v in good:
        k = v[key]
        if k not in seen:
            seen.add(k)
            fresh.append((n, v))
    return fresh, len(good) - len(fresh)


async def _store_records(w: BatchWriter, source: Source, good: list[tuple[int, dict[str, Any]]],
                         result: IngestResult, batch_id: int, received_at: datetime, _salt: str) -> None:
    if not good:
        return
    firms = await _known_firms(w, (v["uscc"] for _, v in good))
    known = []
    for n, v in good:
        if v["uscc"] in firms:
            known.append((n, v))
        else:
            result.rejected.append(Rejection(n, "uscc", f"no registered firm has this code: {v['uscc']}"))
    stored = await w.existing("dept_record", "record_key", [v["record_key"] for _, v in known],
                              where="source = ?", args=(source.code,))
    fresh, dupes = _first_per_key(known, "record_key", stored)
    is_statement = source.code == "financial_statement"
    rows = []
    for _, v in fresh:
        amount = v.get("revenue") if is_statement else v.get("amount_yuan")
        rows.append((
            source.code, v["record_key"], v["uscc"], v["event_date"], v.get("end_date"),
            v.get("category"), amount, v.get("arrears_yuan"),
            None if v.get("quantity") is None else float(v["quantity"]), v.get("days"),
            v.get("status"), statement_attrs(v) if is_statement else None, batch_id, received_at,
        ))
        result.touched_usccs.add(v["uscc"])
    await w.copy_rows("dept_record", RECORD_COLUMNS, rows)
    result.accepted += len(rows)
    result.duplicates += dupes


_FIRM_FIELDS = ("name", "industry_section", "industry_division", "town", "registered_capital_fen",
                "founded_on", "size_class", "status")


async def _store_firms(w: BatchWriter, source: Source, good: list[tuple[int, dict[str, Any]]],
                       result: IngestResult, batch_id: int, received_at: datetime, _salt: str) -> None:
    """Firms are upserted: a changed registration updates the firm, an identical one is a duplicate."""
    if not good:
        return
    latest: dict[str, dict[str, Any]] = {}
    for _, v in good:
        latest[v["uscc"]] = {
            "uscc": v["uscc"], "name": v["name"], "industry_division": v["industry_division"],
            "industry_section": section_of(v["industry_division"]), "town": v["town"],
            "registered_capital_fen": v["registered_capital_yuan"], "founded_on": v["founded_on"],
            "size_class": v["size_class"], "status": v["status"],
        }
    cols = ", ".join(_FIRM_FIELDS)
    stored: dict[str, tuple] = {}
    keys = sorted(latest)
    for i in range(0, len(keys), 5000):
        part = keys[i : i + 5000]
        if w.is_postgres:
            rows = await w.fetch(f"SELECT uscc, {cols} FROM firm WHERE uscc = ANY(?)", [part])
        else:
            rows = await w.fetch(f"SELECT uscc, {cols} FROM firm WHERE uscc IN ({', '.join('?' * len(part))})", part)
        for r in rows:
            stored[r[0]] = tuple(_normalise(x) for x in r[1:])
    new, changed = [], []
    for uscc, f in latest.items():
        values = tuple(f[c] for c in _FIRM_FIELDS)
        if uscc not in stored:
            new.append((uscc, *values, received_at, received_at))
        elif stored[uscc] != tuple(_normalise(x) for x in values):
            changed.append((*values, received_at, uscc))
    await w.copy_rows("firm", ("uscc", *_FIRM_FIELDS, "created_at", "updated_at"), new)
    if changed:
        sets = ", ".join(f"{c} = ?" for c in _FIRM_FIELDS)
        await w.executemany(f"UPDATE firm SET {sets}, updated_at = ? WHERE uscc = ?", changed)
    result.accepted += len(new) + len(changed)
    result.duplicates += len(good) - len(new) - len(changed)
    result.touched_usccs.update(latest)


def _normalise(x: Any) -> Any:
    if isinstance(x, date | datetime):
        return x.isoformat()[:10]
    return x


def person_hash(person_id: str, salt: str) -> str:
    """Identity numbers are never stored; a salted hash links the same person across firms."""
    return hashlib.sha256(f"{salt}:{person_id.strip().upper()}".encode()).hexdigest()


async def _store_relations(w: BatchWriter, source: Source, good: list[tuple[int, dict[str, Any]]],
                           result: IngestResult, batch_id: int, received_at: datetime, salt: str) -> None:
    if not good:
        return
    firms = await _known_firms(w, (v["uscc"] for _, v in good))
    known = []
    for n, v in good:
        if v["uscc"] in firms:
            known.append((n, v))
        else:
            result.rejected.append(Rejection(n, "uscc", f"no registered firm has this code: {v['uscc']}"))
    stored = await w.existing("firm_person", "record_key", [v["record_key"] for _, v in known])
    fresh, dupes = _first_per_key(known, "record_key", stored)
    hashes = {person_hash(v["person_id"], salt): v["person_name"] for _, v in fresh}
    people = await w.existing("person", "id_hash", sorted(hashes), value_column="id")
    new_people = [(h, name) for h, name in hashes.items() if h not in people]
    await w.copy_rows("person", ("id_hash", "name"), new_people)
    if new_people:
        people.update(await w.existing("person", "id_hash", [h for h, _ in new_people], value_column="id"))
    rows = [
        (v["record_key"], firms[v["uscc"]], people[person_hash(v["person_id"], salt)], v["role"],
         None if v.get("share_pct") is None else Decimal(str(v["share_pct"])),
         v["start_date"], v.get("end_date"))
        for _, v in fresh
    ]
    await w.copy_rows("firm_person", ("record_key", "firm", "person", "role", "share_pct",
                                      "start_date", "end_date"), rows)
    result.accepted += len(rows)
    result.duplicates += dupes
    result.touched_usccs.update(v["uscc"] for _, v in fresh)


async def _store_guarantees(w: BatchWriter, source: Source, good: list[tuple[int, dict[str, Any]]],
                            result: IngestResult, batch_id: int, received_at: datetime, _salt: str) -> None:
    if not good:
        return
    firms = await _known_firms(w, [u for _, v in good for u in (v["guarantor_uscc"], v["guaranteed_uscc"])])
    known = []
    for n, v in good:
        for name in ("guarantor_uscc", "guaranteed_uscc"):
            if v[name] not in firms:
                result.rejected.append(Rejection(n, name, f"no registered firm has this code: {v[name]}"))
                break
        else:
            known.append((n, v))
    stored = await w.existing("guarantee", "record_key", [v["record_key"] for _, v in known])
    fresh, dupes = _first_per_key(known, "record_key", stored)
    rows = [
        (v["record_key"], firms[v["guarantor_uscc"]], firms[v["guaranteed_uscc"]], v["amount_yuan"],
         v["start_date"], v["end_date"])
        for _, v in fresh
    ]
    await w.copy_rows("guarantee", ("record_key", "guarantor", "guaranteed", "amount_fen",
                                    "start_date", "end_date"), rows)
    result.accepted += len(rows)
    result.duplicates += dupes
    result.touched_usccs.update(u for _, v in fresh for u in (v["guarantor_uscc"], v["guaranteed_uscc"]))


_STORES = {
    "record": _store_records,
    "firm": _store_firms,
    "relation": _store_relations,
    "guarantee": _store_guarantees,
}
