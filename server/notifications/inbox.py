"""Reading notifications: a user's inbox, a stream's catch-up, marking read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar.exceptions import (
    NotFoundException,
)

from server.notifications.readers import Reader, bodies_now, reader_for
from server.notifications.schemas import (
    MarkedRead,
    NotificationOut,
    UnreadCount,
)
from server.tables.notifications import Notification
from server.tables.users import User
from server.texts import t
from server.users.security import AuthUser

__all__ = ["catch_up", "list_notifications", "mark_all_read", "mark_read", "notification_out",
           "unread_count"]

# Reading notifications

_NOTE_COLUMNS = (
    Notification.id, Notification.kind, Notification.level, Notification.title, Notification.body,
    Notification.firm, Notification.firm.uscc, Notification.created_at, Notification.updated_at,
    Notification.delivered_at, Notification.read_at,
)


def notification_out(row: dict[str, Any]) -> NotificationOut:
    """The API form of a notification row selected with ``_NOTE_COLUMNS`` (JSON loaded)."""
    body = dict(row["body"] or {})
    title_en = body.pop("title_en", row["title"])
    return NotificationOut(
        id=row["id"], kind=row["kind"], level=row["level"], title_zh=row["title"], title_en=title_en,
        body=body, firm_uscc=row["firm.uscc"], created_at=row["created_at"],
        updated_at=row["updated_at"], delivered_at=row["delivered_at"], read_at=row["read_at"],
    )


async def _notes_out(reader: Reader, rows: list[dict[str, Any]]) -> list[NotificationOut]:
    """Rows selected with ``_NOTE_COLUMNS``, as the reader may see them now (``bodies_now``)."""
    bodies = await bodies_now([(reader, r["firm"], r["body"] or {}) for r in rows])
    return [notification_out({**r, "body": b}) for r, b in zip(rows, bodies, strict=True)]


async def list_notifications(user: AuthUser, unread: bool | None = None, after_id: int | None = None,
                             limit: int = 50) -> list[NotificationOut]:
    """The user's notifications: newest first, or oldest first after ``after_id`` (polling)."""
    where = Notification.user == user.id
    if unread is True:
        where &= Notification.read_at.is_null()
    elif unread is False:
        where &= Notification.read_at.is_not_null()
    query = Notification.select(*_NOTE_COLUMNS)
    if after_id is not None:
        query = query.where(where & (Notification.id > after_id)).order_by(Notification.id)
    else:
        query = query.where(where).order_by(Notification.id, ascending=False)
    rows = await query.limit(limit).output(load_json=True)
    return await _notes_out(reader_for(user), rows)


async def catch_up(user_id: int, after_id: int, limit: int = 500) -> list[NotificationOut]:
    """What a reconnecting stream missed after the notification ``after_id`` it saw last:
    notifications created after it, and older ones updated (escalated) since it was last
    updated; oldest change first, so the last one sent is the newest."""
    where = Notification.user == user_id
    last = await Notification.select(Notification.updated_at).where(
        (Notification.id == after_id) & where).first()
    if last is None:
        missed = where & (Notification.id > after_id)
    else:
        missed = where & ((Notification.id > after_id) | (Notification.updated_at > last["updated_at"]))
    rows = await Notification.select(*_NOTE_COLUMNS).where(missed).order_by(
        Notification.updated_at).order_by(Notification.id).limit(limit).output(load_json=True)
    if not rows:
        return []
    user = await User.select(User.role, User.bank, User.firm).where(User.id == user_id).first()
    if user is None:
        return []
    return await _notes_out(Reader(role=user["role"], bank_id=user["bank"], firm_id=user["firm"]), rows)


async def mark_read(user: AuthUser, notification_id: int) -> NotificationOut:
    row = await Notification.select(Notification.id, Notification.user, Notification.read_at).where(
        Notification.id == notification_id).first()
    if row is None or row["user"] != user.id:
        raise NotFoundException(t("notification_id: you have no notification {notification_id}", notification_id=notification_id))
    if row["read_at"] is None:
        await Notification.update({Notification.read_at: datetime.now(UTC)}).where(
            Notification.id == notification_id)
    fresh = await Notification.select(*_NOTE_COLUMNS).where(Notification.id == notification_id).output(
        load_json=True).first()
    return (await _notes_out(reader_for(user), [fresh]))[0]


async def mark_all_read(user: AuthUser) -> MarkedRead:
    changed = await Notification.update({Notification.read_at: datetime.now(UTC)}).where(
        (Notification.user == user.id) & Notification.read_at.is_null()).returning(Notification.id)
    return MarkedRead(marked=len(changed))


async def unread_count(user: AuthUser) -> UnreadCount:
    return UnreadCount(unread=await Notification.count().where(
        (Notification.user == user.id) & Notification.read_at.is_null()))
