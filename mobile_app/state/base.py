"""What every screen's state shares: listeners, and loading / ready / error with the cause."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from mobile_app.api import ApiError, AuthError, ConnectionLost

__all__ = ["Loadable", "Observable", "whole_number"]

T = TypeVar("T")


def whole_number(text: str) -> int | None:
    """A whole number as people type it (thousands separated by commas or spaces), else None."""
    text = text.replace(",", "").replace("，", "").replace(" ", "").strip()
    return int(text) if text.isdigit() else None


@dataclass(kw_only=True)
class Observable:
    """Tells its listeners when it changed, so the app re-renders (no controls in here)."""

    _listeners: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def notify(self) -> None:
        for listener in list(self._listeners):
            listener()


@dataclass(kw_only=True)
class Loadable(Observable):
    """``status`` is idle, loading, ready or error; ``error_kind`` says offline, auth or api."""

    status: str = "idle"
    error: str | None = None
    error_kind: str | None = None

    @property
    def loading(self) -> bool:
        return self.status == "loading"

    @property
    def failed(self) -> bool:
        return self.status == "error"

    def _fail(self, exc: Exception) -> None:
        self.status = "error"
        if isinstance(exc, ConnectionLost):
            self.error_kind, self.error = "offline", str(exc)
        elif isinstance(exc, AuthError):
            self.error_kind, self.error = "auth", exc.detail
        elif isinstance(exc, ApiError):
            self.error_kind, self.error = "api", exc.detail
        else:
            raise exc

    async def _run(self, work: Callable[[], Awaitable[T]],
                   store: Callable[[T], None] | None = None) -> T | None:
        """Run one request with the loading state around it; errors land in ``error``.

        ``store`` keeps the answer before the state says it is ready: a screen redrawn at
        "ready" must find the answer there (else it flashes its empty state meanwhile)."""
        self.status, self.error, self.error_kind = "loading", None, None
        self.notify()
        try:
            result = await work()
        except (ApiError, ConnectionLost) as exc:
            self._fail(exc)
            self.notify()
            return None
        if store is not None:
            store(result)
        self.status = "ready"
        self.notify()
        return result

    async def _act(self, work: Callable[[], Awaitable[T]]) -> T | None:
        """An action on a loaded screen: keeps the content, reports a failure in ``error``."""
        self.error, self.error_kind = None, None
        try:
            return await work()
        except (ApiError, ConnectionLost) as exc:
            self.error = exc.detail if isinstance(exc, ApiError) else str(exc)
            self.error_kind = ("offline" if isinstance(exc, ConnectionLost)
                               else "auth" if isinstance(exc, AuthError) else "api")
            return None
        finally:
            self.notify()
