"""One firm's overview, opened from any list (watchlist, alerts, prospects, portfolio):
its public registration facts, grade letter and warnings. Detail of the warnings comes only
where the server allows it (the firm's consent to the bank looking)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mobile_app.api import ApiClient
from mobile_app.api.models import FirmProfile, FirmWarnings
from mobile_app.state.base import Loadable

__all__ = ["FirmOverviewState"]


@dataclass(kw_only=True)
class FirmOverviewState(Loadable):
    client: ApiClient
    uscc: str | None = None
    profile: FirmProfile | None = None
    warnings: FirmWarnings | None = None  # open and closed, open first

    @property
    def is_open(self) -> bool:
        return self.uscc is not None

    def _fetch(self, uscc: str):  # type: ignore[no-untyped-def]
        return lambda: asyncio.gather(self.client.firm(uscc), self.client.firm_warnings(uscc, status="all"))

    async def open(self, uscc: str) -> None:
        self.uscc, self.profile, self.warnings = uscc, None, None
        found = await self._run(self._fetch(uscc))
        if found is not None and self.uscc == uscc:
            self.profile, self.warnings = found
            self.notify()

    async def load(self) -> None:
        if self.uscc is not None:
            await self.open(self.uscc)

    async def refresh(self) -> None:
        """Quietly, after a push about this firm: the screen keeps showing while it loads."""
        uscc = self.uscc
        if uscc is None:
            return
        found = await self._act(self._fetch(uscc))
        if found is not None and self.uscc == uscc:
            self.profile, self.warnings = found

    def close(self, *, quiet: bool = False) -> None:
        """Back to the list it was opened from (``quiet``: the caller redraws anyway)."""
        if self.uscc is None:
            return
        self.uscc, self.profile, self.warnings, self.status = None, None, None, "idle"
        if not quiet:
            self.notify()
