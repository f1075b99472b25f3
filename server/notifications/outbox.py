"""The outbox on the database: the store the relay in :mod:`alerts.outbox` works on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from alerts.outbox import Delivery
from server import db
from server.notifications.common import VIEW_PUSH, VIEW_WEBHOOK, chunks, one_of, transaction
from server.notifications.inbox import notification_out
from server.notifications.readers import Reader, bodies_now
from server.tables.consent import AccessLog
from server.tables.notifications import Notification, Outbox

__all__ = ["DbOutboxStore"]

# The outbox on the database (the store the relay in alerts.outbox works on)

_ENCODE = msgspec.json.Encoder().encode


class DbOutboxStore:
    """Claims due rows with a lease: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so relays in several
    processes never take the same row; an IMMEDIATE transaction on SQLite (one writer).

    What a claimed row sends is decided at the claim, not when it was queued (``bodies_now``): a
    push or webhook queued before the firm revoked goes out with public signals only. A detailed
    delivery to a bank is logged as a view of the firm once it is sent."""

    def __init__(self) -> None:
        self._views: dict[int, AccessLog] = {}  # outbox id -> the view its delivery will log

    async def claim(self, channel: str, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        due = (Outbox.status == "pending") & (Outbox.channel == channel) & (Outbox.next_attempt_at <= now)
        if not await Outbox.exists().where(due):  # the common case, without taking a write lock
            return []
        async with transaction():
            query = Outbox.select(Outbox.id).where(due).order_by(Outbox.next_attempt_at).order_by(
                Outbox.id).limit(limit)
            if db.on_postgres():
                query = query.lock_rows("UPDATE", skip_locked=True, of=(Outbox,))
            ids = [r["id"] for r in await query]
            if not ids:
                return []
            await Outbox.update({Outbox.attempts: Outbox.attempts + 1,
                                 Outbox.next_attempt_at: now + lease}).where(one_of(Outbox.id, ids))
        rows = await Outbox.select(
            Outbox.id, Outbox.channel, Outbox.attempts, Outbox.notification.user.id,
            Outbox.notification.dedup_key, Outbox.notification.user.bank.webhook_url,
            Outbox.notification.user.bank.webhook_secret, Outbox.notification.id,
            Outbox.notification.kind, Outbox.notification.level, Outbox.notification.title,
            Outbox.notification.body, Outbox.notification.firm.uscc, Outbox.notification.created_at,
            Outbox.notification.updated_at, Outbox.notification.delivered_at,
            Outbox.notification.read_at, Outbox.notification.firm, Outbox.notification.user.role,
            Outbox.notification.user.bank, Outbox.notification.user.firm,
        ).where(one_of(Outbox.id, ids)).order_by(Outbox.id).output(load_json=True)
        readers = [Reader(role=r["notification.user.role"], bank_id=r["notification.user.bank"],
                          firm_id=r["notification.user.firm"]) for r in rows]
        bodies = await bodies_now([(reader, r["notification.firm"], r["notification.body"] or {})
                                   for reader, r in zip(readers, rows, strict=True)])
        out: list[Delivery] = []
        for r, reader, body in zip(rows, readers, bodies, strict=True):
            if body.get("detail") and reader.bank_pair(r["notification.firm"]) is not None:
                self._views[r["id"]] = AccessLog(
                    firm=r["notification.firm"], viewer=r["notification.user.id"], viewer_role=reader.role,
                    bank=reader.bank_id, what=VIEW_WEBHOOK if r["channel"] == "webhook" else VIEW_PUSH,
                    at=now)
            note = notification_out({
                "id": r["notification.id"], "kind": r["notification.kind"], "level": r["notification.level"],
                "title": r["notification.title"], "body": body,
                "firm.uscc": r["notification.firm.uscc"], "created_at": r["notification.created_at"],
                "updated_at": r["notification.updated_at"], "delivered_at": r["notification.delivered_at"],
                "read_at": r["notification.read_at"],
            })
            if r["channel"] == "webhook":
                payload = _ENCODE({"delivery": f"{r['notification.dedup_key']}:{r['id']}",
                                   "notification": note})
                out.append(Delivery(
                    outbox_id=r["id"], channel="webhook", attempts=r["attempts"],
                    user_id=r["notification.user.id"], notification_id=note.id, payload=payload,
                    key=f"{r['notification.dedup_key']}:{r['id']}",
                    url=r["notification.user.bank.webhook_url"],
                    secret=r["notification.user.bank.webhook_secret"]))
            else:
                # Marked delivered at ``now`` once published (``sent`` gets the same ``now``), so
                # the pushed JSON equals what the database (and a catch-up) says afterwards.
                note = msgspec.structs.replace(note, delivered_at=now)
                out.append(Delivery(
                    outbox_id=r["id"], channel=r["channel"], attempts=r["attempts"],
                    user_id=r["notification.user.id"], notification_id=note.id, payload=_ENCODE(note),
                    key=f"{r['notification.dedup_key']}:{r['id']}"))
        return out

    async def sent(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        ids = [d.outbox_id for d in deliveries]
        pushed = sorted({d.notification_id for d in deliveries if d.channel == "push"})
        views = [v for v in (self._views.pop(i, None) for i in ids) if v is not None]
        async with transaction():
            await Outbox.update({Outbox.status: "sent", Outbox.last_error: ""}).where(one_of(Outbox.id, ids))
            if pushed:
                await Notification.update({Notification.delivered_at: now}).where(
                    one_of(Notification.id, pushed))
            for chunk in chunks(views):
                await AccessLog.insert(*chunk)

    async def failed(self, delivery: Delivery, error: str, retry_at: datetime | None,
                     now: datetime) -> None:
        self._views.pop(delivery.outbox_id, None)  # nothing reached the bank: no view (a retry logs)
        values: dict[Any, Any] = {Outbox.last_error: error}
        if retry_at is None:
            values[Outbox.status] = "failed"
        else:
            values[Outbox.next_attempt_at] = retry_at
        await Outbox.update(values).where((Outbox.id == delivery.outbox_id) & (Outbox.status == "pending"))
