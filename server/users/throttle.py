"""Throttles for sign-in, registration and one-time codes: atomic counters in Redis (shared by
every API process) or, without Redis or while it is down, in this process's memory.

Every attempt is counted *before* the password or code is checked, in one atomic step (a Lua
script in Redis; plain Python with no ``await`` in between in memory), so however many requests
arrive at once, at most the limit are ever evaluated.

Sign-in has two limits (see ``LoginThrottle.begin_login``):

* per phone: 5 attempts in 15 minutes, strict, whatever the address; a success clears it;
* per address: 30 *distinct phones* with an unsuccessful attempt in 15 minutes (password
  spraying). One person mistyping counts once. When an address is over it, only phones that
  have not signed in successfully from that address in the last 30 days are refused, so the
  regular users behind a proxy or NAT (or of the web app's server) keep signing in.

The client address is the TCP peer, or the ``X-Forwarded-For`` hop named by a configured
reverse proxy (``settings.trusted_proxies``); the header is ignored from anyone else.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

import anyio

__all__ = [
    "ADDRESS", "KNOWN_DAYS", "PHONE", "REGISTER_ADDRESS", "REGISTER_PHONE", "Limit",
    "LoginThrottle", "client_address", "namespace",
]

log = logging.getLogger("xinbao.throttle")


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``max_failures`` counted attempts per key in a fixed window of ``window_s``."""

    scope: str
    max_failures: int
    window_s: int


PHONE = Limit("phone", 5, 900)
ADDRESS = Limit("addr", 30, 900)  # distinct phones with an unsuccessful attempt
KNOWN_DAYS = 30  # a phone that signed in from an address is "known" there this long
REGISTER_PHONE = Limit("register:phone", 5, 3600)  # each starts an SMS: cap per number
REGISTER_ADDRESS = Limit("register:addr", 20, 3600)

REDIS_TIMEOUT_S = 2.0  # past this a slow Redis counts as down: sign-in must not hang on it
REDIS_RETRY_S = 5.0  # after a failure, count in memory this long before asking Redis again

# KEYS: phone counter, address set, known marker.
# ARGV: phone, phone max, phone window, address max, address window.
# Returns {0, 0} to go ahead, {1, ttl} when the phone is over, {2, ttl} when the address is.
_LOGIN = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then
  return {1, redis.call('TTL', KEYS[1])}
end
if redis.call('EXISTS', KEYS[3]) == 0 and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[4]) then
    return {2, redis.call('TTL', KEYS[2])}
  end
  redis.call('SADD', KEYS[2], ARGV[1])
  if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {0, 0}
"""

# KEYS: counters. ARGV: max and window of each, in turn. All or nothing: when one counter is
# at its limit nothing is counted (so a refused try does not use up another key's budget).
# Returns {0, 0} to go ahead, else {index of the first full counter, its ttl}.
_HIT = """
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then
    return {i, redis.call('TTL', key)}
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return {0, 0}
"""


_COUNT = "return {tonumber(redis.call('GET', KEYS[1]) or '0')}"


def namespace(database_url: str) -> str:
    """A short id of the database, so deployments (or test runs) sharing a Redis never share
    counters; every process of one deployment gets the same id."""
    if database_url.startswith("sqlite"):
        ident = database_url
    else:
        parts = urlparse(database_url)
        ident = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


class _Memory:
    """Fixed-window counters and sets for one process. No method awaits, so each call is atomic
    on the event loop."""

    PRUNE_EVERY = 1024  # calls between sweeps of expired entries (bounded memory in the demo)

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, float]] = {}
        self.sets: dict[str, tuple[set[str], float]] = {}
        self.marks: dict[str, float] = {}
        self.calls = 0

    def _tick(self, now: float) -> None:
        self.calls += 1
        if self.calls % self.PRUNE_EVERY:
            return
        self.counts = {k: v for k, v in self.counts.items() if v[1] > now}
        self.sets = {k: v for k, v in self.sets.items() if v[1] > now}
        self.marks = {k: v for k, v in self.marks.items() if v > now}

    def _count(self, key: str, now: float) -> tuple[int, float]:
        count, until = self.counts.get(key, (0, 0.0))
        return (0, 0.0) if until <= now else (count, until)

    def _members(self, key: str, now: float) -> tuple[set[str], float]:
        members, until = self.sets.get(key, (set(), 0.0))
        return (set(), 0.0) if until <= now else (members, until)

    def hit(self, keys: Sequence[tuple[str, Limit]]) -> tuple[int, int]:
        now = time.monotonic()
        self._tick(now)
        for i, (key, limit) in enumerate(keys, start=1):
            count, until = self._count(key, now)
            if count >= limit.max_failures:
                return i, int(until - now) + 1
        for key, limit in keys:
            count, until = self._count(key, now)
            self.counts[key] = (count + 1, until or now + limit.window_s)
        return 0, 0

    def count(self, key: str) -> int:
        return self._count(key, time.monotonic())[0]

    def begin_login(self, phone_key: str, addr_key: str, known_key: str, phone: str,
                    phone_limit: Limit, address_limit: Limit) -> tuple[int, int]:
        now = time.monotonic()
        self._tick(now)
        count, until = self._count(phone_key, now)
        if count >= phone_limit.max_failures:
            return 1, int(until - now) + 1
        if self.marks.get(known_key, 0.0) <= now:
            members, set_until = self._members(addr_key, now)
            if phone not in members:
                if len(members) >= address_limit.max_failures:
                    return 2, int(set_until - now) + 1
                members.add(phone)
                self.sets[addr_key] = (members, set_until or now + address_limit.window_s)
        self.counts[phone_key] = (count + 1, until or now + phone_limit.window_s)
        return 0, 0

    def login_succeeded(self, phone_key: str, addr_key: str, known_key: str, phone: str) -> None:
        self.counts.pop(phone_key, None)
        members, _ = self.sets.get(addr_key, (set(), 0.0))
        members.discard(phone)
        self.marks[known_key] = time.monotonic() + KNOWN_DAYS * 86400


class LoginThrottle:
    """Atomic attempt counters for sign-in, registration and one-time codes.

    Redis when configured; if Redis does not answer, this process counts on its own (and says
    so in the log) rather than refusing sign-ins: limits then hold per process until it is back.
    """

    def __init__(self, redis: Any | None = None, prefix: str = "xinbao:login", *,
                 phone_limit: Limit = PHONE, address_limit: Limit = ADDRESS) -> None:
        self.redis = redis
        self.prefix = prefix
        self.phone_limit = phone_limit
        self.address_limit = address_limit
        self._memory = _Memory()
        self._warned_at = float("-inf")
        self._down_until = float("-inf")

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(p) for p in parts)])

    async def _redis(self, script: str, keys: list[str], args: list[Any]) -> list[int] | None:
        """Run a script in Redis; None when there is no Redis or it is down (then memory counts)."""
        if self.redis is None or time.monotonic() < self._down_until:
            return None
        from redis.exceptions import RedisError

        try:
            with anyio.fail_after(REDIS_TIMEOUT_S):
                result = await self.redis.eval(script, len(keys), *keys, *args)
        except (RedisError, OSError, TimeoutError) as exc:
            now = time.monotonic()
            self._down_until = now + REDIS_RETRY_S
            if now - self._warned_at > 60:  # once a minute, not once a request
                self._warned_at = now
                log.warning("Redis is unreachable (%s): throttling with this process's own counters",
                            exc.__class__.__name__)
            return None
        return [int(x) for x in result]

    async def hit(self, *keys: tuple[str, Limit]) -> tuple[Limit | None, int]:
        """Count one attempt on every key, unless one is at its limit: then that limit and the
        seconds to wait, and nothing is counted. ``(None, 0)`` means go ahead."""
        args: list[Any] = []
        for _, limit in keys:
            args += [limit.max_failures, limit.window_s]
        result = await self._redis(_HIT, [k for k, _ in keys], args)
        which, ttl = result if result is not None else self._memory.hit(keys)
        return (keys[which - 1][1], max(int(ttl), 1)) if which else (None, 0)

    async def count(self, key: str) -> int:
        """Attempts counted on a key in its current window."""
        result = await self._redis(_COUNT, [key], [])
        return result[0] if result is not None else self._memory.count(key)

    def _login_keys(self, phone: str, address: str) -> tuple[str, str, str]:
        return (self.key(self.phone_limit.scope, phone), self.key(self.address_limit.scope, address),
                self.key("known", address, phone))

    async def begin_login(self, phone: str, address: str) -> int:
        """Count a sign-in attempt before the password is checked; seconds to wait, or 0."""
        phone_key, addr_key, known_key = self._login_keys(phone, address)
        result = await self._redis(_LOGIN, [phone_key, addr_key, known_key],
                                   [phone, self.phone_limit.max_failures, self.phone_limit.window_s,
                                    self.address_limit.max_failures, self.address_limit.window_s])
        which, ttl = result if result is not None else self._memory.begin_login(
            phone_key, addr_key, known_key, phone, self.phone_limit, self.address_limit)
        return max(int(ttl), 1) if which else 0

    async def login_succeeded(self, phone: str, address: str) -> None:
        """A right password: clear the phone's count and remember the phone at this address."""
        phone_key, addr_key, known_key = self._login_keys(phone, address)
        self._memory.login_succeeded(phone_key, addr_key, known_key, phone)
        if self.redis is None or time.monotonic() < self._down_until:
            return
        from redis.exceptions import RedisError

        try:
            with anyio.fail_after(REDIS_TIMEOUT_S):
                pipe = self.redis.pipeline()
                pipe.delete(phone_key)
                pipe.srem(addr_key, phone)
                pipe.set(known_key, 1, ex=KNOWN_DAYS * 86400)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError):
            pass  # the count runs out with its window; begin_login already warned


@lru_cache(maxsize=32)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: Any, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the TCP peer, unless the peer is one of ``trusted_proxies``
    (``settings.trusted_proxies``, reverse proxies' addresses or CIDRs); then
    the nearest ``X-Forwarded-For`` hop that is not one of our proxies (what a client writes
    further left is its own claim and is not believed)."""
    peer = request.client.host if request.client else "unknown"
    trusted = _networks(tuple(trusted_proxies))

    def is_proxy(addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return addr is not None and any(addr in net for net in trusted)

    if not trusted or not is_proxy(_ip(peer)):
        return peer
    current = peer
    for hop in reversed(request.headers.get("x-forwarded-for", "").split(",")):
        addr = _ip(hop)
        if addr is None:
            break  # garbage from a hop we trust: keep the last address we can vouch for
        current = str(addr)
        if not is_proxy(addr):
            break
    return current
