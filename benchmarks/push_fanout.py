"""Push fan-out: one warning event to N watching users, delivered live.

Sets up a fresh database (SQLite in a temporary folder unless ``--database-url``) with one firm
watched by ``--subscribers`` users, serves the real app with uvicorn on a local port (its outbox
relay and ChannelsPlugin: memory backend, or Redis with ``--redis-url``), and connects every
user: ``--sse`` of them over real HTTP Server-Sent Events connections, the rest as in-process
subscribers of their channel on the same ChannelsPlugin (10,000 HTTP connections do not fit on
a 2-core test machine next to the server; both kinds get the same published bytes).

Then one risk event is committed through ``notify_risk_events`` (N notifications and N outbox
rows in one transaction) and every subscriber's delivery latency is measured from the commit:
relay wake-up, claim, publish, and for SSE the HTTP stream.

Prints one JSON object per line: ``{"name", "value", "unit", "target", ...context}``:
``push_fanout_p50`` / ``push_fanout_p99`` / ``push_fanout_max`` (target p99 <= 1 s),
``push_fanout_sse_p99`` (the HTTP subset), ``push_fanout_enqueue`` (writing the N
notifications, before the commit) and ``push_fanout_delivered``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["measure_fanout"]

SECRET = "benchmark-secret-not-for-production-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _populate(n: int) -> tuple[dict[str, Any], list[int]]:
    """One firm and ``n`` subscribers watching it (bulk inserts; no password hashing)."""
    from server.tables.firms import Firm
    from server.tables.notifications import Subscription
    from server.tables.users import User
    from server.uscc import make_uscc

    now = datetime.now(UTC)
    firm = Firm(uscc=make_uscc(990_001), name="扇出基准测试有限公司", industry_section="C", industry_division="34",
                town="百官街道", registered_capital_fen=10_000_000, founded_on=date(2010, 1, 1),
                size_class="small", created_at=now, updated_at=now)
    await firm.save()
    users: list[int] = []
    for start in range(0, n, 500):
        rows = await User.insert(*[
            User(phone=f"170{i:08d}", password_hash="!benchmark", role="subscriber",
                 display_name=f"bench {i}", created_at=now)
            for i in range(start, min(n, start + 500))
        ]).returning(User.id)
        users += [r["id"] for r in rows]
    for start in range(0, n, 500):
        await Subscription.insert(*[Subscription(user=u, firm=firm.id, created_at=now)
                                    for u in users[start:start + 500]])
    return {"id": firm.id, "uscc": firm.uscc, "name": firm.name}, users


async def _sse_reader(http: Any, base: str, token: str, ready: asyncio.Event, got: dict[int, float],
                      uid: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.stream("GET", f"{base}/api/notifications/stream", headers=headers) as response:
        async for line in response.aiter_lines():
            if line == ": ready":
                ready.set()
            elif line.startswith("event: notification"):
                got.setdefault(uid, time.perf_counter())


async def measure_fanout(n: int, *, sse: int = 200, database_url: str | None = None,
                         redis_url: str | None = None) -> list[dict[str, Any]]:
    """Deliver one event to ``n`` connected subscribers (``sse`` of them over HTTP); the figures."""
    import httpx
    import uvicorn
    from litestar.channels import ChannelsPlugin

    from server import db
    from server.app import create_app
    from server.notifications.common import transaction
    from server.notifications.events import RiskEvent
    from server.notifications.fanout import notify_risk_events
    from server.notifications.push import user_channel
    from server.settings import Settings
    from server.users.security import issue_tokens

    sse = min(sse, n)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per SSE connection otherwise
    with tempfile.TemporaryDirectory(prefix="xinbao-fanout-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'fanout.db'}"
        setup_engine = await db.open_engine(url)
        with contextlib.redirect_stdout(sys.stderr):  # Piccolo prints its progress; stdout is JSON lines
            await db.migrate(setup_engine)
        firm, users = await _populate(n)
        await db.close(setup_engine)

        settings = Settings(database_url=url, redis_url=redis_url, jwt_secret=SECRET, data_dir=Path(tmp),
                            demo=True)
        app = create_app(settings)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="on"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        channels = app.plugins.get(ChannelsPlugin)
        namespace = app.state.push_namespace
        got: dict[int, float] = {}
        try:
            async with AsyncExitStack() as stack:
                # In-process subscribers on the app's channels backend.
                for uid in users[sse:]:
                    subscriber = await channels.subscribe(user_channel(namespace, uid))

                    async def on_event(_data: bytes, uid: int = uid) -> None:
                        got.setdefault(uid, time.perf_counter())

                    # Stopped with the app (Litestar's unsubscribe scans every channel: O(n^2) here).
                    await stack.enter_async_context(subscriber.run_in_background(on_event))
                # Real SSE connections over HTTP.
                limits = httpx.Limits(max_connections=sse + 10, max_keepalive_connections=sse + 10)
                http = await stack.enter_async_context(
                    httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30, read=None)))
                readers: list[asyncio.Task[None]] = []
                readies: list[asyncio.Event] = []
                for uid in users[:sse]:
                    token = issue_tokens(app.state.jwt_auth, uid, "subscriber", 1)["access_token"]
                    ready = asyncio.Event()
                    readies.append(ready)
                    readers.append(asyncio.create_task(_sse_reader(http, base, token, ready, got, uid)))
                await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)

                event = RiskEvent(
                    firm_id=firm["id"], uscc=firm["uscc"], firm_name=firm["name"], rule_code="OVERDUE_90",
                    level="red", kind="overdue", title_zh="贷款逾期超过90天", title_en="Loan overdue > 90 days",
                    message_zh="逾期 92 天", message_en="92 days overdue", evidence={"days": 92},
                    event="raised", warning_id=1, at=datetime.now(UTC))
                started = time.perf_counter()
                async with transaction():
                    written = await notify_risk_events([event])
                    enqueued = time.perf_counter()
                committed = time.perf_counter()
                deadline = committed + 60
                while len(got) < n and time.perf_counter() < deadline:
                    await asyncio.sleep(0.02)
                for reader in readers:
                    reader.cancel()
                for reader in readers:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
        finally:
            server.should_exit = True
            await serving

    latencies = [t - committed for t in got.values()]
    sse_latencies = [got[u] - committed for u in users[:sse] if u in got]
    backend = "redis" if redis_url else "memory"
    engine = "postgres" if url.startswith("postgres") else "sqlite"
    context = {"subscribers": n, "sse_connections": sse, "backend": backend, "engine": engine}
    rows: list[dict[str, Any]] = [
        {"name": "push_fanout_enqueue", "value": round(enqueued - started, 3), "unit": "s", "target": None,
         "notifications": written, **context},
        {"name": "push_fanout_delivered", "value": len(got), "unit": "subscribers", "target": n, **context},
    ]
    if latencies:
        rows += [
            {"name": "push_fanout_p50", "value": round(statistics.median(latencies), 4), "unit": "s",
             "target": None, **context},
            {"name": "push_fanout_p99", "value": round(_percentile(latencies, 0.99), 4), "unit": "s",
             "target": 1.0, **context},
            {"name": "push_fanout_max", "value": round(max(latencies), 4), "unit": "s", "target": None, **context},
        ]
    if sse_latencies:
        rows.append({"name": "push_fanout_sse_p99", "value": round(_percentile(sse_latencies, 0.99), 4),
                     "unit": "s", "target": 1.0, **context})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--sse", type=int, default=200, help="how many of them connect over HTTP SSE")
    parser.add_argument("--database-url", default=os.environ.get("XINBAO_BENCH_DATABASE_URL"),
                        help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--redis-url", default=os.environ.get("XINBAO_BENCH_REDIS_URL"),
                        help="use the Redis channels backend (default: memory)")
    args = parser.parse_args()
    rows = asyncio.run(measure_fanout(args.subscribers, sse=args.sse, database_url=args.database_url,
                                      redis_url=args.redis_url))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
