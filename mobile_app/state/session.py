"""Who is signed in, in which language; signing in, registering, remembering and signing out."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Protocol

from mobile_app.api import ApiClient, ApiError, AuthError, ConnectionLost
from mobile_app.api.models import Me, TokenPair
from mobile_app.i18n import DEFAULT_LANG, LANGS, Translator
from mobile_app.state.base import Observable

__all__ = ["APP_ROLES", "MemoryStore", "SessionState", "Store"]

# Roles the app has screens for; staff of departments and admins use the web console.
APP_ROLES = ("owner", "bank_manager", "subscriber", "dept_operator", "analyst", "admin")
log = logging.getLogger("mobile_app.session")
TOKENS_KEY = "xinbao.session"
LANG_KEY = "xinbao.lang"


class Store(Protocol):
    """Where the app remembers small strings between visits (secure storage on the device)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...

    async def remove(self, key: str) -> None: ...


@dataclass
class MemoryStore:
    """A store that forgets on exit (tests, and the fallback when the device has none)."""

    values: dict[str, str] = field(default_factory=dict)

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.values[key] = value

    async def remove(self, key: str) -> None:
        self.values.pop(key, None)


@dataclass(kw_only=True)
class SessionState(Observable):
    client: ApiClient
    store: Store
    lang: str = DEFAULT_LANG
    me: Me | None = None
    mode: str = "sign_in"  # or "register"
    code_sent_to: str | None = None  # registering: the phone a code was sent to
    busy: bool = False
    error: str | None = None  # a catalogue key or the API's detail
    restoring: bool = False
    form: dict[str, str] = field(default_factory=lambda: {"role": "owner"})  # what was typed

    def __post_init__(self) -> None:
        self.client.on_tokens = self._remember
        self.client.set_lang(self.lang)

    @property
    def t(self) -> Translator:
        return Translator(self.lang)

    @property
    def signed_in(self) -> bool:
        return self.me is not None

    @property
    def role(self) -> str | None:
        return self.me.role if self.me else None

    async def _remember(self, tokens: TokenPair | None) -> None:
        if tokens is None:
            await self.store.remove(TOKENS_KEY)
        else:
            await self.store.set(TOKENS_KEY, json.dumps(
                {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}))

    async def restore(self) -> bool:
        """Pick up the remembered language and session, if any; True when signed in."""
        self.restoring = True
        self.notify()
        try:
            lang = await self.store.get(LANG_KEY)
            if lang in LANGS:
                self.lang = lang
                self.client.set_lang(lang)
            raw = await self.store.get(TOKENS_KEY)
            if not raw:
                return False
            try:
                saved = json.loads(raw)
                tokens = TokenPair(access_token=saved["access_token"], refresh_token=saved["refresh_token"])
            except (ValueError, KeyError, TypeError):
                await self.store.remove(TOKENS_KEY)
                return False
            try:
                self.me = await self.client.resume(tokens)
            except AuthError:
                self.client.tokens = None
                await self.store.remove(TOKENS_KEY)
                return False
            except (ApiError, ConnectionLost) as exc:
                self.error = "common.offline" if isinstance(exc, ConnectionLost) else exc.detail
                return False
            return True
        finally:
            self.restoring = False
            self.notify()

    async def sign_in(self, phone: str, password: str) -> bool:
        if not phone.strip() or not password:
            self.error = "auth.need_phone"
            self.notify()
            return False
        return await self._enter(lambda: self.client.login(phone.strip(), password))

    async def register(self, phone: str, password: str, role: str, display_name: str) -> bool:
        """Registration, step 1: True when the API sent a code to the phone."""
        if not phone.strip() or not password:
            self.error = "auth.need_phone"
            self.notify()
            return False

        async def send() -> bool:
            await self.client.register(phone.strip(), password, role, display_name)
            self.code_sent_to = phone.strip()
            self.form.pop("password", None)
            return True

        return await self._attempt(send)

    async def confirm_code(self, code: str) -> bool:
        """Registration, step 2: the code from the SMS opens the account and signs in."""
        if self.code_sent_to is None:
            return False
        if not code.strip():
            self.error = "auth.need_code"
            self.notify()
            return False
        phone = self.code_sent_to
        done = await self._enter(lambda: self.client.verify_registration(phone, code.strip()))
        if done:
            self.code_sent_to = None
        return done

    async def _enter(self, call) -> bool:  # type: ignore[no-untyped-def]
        async def enter() -> bool:
            await call()
            me = await self.client.me()
            if me.role not in APP_ROLES:
                await self._end_on_server()
                self.error = "auth.unsupported_role"
                return False
            self.me = me
            self.form.pop("password", None)
            return True

        return await self._attempt(enter)

    async def _attempt(self, call) -> bool:  # type: ignore[no-untyped-def]
        """Run one request of the sign-in screen: busy while it runs, its error shown after."""
        self.busy, self.error = True, None
        self.notify()
        try:
            return await call()
        except ConnectionLost:
            self.error = "common.offline"
            return False
        except ApiError as exc:
            self.error = exc.detail
            return False
        finally:
            self.busy = False
            self.notify()

    async def refresh_me(self) -> None:
        try:
            self.me = await self.client.me()
        except (ApiError, ConnectionLost):
            return
        self.notify()

    async def sign_out(self) -> None:
        # Leave first (one redraw of the sign-in screen), then end the sign-in on the server.
        self.me, self.mode, self.error, self.code_sent_to = None, "sign_in", None, None
        self.form = {"role": "owner"}
        self.notify()
        if not await self._end_on_server():
            self.error = "auth.sign_out_unconfirmed"
            self.notify()

    async def _end_on_server(self) -> bool:
        """Log out on the server; False (and logged) when it did not confirm."""
        try:
            await self.client.logout()
            return True
        except (ApiError, ConnectionLost) as exc:
            log.warning("sign-out not confirmed by the server: %s", exc)
            return False

    def session_ended(self) -> None:
        """The API refused our tokens for good: back to the sign-in screen, saying why."""
        self.me, self.error = None, "auth.session_ended"
        self.notify()

    async def set_lang(self, lang: str) -> None:
        if lang not in LANGS:
            return
        self.lang = lang
        self.client.set_lang(lang)  # the server's texts follow the switch from the next request
        await self.store.set(LANG_KEY, lang)
        self.notify()

    def toggle_mode(self) -> None:
        self.mode = "register" if self.mode == "sign_in" else "sign_in"
        self.error, self.code_sent_to = None, None
        self.notify()
