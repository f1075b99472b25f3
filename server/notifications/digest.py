"""The daily digest: one notification per digest subscriber, with what was held for it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from alerts.digest import digest_content, local_date
from server.notifications.common import json_ready, transaction
from server.notifications.fanout import Plan, write_plans
from server.tables.notifications import Notification, Outbox

__all__ = ["daily_digest"]

# Daily digest

async def daily_digest(as_of: datetime) -> int:
    """One digest notification per digest subscriber, listing what was held for it; pushed like
    any other. Safe to run twice: collected rows are marked sent, and a second run on the same
    day merges into that day's digest. Returns the number of digests written."""
    due = await Outbox.select(Outbox.id, Outbox.notification.id, Outbox.notification.user.id).where(
        (Outbox.channel == "digest") & (Outbox.status == "pending") & (Outbox.next_attempt_at <= as_of))
    by_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in due:
        by_user[r["notification.user.id"]].append(r)
    day = local_date(as_of)
    written = 0
    for user_id, rows in sorted(by_user.items()):
        async with transaction():
            ids = [r["id"] for r in rows]
            claimed = await Outbox.update({Outbox.status: "sent", Outbox.attempts: Outbox.attempts + 1}).where(
                Outbox.id.is_in(ids) & (Outbox.status == "pending")).returning(Outbox.notification)
            note_ids = sorted({r["notification"] for r in claimed})
            if not note_ids:
                continue
            notes = await Notification.select(
                Notification.id, Notification.level, Notification.title, Notification.body,
                Notification.firm.uscc).where(Notification.id.is_in(note_ids)).order_by(
                Notification.id).output(load_json=True)
            key = f"digest:{day.isoformat()}:{user_id}"
            old = await Notification.select(Notification.body).where(
                Notification.dedup_key == key).output(load_json=True).first()
            items = {i["id"]: i for i in (old["body"]["items"] if old else [])}
            for n in notes:
                items[n["id"]] = {"id": n["id"], "level": n["level"], "title_zh": n["title"],
                                  "title_en": (n["body"] or {}).get("title_en", n["title"]),
                                  "uscc": n["firm.uscc"]}
            listed = sorted(items.values(), key=lambda i: i["id"])
            level, title_zh, title_en = digest_content(day, listed)
            await write_plans([Plan(
                key=key, user_id=user_id, firm_id=None, kind="digest", level=level, title_zh=title_zh,
                body=json_ready({"title_en": title_en, "date": day.isoformat(), "items": listed}),
                replace=True, unread=True, push_at=as_of)], as_of)
            await Notification.update({Notification.delivered_at: as_of}).where(
                Notification.id.is_in(note_ids))
            written += 1
    return written
