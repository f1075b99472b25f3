"""Issue 10 point 11: SSE streams opened at the same moment right after start-up never got a
message. Concurrent first subscriptions of the Redis pub/sub each opened a connection of their
own and subscribed there, and only the last connection was ever read.

A real ``xinbao serve`` on PostgreSQL with a ``redis-server`` of this test's own, started fresh
a few times: each time five users open their streams at once and a warning is committed; every
stream must get its push. The probe hit the race by chance (the window is a Redis round trip);
here Redis is paused (SIGSTOP) for a moment while the streams connect, which holds the window
open, and continued (SIGCONT) before the streams are expected to be ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.chaos.conftest import RedisProc, running_redis
from tests.integration.test_push import LiveServer, SseClient, _note_id, _raise_warning
from tests.security.conftest import pg_only_db_url

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)
STREAMS = 5
STARTS = 2


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProc]:
    with running_redis(tmp_path_factory.mktemp("redis")) as proc:
        yield proc


@pytest.fixture(scope="module")
async def people(engine) -> dict[str, Any]:
    from server.demo.setup import seed_reference_data
    from server.tables.firms import Firm
    from server.tables.notifications import Subscription
    from server.uscc import make_uscc
    from tests.integration.conftest import make_user

    await seed_reference_data()
    now = datetime.now(UTC)
    firm = Firm(uscc=make_uscc(830_001), name="并发推送机械有限公司", industry_section="C", industry_division="34",
                town="百官街道", registered_capital_fen=50_000_000, founded_on=date(2012, 5, 1),
                size_class="small", created_at=now, updated_at=now)
    await firm.save()
    phones = [f"139666000{i:02d}" for i in range(STREAMS)]
    users = [await make_user(p, "subscriber") for p in phones]
    for user in users:
        await Subscription(user=user, firm=firm.id, created_at=now).save()
    return {"firm": {"id": firm.id, "uscc": firm.uscc, "name": firm.name}, "users": users, "phones": phones}


async def _open_at_once(stack: contextlib.AsyncExitStack, base: str, tokens: list[str],
                        redis: RedisProc) -> list[SseClient]:
    """Open one stream per token at the same moment while Redis is paused for a second."""
    assert redis.process is not None
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        opening = asyncio.gather(*(stack.enter_async_context(SseClient(base, t)) for t in tokens))
        await asyncio.sleep(1.0)  # the requests reach their subscription and wait on Redis
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    return list(await opening)


async def test_streams_opened_at_once_after_start_up_all_get_their_push(
        people, db_url: str, own_redis: RedisProc, tmp_path_factory: pytest.TempPathFactory):
    tokens: list[str] = []
    missed: list[str] = []
    for start in range(STARTS):
        live = await LiveServer(db_url, tmp_path_factory.mktemp("live"), redis_url=own_redis.url).start()
        try:
            if not tokens:  # the same secret and database: the tokens work across restarts
                tokens = [await live.token(p) for p in people["phones"]]
            async with contextlib.AsyncExitStack() as stack:
                streams = await _open_at_once(stack, live.base, tokens, own_redis)
                wid, _ = await _raise_warning(people["firm"])
                for user, stream in zip(people["users"], streams, strict=True):
                    with contextlib.suppress(AssertionError):
                        await stream.wait_for_count(1, timeout=5)
                    expected = [await _note_id(user, wid)]
                    if stream.ids() != expected:
                        missed.append(f"start {start}: user {user} got {stream.ids()}, expected {expected}")
        finally:
            live.stop()
    assert missed == [], "streams that never got their push:\n" + "\n".join(missed)
