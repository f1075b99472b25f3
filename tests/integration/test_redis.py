"""What Redis carries: login throttling shared by API processes, and per-period job locks."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from alerts.scheduler import Job, RedisLock, run_once_per_period
from tests.integration.conftest import make_user

pytestmark = pytest.mark.anyio


@pytest.fixture
async def redis(redis_url):
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    await client.ping()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def fresh_address_counters(redis):
    """Address counters live for 15 minutes: earlier runs on the same Redis must not count."""
    async for key in redis.scan_iter(match="xinbao:login:addr:*"):
        await redis.delete(key)


async def test_login_throttle_is_shared_by_two_api_processes(settings, engine, redis_url, fresh_address_counters):
    from server.app import create_app
    from server.demo.setup import seed_reference_data

    await seed_reference_data()
    phone = "136" + str(uuid.uuid4().int)[:8]
    await make_user(phone, "subscriber", password="the-right-one")
    shared = replace(settings, redis_url=redis_url)
    first, second = create_app(shared), create_app(shared)
    async with first.lifespan(), second.lifespan():
        a = httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a")
        b = httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b")
        async with a, b:
            for i in range(5):  # failures spread over both processes
                client = a if i % 2 else b
                r = await client.post("/api/auth/login", json={"phone": phone, "password": "wrong"})
                assert r.status_code == 401
            for client in (a, b):
                r = await client.post("/api/auth/login", json={"phone": phone, "password": "the-right-one"})
                assert r.status_code == 429
                assert int(r.headers["retry-after"]) > 0
            assert first.state.redis is not None


async def test_a_success_clears_the_phone_counter(client, settings, engine, redis_url, fresh_address_counters):
    from server.app import create_app

    phone = "135" + str(uuid.uuid4().int)[:8]
    await make_user(phone, "subscriber", password="pw-123456")
    app = create_app(replace(settings, redis_url=redis_url))
    async with app.lifespan():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
            for _ in range(4):
                await c.post("/api/auth/login", json={"phone": phone, "password": "bad"})
            assert (await c.post("/api/auth/login", json={"phone": phone, "password": "pw-123456"})).status_code == 200
            for _ in range(4):
                assert (await c.post("/api/auth/login", json={"phone": phone, "password": "bad"})).status_code == 401


async def test_two_workers_run_a_job_once_per_period(redis, redis_url):
    from redis.asyncio import Redis

    runs: list[datetime] = []

    async def job_func(as_of: datetime) -> None:
        await asyncio.sleep(0.05)
        runs.append(as_of)

    job = Job(f"test-job-{uuid.uuid4().hex[:8]}", job_func, every=timedelta(minutes=5))
    other = Redis.from_url(redis_url)  # the second worker has its own connection
    try:
        worker_a, worker_b = RedisLock(redis), RedisLock(other)
        t0 = datetime(2026, 1, 1, 8, 0, 30, tzinfo=UTC)
        for period in range(3):
            now = t0 + timedelta(minutes=5 * period)
            ran = await asyncio.gather(run_once_per_period(job, worker_a, now),
                                       run_once_per_period(job, worker_b, now + timedelta(seconds=1)))
            assert sorted(ran) == [False, True]
    finally:
        await other.aclose()
    assert runs == [datetime(2026, 1, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=5 * p) for p in range(3)]
