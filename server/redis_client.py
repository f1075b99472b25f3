"""The one way the platform makes a Redis client.

An API process builds one command client in its lifespan (``server.app``): the Redis-backed
stores, the sign-in throttle, the live-push publisher and ``/api/health`` all use it, and the
lifespan closes it. The live-push listener holds one more connection, made here too, because a
pub/sub connection must not reconnect behind our back (``server.notifications.push`` re-subscribes
itself). A job or CLI command outside the API makes its own client here and closes it.

Building a client does no I/O: redis-py connects on the first command.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["ping", "redis_client"]


def redis_client(url: str, *, retries: int = 2, socket_timeout: float | None = 2.0) -> Any:
    """A ``redis.asyncio.Redis`` that gives up quickly while Redis is down: ``retries`` short
    retries (redis-py's default retries with backoff for seconds per call during an outage),
    a 1 s connect timeout and ``socket_timeout`` per reply (None for a pub/sub listener, which
    waits with its own timeouts)."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    return Redis.from_url(url, retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries),
                          socket_connect_timeout=1, socket_timeout=socket_timeout,
                          socket_keepalive=True, health_check_interval=0)


async def ping(client: Any, url: str) -> bool:
    """Whether Redis answers now; a process starts degraded (and says so) when it does not,
    since every Redis user copes with an outage."""
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - refused, reset, timed out: all mean "not now"
        logging.getLogger("xinbao.redis").warning("Redis at %s does not answer (%s): starting degraded",
                                                  url, exc)
        return False
    return True
