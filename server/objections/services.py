"""Objections (异议): an owner disputes a department record; the owning department corrects or
rejects it, and a correction re-scores the firm at once.

A correction never edits a record in place: the corrected values are a new record (key
``<key>#c<n>``, its own ingest batch as provenance) and the old one is marked superseded, so
what the platform believed when stays visible and every scoring path leaves it out.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime
from typing import Any

from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.query import OrderByRaw
from piccolo.query.methods.select import Select

from scoring.records import RECORD_KINDS, STATEMENT_ITEMS
from server import db
from server.ingest.cells import count_batch
from server.ingest.cells import rebuild as rebuild_cells
from server.ingest.sources import SOURCES, RowValidator, Source
from server.notifications import owners
from server.objections.schemas import (
    DisputedRecord,
    ObjectionCreate,
    ObjectionDetail,
    ObjectionOut,
    RecordOut,
    RecordPage,
    Resolution,
    TrailEvent,
)
from server.risk.scan import scan as risk_scan
from server.scores.rescore import EVENT_PREFIX, rescore_firms
from server.settings import Settings
from server.tables.ingest import Department, DeptRecord, IngestBatch
from server.tables.objections import Objection
from server.tables.scores import ScoreHistory, ScoringRun
from server.tables.users import User
from server.texts import Text, t
from server.users.security import AuthUser

__all__ = [
    "file_objection",
    "get_objection",
    "list_objections",
    "list_records",
    "open_objections",
    "rescore_reason",
    "resolve",
]

# An objection's status as people say it (the API's codes stay as they are).
_STATUS: dict[str, Text] = {"open": t("open"), "corrected": t("corrected"), "rejected": t("rejected")}

log = logging.getLogger("xinbao.objections")

# A record's identity (firm, key, period) is not correctable: a wrong one is a different
# record, which the department sends through ingestion.
_FIXED_FIELDS = ("record_key", "uscc", "event_date")
# The record columns a correction may change (statement items live in ``attrs``).
_VALUE_COLUMNS = ("end_date", "category", "amount_fen", "arrears_fen", "quantity", "days", "status",
                  "attrs")
_RECORD_COLUMNS = (
    DeptRecord.id, DeptRecord.source, DeptRecord.record_key, DeptRecord.uscc, DeptRecord.event_date,
    DeptRecord.end_date, DeptRecord.category, DeptRecord.amount_fen, DeptRecord.arrears_fen,
    DeptRecord.quantity, DeptRecord.days, DeptRecord.status, DeptRecord.attrs, DeptRecord.batch_id,
    DeptRecord.received_at, DeptRecord.superseded_at,
)
_MAX_KEY = 100  # dept_record.record_key is varchar(100)


def rescore_reason(objection_id: int) -> str:
    """The ``ScoringRun.reason`` of the re-scoring that follows a correction."""
    return f"objection:{objection_id}"


# -- transactions and locks ---------------------------------------------------------------------
def _for_update(query: Select) -> Select:
    """Lock the selected rows till the end of the transaction (PostgreSQL; SQLite's
    immediate transaction already holds the database's write lock)."""
    return query if isinstance(Objection._meta.db, SQLiteEngine) else query.lock_rows()


# -- who may do what ----------------------------------------------------------------------------
def _check_may_see(user: AuthUser, obj: dict[str, Any]) -> None:
    if user.role == "admin":
        return
    if user.role == "owner":
        if obj["firm"] != user.firm_id:
            raise NotFoundException(t("no objection {id} of your firm", id=obj["id"]))
        return
    if user.role == "dept_operator" and obj["department"] == user.linked_department():
        return
    raise PermissionDeniedException(
        t("only the firm's owner, the owning department and admins see an objection"))


# -- records in feed terms ----------------------------------------------------------------------
def _source_of(code: str) -> Source:
    source = SOURCES.get(code)
    if source is None or source.target != "record":  # dept_record holds record sources only
        raise NotFoundException(t("record_id: records of source {code!r} cannot be disputed here", code=code))
    return source


def correctable_fields(source: Source) -> list[str]:
    """Feed fields an objection may propose and a correction change."""
    fixed = set(_FIXED_FIELDS)
    if source.code == "financial_statement":
        fixed.add("amount_yuan")  # stored as the statement's revenue
    return [f.name for f in source.fields if f.name not in fixed]


def _yuan(fen: object) -> str | None:
    """Integer fen as an exact yuan string, "1234.56" (no float on the way)."""
    if fen is None:
        return None
    n = int(fen)  # type: ignore[call-overload]
    sign = "-" if n < 0 else ""
    return f"{sign}{abs(n) // 100}.{abs(n) % 100:02d}"


def _attrs(value: object) -> dict[str, Any]:
    if isinstance(value, str) and value:
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _feed_values(source: Source, rec: dict[str, Any]) -> dict[str, object]:
    """The record as the feed row that would store it (what the validator reads)."""
    attrs = _attrs(rec["attrs"])
    out: dict[str, object] = {}
    for f in source.fields:
        name = f.name
        if name in ("record_key", "uscc", "category", "status", "quantity", "days"):
            out[name] = rec[name]
        elif name in ("event_date", "end_date"):
            out[name] = rec[name].isoformat() if rec[name] is not None else None
        elif name == "amount_yuan":
            out[name] = _yuan(rec["amount_fen"])
        elif name == "arrears_yuan":
            out[name] = _yuan(rec["arrears_fen"])
        elif name == "year":
            out[name] = attrs.get("year")
        else:  # financial statement items, fen
            out[name] = _yuan(attrs.get(name))
    return out


def _stored_values(source: Source, clean: dict[str, Any]) -> dict[str, Any]:
    """Validated feed values -> record columns, as ingestion stores them."""
    quantity = clean.get("quantity")
    values: dict[str, Any] = {
        "end_date": clean.get("end_date"), "category": clean.get("category"),
        "amount_fen": clean.get("amount_yuan"), "arrears_fen": clean.get("arrears_yuan"),
        "quantity": None if quantity is None else float(quantity), "days": clean.get("days"),
        "status": clean.get("status"), "attrs": None,
    }
    if source.code == "financial_statement":
        values["attrs"] = {item: clean.get(item) for item in STATEMENT_ITEMS}
        values["amount_fen"] = clean.get("revenue")
    return values


def _current_values(rec: dict[str, Any]) -> dict[str, Any]:
    values = {c: rec[c] for c in _VALUE_COLUMNS}
    values["attrs"] = _attrs(rec["attrs"]) or None
    if values["quantity"] is not None:
        values["quantity"] = float(values["quantity"])
    return values


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c for c in _VALUE_COLUMNS if old.get(c) != new.get(c)]


def _validated_change(source: Source, rec: dict[str, Any], given: dict[str, Any] | None,
                      field: str) -> dict[str, Any]:
    """The record's columns after applying ``given`` (feed field -> value), validated as
    ingestion validates a row; 400 naming ``<field>.<name>`` when a value is refused."""
    if not given:
        raise ValidationException(t("{field}: name at least one field to correct", field=field))
    allowed = correctable_fields(source)
    for name in given:
        if name not in allowed:
            raise ValidationException(t(
                "{field}.{name}: not a correctable field of {source}; correctable: {allowed}",
                field=field, name=name, source=source.code, allowed=", ".join(allowed)))
    raw = {**_feed_values(source, rec), **given}
    clean, rejections = RowValidator(source).validate(1, raw)
    if clean is None:
        first = rejections[0]
        raise ValidationException(t("{field}.{name}: {message}", field=field, name=first.field,
                                    message=first.message))
    new = _stored_values(source, clean)
    if not _changed(_current_values(rec), new):
        raise ValidationException(t("{field}: the values equal the record's; nothing to correct", field=field))
    return new


def _json_safe(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# -- reading ------------------------------------------------------------------------------------
async def _departments() -> dict[int, dict[str, Any]]:
    rows = await Department.select(Department.id, Department.code, Department.name_zh, Department.name_en)
    return {r["id"]: r for r in rows}


async def _open_by_record(record_ids: list[int]) -> dict[int, int]:
    if not record_ids:
        return {}
    rows = await Objection.select(Objection.id, Objection.record_id).where(
        Objection.record_id.is_in(record_ids) & (Objection.status == "open"))
    return {r["record_id"]: r["id"] for r in rows}


async def _records_out(rows: list[dict[str, Any]]) -> list[RecordOut]:
    depts = {d["code"]: d for d in (await _departments()).values()}
    open_ids = await _open_by_record([r["id"] for r in rows])
    out = []
    for r in rows:
        kind = RECORD_KINDS.get(r["source"])
        source = SOURCES.get(r["source"])
        code = source.department if source else ""
        dept = depts.get(code, {"name_zh": code, "name_en": code})
        attrs = _attrs(r["attrs"]) or None
        out.append(RecordOut(
            id=r["id"], source=r["source"], source_name_zh=kind.name_zh if kind else r["source"],
            source_name_en=kind.name_en if kind else r["source"], department=code,
            department_name_zh=dept["name_zh"], department_name_en=dept["name_en"],
            record_key=r["record_key"], event_date=r["event_date"], end_date=r["end_date"],
            category=r["category"], amount_fen=r["amount_fen"], arrears_fen=r["arrears_fen"],
            quantity=r["quantity"], days=r["days"], status=r["status"], attrs=attrs,
            batch_id=r["batch_id"], received_at=r["received_at"], superseded_at=r["superseded_at"],
            correctable=correctable_fields(source) if source else [],
            has_open_objection=r["id"] in open_ids, open_objection_id=open_ids.get(r["id"]),
        ))
    return out


async def list_records(user: AuthUser, source: str | None, limit: int, offset: int, *,
                       record_id: int | None = None) -> RecordPage:
    """The owner's firm's current records (superseded ones left out), newest first; or the one
    with ``record_id``."""
    _firm_id, uscc = user.linked_firm_with_uscc()
    where = (DeptRecord.uscc == uscc) & DeptRecord.superseded_at.is_null()
    if record_id is not None:
        where &= DeptRecord.id == record_id
    if source is not None:
        if source not in RECORD_KINDS:
            raise ValidationException(t("source: unknown record source {source!r}; known: {known}",
                                        source=source, known=", ".join(RECORD_KINDS)))
        where &= DeptRecord.source == source
    total = await DeptRecord.count().where(where)
    rows = await (DeptRecord.select(*_RECORD_COLUMNS).where(where)
                  .order_by(DeptRecord.event_date, ascending=False)
                  .order_by(DeptRecord.id, ascending=False)
                  .limit(limit).offset(offset).output(load_json=True))
    return RecordPage(total=total, limit=limit, offset=offset, items=await _records_out(rows))


_OBJECTION_COLUMNS = (
    Objection.id, Objection.firm, Objection.firm.uscc, Objection.firm.name, Objection.record_id,
    Objection.department, Objection.department.code, Objection.reason, Objection.proposed,
    Objection.status, Objection.resolution, Objection.corrected_record_id, Objection.filed_by,
    Objection.created_at, Objection.resolved_at, Objection.resolved_by,
)


def _summary(row: dict[str, Any], source: str) -> ObjectionOut:
    return ObjectionOut(
        id=row["id"], firm_uscc=row["firm.uscc"], firm_name=row["firm.name"], record_id=row["record_id"],
        source=source, department=row["department.code"], reason=row["reason"],
        proposed=_attrs(row["proposed"]) or None, status=row["status"], resolution=row["resolution"],
        corrected_record_id=row["corrected_record_id"], created_at=row["created_at"],
        resolved_at=row["resolved_at"],
        source_name_zh=kind.name_zh if (kind := RECORD_KINDS.get(source)) else source,
        source_name_en=kind.name_en if kind else source,
    )


async def _sources(record_ids: list[int]) -> dict[int, str]:
    if not record_ids:
        return {}
    rows = await DeptRecord.select(DeptRecord.id, DeptRecord.source).where(DeptRecord.id.is_in(record_ids))
    return {r["id"]: r["source"] for r in rows}


# Qualified: the joined firm table has a status column too.
_OPEN_FIRST = OrderByRaw("""CASE WHEN "objection"."status" = 'open' THEN 0 ELSE 1 END""")


async def list_objections(user: AuthUser, status: str | None, limit: int, offset: int) -> list[ObjectionOut]:
    """Owner: the firm's objections; operator: the department's queue; admin: all. Open first."""
    query = Objection.select(*_OBJECTION_COLUMNS)
    conditions = []
    if user.role == "owner":
        conditions.append(Objection.firm == user.linked_firm())
    elif user.role == "dept_operator":
        conditions.append(Objection.department == user.linked_department())
    if status is not None:
        conditions.append(Objection.status == status)
    if conditions:
        where = conditions[0]
        for c in conditions[1:]:
            where &= c
        query = query.where(where)
    rows = await (query.order_by(_OPEN_FIRST)
                  .order_by(Objection.created_at, ascending=False).order_by(Objection.id, ascending=False)
                  .limit(limit).offset(offset).output(load_json=True))
    sources = await _sources([r["record_id"] for r in rows])
    return [_summary(r, sources.get(r["record_id"], "")) for r in rows]


async def _objection(objection_id: int, lock: bool = False) -> dict[str, Any]:
    if lock:  # a plain select takes the lock: PostgreSQL refuses FOR UPDATE across outer joins
        await _for_update(Objection.select(Objection.id).where(Objection.id == objection_id)).first()
    row = await Objection.select(*_OBJECTION_COLUMNS).where(
        Objection.id == objection_id).output(load_json=True).first()
    if row is None:
        raise NotFoundException(t("no objection {id}", id=objection_id))
    return row


async def _record(record_id: int, lock: bool = False) -> dict[str, Any] | None:
    query = DeptRecord.select(*_RECORD_COLUMNS).where(DeptRecord.id == record_id)
    if lock:
        query = _for_update(query)
    return await query.output(load_json=True).first()


async def _names(user_ids: list[int | None]) -> dict[int, dict[str, Any]]:
    ids = [i for i in user_ids if i is not None]
    if not ids:
        return {}
    rows = await User.select(User.id, User.role, User.display_name).where(User.id.is_in(ids))
    return {r["id"]: r for r in rows}


_LABELS = {
    "filed": ("企业提出异议", "Objection filed by the firm"),
    "corrected": ("部门已更正记录", "Record corrected by the department"),
    "rejected": ("部门已驳回异议", "Objection rejected by the department"),
    "rescored": ("已按更正后的记录重新评分", "Re-scored on the corrected record"),
}


def _event(kind: str, at: datetime, user: dict[str, Any] | None = None, **kw: Any) -> TrailEvent:
    zh, en = _LABELS[kind]
    return TrailEvent(event=kind, text_zh=zh, text_en=en, at=at,  # type: ignore[arg-type]
                      by_role=user["role"] if user else None,
                      by_name=user["display_name"] if user else None, **kw)


async def _rescored_event(objection_id: int, firm_id: int, viewer: AuthUser) -> TrailEvent | None:
    reason = rescore_reason(objection_id)  # a firm re-scored as of a serious event: in an event run
    run = await ScoringRun.select(ScoringRun.id).where(
        ScoringRun.reason.is_in([reason, EVENT_PREFIX + reason])).order_by(ScoringRun.id, ascending=False).first()
    if run is None:
        return None
    row = await ScoreHistory.select(
        ScoreHistory.score, ScoreHistory.grade, ScoreHistory.as_of, ScoreHistory.model_version,
        ScoreHistory.created_at,
    ).where((ScoreHistory.run == run["id"]) & (ScoreHistory.firm == firm_id)).first()
    if row is None:
        return None
    sees_score = viewer.role == "admin" or (viewer.role == "owner" and viewer.firm_id == firm_id)
    return _event("rescored", row["created_at"], model_version=row["model_version"], as_of=row["as_of"],
                  score=row["score"] if sees_score else None, grade=row["grade"] if sees_score else None)


async def _detail(obj: dict[str, Any], viewer: AuthUser) -> ObjectionDetail:
    rec = await _record(obj["record_id"])
    if rec is None:  # records are never deleted; a missing one is a broken database
        raise NotFoundException(t("record {record} of objection {id} is gone", record=obj["record_id"],
                                  id=obj["id"]))
    corrected = await _record(obj["corrected_record_id"]) if obj["corrected_record_id"] else None
    records = await _records_out([rec] + ([corrected] if corrected else []))
    users = await _names([obj["filed_by"], obj["resolved_by"]])
    trail = [_event("filed", obj["created_at"], users.get(obj["filed_by"]), reason=obj["reason"],
                    new_values=_attrs(obj["proposed"]) or None)]
    if obj["status"] in ("corrected", "rejected") and obj["resolved_at"] is not None:
        old_values = new_values = None
        if corrected is not None:
            before, after = _current_values(rec), _current_values(corrected)
            changed = _changed(before, after)
            old_values = {c: _json_safe(before[c]) for c in changed}
            new_values = {c: _json_safe(after[c]) for c in changed}
        trail.append(_event(obj["status"], obj["resolved_at"], users.get(obj["resolved_by"]),
                            reason=obj["resolution"], old_values=old_values, new_values=new_values))
    if obj["status"] == "corrected":
        rescored = await _rescored_event(obj["id"], obj["firm"], viewer)
        if rescored is not None:
            trail.append(rescored)
    return ObjectionDetail(objection=_summary(obj, rec["source"]), record=records[0],
                           corrected_record=records[1] if corrected else None, trail=trail)


async def get_objection(user: AuthUser, objection_id: int) -> ObjectionDetail:
    """One objection with its record, the corrected record and the trail."""
    obj = await _objection(objection_id)
    _check_may_see(user, obj)
    return await _detail(obj, user)


async def open_objections(firm_id: int) -> list[DisputedRecord]:
    """The firm's records under an open objection, to mark them as disputed."""
    rows = await Objection.select(Objection.id, Objection.record_id, Objection.created_at).where(
        (Objection.firm == firm_id) & (Objection.status == "open")).order_by(Objection.created_at)
    sources = await _sources([r["record_id"] for r in rows])
    return [DisputedRecord(record_id=r["record_id"], source=sources.get(r["record_id"], ""),
                           objection_id=r["id"], filed_at=r["created_at"]) for r in rows]


# -- writing ------------------------------------------------------------------------------------
async def _department_id(code: str) -> int:
    row = await Department.select(Department.id).where(Department.code == code).first()
    if row is None:  # every record came through a batch of its department, so it exists
        raise NotFoundException(t("record_id: the {code} department is not registered", code=code))
    return row["id"]


async def file_objection(user: AuthUser, data: ObjectionCreate) -> ObjectionDetail:
    """File an objection on a current record of the owner's firm; it goes to the department
    that feeds the record's source. One open objection per record."""
    firm_id, uscc = user.linked_firm_with_uscc()
    reason = data.reason.strip()
    if len(reason) < 2:
        raise ValidationException(t("reason: say what is wrong with the record"))
    async with db.write_transaction():
        rec = await _record(data.record_id, lock=True)
        if rec is None or rec["uscc"] != uscc:
            raise NotFoundException(t("record_id: no record {id} of your firm", id=data.record_id))
        if rec["superseded_at"] is not None:
            raise ClientException(status_code=409, detail=t(
                "record_id: record {id} was replaced by a corrected record; object to the current one",
                id=data.record_id))
        source = _source_of(rec["source"])
        if data.proposed is not None:
            _validated_change(source, rec, data.proposed, "proposed")
        existing = await Objection.select(Objection.id).where(
            (Objection.record_id == data.record_id) & (Objection.status == "open")).first()
        if existing is not None:
            raise ClientException(status_code=409, detail=t(
                "record_id: record {id} already has an open objection ({objection})",
                id=data.record_id, objection=existing["id"]))
        obj = Objection(firm=firm_id, record_id=data.record_id,
                        department=await _department_id(source.department), reason=reason,
                        proposed=data.proposed, status="open", filed_by=user.id,
                        created_at=datetime.now(UTC))
        await obj.save()
    return await _detail(await _objection(obj.id), user)


async def _correction_key(rec: dict[str, Any]) -> str:
    """``<key>#c<n>`` with the first n not stored for the firm and source (a corrected
    correction counts on); cut to fit the column."""
    match = re.fullmatch(r"(.*)#c(\d+)", rec["record_key"])
    base, n = (match.group(1), int(match.group(2)) + 1) if match else (rec["record_key"], 1)
    while True:
        suffix = f"#c{n}"
        candidate = base[: _MAX_KEY - len(suffix)] + suffix
        if not await DeptRecord.exists().where(
            (DeptRecord.uscc == rec["uscc"]) & (DeptRecord.source == rec["source"])
            & (DeptRecord.record_key == candidate)
        ):
            return candidate
        n += 1


async def _correct(obj: dict[str, Any], user: AuthUser, values: dict[str, Any], reason: str,
                   now: datetime) -> None:
    """Inside the caller's transaction: store the corrected record with its own batch as
    provenance, supersede the old one, close the objection."""
    rec = await _record(obj["record_id"], lock=True)
    if rec is None:
        raise NotFoundException(t("no record {id}", id=obj["record_id"]))
    if rec["superseded_at"] is not None:
        raise ClientException(status_code=409, detail=t("record {id} was already replaced", id=rec["id"]))
    source = _source_of(rec["source"])
    new = _validated_change(source, rec, values, "values")
    batch = IngestBatch(department=obj["department"], source=rec["source"],
                        filename=f"objection {obj['id']} correction", received_at=now, rows=1,
                        accepted=1, duplicates=0, rejected=0, submitted_by=user.id)
    await batch.save()
    corrected = DeptRecord(
        source=rec["source"], record_key=await _correction_key(rec), uscc=rec["uscc"],
        event_date=rec["event_date"], batch_id=batch.id, received_at=now,
        **{c: (json.dumps(v, separators=(",", ":")) if c == "attrs" and v is not None else v)
           for c, v in new.items()},
    )
    await corrected.save()
    await DeptRecord.update({DeptRecord.superseded_at: now}).where(DeptRecord.id == rec["id"])
    await rebuild_cells(rec["uscc"], rec["source"])  # the feature store, in the same transaction
    await count_batch(batch.id, rec["source"])  # and the new version's arrival
    await Objection.update({
        Objection.status: "corrected", Objection.resolution: reason,
        Objection.corrected_record_id: corrected.id, Objection.resolved_at: now,
        Objection.resolved_by: user.id,
    }).where(Objection.id == obj["id"])


async def resolve(engine: Engine, settings: Settings, user: AuthUser, objection_id: int,
                  data: Resolution) -> ObjectionDetail:
    """The owning department corrects (one transaction, then the firm is re-scored at once)
    or rejects (with a reason) an open objection."""
    department_id = user.linked_department()
    reason = data.reason.strip()
    now = datetime.now(UTC)
    async with db.write_transaction():
        obj = await _objection(objection_id, lock=True)
        if obj["department"] != department_id:
            raise PermissionDeniedException(t("only the {department} department resolves objection {id}",
                                              department=obj["department.code"], id=objection_id))
        if obj["status"] != "open":
            raise ClientException(status_code=409, detail=t(
                "objection {id} is already {status}", id=objection_id,
                status=_STATUS.get(obj["status"], obj["status"])))
        if data.decision == "reject":
            if not reason:
                raise ValidationException(t("reason: a rejection needs a reason"))
            if data.values:
                raise ValidationException(t("values: a rejection changes no values; leave them out"))
            await Objection.update({
                Objection.status: "rejected", Objection.resolution: reason,
                Objection.resolved_at: now, Objection.resolved_by: user.id,
            }).where(Objection.id == objection_id)
        else:
            values = data.values if data.values is not None else _attrs(obj["proposed"])
            await _correct(obj, user, values, reason, now)
        await owners.objection_resolved({  # the owners hear the outcome with it
            "id": objection_id, "firm": obj["firm"], "resolution": reason,
            "status": "rejected" if data.decision == "reject" else "corrected"})
    if data.decision == "correct":
        # A corrected record is new data: re-score the firm and scan it, as after an ingest
        # batch, so a warning the wrong record raised is cleared (and pushed) at once.
        try:
            await rescore_firms(engine, settings, [obj["firm"]], rescore_reason(objection_id))
            await risk_scan(engine, settings, None, [obj["firm"]])
        except Exception:  # the correction stands; the next full run scores and scans it
            log.exception("re-scoring and scanning firm %s after objection %s failed", obj["firm"], objection_id)
    return await _detail(await _objection(objection_id), user)
