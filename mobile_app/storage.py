"""Remembering the session on the device: secure storage where it works, else preferences.

On phones and desktops tokens go to the platform's keychain/keystore (flet-secure-storage).
In a browser, secure storage needs WebCrypto, which a page served over plain HTTP from another
machine does not get; there the browser's local storage (SharedPreferences) is used instead.
"""

from __future__ import annotations

import asyncio
import logging

import flet as ft

__all__ = ["DeviceStore"]

log = logging.getLogger(__name__)
CALL_TIMEOUT = 5.0


class DeviceStore:
    """The app's ``Store`` backed by Flet services; create it inside ``main(page)``."""

    def __init__(self, page: ft.Page) -> None:
        self.prefs = ft.SharedPreferences()
        self.secure = None
        if not page.web:
            try:
                from flet_secure_storage import SecureStorage

                self.secure = SecureStorage()
            except ImportError:  # pragma: no cover - the dependency is declared
                self.secure = None

    async def _secure(self, method: str, *args: str) -> tuple[bool, str | None]:
        if self.secure is None:
            return False, None
        try:
            result = await asyncio.wait_for(getattr(self.secure, method)(*args), CALL_TIMEOUT)
        except Exception as exc:  # unsupported on this device: fall back for good
            log.info("secure storage unavailable (%s); using preferences", exc)
            self.secure = None
            return False, None
        return True, result

    async def get(self, key: str) -> str | None:
        ok, value = await self._secure("get", key)
        if ok:
            return value
        value = await asyncio.wait_for(self.prefs.get(key), CALL_TIMEOUT)
        return value if isinstance(value, str) else None

    async def set(self, key: str, value: str) -> None:
        ok, _ = await self._secure("set", key, value)
        if not ok:
            await asyncio.wait_for(self.prefs.set(key, value), CALL_TIMEOUT)

    async def remove(self, key: str) -> None:
        ok, _ = await self._secure("remove", key)
        if not ok:
            await asyncio.wait_for(self.prefs.remove(key), CALL_TIMEOUT)
