"""Live delivery: Litestar Channels (Redis pub/sub in production, memory in the embedded demo),
the API process's outbox relay, and the SSE / WebSocket streams.

Each user has one channel, ``xinbao:<ns>:user:<id>`` (``ns`` is derived from the database, so
two deployments or test runs sharing one Redis never cross-deliver). The relay publishes the
notification's JSON there; any process can publish with plain ``redis.publish(channel, json)``.

Streams are at-least-once: on (re)connect a client passes the last notification id it saw
(SSE ``Last-Event-ID`` or ``?after_id=``; WebSocket ``?after_id=`` or ``after_id`` in the first
message) and gets what it missed from the database, then live messages. One connection never
repeats a notification version (same ``id`` and ``updated_at``); across reconnects a client
drops a message whose ``id`` it has with the same or a newer ``updated_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import httpx
import msgspec
from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection, WebSocket
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins import InitPlugin
from litestar.response import ServerSentEvent, ServerSentEventMessage

from alerts.outbox import drain_push, relay_webhooks
from alerts.webhooks import WebhookSender
from server.db import sqlite_path
from server.notifications import services
from server.notifications.schemas import NotificationOut
from server.settings import Settings
from server.users.security import AuthUser, is_revoked, load_user

__all__ = [
    "ChannelsPublisher",
    "PushPlugin",
    "PushRelay",
    "RedisPublisher",
    "authenticate_token",
    "build_plugins",
    "channel_namespace",
    "relay_job",
    "sse_response",
    "stream_guard",
    "serve_websocket",
    "user_channel",
    "parse_after_id",
]

log = logging.getLogger("xinbao.push")

KEEPALIVE_S = 20.0  # a comment / ping this often keeps proxies from closing idle streams
FIRST_MESSAGE_TIMEOUT_S = 10.0


def channel_namespace(database_url: str) -> str:
    """A short id of the database (host, port, name or SQLite file), shared by all its processes."""
    if database_url.startswith("sqlite"):
        ident = os.path.abspath(sqlite_path(database_url))
    else:
        parts = urlparse(database_url)
        ident = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def user_channel(namespace: str, user_id: int) -> str:
    return f"xinbao:{namespace}:user:{user_id}"


# ---------------------------------------------------------------------------------------------
# Publishers (the relay's transports)

class ChannelsPublisher:
    """Publishes through the app's ChannelsPlugin (the in-memory backend of the demo)."""

    def __init__(self, channels: ChannelsPlugin, namespace: str) -> None:
        self.channels = channels
        self.namespace = namespace

    async def publish(self, messages: Sequence[tuple[int, bytes]]) -> None:
        for user_id, data in messages:
            await self.channels.wait_published(data, user_channel(self.namespace, user_id))


_PUBLISH_EACH = """
for i, channel in ipairs(KEYS) do
    redis.call("PUBLISH", channel, ARGV[i])
end
"""


class RedisPublisher:
    """``PUBLISH`` to each user's channel: what Litestar's Redis pub/sub backend listens to, from
    any process (the API or ``xinbao worker``). Batches go in one script call each, which is
    several times faster than a pipeline of PUBLISH commands for a large fan-out."""

    def __init__(self, redis: Any, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self._script = redis.register_script(_PUBLISH_EACH)

    async def publish(self, messages: Sequence[tuple[int, bytes]]) -> None:
        for start in range(0, len(messages), 1000):
            chunk = messages[start:start + 1000]
            await self._script(keys=[user_channel(self.namespace, u) for u, _ in chunk],
                               args=[data for _, data in chunk])


# ---------------------------------------------------------------------------------------------
# The relay in the API process

@dataclass
class PushRelay:
    """Runs the outbox relay in the API process moments after rows are committed: woken by
    PostgreSQL ``NOTIFY`` (sent on commit by the notification service) and, as a net, by
    polling (every ``poll_s``; on SQLite this polling is the wake-up, cheap reads under WAL).
    The scheduled ``outbox_relay`` job is the safety net when no API process runs."""

    publisher: Any
    sender: WebhookSender
    poll_s: float
    store: services.DbOutboxStore = field(default_factory=services.DbOutboxStore)
    pushed: int = 0
    _wake: dict[str, asyncio.Event] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _listener: Any = None
    _stopping: bool = False

    def kick(self) -> None:
        """Deliver now (e.g. right after a commit that queued rows)."""
        for event in self._wake.values():
            event.set()

    async def start(self) -> None:
        self._wake = {"push": asyncio.Event(), "webhook": asyncio.Event()}
        self._tasks = [asyncio.create_task(self._loop("push")), asyncio.create_task(self._loop("webhook"))]
        await self._listen()

    async def stop(self) -> None:
        """Let each loop finish its batch: cancelling a task inside a Piccolo transaction can
        leak the pooled connection (and then closing the pool waits for it forever)."""
        self._stopping = True
        self.kick()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=15)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    async def _listen(self) -> None:
        engine = services.Outbox._meta.db
        if engine.engine_type != "postgres":
            return
        import asyncpg

        try:
            self._listener = await asyncpg.connect(**engine.config)
            await self._listener.add_listener(services.OUTBOX_NOTIFY_CHANNEL, lambda *_: self.kick())
        except (OSError, asyncpg.PostgresError) as exc:  # polling still delivers
            log.warning("outbox LISTEN failed, relying on polling: %s", exc)
            self._listener = None

    async def _loop(self, channel: str) -> None:
        wake = self._wake[channel]
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.poll_s)
            wake.clear()
            try:
                if channel == "push":
                    self.pushed += await drain_push(self.store, self.publisher)
                else:
                    while not self._stopping and await relay_webhooks(self.store, self.sender,
                                                                      datetime.now(UTC)):
                        pass
            except Exception:  # a database hiccup: try again at the next wake-up
                log.exception("outbox relay (%s) failed", channel)
            if self._listener is not None and self._listener.is_closed():
                await self._listen()


async def relay_job(settings: Settings, as_of: datetime) -> dict[str, int]:
    """The scheduled ``outbox_relay``: deliver everything due. Pushes need Redis to reach the API
    processes' subscribers; without it (the embedded demo) the API's own relay pushes and this
    job only sends webhooks."""
    store = services.DbOutboxStore()
    redis = None
    counts = {"push": 0, "webhook": 0}
    async with httpx.AsyncClient() as http:
        sender = WebhookSender(http)
        try:
            if settings.redis_url:
                from redis.asyncio import Redis

                redis = Redis.from_url(settings.redis_url)
                publisher = RedisPublisher(redis, channel_namespace(settings.database_url))
                counts["push"] = await drain_push(store, publisher, max_batches=100)
            for _ in range(100):
                n = await relay_webhooks(store, sender, datetime.now(UTC))
                counts["webhook"] += n
                if n == 0:
                    break
        finally:
            if redis is not None:
                await redis.aclose()
    return counts


# ---------------------------------------------------------------------------------------------
# Plugins: channels + the relay, started after the database and stopped before it closes

class PushPlugin(InitPlugin):
    """Starts the relay once the channels backend is up (its lifespan is added after the
    ChannelsPlugin's) and closes the Redis client after the backend is down."""

    def __init__(self, settings: Settings, channels: ChannelsPlugin, redis: Any | None) -> None:
        self.settings = settings
        self.channels = channels
        self.redis = redis
        self.namespace = channel_namespace(settings.database_url)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        position = app_config.lifespan.index(self.channels) if self.channels in app_config.lifespan else 0
        app_config.lifespan.insert(position, self._redis_client)
        app_config.lifespan.append(self._relay)
        return app_config

    @asynccontextmanager
    async def _redis_client(self, _app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self.redis is not None:
                await self.redis.aclose()

    @asynccontextmanager
    async def _relay(self, app: Litestar) -> AsyncIterator[None]:
        publisher: Any = (RedisPublisher(self.redis, self.namespace) if self.redis is not None
                          else ChannelsPublisher(self.channels, self.namespace))
        async with httpx.AsyncClient() as http:
            relay = PushRelay(publisher=publisher, sender=WebhookSender(http),
                              poll_s=0.25 if self.settings.is_sqlite else 1.0)
            app.state.push_relay = relay
            app.state.push_namespace = self.namespace
            await relay.start()
            try:
                yield
            finally:
                await relay.stop()


def _redis_backend(redis: Any) -> Any:
    """Litestar's Redis pub/sub backend, with its per-message channel check made O(1).

    The stock ``stream_events`` computes ``channels.keys() - pending_unsubscribe_channels`` for
    every message: with one channel per connected user that is O(users) per message, and a
    10,000-user fan-out took seconds. Same behaviour, set lookups instead."""
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend

    class Backend(RedisChannelsPubSubBackend):
        async def stream_events(self) -> AsyncIterator[tuple[str, Any]]:  # type: ignore[override]
            pubsub = self._pub_sub
            while True:
                await self._has_subscribed.wait()
                message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=self._stream_sleep_no_subscriptions)
                if message is None:
                    continue
                channel: bytes = message["channel"]
                if channel in pubsub.channels and channel not in pubsub.pending_unsubscribe_channels:
                    yield channel.decode(), message["data"]

    return Backend(redis=redis)


def build_plugins(settings: Settings) -> list[InitPlugin]:
    """The ChannelsPlugin (Redis pub/sub when ``XINBAO_REDIS_URL`` is set, memory otherwise) and
    the plugin running the relay; pass both in ``plugins=``."""
    redis = None
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
        backend: Any = _redis_backend(redis)
    else:
        backend = MemoryChannelsBackend()
    # No generated WebSocket routes: they would let anyone listen to any user's channel.
    channels = ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True,
                              create_ws_route_handlers=False, subscriber_max_backlog=1000,
                              subscriber_backlog_strategy="dropleft")
    return [channels, PushPlugin(settings, channels, redis)]


# ---------------------------------------------------------------------------------------------
# Authentication of streams (browsers cannot set headers on EventSource or WebSocket)

def _token_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return connection.query_params.get("token") or None


async def authenticate_token(app: Litestar, encoded: str) -> AuthUser | None:
    """The active user of an access token, or None (bad, expired, revoked, refresh token)."""
    auth = app.state.jwt_auth
    try:
        token = auth.token_cls.decode(encoded, secret=auth.token_secret, algorithm=auth.algorithm)
    except NotAuthorizedException:
        return None
    if token.extras.get("typ") != "access" or await is_revoked(token, None):  # type: ignore[arg-type]
        return None
    try:
        return await load_user(int(token.sub))
    except ValueError:
        return None


async def stream_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Signs in a stream from ``Authorization: Bearer`` or ``?token=``; a WebSocket without
    either must send ``{"token": ...}`` as its first message."""
    if connection.scope.get("method") == "OPTIONS":
        return
    encoded = _token_of(connection)
    if encoded is None:
        if connection.scope["type"] == "websocket":
            return
        raise NotAuthorizedException("token: send Authorization: Bearer <access token> or ?token=")
    user = await authenticate_token(connection.app, encoded)
    if user is None:
        raise NotAuthorizedException("token: invalid, expired or revoked access token")
    connection.scope["user"] = user


# ---------------------------------------------------------------------------------------------
# The feed both streams send: catch-up from the database, then live, without repeats

class _Head(msgspec.Struct):
    id: int
    updated_at: datetime


_ENCODE = msgspec.json.Encoder().encode


class _Feed:
    def __init__(self, queue: asyncio.Queue[bytes], backlog: list[NotificationOut]) -> None:
        self.queue = queue
        self.backlog = backlog
        self.seen: dict[int, datetime] = {}

    def _fresh(self, note_id: int, updated_at: datetime) -> bool:
        known = self.seen.get(note_id)
        if known is not None and known >= updated_at:
            return False
        self.seen[note_id] = updated_at
        return True

    async def messages(self, keepalive_s: float = KEEPALIVE_S,
                       until: float | None = None) -> AsyncIterator[tuple[int, bytes] | None]:
        """``(notification id, json)`` in order; None when idle for ``keepalive_s``; ends at the
        event-loop time ``until`` (if given)."""
        for note in self.backlog:
            if self._fresh(note.id, note.updated_at):
                yield note.id, _ENCODE(note)
        self.backlog = []
        loop = asyncio.get_running_loop()
        while True:
            wait = keepalive_s if until is None else min(keepalive_s, until - loop.time())
            if wait <= 0:
                return
            try:
                data = await asyncio.wait_for(self.queue.get(), wait)
            except TimeoutError:
                if until is None or loop.time() < until:
                    yield None
                continue
            try:
                head = msgspec.json.decode(data, type=_Head)
            except msgspec.DecodeError:
                log.warning("dropping a malformed message on a user channel")
                continue
            if self._fresh(head.id, head.updated_at):
                yield head.id, data


@asynccontextmanager
async def _feed(app: Litestar, channels: ChannelsPlugin, user_id: int,
                after_id: int | None) -> AsyncIterator[_Feed]:
    """Subscribe first, then read the catch-up: nothing committed in between is lost."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_event(data: bytes) -> None:
        await queue.put(data)

    name = user_channel(app.state.push_namespace, user_id)
    async with channels.start_subscription(name) as subscriber, subscriber.run_in_background(on_event):
        backlog = await services.catch_up(user_id, after_id) if after_id is not None else []
        yield _Feed(queue, backlog)


def parse_after_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("after_id: must be a notification id (an integer)") from None
    if not 0 <= number <= 2**31 - 1:
        raise ValueError("after_id: must be between 0 and 2147483647")
    return number


def sse_response(app: Litestar, channels: ChannelsPlugin, user: AuthUser, after_id: int | None,
                 max_seconds: int = 1800) -> ServerSentEvent:
    """``event: notification`` messages whose ``id:`` is the notification id, after a
    ``: ready`` comment once subscribed; ``: keepalive`` comments when idle. The stream ends
    after ``max_seconds`` (EventSource reconnects with Last-Event-ID, and load balancers get to
    spread connections again); 0 sends what was missed and ends (a poll)."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        until = asyncio.get_running_loop().time() + max_seconds
        async with _feed(app, channels, user.id, after_id) as feed:
            yield ServerSentEventMessage(data=None, comment="ready", retry=3000)
            async for item in feed.messages(until=until):
                if item is None:
                    yield ServerSentEventMessage(data=None, comment="keepalive")
                else:
                    yield ServerSentEventMessage(data=item[1].decode(), id=item[0], event="notification")

    return ServerSentEvent(events(), headers={"X-Accel-Buffering": "no"})


async def serve_websocket(socket: WebSocket[Any, Any, Any], channels: ChannelsPlugin) -> None:
    """Sends ``{"type": "ready", "user_id"}`` once subscribed, then ``{"type": "notification",
    "notification": {...}}`` (the same JSON as the SSE data) and ``{"type": "ping"}`` when idle.
    Without ``?token=`` the first message must be ``{"token": "<access token>", "after_id": 0}``;
    a bad token closes the socket with code 4401."""
    await socket.accept()
    user = socket.scope.get("user")
    try:
        after_id = parse_after_id(socket.query_params.get("after_id"))
        if not isinstance(user, AuthUser):
            first = await asyncio.wait_for(socket.receive_json(), FIRST_MESSAGE_TIMEOUT_S)
            if not isinstance(first, dict) or not isinstance(first.get("token"), str):
                raise ValueError("token: the first message must be {\"token\": \"<access token>\"}")
            user = await authenticate_token(socket.app, first["token"])
            if user is None:
                raise PermissionError("token: invalid, expired or revoked access token")
            if "after_id" in first:
                after_id = parse_after_id(first["after_id"])
    except (TimeoutError, ValueError, PermissionError, msgspec.DecodeError) as exc:
        detail = str(exc) if not isinstance(exc, TimeoutError) else "token: none sent in time"
        with contextlib.suppress(Exception):
            await socket.send_json({"type": "error", "detail": detail})
            await socket.close(code=4401 if not isinstance(exc, ValueError) else 4400, reason=detail[:120])
        return
    except WebSocketDisconnect:
        return

    async def send_all(feed: _Feed) -> None:
        await socket.send_json({"type": "ready", "user_id": user.id})
        async for item in feed.messages():
            if item is None:
                await socket.send_json({"type": "ping"})
            else:
                await socket.send_text(b'{"type":"notification","notification":' + item[1] + b"}")

    async with _feed(socket.app, channels, user.id, after_id) as feed:
        sender = asyncio.create_task(send_all(feed))
        try:
            while not sender.done():
                receiver = asyncio.ensure_future(socket.receive())
                await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
                if receiver.done():
                    if receiver.result()["type"] == "websocket.disconnect":
                        break
                else:
                    receiver.cancel()
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
