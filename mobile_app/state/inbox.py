"""Notifications, listed and pushed live: the owner's messages and the bank manager's alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mobile_app.api import ApiClient, DecodeError, decode
from mobile_app.api.models import Notification
from mobile_app.state.base import Loadable

__all__ = ["InboxState"]

LEVEL_ORDER = {"red": 0, "yellow": 1, "blue": 2}


@dataclass(kw_only=True)
class InboxState(Loadable):
    client: ApiClient
    items: list[Notification] = field(default_factory=list)
    connected: bool = False
    was_connected: bool = False  # shows "reconnected" rather than nothing after a drop
    level: str | None = None  # filter: red / yellow / blue / None for all
    arrived: int = 0  # pushed since the screen was opened

    @property
    def unread(self) -> int:
        return sum(1 for n in self.items if n.unread)

    @property
    def shown(self) -> list[Notification]:
        return [n for n in self.items if self.level is None or n.level == self.level]

    async def load(self) -> None:
        items = await self._run(lambda: self.client.notifications())
        if items is not None:
            self._merge(items)
            self.notify()

    async def catch_up(self) -> None:
        """After a (re)connect: fetch the list again, quietly, to get what was missed."""
        items = await self._act(lambda: self.client.notifications())
        if items is not None:
            self._merge(items)
            if self.status != "ready":
                self.status = "ready"
            self.notify()

    def _merge(self, items: list[Notification]) -> None:
        by_id = {n.id: n for n in self.items}
        for n in items:
            old = by_id.get(n.id)
            if old is None or n.updated_at >= old.updated_at:  # at-least-once: keep the newest
                by_id[n.id] = n
        self.items = sorted(by_id.values(), key=lambda n: (n.created_at, n.id), reverse=True)

    def receive(self, payload: Any) -> Notification | None:
        """A pushed notification (a repeat of one already shown replaces it, never duplicates)."""
        if isinstance(payload, dict) and isinstance(payload.get("notification"), dict):
            payload = payload["notification"]
        try:
            note = decode(Notification, payload)
        except DecodeError:
            return None
        known = any(n.id == note.id for n in self.items)
        self._merge([note])
        if not known:
            self.arrived += 1
        if self.status in ("idle", "loading"):
            self.status = "ready"
        self.notify()
        return note

    def set_connected(self, up: bool) -> None:
        if up:
            self.was_connected = True
        self.connected = up
        self.notify()

    def filter(self, level: str | None) -> None:
        self.level = level
        self.notify()

    async def mark_read(self, notification_id: int) -> None:
        updated = await self._act(lambda: self.client.mark_read(notification_id))
        if updated is not None:
            self.items = [updated if n.id == updated.id else n for n in self.items]
        self.notify()
