"""``/api/health``'s checks of the database and Redis, shared by the requests that ask at once.

Load balancers, orchestrators and monitoring ask for health often, and under load many ask at
the same moment; each used to run a database query and a Redis ping of its own (measured:
health answered at 18 % of a trivial route's rate, most of it these two round trips). Now one
check runs at a time and every request that arrives while it runs shares its answer, so a
request's answer never comes from a check that ended before it arrived. A deployment may also
reuse a finished check's answer for ``XINBAO_HEALTH_TTL_S`` seconds after the check *started*
(0 by default: the status is then never older than the request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["HealthProbe", "check_backends"]


class HealthProbe:
    """Runs ``check`` at most once per ``ttl_s`` and once at a time, sharing its answer."""

    def __init__(self, check: Callable[[], Awaitable[dict[str, str]]], ttl_s: float) -> None:
        self.check = check
        self.ttl_s = ttl_s
        self.checks = 0  # how many checks ran (for tests and curiosity)
        #: the route's answers made of the checks, by status and body: few (ok, degraded, down
        #: with each backend's state), kept for the process (``server.responses.KeptResponse``)
        self.answers: dict[tuple, Any] = {}
        self._answer: dict[str, str] | None = None
        self._started = 0.0
        self._running: asyncio.Future[dict[str, str]] | None = None

    async def answer(self) -> dict[str, str]:
        if self._answer is not None and time.monotonic() - self._started < self.ttl_s:
            return self._answer
        if self._running is None:
            self._running = asyncio.ensure_future(self._check())
        # shield: one caller going away (a closed connection) does not cancel the others' check
        return await asyncio.shield(self._running)

    async def _check(self) -> dict[str, str]:
        started = time.monotonic()
        try:
            answer = await self.check()
            self._answer, self._started = answer, started
            self.checks += 1
            return answer
        finally:
            self._running = None


async def _one_row(pool: Any) -> None:
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1 FROM firm LIMIT 1")


async def check_backends(engine: Any, redis: Any) -> dict[str, str]:
    """``database``: ``down`` unless one row read answers within 5 s; ``redis``: ``up`` or
    ``down`` (1 s to answer a ping), absent without Redis."""
    from server.tables.firms import Firm

    out = {"database": engine.engine_type}
    try:
        # constant time: one row read, if any (COUNT read them all); on PostgreSQL straight on
        # the pool, since building Piccolo's query cost more than the database's answer
        pool = getattr(engine, "pool", None)
        await asyncio.wait_for(_one_row(pool) if pool is not None else Firm.exists(), 5)
    except Exception:  # noqa: BLE001 - any failure here means "the database does not answer"
        out["database"] = "down"
    if redis is not None:
        try:
            await asyncio.wait_for(redis.ping(), 1)
            out["redis"] = "up"
        except Exception:  # noqa: BLE001 - refused, reset, timed out: all mean down
            out["redis"] = "down"
    return out
