"""The subscriber's screens: search firms and keep a watchlist with grade and warning badges."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mobile_app.api import ApiClient
from mobile_app.api.models import FirmProfile, Subscription
from mobile_app.state.base import Loadable

__all__ = ["SearchState", "WatchlistState"]


@dataclass(kw_only=True)
class WatchlistState(Loadable):
    client: ApiClient
    items: list[Subscription] = field(default_factory=list)

    @property
    def watched(self) -> set[str]:
        return {s.uscc for s in self.items}

    async def load(self) -> None:
        items = await self._run(self._fetch)
        if items is not None:
            self.items = items
            self.notify()

    async def refresh(self) -> None:
        """After a push about a watched firm: new grade and warning badges, without a spinner."""
        items = await self._act(self._fetch)
        if items is not None:
            self.items = items

    async def _fetch(self) -> list[Subscription]:
        """The subscriptions, each with the firm's grade letter and open warnings by level."""
        items = await self.client.subscriptions()

        async def signals(sub: Subscription) -> Subscription:
            profile, warnings = await asyncio.gather(self.client.firm(sub.uscc),
                                                     self.client.firm_warnings(sub.uscc))
            sub.grade = profile.grade
            sub.open_warnings = {"red": warnings.open_red, "yellow": warnings.open_yellow,
                                 "blue": warnings.open_blue}
            return sub

        return list(await asyncio.gather(*(signals(s) for s in items)))

    async def watch(self, uscc: str) -> None:
        sub = await self._act(lambda: self.client.subscribe(uscc))
        if sub is not None:
            self.items = [s for s in self.items if s.uscc != uscc] + [sub]
            fetched = await self._act(self._fetch)
            if fetched is not None:
                self.items = fetched
        self.notify()

    async def unwatch(self, uscc: str) -> None:
        sub = next((s for s in self.items if s.uscc == uscc), None)
        if sub is None:
            return
        await self._act(lambda: self.client.unsubscribe(sub.id))
        if self.error is None:
            self.items = [s for s in self.items if s.id != sub.id]
        self.notify()


@dataclass(kw_only=True)
class SearchState(Loadable):
    client: ApiClient
    query: str = ""
    results: list[FirmProfile] = field(default_factory=list)

    async def search(self, query: str) -> None:
        self.query = query.strip()
        if not self.query:
            self.results, self.status = [], "idle"
            self.notify()
            return
        found = await self._run(lambda: self.client.search_firms(self.query, limit=30))
        if found is not None:
            self.results = found
            self.notify()
