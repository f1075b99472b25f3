"""Login throttling per phone number and per client address (Redis, or memory in the demo).

Failed sign-ins are counted in fixed windows; past the limit further attempts get 429 until
the window ends, whatever the password. Redis counters (INCR + EXPIRE) are shared by every
API process, so the limit holds across workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["LoginThrottle"]


@dataclass(frozen=True, slots=True)
class Limit:
    scope: str
    max_failures: int
    window_s: int


PHONE = Limit("phone", 5, 900)
ADDRESS = Limit("addr", 30, 900)


class LoginThrottle:
    def __init__(self, redis: Any | None = None, prefix: str = "xinbao:login") -> None:
        self.redis = redis
        self.prefix = prefix
        self._memory: dict[str, tuple[int, float]] = {}

    def _keys(self, phone: str, address: str) -> list[tuple[str, Limit]]:
        return [(f"{self.prefix}:{PHONE.scope}:{phone}", PHONE),
                (f"{self.prefix}:{ADDRESS.scope}:{address}", ADDRESS)]

    async def retry_after(self, phone: str, address: str) -> int:
        """Seconds to wait when a limit is reached, else 0."""
        for key, limit in self._keys(phone, address):
            if self.redis is not None:
                count = int(await self.redis.get(key) or 0)
                ttl = await self.redis.ttl(key) if count >= limit.max_failures else 0
            else:
                count, until = self._memory.get(key, (0, 0.0))
                if until < time.monotonic():
                    count = 0
                ttl = int(until - time.monotonic()) + 1
            if count >= limit.max_failures:
                return max(int(ttl), 1)
        return 0

    async def failed(self, phone: str, address: str) -> None:
        for key, limit in self._keys(phone, address):
            if self.redis is not None:
                pipe = self.redis.pipeline()
                pipe.incr(key)
                pipe.expire(key, limit.window_s, nx=True)
                await pipe.execute()
            else:
                count, until = self._memory.get(key, (0, 0.0))
                if until < time.monotonic():
                    count, until = 0, time.monotonic() + limit.window_s
                self._memory[key] = (count + 1, until)

    async def succeeded(self, phone: str) -> None:
        key = f"{self.prefix}:{PHONE.scope}:{phone}"
        if self.redis is not None:
            await self.redis.delete(key)
        else:
            self._memory.pop(key, None)
