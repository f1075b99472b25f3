"""Issue 10 point 5: one refresh token, many parallel refreshes: exactly one may succeed.

The refresh token is spent by inserting its id into ``revoked_token`` (unique index): only the
request whose insert lands gets a new pair, whatever the interleaving on PostgreSQL.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import make_user
from tests.security.conftest import pg_only_db_url

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)


async def test_twenty_parallel_refreshes_with_one_token_succeed_once(client):
    await make_user("13500000501", "subscriber", password="refresh-once-pass")
    for _ in range(3):  # a few rounds: one lucky interleaving must not hide a race
        r = await client.post("/api/auth/login", json={"phone": "13500000501", "password": "refresh-once-pass"})
        assert r.status_code == 200, r.text
        refresh = r.json()["refresh_token"]
        answers = await asyncio.gather(*[
            client.post("/api/auth/refresh", json={"refresh_token": refresh}) for _ in range(20)])
        codes = sorted(a.status_code for a in answers)
        assert codes.count(200) == 1, codes
        assert codes.count(401) == 19, codes
