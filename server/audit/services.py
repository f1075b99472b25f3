"""Recording admins' changes, and reading them with the evaluation views as one log.

A service that changes something on an admin's behalf calls :func:`record` inside the
transaction that makes the change, so the change and its audit row are stored together or not
at all. The log (:func:`audit_log`) merges ``audit_event`` with the evaluation views of
``access_log`` in one UNION ALL query, newest first, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Protocol

from litestar.exceptions import ValidationException

from server.audit.schemas import AuditEntry, AuditPage
from server.tables.audit import AuditEvent
from server.tables.consent import AccessLog
from server.tables.financing import Bank
from server.tables.firms import Firm
from server.tables.users import User
from server.texts import t
from server.uscc import uscc_error

__all__ = ["Actor", "audit_log", "change", "changes", "mask_phone", "record"]

#: Keys never kept in an audit row's detail, at any depth.
_SECRET = re.compile(r"password|secret|token", re.IGNORECASE)
VIEW_ACTION = "evaluation.view"


class Actor(Protocol):
    """Who makes a change: the signed-in account (``server.users.security.AuthUser``)."""

    @property
    def id(self) -> int: ...

    @property
    def role(self) -> str: ...


def _plain(value: Any) -> Any:
    """A value as JSON keeps it, secrets left out."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not _SECRET.search(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def change(before: Any, after: Any) -> dict[str, Any]:
    """One field's change as the log keeps it: ``{"before": ..., "after": ...}`` (never a bare
    pair, which a reader could not tell from a list value)."""
    return {"before": _plain(before), "after": _plain(after)}


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"before": ..., "after": ...}}`` for every field of ``after`` whose value is new."""
    return {k: change(before.get(k), v) for k, v in after.items() if _plain(before.get(k)) != _plain(v)}


async def record(actor: Actor | None, action: str, target: object, detail: Mapping[str, Any],
                 at: datetime | None = None) -> None:
    """Store one audit row; call it inside the transaction of the change it records."""
    await AuditEvent.insert(AuditEvent(
        at=at or datetime.now(UTC), actor=actor.id if actor is not None else None,
        actor_role=actor.role if actor is not None else "system", action=action,
        target=str(target)[:100], detail=json.dumps(_plain(detail), ensure_ascii=False),
    )).run()


def mask_phone(phone: str | None) -> str:
    """``13800000001`` -> ``138****0001``."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


# -- reading the log ---------------------------------------------------------------------------

_E, _L = AuditEvent._meta.tablename, AccessLog._meta.tablename
_F, _B, _U = Firm._meta.tablename, Bank._meta.tablename, User._meta.tablename

# The two sources in the same columns; placeholders are Piccolo's ``{}`` (``?`` / ``$n`` per engine).
_CHANGES = (
    "SELECT e.id AS seq, e.at AS at, 'change' AS kind, e.actor AS actor_id, e.actor_role AS actor_role, "
    "e.action AS action, e.target AS target, CAST(e.detail AS TEXT) AS detail, "
    f"CAST(NULL AS VARCHAR(100)) AS bank FROM {_E} e"
)
_VIEWS = (
    "SELECT l.id AS seq, l.at AS at, 'view' AS kind, l.viewer AS actor_id, l.viewer_role AS actor_role, "
    f"'{VIEW_ACTION}' AS action, f.uscc AS target, CAST(NULL AS TEXT) AS detail, b.name AS bank "
    f"FROM {_L} l JOIN {_F} f ON f.id = l.firm LEFT JOIN {_B} b ON b.id = l.bank"
)


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _sources(kind: str | None, actor: int | None, firm: str | None) -> tuple[list[str], list[Any]]:
    """The SELECTs of the sources asked for, each filtered, and their arguments in order."""
    parts: list[str] = []
    args: list[Any] = []
    if kind in (None, "change"):
        where, a = [], []
        if actor is not None:
            where.append("e.actor = {}")
            a.append(actor)
        if firm is not None:
            where.append("e.target = {}")
            a.append(firm)
        parts.append(_CHANGES + _where(where))
        args += a
    if kind in (None, "view"):
        where, a = ["l.what = 'evaluation'"], []
        if actor is not None:
            where.append("l.viewer = {}")
            a.append(actor)
        if firm is not None:
            where.append("f.uscc = {}")
            a.append(firm)
        parts.append(_VIEWS + _where(where))
        args += a
    return parts, args


def _as_datetime(value: Any) -> datetime:
    """A timestamp as the engine returns it through a UNION (SQLite: its stored text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace(" ", "T"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    if row["kind"] == "view":
        return {"bank": row["bank"]}
    raw = row["detail"]
    value = json.loads(raw) if isinstance(raw, str) else raw
    return value if isinstance(value, dict) else {}


async def audit_log(kind: str | None = None, actor: int | None = None, firm: str | None = None,
                    limit: int = 50, offset: int = 0) -> AuditPage:
    """Admins' changes and evaluation views, newest first, filtered by kind, actor and firm
    (views of the firm and changes whose target it is)."""
    if firm is not None:
        firm = firm.strip().upper()
        problem = uscc_error(firm)
        if problem:
            raise ValidationException(t("firm: {problem}", problem=problem))
    parts, args = _sources(kind, actor, firm)
    counts = " + ".join(f"(SELECT COUNT(*) FROM ({p}) c{i})" for i, p in enumerate(parts))
    total_row = await AuditEvent.raw(f"SELECT {counts} AS n", *args)
    rows = await AuditEvent.raw(
        "SELECT x.*, u.display_name AS actor_display, u.phone AS actor_phone FROM ("
        + " UNION ALL ".join(parts)
        + f") x LEFT JOIN {_U} u ON u.id = x.actor_id ORDER BY x.at DESC, x.kind, x.seq DESC LIMIT {{}} OFFSET {{}}",
        *args, limit, offset)
    entries = [AuditEntry(
        at=_as_datetime(r["at"]), kind=r["kind"], actor_id=r["actor_id"],
        actor_name=r["actor_display"] or mask_phone(r["actor_phone"]), actor_role=r["actor_role"] or "",
        action=r["action"], target=r["target"] or "", detail=_detail(r)) for r in rows]
    return AuditPage(total=int(total_row[0]["n"] or 0), limit=limit, offset=offset, entries=entries)
