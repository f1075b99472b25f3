"""Live delivery: Litestar Channels (Redis pub/sub in production, memory in the embedded demo),
the API process's outbox relay, and the SSE / WebSocket streams.

Each user has one channel, ``xinbao:<ns>:user:<id>`` (``ns`` is derived from the database, so
two deployments or test runs sharing one Redis never cross-deliver). The relay publishes the
notification's JSON there; any process can publish with plain ``redis.publish(channel, json)``.
``xinbao:<ns>:control`` carries commands to every API process (close a sign-in's streams).

Streams are at-least-once: on (re)connect a client passes the last notification id it saw
(SSE ``Last-Event-ID`` or ``?after_id=``; WebSocket ``?after_id=`` or ``after_id`` in the first
message) and gets what it missed from the database, then live messages. One connection never
repeats a notification version (same ``id`` and ``updated_at``); across reconnects a client
drops a message whose ``id`` it has with the same or a newer ``updated_at``.

Redis may restart under a running API: the pub/sub listener reconnects and re-subscribes by
itself, open streams then re-read from the database what they may have missed meanwhile, and
the relay publishes only while the listener is live (rows wait in the outbox otherwise).

Streams sign in with ``Authorization: Bearer``, a one-time ticket (``?ticket=``, from
``POST /api/notifications/stream-ticket``; never a token in a URL, which ends up in access
logs) or, on a WebSocket, ``{"token": ...}`` as the first message. A stream remembers its
sign-in (``sid``): logout closes it in every process, and its token is re-checked every
``stream_recheck_s`` seconds in case a close message was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import httpx
import msgspec
from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection, WebSocket
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins import InitPlugin
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.security.jwt import Token

from alerts.outbox import drain_push, relay_webhooks
from alerts.webhooks import WebhookSender
from server.engines import sqlite_path
from server.notifications import common, inbox, outbox
from server.notifications.schemas import NotificationOut
from server.redis_client import redis_client
from server.settings import Settings
from server.tables.notifications import Outbox
from server.texts import negotiate, render, t
from server.texts.framework import Said
from server.users.security import (
    AuthUser,
    decode_access,
    enforce_roles,
    is_revoked,
    load_user,
    session_id,
)

__all__ = [
    "ChannelsPublisher",
    "PushPlugin",
    "PushRelay",
    "RedisPublisher",
    "ResilientRedisBackend",
    "StreamRegistry",
    "authenticate_token",
    "build_plugins",
    "channel_namespace",
    "close_session_streams",
    "control_channel",
    "issue_stream_ticket",
    "parse_after_id",
    "push_status",
    "relay_job",
    "serve_websocket",
    "sse_response",
    "stream_guard",
    "user_channel",
]

log = logging.getLogger("xinbao.push")

KEEPALIVE_S = 20.0  # a comment / ping this often keeps proxies from closing idle streams
FIRST_MESSAGE_TIMEOUT_S = 10.0
SUBSCRIBE_WAIT_S = 3.0  # how long a new stream waits for Redis to confirm its subscription
TICKET_TTL_S = 30
TICKET_STORE = "stream_tickets"
MAX_TOKEN_CHARS = 4096

# In-process markers put on a user channel's subscribers (compared by identity, so nothing
# published on Redis can forge them): re-read the database / end the stream.
RESYNC = b"\x00resync"
CLOSE = b"\x00close"


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


def control_channel(namespace: str) -> str:
    """Commands every API process of the deployment listens to."""
    return f"xinbao:{namespace}:control"


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
    """``PUBLISH`` to each user's channel: what the Redis pub/sub listeners hear, from any
    process (the API or ``xinbao worker``). Batches go in one script call each, which is
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
# The Redis pub/sub listener: one connection, supervised

def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError)


class ResilientRedisBackend(ChannelsBackend):
    """Litestar's channels backend on Redis pub/sub, fixed for two faults of the stock
    ``RedisChannelsPubSubBackend``:

    - its listener dies with the connection (a Redis restart) and never comes back. Here
      ``stream_events`` reconnects with backoff, re-subscribes every channel and then yields
      ``RESYNC`` on each, so streams re-read what was published while it was away;
    - concurrent first subscriptions each opened their own pub/sub connection, and only the
      last one was read (streams opened at once after start-up got nothing). Here one lock
      orders connecting, subscribing and unsubscribing on the one connection.

    A stream can wait until Redis has confirmed its subscription (``wait_live``), and
    ``ready`` tells the relay whether publishing now reaches this process's streams."""

    def __init__(self, *, idle_ping_s: float = 15.0, max_backoff_s: float = 2.0) -> None:
        # Both are attached by the app's lifespan (``PushPlugin``, ``attach``) before the backend starts.
        self._redis: Any = None  # publishing: the app's one command client (may retry)
        self._listen_redis: Any = None  # the listener (no hidden reconnects: we resubscribe)
        self.idle_ping_s = idle_ping_s
        self.max_backoff_s = max_backoff_s
        self._lock = asyncio.Lock()
        self._pubsub: Any = None
        self._wanted: set[str] = set()
        self._live: dict[str, asyncio.Event] = {}
        self._resubscribing: set[str] = set()  # the (re)connect's SUBSCRIBE, not confirmed yet
        self._resync: set[str] = set()
        self._connected_before = False
        self._up = False
        self._announced = False
        self.on_ready: list[Callable[[], None]] = []

    def attach(self, redis: Any, listen_redis: Any) -> None:
        """The clients to publish and to listen with (before the backend starts)."""
        self._redis, self._listen_redis = redis, listen_redis

    @property
    def ready(self) -> bool:
        """Connected, and every channel wanted at the (re)connect confirmed by Redis."""
        return self._up and not self._resubscribing

    async def on_startup(self) -> None:
        pass  # the plugin's listener task connects

    async def on_shutdown(self) -> None:
        async with self._lock:
            await self._drop()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel in set(channels):
                pipe.publish(channel, data)
            await pipe.execute()

    async def subscribe(self, channels: Iterable[str]) -> None:
        async with self._lock:
            new = [c for c in channels if c not in self._wanted]
            for channel in new:
                self._wanted.add(channel)
                self._live[channel] = asyncio.Event()
            if new and self._pubsub is not None:
                try:
                    await self._pubsub.subscribe(*new)
                except _redis_errors() as exc:  # the listener re-subscribes all once Redis is back
                    log.info("subscribe deferred until Redis is back: %s", exc)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        async with self._lock:
            gone = [c for c in channels if c in self._wanted]
            for channel in gone:
                self._wanted.discard(channel)
                self._live.pop(channel, None)
                self._resync.discard(channel)
                self._resubscribing.discard(channel)
            if gone and self._pubsub is not None:
                with contextlib.suppress(*_redis_errors()):
                    await self._pubsub.unsubscribe(*gone)
            self._maybe_ready()

    async def wait_live(self, channel: str, timeout: float = SUBSCRIBE_WAIT_S) -> bool:
        """Wait until Redis confirmed the subscription to ``channel``; False if it is down."""
        event = self._live.get(channel)
        if event is None or not self._up:
            return False
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("pub/sub keeps no history: streams catch up from the database")

    async def stream_events(self) -> AsyncIterator[tuple[str, Any]]:  # type: ignore[override]
        """Events of the wanted channels, for ever: a lost connection is re-opened (with
        backoff while Redis is down) and every channel re-subscribed."""
        backoff = 0.05
        while True:
            try:
                pubsub = await self._open()
                backoff = 0.05
                async for item in self._read(pubsub):
                    yield item
            except Exception as exc:  # noqa: BLE001 - whatever broke, the cure is a new connection
                if self._up:
                    log.warning("Redis pub/sub connection lost (%s); reconnecting", exc)
            async with self._lock:
                await self._drop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _open(self) -> Any:
        async with self._lock:
            pubsub = self._listen_redis.pubsub()
            try:
                await pubsub.connect()
                if self._wanted:
                    await pubsub.subscribe(*self._wanted)
            except BaseException:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            self._pubsub = pubsub
            self._resubscribing = set(self._wanted)
            if self._connected_before:
                self._resync = set(self._wanted)
                log.warning("Redis pub/sub reconnected; %d channels re-subscribed", len(self._wanted))
            self._connected_before = True
            self._up = True
            self._maybe_ready()
            return pubsub

    async def _drop(self) -> None:
        """Forget the connection (the lock is held)."""
        self._up = self._announced = False
        for event in self._live.values():
            event.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _maybe_ready(self) -> None:
        """Tell the relay once per (re)connect that publishing reaches this process again."""
        if self.ready and not self._announced:
            self._announced = True
            for callback in self.on_ready:
                callback()

    async def _read(self, pubsub: Any) -> AsyncIterator[tuple[str, Any]]:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if message is None:
                # A half-open connection (no FIN from a dead host) reads nothing for ever.
                if now - heard > self.idle_ping_s:
                    if pinged:
                        raise ConnectionError("Redis did not answer a PING on the pub/sub connection")
                    await pubsub.ping()
                    pinged, heard = True, now
                continue
            heard, pinged = now, False
            kind = message["type"]
            if kind == "message":
                name = message["channel"].decode()
                if name in self._wanted:
                    yield name, message["data"]
            elif kind == "subscribe":
                name = message["channel"].decode()
                event = self._live.get(name)
                if event is not None:
                    event.set()
                if name in self._resubscribing:
                    self._resubscribing.discard(name)
                    self._maybe_ready()
                if name in self._resync:
                    self._resync.discard(name)
                    yield name, RESYNC


# ---------------------------------------------------------------------------------------------
# The relay in the API process

@dataclass
class PushRelay:
    """Runs the outbox relay in the API process moments after rows are committed: woken by
    PostgreSQL ``NOTIFY`` (sent on commit by the notification service) and, as a net, by
    polling (every ``poll_s``; on SQLite this polling is the wake-up, cheap reads under WAL).
    The scheduled ``outbox_relay`` job is the safety net when no API process runs.

    With ``ready`` (the Redis listener's state) pushes wait while this process's listener is
    not live: publishing then would reach no stream of this process and the row would be
    marked sent for nothing."""

    publisher: Any
    sender: WebhookSender
    poll_s: float
    store: outbox.DbOutboxStore = field(default_factory=outbox.DbOutboxStore)
    ready: Callable[[], bool] | None = None
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
        engine = Outbox._meta.db
        if engine.engine_type != "postgres":
            return
        import asyncpg

        try:
            self._listener = await asyncpg.connect(**engine.config)
            await self._listener.add_listener(common.OUTBOX_NOTIFY_CHANNEL, lambda *_: self.kick())
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
                    if self.ready is None or self.ready():
                        self.pushed += await drain_push(self.store, self.publisher)
                else:
                    while not self._stopping and await relay_webhooks(self.store, self.sender,
                                                                      datetime.now(UTC)):
                        pass
            except Exception:  # a database hiccup: try again at the next wake-up
                log.exception("outbox relay (%s) failed", channel)
            if self._listener is not None and self._listener.is_closed():
                await self._listen()


async def relay_job(settings: Settings, as_of: datetime, redis: Any = None) -> dict[str, int]:
    """The scheduled ``outbox_relay``: deliver everything due. Pushes need Redis to reach the API
    processes' subscribers (``redis``: the process's client, given by whoever runs the job);
    without it (the embedded demo) the API's own relay pushes and this job only sends webhooks."""
    store = outbox.DbOutboxStore()
    counts = {"push": 0, "webhook": 0}
    async with httpx.AsyncClient() as http:
        sender = WebhookSender(http, allow=settings.webhook_allow)
        if redis is not None:
            publisher = RedisPublisher(redis, channel_namespace(settings.database_url))
            counts["push"] = await drain_push(store, publisher, max_batches=100)
        for _ in range(100):
            n = await relay_webhooks(store, sender, datetime.now(UTC))
            counts["webhook"] += n
            if n == 0:
                break
    return counts


# ---------------------------------------------------------------------------------------------
# Open streams of this process, by sign-in

class StreamRegistry:
    """The open streams of this process by sign-in id, so a logout can close them."""

    def __init__(self) -> None:
        self._by_sid: dict[str, set[_Feed]] = {}

    def add(self, sid: str | None, feed: _Feed) -> None:
        if sid is not None:
            self._by_sid.setdefault(sid, set()).add(feed)

    def remove(self, sid: str | None, feed: _Feed) -> None:
        if sid is not None and sid in self._by_sid:
            self._by_sid[sid].discard(feed)
            if not self._by_sid[sid]:
                del self._by_sid[sid]

    def close(self, sid: str) -> int:
        """End every stream of the sign-in; how many there were."""
        feeds = self._by_sid.pop(sid, set())
        for feed in feeds:
            feed.close()
        return len(feeds)


class _Control(msgspec.Struct):
    close_sid: str


async def close_session_streams(app: Litestar, sid: str) -> None:
    """Close every open stream of sign-in ``sid``: in this process at once, and in every other
    API process through the control channel. If the message cannot be sent (Redis down), the
    other processes' periodic re-check of the streams' tokens closes them."""
    registry: StreamRegistry | None = app.state.get("push_streams")
    if registry is not None:
        registry.close(sid)
    channels: ChannelsPlugin | None = app.state.get("push_channels")
    namespace = app.state.get("push_namespace")
    if channels is None or namespace is None:
        return
    try:
        await asyncio.wait_for(channels.wait_published(msgspec.json.encode(_Control(close_sid=sid)),
                                                       control_channel(namespace)), 2.0)
    except Exception as exc:  # noqa: BLE001 - the re-check is the net; logout must still succeed
        log.warning("could not broadcast the close of sign-in %s (%s); streams elsewhere end at "
                    "their next token re-check", sid[:8], exc)


# ---------------------------------------------------------------------------------------------
# Plugins: channels + the relay, started after the database and stopped before it closes

class PushPlugin(InitPlugin):
    """Hands the channels backend the app's Redis client and a pub/sub connection of its own
    before the backend starts (closing that connection after it is down), and starts the relay
    and the control listener once it is up (its lifespan is added after the ChannelsPlugin's)."""

    def __init__(self, settings: Settings, channels: ChannelsPlugin,
                 backend: ResilientRedisBackend | None = None) -> None:
        self.settings = settings
        self.channels = channels
        self.backend = backend
        self.redis: Any = None
        self.namespace = channel_namespace(settings.database_url)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        position = app_config.lifespan.index(self.channels) if self.channels in app_config.lifespan else 0
        app_config.lifespan.insert(position, self._attach_redis)
        app_config.lifespan.append(self._relay)
        return app_config

    @asynccontextmanager
    async def _attach_redis(self, app: Litestar) -> AsyncIterator[None]:
        """Before the channels backend starts: publish with the app's Redis client (opened by
        the app's lifespan, which runs first) and listen on a pub/sub connection of our own."""
        if self.backend is None:
            yield
            return
        self.redis = app.state.redis
        listen = redis_client(self.settings.redis_url or "", retries=0, socket_timeout=None)
        self.backend.attach(self.redis, listen)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await listen.aclose()

    @asynccontextmanager
    async def _relay(self, app: Litestar) -> AsyncIterator[None]:
        publisher: Any = (RedisPublisher(self.redis, self.namespace) if self.redis is not None
                          else ChannelsPublisher(self.channels, self.namespace))
        registry = StreamRegistry()
        app.state.push_streams = registry
        app.state.push_channels = self.channels
        app.state.push_namespace = self.namespace
        app.state.push_backend = self.backend

        async def on_control(data: bytes) -> None:
            if data is RESYNC:
                return
            try:
                command = msgspec.json.decode(data, type=_Control)
            except msgspec.DecodeError:
                log.warning("dropping a malformed message on the control channel")
                return
            registry.close(command.close_sid)

        async with httpx.AsyncClient() as http:
            relay = PushRelay(publisher=publisher, sender=WebhookSender(http, allow=self.settings.webhook_allow),
                              poll_s=0.25 if self.settings.is_sqlite else 1.0,
                              ready=(lambda: self.backend.ready) if self.backend is not None else None)
            app.state.push_relay = relay
            if self.backend is not None:
                self.backend.on_ready.append(relay.kick)
            async with self.channels.start_subscription(control_channel(self.namespace)) as control, \
                    control.run_in_background(on_control):
                await relay.start()
                try:
                    yield
                finally:
                    await relay.stop()


def build_plugins(settings: Settings) -> list[InitPlugin]:
    """The ChannelsPlugin (Redis pub/sub when ``XINBAO_REDIS_URL`` is set, memory otherwise) and
    the plugin running the relay; pass both in ``plugins=``. The Redis connections are attached
    by the lifespan."""
    backend = None
    if settings.redis_url:
        backend = ResilientRedisBackend()
        channels_backend: ChannelsBackend = backend
    else:
        channels_backend = MemoryChannelsBackend()
    # No generated WebSocket routes: they would let anyone listen to any user's channel.
    channels = ChannelsPlugin(backend=channels_backend, arbitrary_channels_allowed=True,
                              create_ws_route_handlers=False, subscriber_max_backlog=1000,
                              subscriber_backlog_strategy="dropleft")
    return [channels, PushPlugin(settings, channels, backend)]


def push_status(app: Litestar) -> str | None:
    """``live`` / ``reconnecting`` for the Redis listener; None without Redis (memory)."""
    backend: ResilientRedisBackend | None = app.state.get("push_backend")
    if backend is None:
        return None
    return "live" if backend.ready else "reconnecting"


# ---------------------------------------------------------------------------------------------
# Authentication of streams: a header, a one-time ticket, or a WebSocket's first message

@dataclass(frozen=True, slots=True)
class _SignIn:
    user: AuthUser
    token: Token

    @property
    def sid(self) -> str | None:
        return session_id(self.token)


async def _sign_in(app: Litestar, encoded: str) -> _SignIn | None:
    """The active user of an access token, or None (bad, expired, revoked, refresh token)."""
    if len(encoded) > MAX_TOKEN_CHARS:
        return None
    token = decode_access(app.state.jwt_auth, encoded)
    if token is None or await is_revoked(token, None):
        return None
    try:
        user = await load_user(int(token.sub))
    except ValueError:
        return None
    return _SignIn(user, token) if user is not None else None


async def authenticate_token(app: Litestar, encoded: str) -> AuthUser | None:
    """The active user of an access token, or None (bad, expired, revoked, refresh token)."""
    signed = await _sign_in(app, encoded)
    return signed.user if signed is not None else None


def _ticket_key(ticket: str) -> str:
    # Only a digest is stored: a copy of the store does not hold usable tickets.
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue_stream_ticket(app: Litestar, encoded_token: str) -> str:
    """A one-time ticket for opening a stream within ``TICKET_TTL_S`` seconds, standing for the
    access token it was issued with (re-checked when it is used)."""
    ticket = secrets.token_urlsafe(32)
    await app.stores.get(TICKET_STORE).set(_ticket_key(ticket), encoded_token, expires_in=TICKET_TTL_S)
    return ticket


async def _redeem_ticket(app: Litestar, ticket: str) -> str | None:
    """The access token a ticket stands for, once: taken atomically (Redis GETDEL)."""
    if not ticket or len(ticket) > 100:
        return None
    store: Any = app.stores.get(TICKET_STORE)
    raw = await store.take(_ticket_key(ticket))
    return raw.decode() if raw is not None else None


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def stream_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Signs in a stream from ``Authorization: Bearer`` or a one-time ``?ticket=``; a WebSocket
    without either must send ``{"token": ...}`` as its first message. Tokens in the query
    string are not accepted: URLs end up in access logs."""
    if connection.scope.get("method") == "OPTIONS":
        return
    encoded = _bearer(connection)
    ticket = connection.query_params.get("ticket")
    if encoded is None and ticket is not None:
        encoded = await _redeem_ticket(connection.app, ticket)
        if encoded is None:
            raise NotAuthorizedException(t(
                "ticket: unknown, expired or already used; get a new one from POST /api/notifications/stream-ticket"))
    if encoded is None:
        if connection.scope["type"] == "websocket":
            return
        raise NotAuthorizedException(t(
            "token: send Authorization: Bearer <access token>, or ?ticket= from POST /api/notifications/stream-ticket"))
    signed = await _sign_in(connection.app, encoded)
    if signed is None:
        raise NotAuthorizedException(t("token: invalid, expired or revoked access token"))
    enforce_roles(connection, signed.user)  # the route's roles: it is not signed in by the middleware
    connection.scope["user"] = signed.user
    connection.scope["stream_sign_in"] = signed  # type: ignore[typeddict-unknown-key]


async def _still_signed_in(signed: _SignIn) -> bool:
    """The periodic re-check: the token unexpired, neither it nor its sign-in revoked, the
    account active. A database error keeps the stream (it is re-checked again shortly)."""
    if signed.token.exp <= datetime.now(UTC):
        return False
    try:
        if await is_revoked(signed.token, None):
            return False
        return await load_user(signed.user.id) is not None
    except Exception as exc:  # noqa: BLE001 - a database hiccup must not end every stream
        log.warning("stream token re-check failed (%s); trying again later", exc)
        return True


# ---------------------------------------------------------------------------------------------
# The feed both streams send: catch-up from the database, then live, without repeats

class _Head(msgspec.Struct):
    id: int
    updated_at: datetime


_ENCODE = msgspec.json.Encoder().encode


class _Feed:
    """One stream's messages: the catch-up, then live ones; on ``RESYNC`` (the Redis listener
    came back) what was committed meanwhile from the database; ends on ``close()`` or when the
    periodic re-check of the sign-in fails."""

    def __init__(self, queue: asyncio.Queue[bytes], user_id: int, backlog: list[NotificationOut],
                 cursor: int | None, check: Callable[[], Awaitable[bool]] | None, recheck_s: float) -> None:
        self.queue = queue
        self.user_id = user_id
        self.backlog = backlog
        self.cursor = cursor  # the newest notification id this stream has accounted for
        self.check = check
        self.recheck_s = recheck_s
        self.seen: dict[int, datetime] = {}
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(CLOSE)

    def _fresh(self, note_id: int, updated_at: datetime) -> bool:
        known = self.seen.get(note_id)
        if known is not None and known >= updated_at:
            return False
        self.seen[note_id] = updated_at
        if self.cursor is None or note_id > self.cursor:
            self.cursor = note_id
        return True

    def _drain(self, notes: list[NotificationOut]) -> list[tuple[int, bytes]]:
        return [(n.id, _ENCODE(n)) for n in notes if self._fresh(n.id, n.updated_at)]

    async def messages(self, keepalive_s: float = KEEPALIVE_S,
                       until: float | None = None) -> AsyncIterator[tuple[int, bytes] | None]:
        """``(notification id, json)`` in order; None when idle for ``keepalive_s``; ends at the
        event-loop time ``until`` (if given), on ``close()`` or when the sign-in ended."""
        for item in self._drain(self.backlog):
            yield item
        self.backlog = []
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + keepalive_s
        next_check = loop.time() + self.recheck_s if self.check is not None else float("inf")
        while not self.closed:
            now = loop.time()
            if until is not None and now >= until:
                return
            if now >= next_check:
                assert self.check is not None
                if not await self.check():
                    self.closed = True
                    return
                next_check = loop.time() + self.recheck_s
                continue
            if now >= next_ping:
                yield None
                next_ping = loop.time() + keepalive_s
                continue
            wait = min(next_ping, next_check, until if until is not None else float("inf")) - now
            try:
                data = await asyncio.wait_for(self.queue.get(), wait)
            except TimeoutError:
                continue
            if data is CLOSE:
                self.closed = True
                return
            if data is RESYNC:
                for item in self._drain(await inbox.catch_up(self.user_id, self.cursor or 0)):
                    next_ping = loop.time() + keepalive_s
                    yield item
                continue
            try:
                head = msgspec.json.decode(data, type=_Head)
            except msgspec.DecodeError:
                log.warning("dropping a malformed message on a user channel")
                continue
            if self._fresh(head.id, head.updated_at):
                next_ping = loop.time() + keepalive_s
                yield head.id, data


@asynccontextmanager
async def _feed(app: Litestar, channels: ChannelsPlugin, user: AuthUser, after_id: int | None,
                signed: _SignIn | None = None) -> AsyncIterator[_Feed]:
    """Subscribe first (and wait until Redis confirmed it), then read the catch-up: nothing
    committed in between is lost."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_event(data: bytes) -> None:
        await queue.put(data)

    name = user_channel(app.state.push_namespace, user.id)
    backend: ResilientRedisBackend | None = app.state.get("push_backend")
    registry: StreamRegistry | None = app.state.get("push_streams")
    async with channels.start_subscription(name) as subscriber, subscriber.run_in_background(on_event):
        if backend is not None:
            await backend.wait_live(name)
        backlog = await inbox.catch_up(user.id, after_id) if after_id is not None else []
        cursor = after_id
        if cursor is None and backend is not None:
            # Where a re-read after a Redis reconnect starts for a stream opened without after_id.
            newest = await inbox.list_notifications(user, None, None, 1)
            cursor = newest[0].id if newest else 0
        check = (lambda: _still_signed_in(signed)) if signed is not None else None
        recheck_s = float(getattr(app.state.settings, "stream_recheck_s", 15.0))
        feed = _Feed(queue, user.id, backlog, cursor, check, recheck_s)
        sid = signed.sid if signed is not None else None
        if registry is not None:
            registry.add(sid, feed)
        try:
            yield feed
        finally:
            if registry is not None:
                registry.remove(sid, feed)


def parse_after_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise ValueError(t("after_id: must be a notification id (an integer)"))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(t("after_id: must be a notification id (an integer)")) from None
    if not 0 <= number <= 2**31 - 1:
        raise ValueError(t("after_id: must be between 0 and 2147483647"))
    return number


def sse_response(app: Litestar, channels: ChannelsPlugin, user: AuthUser, after_id: int | None,
                 max_seconds: int = 1800, signed: _SignIn | None = None) -> ServerSentEvent:
    """``event: notification`` messages whose ``id:`` is the notification id, after a
    ``: ready`` comment once subscribed; ``: keepalive`` comments when idle. The stream ends
    after ``max_seconds`` (EventSource reconnects with Last-Event-ID, and load balancers get to
    spread connections again); 0 sends what was missed and ends (a poll). It also ends, after a
    ``: signed out`` comment, when its sign-in does."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        until = asyncio.get_running_loop().time() + max_seconds
        async with _feed(app, channels, user, after_id, signed) as feed:
            yield ServerSentEventMessage(data=None, comment="ready", retry=3000)
            async for item in feed.messages(until=until):
                if item is None:
                    yield ServerSentEventMessage(data=None, comment="keepalive")
                else:
                    yield ServerSentEventMessage(data=item[1].decode(), id=item[0], event="notification")
            if feed.closed:
                yield ServerSentEventMessage(data=None, comment="signed out")

    return ServerSentEvent(events(), headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})


_FIRST = '{"token": "<access token>"}'  # the first message of a socket without a header or ticket


class _BadMessage(ValueError):
    """A malformed first WebSocket message (closes with 4400, the reason names the field)."""


async def _first_message(socket: WebSocket[Any, Any, Any]) -> dict[str, Any] | None:
    """The first message as a JSON object, None if the client left; ``_BadMessage`` otherwise."""
    message = await asyncio.wait_for(socket.receive(), FIRST_MESSAGE_TIMEOUT_S)
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        raise _BadMessage(t("message: send a JSON text message {example}", example=_FIRST))
    try:
        first = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError) as exc:  # msgspec raises the latter past its depth limit
        raise _BadMessage(t("message: not valid JSON ({error})", error=Said(str(exc)[:150]))) from None
    if not isinstance(first, dict):
        raise _BadMessage(t("message: must be a JSON object {example}", example=_FIRST))
    return first


async def _sign_in_by_message(socket: WebSocket[Any, Any, Any], first: dict[str, Any]) -> _SignIn:
    token, ticket = first.get("token"), first.get("ticket")
    if ticket is not None:
        if not isinstance(ticket, str):
            raise _BadMessage(t("ticket: must be a string"))
        encoded = await _redeem_ticket(socket.app, ticket)
        if encoded is None:
            raise PermissionError(t("ticket: unknown, expired or already used"))
    elif token is None:
        raise _BadMessage(t("token: missing; the first message must be {example}", example=_FIRST))
    elif not isinstance(token, str) or not token:
        raise _BadMessage(t("token: must be a non-empty string (an access token)"))
    else:
        encoded = token
    signed = await _sign_in(socket.app, encoded)
    if signed is None:
        raise PermissionError(t("token: invalid, expired or revoked access token"))
    return signed


async def serve_websocket(socket: WebSocket[Any, Any, Any], channels: ChannelsPlugin) -> None:
    """Sends ``{"type": "ready", "user_id"}`` once subscribed, then ``{"type": "notification",
    "notification": {...}}`` (the same JSON as the SSE data) and ``{"type": "ping"}`` when idle.
    Without a header or ``?ticket=`` the first message must be ``{"token": "<access token>",
    "after_id": 0}``. A bad token (or the end of the sign-in) closes the socket with 4401, a
    malformed message with 4400; the reason names the field."""
    await socket.accept()
    signed: _SignIn | None = socket.scope.get("stream_sign_in")  # type: ignore[assignment]
    try:
        after_id = parse_after_id(socket.query_params.get("after_id"))
        if signed is None:
            first = await _first_message(socket)
            if first is None:
                return
            if "after_id" in first:  # the shape first, then the (database) sign-in
                after_id = parse_after_id(first["after_id"])
            signed = await _sign_in_by_message(socket, first)
    except (TimeoutError, ValueError, PermissionError) as exc:
        if isinstance(exc, TimeoutError):
            detail: str = t("token: none sent in time")
        else:  # ours are Texts (rendered for the reader by ``_close``)
            detail = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
        await _close(socket, 4400 if isinstance(exc, ValueError) else 4401, detail)
        return
    except WebSocketDisconnect:
        return
    user = signed.user

    async def send_all(feed: _Feed) -> None:
        await socket.send_json({"type": "ready", "user_id": user.id})
        async for item in feed.messages():
            if item is None:
                await socket.send_json({"type": "ping"})
            else:
                await socket.send_text(b'{"type":"notification","notification":' + item[1] + b"}")

    async with _feed(socket.app, channels, user, after_id, signed) as feed:
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
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await receiver
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        if feed.closed:
            await _close(socket, 4401, t("token: the sign-in ended (logged out or revoked)"))


async def _close(socket: WebSocket[Any, Any, Any], code: int, detail: Any) -> None:
    """Say why (in the reader's language) and close; the close reason is the same words, cut to
    the 123 bytes a close frame holds."""
    lang = negotiate(socket.headers.get("accept-language"), getattr(socket.scope.get("user"), "language", None))
    said = str(render(detail, lang))
    with contextlib.suppress(Exception):
        await socket.send_json({"type": "error", "detail": said})
        await socket.close(code=code, reason=said.encode()[:120].decode(errors="ignore"))
