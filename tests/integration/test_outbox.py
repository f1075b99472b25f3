"""The outbox on each engine: a process killed between commit and push loses nothing and the
client sees the notification once; webhooks are signed and retried with backoff against a real
local HTTP server, then given up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.notifications.events import RiskEvent
from tests.integration.test_push import LiveServer, SseClient

pytestmark = pytest.mark.anyio

HOOK_SECRET = "webhook-secret-for-tests-0123456789"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Any = self.server
        server.received.append({"headers": dict(self.headers), "body": body})
        status = server.statuses.pop(0) if server.statuses else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok" if status < 300 else b"try later")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A real HTTP server in a thread; ``statuses`` are answered in order, then 200."""
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.received, httpd.statuses = [], []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
async def setup(engine) -> dict[str, Any]:
    """A firm that borrows from ICBC (consent given), ICBC's manager, a watcher and a listener."""
    from server.demo.setup import seed_reference_data
    from server.tables.consent import Consent
    from server.tables.financing import Bank, LoanApplication, LoanProduct
    from server.tables.firms import Firm
    from server.tables.notifications import Subscription
    from server.uscc import make_uscc
    from tests.integration.conftest import make_user

    await seed_reference_data()
    now = datetime.now(UTC)
    firm = Firm(uscc=make_uscc(820_001), name="发件箱测试有限公司", industry_section="F", industry_division="51",
                town="曹娥街道", registered_capital_fen=30_000_000, founded_on=date(2010, 1, 1), size_class="micro",
                created_at=now, updated_at=now)
    await firm.save()
    bank = (await Bank.select(Bank.id).where(Bank.code == "ICBC-SY").first())["id"]
    product = (await LoanProduct.select(LoanProduct.id).where(LoanProduct.bank == bank).first())["id"]
    await LoanApplication(firm=firm.id, product=product, amount_fen=80_000_000, term_months=12, purpose="周转",
                          status="disbursed", created_at=now).save()
    manager = await make_user("13933300001", "bank_manager", bank_code="ICBC-SY")
    watcher = await make_user("13933300002", "subscriber")
    listener = await make_user("13933300003", "subscriber")  # told directly (notify_users), watches nothing
    await Subscription(user=watcher, firm=firm.id, created_at=now).save()
    await Consent(firm=firm.id, bank=bank, scope="evaluation", granted_at=now, expires_at=now + timedelta(days=60),
                  granted_by=watcher).save()
    return {"firm": {"id": firm.id, "uscc": firm.uscc, "name": firm.name}, "bank": bank, "manager": manager,
            "watcher": watcher, "listener": listener, "listener_phone": "13933300003"}


def _event(firm: dict[str, Any], warning_id: int) -> RiskEvent:
    return RiskEvent(
        firm_id=firm["id"], uscc=firm["uscc"], firm_name=firm["name"], rule_code="DISHONEST_LISTED", level="red",
        kind="court", title_zh="新增失信被执行人", title_en="Newly listed as a dishonest debtor",
        message_zh="2026-11-20 列入失信被执行人名单", message_en="Listed on 2026-11-20", evidence={"case": "(2026)浙0604执123号"},
        event="raised", warning_id=warning_id, at=datetime.now(UTC))


async def _webhook_rows(warning_id: int) -> list[dict[str, Any]]:
    from server.tables.notifications import Outbox

    return await Outbox.select().where(
        (Outbox.channel == "webhook") & Outbox.notification.dedup_key.like(f"risk:{warning_id}:%"))


# ---------------------------------------------------------------------------------------------
# Webhooks (first: the live server of the crash tests would relay these too)

async def test_webhook_is_signed_and_retried_with_backoff_after_a_500(setup, receiver):
    from alerts.outbox import RetryPolicy, relay_webhooks
    from alerts.webhooks import WebhookSender, verify
    from server.notifications.fanout import notify_risk_events
    from server.notifications.outbox import DbOutboxStore
    from server.tables.financing import Bank

    await Bank.update({Bank.webhook_url: receiver.url, Bank.webhook_secret: HOOK_SECRET}).where(Bank.id == setup["bank"])
    assert await notify_risk_events([_event(setup["firm"], 7001)]) == 2  # manager + watcher
    [row] = await _webhook_rows(7001)
    assert row["status"] == "pending" and row["attempts"] == 0
    receiver.statuses = [500]
    store, policy = DbOutboxStore(), RetryPolicy(base_s=2, factor=2, max_attempts=5)
    t0 = datetime.now(UTC)
    async with httpx.AsyncClient() as http:
        sender = WebhookSender(http, timeout_s=5, allow=("127.0.0.1",))  # the local receiver
        assert await relay_webhooks(store, sender, t0, policy=policy) == 0
        [row] = await _webhook_rows(7001)
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["last_error"].startswith("HTTP 500")
        assert row["next_attempt_at"] == t0 + timedelta(seconds=2)  # backoff: base 2 s
        assert await relay_webhooks(store, sender, t0 + timedelta(seconds=1), policy=policy) == 0  # not yet due
        assert len(receiver.received) == 1
        assert await relay_webhooks(store, sender, t0 + timedelta(seconds=2), policy=policy) == 1
    [row] = await _webhook_rows(7001)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, "")
    first, second = receiver.received
    for request in (first, second):
        signature = request["headers"]["X-Xinbao-Signature"]
        assert verify(request["body"], HOOK_SECRET, signature)
        expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert signature == expected
        assert not verify(request["body"], "another-secret-entirely", signature)
    # the same delivery id on the retry: a receiver drops what it already processed
    assert first["headers"]["X-Xinbao-Delivery"] == second["headers"]["X-Xinbao-Delivery"]
    assert first["headers"]["X-Xinbao-Delivery"].startswith(f"risk:7001:{setup['manager']}:")
    payload = json.loads(second["body"])
    assert payload["delivery"] == second["headers"]["X-Xinbao-Delivery"]
    assert payload["notification"]["body"]["warning_id"] == 7001
    assert payload["notification"]["body"]["evidence"] == {"case": "(2026)浙0604执123号"}  # consent: detail


async def test_webhook_gives_up_after_the_last_attempt(setup, receiver):
    from alerts.outbox import RetryPolicy, relay_webhooks
    from alerts.webhooks import WebhookSender
    from server.notifications.fanout import notify_risk_events
    from server.notifications.outbox import DbOutboxStore
    from server.tables.financing import Bank

    await Bank.update({Bank.webhook_url: receiver.url, Bank.webhook_secret: HOOK_SECRET}).where(Bank.id == setup["bank"])
    await notify_risk_events([_event(setup["firm"], 7002)])
    receiver.statuses = [500, 503, 500]
    store, policy = DbOutboxStore(), RetryPolicy(base_s=10, factor=3, max_attempts=3)
    t = datetime.now(UTC)
    delays = []
    async with httpx.AsyncClient() as http:
        sender = WebhookSender(http, allow=("127.0.0.1",))  # the local receiver
        for _ in range(3):
            assert await relay_webhooks(store, sender, t, policy=policy) == 0
            [row] = await _webhook_rows(7002)
            if row["status"] == "pending":
                delays.append((row["next_attempt_at"] - t).total_seconds())
                t = row["next_attempt_at"]
        assert await relay_webhooks(store, sender, t + timedelta(days=1), policy=policy) == 0
    assert delays == [10.0, 30.0]  # exponential
    [row] = await _webhook_rows(7002)
    assert (row["status"], row["attempts"]) == ("failed", 3) and row["last_error"].startswith("HTTP 500")
    assert len(receiver.received) == 3
    await Bank.update({Bank.webhook_url: None, Bank.webhook_secret: None}).where(Bank.id == setup["bank"])


# ---------------------------------------------------------------------------------------------
# Crashes between commit and push

_CRASHING_RELAY = """
import asyncio, sys, time
from datetime import UTC, datetime, timedelta
from server import db
from server.notifications import common, fanout, outbox
from server.notifications.push import RedisPublisher, channel_namespace
from server.tables.notifications import Notification

async def main(url, redis_url, mode, user_id, key):
    await db.open_engine(url)
    # One transaction: the notification, its outbox row, and this relay's claim on the row.
    async with common.transaction():
        await fanout.notify_users([int(user_id)], "policy", "blue", "崩溃测试", "Crash test", {"mode": mode}, key)
        if mode == "commit":  # the process dies right after its commit: nothing claimed
            claimed = []
        else:
            claimed = await outbox.DbOutboxStore().claim("push", datetime.now(UTC), 1000,
                                                           timedelta(seconds=0.5))
    claimed = [d for d in claimed if d.user_id == int(user_id)]
    note = await Notification.select(Notification.id).where(
        Notification.dedup_key == f"{key}:{user_id}").first()
    if mode == "publish":  # the message goes out, but the process dies before marking it sent
        from redis.asyncio import Redis
        await RedisPublisher(Redis.from_url(redis_url), channel_namespace(url)).publish(
            [(d.user_id, d.payload) for d in claimed])
    print("ready", note["id"], flush=True)
    time.sleep(600)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def live(setup, db_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A Redis-backed ``xinbao serve``, started by the first test that needs it."""
    server = LiveServer(db_url, tmp_path_factory.mktemp("outbox"), redis_url=redis_url)
    try:
        yield server
    finally:
        server.stop()


async def _crash(db_url: str, redis_url: str, mode: str, user_id: int, key: str) -> int:
    """Run the crashing relay until it has done its part, then SIGKILL it; the notification id."""
    proc = subprocess.Popen([sys.executable, "-c", _CRASHING_RELAY, db_url, redis_url, mode, str(user_id), key],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(Path(__file__).parents[2]))
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)  # type: ignore[union-attr]
        assert line.startswith(b"ready"), proc.stderr.read() if proc.poll() is not None else line  # type: ignore[union-attr]
        return int(line.split()[1])
    finally:
        proc.kill()  # SIGKILL: no cleanup, no marking
        proc.wait()


async def test_a_process_killed_after_its_commit_loses_nothing_after_a_restart(setup, live, db_url, redis_url):
    """The process that committed is SIGKILLed before pushing, and no relay runs (no server has
    started yet): the first one to start delivers, and the client sees the notification once."""
    from server.tables.notifications import Outbox

    assert live.proc is None
    note_id = await _crash(db_url, redis_url, "commit", setup["listener"], "restart")
    [row] = await Outbox.select().where(Outbox.notification == note_id)
    assert row["status"] == "pending" and row["attempts"] == 0
    await live.ensure_started()  # the restart
    token = await live.token(setup["listener_phone"])
    # the client reconnects with the last id it had seen; the relay also publishes: one message
    async with SseClient(live.base, token, last_event_id=note_id - 1) as client:
        await client.wait_for_count(1, timeout=3)
        await _sent(note_id)
        await asyncio.sleep(0.3)
        assert client.ids() == [note_id]
        assert client.events[0]["data"]["body"] == {"mode": "commit"}
    assert (await _sent(note_id))["attempts"] == 1  # the fresh relay's only try


async def _sent(note_id: int, timeout: float = 5.0) -> dict[str, Any]:
    """The notification's push row once it is marked sent."""
    from server.tables.notifications import Outbox

    for _ in range(int(timeout / 0.1)):
        [row] = await Outbox.select().where((Outbox.notification == note_id) & (Outbox.channel == "push"))
        if row["status"] == "sent":
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"push of notification {note_id} not sent: {row}")


@pytest.mark.parametrize("mode", ["claim", "publish"])
async def test_a_relay_killed_between_commit_and_push_loses_nothing_and_sends_once(
        setup, live, db_url, redis_url, mode):
    from server.tables.notifications import Notification

    await live.ensure_started()
    token = await live.token(setup["listener_phone"])
    async with SseClient(live.base, token) as client:
        note_id = await _crash(db_url, redis_url, mode, setup["listener"], f"crash:{mode}")
        # the server's relay takes the row once the dead relay's 0.5 s lease runs out
        await client.wait_for_count(1, timeout=5)
        row = await _sent(note_id)
        await asyncio.sleep(0.3)  # ... and no second copy arrives
        assert client.ids() == [note_id]
        assert client.events[0]["data"]["body"] == {"mode": mode}
    assert row["attempts"] == 2  # the dead relay's try, and the server relay's after the lease
    note = await Notification.select(Notification.delivered_at).where(Notification.id == note_id).first()
    assert note["delivered_at"] is not None
    # a client that was away gets it from the database, once
    async with SseClient(live.base, token, after_id=note_id - 1) as later:
        await later.wait_for_count(1, timeout=3)
        await asyncio.sleep(0.3)
        assert later.ids() == [note_id]


