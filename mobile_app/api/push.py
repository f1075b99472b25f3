"""The live notification stream (Server-Sent Events), reconnecting and catching up on its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mobile_app.api.client import ApiClient, AuthError

__all__ = ["PushStream", "SseEvent", "parse_sse"]

log = logging.getLogger(__name__)
STREAM_PATH = "/api/notifications/stream"


@dataclass
class SseEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


async def parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[SseEvent]:
    """Events from the lines of an SSE body (comments and keep-alives skipped)."""
    event = SseEvent()
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data or event.id is not None:
                event.data = "\n".join(data)
                yield event
            event, data = SseEvent(), []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event.event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event.id = value


@dataclass
class PushStream:
    """Keeps one SSE connection open while the app runs.

    ``on_event`` gets each decoded JSON payload; ``on_status`` is told ``True`` when connected
    and ``False`` when the connection drops; after every (re)connect ``on_connected`` runs so
    the app can fetch whatever was sent while it was away (the list is the source of truth).
    """

    client: ApiClient
    on_event: Callable[[Any], Awaitable[None] | None]
    on_status: Callable[[bool], Awaitable[None] | None] = lambda _up: None
    on_connected: Callable[[], Awaitable[None] | None] = lambda: None
    path: str = STREAM_PATH
    min_backoff: float = 0.5
    max_backoff: float = 10.0
    last_event_id: str | None = None
    connected: bool = False
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="xinbao-push")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._set_status(False)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _set_status(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            await _call(self.on_status, up)

    async def _run(self) -> None:
        backoff = self.min_backoff
        while True:
            try:
                await self._listen_once()
                backoff = self.min_backoff
            except asyncio.CancelledError:
                raise
            except AuthError:
                await self._set_status(False)
                return  # signed out: nothing to listen to
            except Exception as exc:  # network drop, server restart, bad payload
                log.info("push stream dropped: %s", exc)
            await self._set_status(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _listen_once(self) -> None:
        await self._ensure_fresh_token()
        headers = {**self.client.auth_headers(), "accept": "text/event-stream"}
        if self.last_event_id:
            headers["last-event-id"] = self.last_event_id
        timeout = httpx.Timeout(10.0, read=None)
        async with self.client.http.stream("GET", self.path, headers=headers, timeout=timeout) as resp:
            if resp.status_code == 401:
                await self.client.refresh()
                return
            if resp.status_code >= 400:
                raise RuntimeError(f"stream refused: {resp.status_code}")
            await self._set_status(True)
            await _call(self.on_connected)
            async for event in parse_sse(resp.aiter_lines()):
                if event.id:
                    self.last_event_id = event.id
                if event.event in ("ping", "keepalive"):
                    continue
                try:
                    payload = event.json()
                except ValueError:
                    continue
                if payload is not None:
                    await _call(self.on_event, payload)

    async def _ensure_fresh_token(self) -> None:
        # A cheap authenticated call renews an expired access token before streaming.
        if self.client.tokens is not None:
            await self.client.request("GET", "/api/me")


async def _call(fn: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = fn(*args)
    if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
        await result
