"""Issue 10 point 4 (streams): an SSE / WebSocket stream opened before logout kept receiving.

Two real API processes share PostgreSQL and Redis. A logout on one closes every stream of that
sign-in on the other at once (a control message on Redis); streams of another sign-in of the
same user stay open. A stream whose close message was missed still ends within the re-check
period (``XINBAO_STREAM_RECHECK_S``): process A re-checks rarely, so only the control message
can close its streams in time; process B re-checks every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.test_push import PASSWORD, SECRET, LiveServer, SseClient, _raise_warning
from tests.security.conftest import pg_only_db_url

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)
PHONE = "13955500001"


@pytest.fixture(scope="module")
async def people(engine) -> dict[str, Any]:
    from server.demo.setup import seed_reference_data
    from server.tables.firms import Firm
    from server.tables.notifications import Subscription
    from server.uscc import make_uscc
    from tests.integration.conftest import make_user

    await seed_reference_data()
    now = datetime.now(UTC)
    firm = Firm(uscc=make_uscc(820_001), name="登出测试机械有限公司", industry_section="C", industry_division="34",
                town="百官街道", registered_capital_fen=50_000_000, founded_on=date(2012, 5, 1),
                size_class="small", created_at=now, updated_at=now)
    await firm.save()
    watcher = await make_user(PHONE, "subscriber")
    await Subscription(user=watcher, firm=firm.id, created_at=now).save()
    return {"firm": {"id": firm.id, "uscc": firm.uscc, "name": firm.name}, "watcher": watcher}


@contextlib.asynccontextmanager
async def _servers(db_url: str, redis_url: str, tmp: pytest.TempPathFactory) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    started: list[LiveServer] = []
    try:
        for recheck in ("600", "1"):
            with pytest.MonkeyPatch.context() as env:
                env.setenv("XINBAO_STREAM_RECHECK_S", recheck)
                started.append(await LiveServer(db_url, tmp.mktemp("live"), redis_url=redis_url).start())
        yield started[0], started[1]
    finally:
        for live in started:
            live.stop()


@pytest.fixture(scope="module")
async def servers(people, db_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory):
    async with _servers(db_url, redis_url, tmp_path_factory) as pair:
        yield pair


async def _sign_in(base: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.post("/api/auth/login", json={"phone": PHONE, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()


async def _ended(client: SseClient, timeout: float) -> bool:
    """Whether the server ended the stream within ``timeout`` seconds."""
    assert client._task is not None
    done, _ = await asyncio.wait({client._task}, timeout=timeout)
    return bool(done)


async def _ws_ready(base: str, token: str) -> Any:
    from websockets.asyncio.client import connect

    ws = await connect(base.replace("http://", "ws://") + "/api/notifications/ws")
    await ws.send(json.dumps({"token": token}))
    ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ready["type"] == "ready"
    return ws


async def test_logout_closes_the_sign_ins_streams_on_every_api_process(servers, people):
    from websockets.exceptions import ConnectionClosed

    quiet, _ = servers  # re-checks every 10 minutes: only the logout's message can close in time
    signed_out, other = await _sign_in(quiet.base), await _sign_in(quiet.base)
    ws = await _ws_ready(quiet.base, signed_out["access_token"])
    try:
        async with SseClient(quiet.base, signed_out["access_token"]) as doomed, \
                SseClient(quiet.base, other["access_token"]) as kept:
            async with httpx.AsyncClient(base_url=servers[1].base) as http:  # logout on the OTHER process
                r = await http.post("/api/auth/logout", json={"refresh_token": signed_out["refresh_token"]},
                                    headers={"Authorization": f"Bearer {signed_out['access_token']}"})
                assert r.status_code == 204, r.text
            assert await _ended(doomed, timeout=5), "the SSE stream outlived its logout"
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            await _raise_warning(people["firm"])
            await kept.wait_for_count(1, timeout=5)  # another sign-in of the same user keeps its stream
            assert doomed.events == []
    finally:
        await ws.close()


async def test_a_missed_close_message_still_ends_the_stream_soon(servers, people):
    """The sign-in is revoked without a logout request (no control message): the periodic
    re-check of the stream's token ends it."""
    from server.tables.users import RevokedToken

    _, checking = servers
    tokens = await _sign_in(checking.base)
    claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"])
    async with SseClient(checking.base, tokens["access_token"]) as stream:
        await RevokedToken.insert(RevokedToken(
            jti=claims["jti"], expires_at=datetime.fromtimestamp(claims["exp"], UTC))).run()
        assert await _ended(stream, timeout=8), "the stream outlived its revoked token"
        await _raise_warning(people["firm"])
        await asyncio.sleep(0.5)
        assert stream.events == []
