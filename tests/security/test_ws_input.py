"""Issue 10 point 13 (WebSocket): a malformed first message must close the socket with a
4400-class code and a reason naming the field, never 4500 (an internal error).

A real ``xinbao serve`` (SQLite, in-memory channels): WebSockets need a server.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest

from tests.integration.test_push import LiveServer

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'xinbao.db'}"


@pytest.fixture(scope="module")
async def server(engine, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    live = await LiveServer(db_url, tmp_path_factory.mktemp("live")).start()
    try:
        yield live
    finally:
        live.stop()


# (first message, the field its close reason must name)
#: The tests read the server's texts in English (a socket without the header gets Chinese).
EN = {"Accept-Language": "en"}

MALFORMED: list[tuple[str | bytes, str]] = [
    ("{not json", "message"),
    ("[1, 2, 3]", "message"),
    ('"just a string"', "message"),
    ("null", "message"),
    ('{"token": 12345}', "token"),
    ('{"token": ["a", "b"]}', "token"),
    ('{"token": {"nested": "object"}}', "token"),
    ('{"token": null}', "token"),
    ('{"after_id": 5}', "token"),
    ('{"token": "x.y.z", "after_id": "abc"}', "after_id"),
    ('{"token": "x.y.z", "after_id": -1}', "after_id"),
    ('{"token": "x.y.z", "after_id": 99999999999999999999}', "after_id"),
    ('{"token": "x.y.z", "after_id": {"$gt": 0}}', "after_id"),
    ("[" * 1000 + "]" * 1000, "message"),
    (b"\x00\x01binary frame", "message"),
]


@pytest.mark.parametrize(("first", "field"), MALFORMED, ids=[f"case{i}" for i in range(len(MALFORMED))])
async def test_a_malformed_first_message_closes_with_4400_naming_the_field(server, first, field):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = server.base.replace("http://", "ws://") + "/api/notifications/ws"
    async with connect(url, max_size=2**20, additional_headers=EN) as ws:
        await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # an {"type": "error"} message may come first; then the close frame
                await asyncio.wait_for(ws.recv(), 10)
    frame = closed.value.rcvd
    assert frame is not None, "the server dropped the connection without a close frame"
    assert 4400 <= frame.code < 4500, (frame.code, frame.reason)
    assert frame.reason.startswith(f"{field}:"), frame.reason


async def test_the_error_message_before_the_close_names_the_field(server):
    from websockets.asyncio.client import connect

    url = server.base.replace("http://", "ws://") + "/api/notifications/ws"
    async with connect(url, additional_headers=EN) as ws:
        await ws.send(json.dumps({"token": 7}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["type"] == "error" and error["detail"].startswith("token:")


async def test_a_chinese_reader_is_told_in_chinese(server):
    """No Accept-Language (or a Chinese one): the error and the close reason are Chinese, the
    JSON parser's own words included (issue 13)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = server.base.replace("http://", "ws://") + "/api/notifications/ws"
    async with connect(url, additional_headers={"Accept-Language": "zh-CN"}) as ws:
        await ws.send("{not json")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    reason = closed.value.rcvd.reason
    assert reason.startswith("message：不是有效的 JSON"), reason
    assert not re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", reason), reason  # no English sentence
