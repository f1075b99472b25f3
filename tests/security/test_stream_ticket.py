"""Issue 10 point 16 (``?token=``): an access token in a query string ends up in access logs.
Streams take a one-time, short-lived ticket instead (``POST /api/notifications/stream-ticket``
with Bearer auth); ``Authorization`` headers keep working.

In-process on PostgreSQL with Redis (tickets live in Redis, taken with an atomic GETDEL);
``max_seconds=0`` makes a stream send what was missed and end, so the in-process client works.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from tests.integration.conftest import login, make_user
from tests.security.conftest import pg_only_db_url

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)
STREAM = "/api/notifications/stream"
TICKET = "/api/notifications/stream-ticket"


@pytest.fixture(scope="module")
def settings(db_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return Settings(database_url=db_url, redis_url=redis_url, jwt_secret="test-secret-not-for-production-0123456789",
                    data_dir=data_dir, demo=True, model_bags=4, model_regularization=0.1)


@pytest.fixture(scope="module")
async def bearer(client: httpx.AsyncClient) -> dict[str, str]:
    await make_user("13944400001", "subscriber")
    return await login(client, "13944400001")


async def _ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    r = await client.post(TICKET, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert 0 < body["expires_in"] <= 60
    return body["ticket"]


async def test_a_token_in_the_query_string_is_refused(client, bearer):
    token = bearer["Authorization"].removeprefix("Bearer ")
    r = await client.get(STREAM, params={"token": token, "max_seconds": 0})
    assert r.status_code == 401, r.text
    # the header keeps working
    r = await client.get(STREAM, params={"max_seconds": 0}, headers=bearer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")


async def test_a_ticket_opens_one_stream_once(client, bearer):
    ticket = await _ticket(client, bearer)
    assert ticket not in bearer["Authorization"]
    first = await client.get(STREAM, params={"ticket": ticket, "max_seconds": 0})
    assert first.status_code == 200, first.text
    assert ": ready" in first.text
    again = await client.get(STREAM, params={"ticket": ticket, "max_seconds": 0})
    assert again.status_code == 401 and again.json()["detail"].startswith("ticket:")


async def test_a_ticket_is_taken_once_under_concurrency(client, bearer):
    ticket = await _ticket(client, bearer)
    answers = await asyncio.gather(*(client.get(STREAM, params={"ticket": ticket, "max_seconds": 0})
                                     for _ in range(10)))
    assert sorted(r.status_code for r in answers) == [200] + [401] * 9


async def test_tickets_need_a_bearer_token_and_are_not_tokens(client, bearer):
    assert (await client.post(TICKET)).status_code == 401
    ticket = await _ticket(client, bearer)
    r = await client.get("/api/me", headers={"Authorization": f"Bearer {ticket}"})
    assert r.status_code == 401
    r = await client.get(STREAM, params={"ticket": "made-up-ticket", "max_seconds": 0})
    assert r.status_code == 401 and r.json()["detail"].startswith("ticket:")


async def test_a_ticket_dies_with_its_sign_in(client):
    await make_user("13944400002", "subscriber")
    headers = await login(client, "13944400002")
    ticket = await _ticket(client, headers)
    assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204
    r = await client.get(STREAM, params={"ticket": ticket, "max_seconds": 0})
    assert r.status_code == 401
