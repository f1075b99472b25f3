"""Issue 10 point 10 at the API level: Redis is killed and started again under a running API.

Before the fix streams went silent for good, the outbox marked rows ``sent`` to nobody, login
and Redis-backed stores answered 500 and ``/api/health`` said 200 "ok". Now, while Redis is
down, the API keeps answering (reads, the inbox, login; Redis-only features answer 503, never
500), health reports ``degraded``; afterwards the open stream and new streams get every push,
including what was committed during the outage, and a reconnect with ``after_id`` gets it too.

A real ``xinbao serve`` on PostgreSQL (shared server, own database) with a ``redis-server`` of
this test's own on a spare port (never the shared one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import RedisProc, running_redis
from tests.integration.test_push import PASSWORD, LiveServer, SseClient, _note_id, _raise_warning
from tests.security.conftest import pg_only_db_url

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)


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
    firm = Firm(uscc=make_uscc(840_001), name="断线测试机械有限公司", industry_section="C", industry_division="34",
                town="百官街道", registered_capital_fen=50_000_000, founded_on=date(2012, 5, 1),
                size_class="small", created_at=now, updated_at=now)
    await firm.save()
    watcher = await make_user("13977700001", "subscriber")
    owner = await make_user("13977700002", "owner")
    await Subscription(user=watcher, firm=firm.id, created_at=now).save()
    return {"firm": {"id": firm.id, "uscc": firm.uscc, "name": firm.name}, "watcher": watcher, "owner": owner}


async def _outbox_status(note_id: int) -> str:
    from server.tables.notifications import Outbox

    [row] = await Outbox.select(Outbox.status).where((Outbox.notification == note_id) & (Outbox.channel == "push"))
    return row["status"]


async def _until_sent(note_id: int, timeout: float = 10) -> None:
    """The relay marks a row sent once its publish succeeded (just after the client may see it)."""
    for _ in range(int(timeout / 0.1)):
        if await _outbox_status(note_id) == "sent":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the push of notification {note_id} is still {await _outbox_status(note_id)!r}")


async def _health(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    r = await http.get("/api/health")
    return r.status_code, r.json()


async def _until_healthy(http: httpx.AsyncClient, timeout: float = 15) -> None:
    for _ in range(int(timeout / 0.1)):
        status, body = await _health(http)
        if status == 200 and body.get("status") == "ok":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the API did not report healthy again: {body}")


async def test_the_api_rides_out_a_redis_restart(people, db_url, own_redis, tmp_path_factory):
    live = await LiveServer(db_url, tmp_path_factory.mktemp("live"), redis_url=own_redis.url).start()
    try:
        async with httpx.AsyncClient(base_url=live.base, timeout=15) as http:
            watcher = await live.token("13977700001")
            owner = await live.token("13977700002")
            bearer = {"Authorization": f"Bearer {watcher}"}
            async with SseClient(live.base, watcher) as stream:
                await asyncio.to_thread(own_redis.kill)

                # --- during the outage -------------------------------------------------------
                status, body = await _health(http)
                assert status == 200 and body["status"] == "degraded" and body["redis"] == "down", body
                assert (await http.get("/api/notifications", headers=bearer)).status_code == 200
                assert (await http.get("/api/me", headers=bearer)).status_code == 200
                r = await http.post("/api/auth/login", json={"phone": "13977700001", "password": PASSWORD})
                assert r.status_code < 500, r.text
                r = await http.post("/api/me/firm-claim", json={"uscc": people["firm"]["uscc"]},
                                    headers={"Authorization": f"Bearer {owner}"})
                assert r.status_code == 503, r.text  # a Redis-backed store: unavailable, not a crash
                r = await http.post("/api/notifications/stream-ticket", headers=bearer)
                assert r.status_code == 503, r.text
                during, _ = await _raise_warning(people["firm"], level="yellow")
                during_id = await _note_id(people["watcher"], during)
                await asyncio.sleep(1.5)  # the relay tries (or waits): the row must not be "sent"
                assert await _outbox_status(during_id) == "pending"

                # --- after the restart -------------------------------------------------------
                await asyncio.to_thread(own_redis.start)
                await _until_healthy(http)
                # the outage's notification is delivered live once Redis is back...
                await stream.wait_for_count(1, timeout=10)
                assert stream.ids() == [during_id]
                await _until_sent(during_id)
                # ... and a new one reaches the stream that stayed open and a new stream
                async with SseClient(live.base, watcher) as fresh:
                    after, _ = await _raise_warning(people["firm"])
                    after_id = await _note_id(people["watcher"], after)
                    await stream.wait_for_count(2, timeout=5)
                    await fresh.wait_for_count(1, timeout=5)
                    assert stream.ids() == [during_id, after_id]
                    assert fresh.ids() == [after_id]
            # a client that was away catches up from the database
            async with SseClient(live.base, watcher, after_id=during_id - 1) as again:
                await again.wait_for_count(2, timeout=5)
                assert again.ids() == [during_id, after_id]
    finally:
        live.stop()
