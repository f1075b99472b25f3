"""Litestar stores (response cache, firm-claim codes, stream tickets ...) that survive a Redis
outage: ``build_stores(settings, client)`` for ``Litestar(stores=...)``.

While Redis is down a cache store misses (the handler runs, the answer is not cached) and
every other store answers 503 with ``Retry-After`` (what it keeps cannot be faked from
memory in a multi-process deployment), so an outage never becomes a 500. After a failure
the stores skip Redis for ``cooldown_s`` instead of waiting on a dead server per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from litestar.exceptions import ServiceUnavailableException
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.registry import StoreRegistry

from server.settings import Settings
from server.texts import t

__all__ = ["FAIL_OPEN_STORES", "ResilientStore", "StoreUnavailable", "build_stores"]

T = TypeVar("T")

# Stores whose loss only costs speed: a miss while Redis is down.
FAIL_OPEN_STORES = frozenset({"response_cache"})


class StoreUnavailable(ServiceUnavailableException):
    """503: the store's Redis is down."""


class _Breaker:
    """Shared by the stores of one Redis: after a failure, skip Redis for a short while."""

    def __init__(self, cooldown_s: float = 1.0) -> None:
        self.cooldown_s = cooldown_s
        self.open_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.cooldown_s


def _outage_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return (OSError, TimeoutError)
    return (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


class ResilientStore(Store):
    """Wraps a store; on a Redis outage a ``fail_open`` store misses and no-ops, any other
    answers 503. ``take`` is an atomic get-and-delete (Redis ``GETDEL``)."""

    def __init__(self, inner: Store, *, fail_open: bool, breaker: _Breaker | None = None,
                 timeout_s: float = 2.0) -> None:
        self.inner = inner
        self.fail_open = fail_open
        self.breaker = breaker or _Breaker()
        self.timeout_s = timeout_s
        self._take_lock = asyncio.Lock()

    async def _call(self, op: Callable[[], Awaitable[T]], fallback: T) -> T:
        if self.breaker.open:
            return self._unavailable(fallback)
        try:
            return await asyncio.wait_for(op(), self.timeout_s)
        except _outage_errors():
            self.breaker.trip()
            return self._unavailable(fallback)

    def _unavailable(self, fallback: T) -> T:
        if self.fail_open:
            return fallback
        raise StoreUnavailable(t("redis: temporarily unavailable, try again shortly"),
                               headers={"Retry-After": "5"})

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        await self._call(lambda: self.inner.set(key, value, expires_in), None)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await self._call(lambda: self.inner.get(key, renew_for), None)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self.inner.delete(key), None)

    async def delete_all(self) -> None:
        await self._call(self.inner.delete_all, None)

    async def exists(self, key: str) -> bool:
        return await self._call(lambda: self.inner.exists(key), False)

    async def expires_in(self, key: str) -> int | None:
        return await self._call(lambda: self.inner.expires_in(key), None)

    async def take(self, key: str) -> bytes | None:
        """The value, deleted in the same step: of concurrent takers exactly one gets it."""
        redis = getattr(self.inner, "_redis", None)
        if redis is not None:
            full_key = self.inner._make_key(key)  # type: ignore[attr-defined]
            return await self._call(lambda: redis.getdel(full_key), None)

        async def get_and_delete() -> bytes | None:
            async with self._take_lock:  # one process owns a memory store
                value = await self.inner.get(key)
                if value is not None:
                    await self.inner.delete(key)
                return value

        return await self._call(get_and_delete, None)

    async def __aexit__(self, *args: Any) -> None:
        await self.inner.__aexit__(*args)


def build_stores(settings: Settings, client: Callable[[], Any]) -> StoreRegistry:
    """Every named store under one Redis namespace (memory without Redis), made outage-safe.

    ``client()`` is the app's one Redis client, opened by its lifespan: stores are made on
    first use (a request), so they share it; the lifespan closes it."""
    breaker = _Breaker()

    def factory(name: str) -> Store:
        inner: Store
        if settings.redis_url:
            from litestar.stores.redis import RedisStore

            redis = client()
            if redis is None:
                raise RuntimeError(f"store {name!r} used before the app's lifespan opened Redis")
            inner = RedisStore(redis=redis, namespace="xinbao").with_namespace(name)
        else:
            inner = MemoryStore()
        return ResilientStore(inner, fail_open=name in FAIL_OPEN_STORES, breaker=breaker)

    return StoreRegistry(default_factory=factory)
