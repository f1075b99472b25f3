"""Chaos (issue 10, point 10): Redis is SIGKILLed and restarted while five SSE clients listen.

On a PostgreSQL cluster and a ``redis-server`` this test starts itself (spare ports, never the
shared services) under a real ``xinbao serve``: while Redis is down the API says ``degraded``
and nothing is marked sent; once it is back every client gets every push sent after recovery
on the stream it kept open, and a reconnect with ``after_id`` brings what was sent during the
outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.chaos.conftest import ApiServer, PgCluster, RedisProc
from tests.integration.test_push import SseClient

pytestmark = [pytest.mark.chaos, pytest.mark.anyio]

CLIENTS = 5
PASSWORD = "secret-pass-1"


async def _push(users: list[int], key: str) -> list[int]:
    """Commit one notification per user (as any event does: with its outbox rows); their ids."""
    from server.notifications import common, fanout
    from server.tables.notifications import Notification

    async with common.transaction():
        await fanout.notify_users(users, "policy", "blue", "混沌测试", "Chaos test", {"key": key}, key)
    rows = await Notification.select(Notification.id, Notification.user).where(
        Notification.dedup_key.is_in([f"{key}:{u}" for u in users]))
    by_user = {r["user"]: r["id"] for r in rows}
    return [by_user[u] for u in users]


async def _push_status(note_ids: list[int]) -> set[str]:
    from server.tables.notifications import Outbox

    rows = await Outbox.select(Outbox.status).where(
        Outbox.notification.is_in(note_ids) & (Outbox.channel == "push"))
    return {r["status"] for r in rows}


async def _health(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        r = await http.get("/api/health")
        return {"code": r.status_code, **r.json()}


async def _until(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_every_client_gets_every_push_across_a_redis_restart(
        pg_cluster: PgCluster, redis_proc: RedisProc, api_server: Callable[..., ApiServer]):
    from server import db
    from server.demo.setup import seed_reference_data
    from tests.integration.conftest import make_user

    url = pg_cluster.new_database()
    api = api_server(url, redis_proc.url)
    engine = await db.open_engine(url)
    try:
        await seed_reference_data()
        phones = [f"1398880{i:04d}" for i in range(CLIENTS)]
        users = [await make_user(p, "subscriber", password=PASSWORD) for p in phones]
        tokens = []
        async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
            for phone in phones:
                r = await http.post("/api/auth/login", json={"phone": phone, "password": PASSWORD})
                assert r.status_code == 200, r.text
                tokens.append(r.json()["access_token"])

        clients = [SseClient(api.url, t) for t in tokens]
        for client in clients:
            await client.__aenter__()
        try:
            before = await _push(users, f"before:{datetime.now(UTC).timestamp()}")
            for client, note in zip(clients, before, strict=True):
                await client.wait_for_count(1, timeout=5)
                assert client.ids() == [note]

            await asyncio.to_thread(redis_proc.kill)  # SIGKILL
            assert (await _health(api.url))["status"] == "degraded"
            during = await _push(users, f"during:{datetime.now(UTC).timestamp()}")
            await asyncio.sleep(1.0)
            assert await _push_status(during) == {"pending"}  # nothing "sent" to a dead Redis

            await asyncio.to_thread(redis_proc.start)
            await _until(lambda: _ok(api.url), 15, "the API to report healthy after the restart")
            after = await _push(users, f"after:{datetime.now(UTC).timestamp()}")
            for client, note in zip(clients, after, strict=True):
                await _until(lambda c=client, n=note: _has(c, n), 10, f"push {note} on its open stream")
            await _until(lambda: _all_sent(during + after), 10, "every push row marked sent")
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)

        # a client reconnecting with the last id it had before the outage gets the rest
        for token, first, missed, later in zip(tokens, before, during, after, strict=True):
            async with SseClient(api.url, token, after_id=first) as again:
                await again.wait_for_count(2, timeout=5)
                assert again.ids() == [missed, later]
    finally:
        await db.close(engine)


async def _ok(base: str) -> bool:
    try:
        body = await _health(base)
    except httpx.HTTPError:
        return False
    return body["code"] == 200 and body["status"] == "ok"


async def _has(client: SseClient, note_id: int) -> bool:
    return note_id in client.ids()


async def _all_sent(note_ids: list[int]) -> bool:
    return await _push_status(note_ids) == {"sent"}
