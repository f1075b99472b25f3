"""Issue 10 point 14: a bank's webhook must not reach the platform's own network (SSRF).

Refused when set (400 naming ``url``) and again on every delivery after DNS resolution, so a
name that resolves to loopback later (DNS rebinding) gets nothing; the delivery connects to
the address that was checked; only operators' ``webhook_allow`` opens a local receiver; reply
bodies are never stored. SQLite only: nothing here depends on the engine.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.netguard import AllowList, BlockedTarget, blocked_reason, check_url, pin
from server.settings import Settings
from tests.conftest import fresh_database_url
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

ALLOWED_LOCAL = "127.0.0.2"  # a loopback address the operator allows in this module's settings
LATER = timedelta(hours=1)
REPLY = b"internal reply: redis_version=7.2 SECRET-TOKEN"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from fresh_database_url("sqlite", tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="module")
def settings(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return Settings(database_url=db_url, jwt_secret="test-secret-not-for-production-0123456789",
                    data_dir=data_dir, demo=True, model_bags=4, model_regularization=0.1, webhook_allow=(ALLOWED_LOCAL,))


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        server: Any = self.server
        self.rfile.read(int(self.headers["Content-Length"]))
        server.received.append(dict(self.headers))
        self.send_response(server.status)
        self.end_headers()
        self.wfile.write(REPLY)

    def log_message(self, *args: object) -> None:
        pass


def _serve(host: str) -> Any:
    httpd: Any = ThreadingHTTPServer((host, 0), _Receiver)
    httpd.received, httpd.status = [], 200
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.port = httpd.server_address[1]
    return httpd


@pytest.fixture
def local_service() -> Iterator[Any]:
    """Stands in for the API, PostgreSQL or Redis on 127.0.0.1: must never be reached."""
    httpd = _serve("127.0.0.1")
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def allowed_receiver() -> Iterator[Any]:
    httpd = _serve(ALLOWED_LOCAL)
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
async def bank(client: httpx.AsyncClient) -> dict[str, Any]:
    user = await make_user("13914000001", "bank_manager", bank_code="ICBC-SY")
    return {"headers": await login(client, "13914000001"), "user": user}


# --- when the URL is set ---------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5432/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook",
    "http://localhost:6379/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]:8000/", "http://2130706433/",
    "http://0x7f000001/", "http://127.1/", "http://10.0.0.8/hook", "http://192.168.1.1/", "http://[fe80::1]/",
    "http://224.0.0.1/", "http://0177.0.0.1/",
])
async def test_internal_targets_are_refused_when_set(client, bank, url):
    from server.tables.financing import Bank

    before = await Bank.select(Bank.webhook_url).where(Bank.code == "ICBC-SY").first()
    r = await client.put("/api/banks/me/webhook", json={"url": url}, headers=bank["headers"])
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("url:"), r.text
    assert await Bank.select(Bank.webhook_url).where(Bank.code == "ICBC-SY").first() == before


async def test_an_allowed_local_receiver_can_be_set(client, bank):
    r = await client.put("/api/banks/me/webhook", json={"url": f"http://{ALLOWED_LOCAL}:9/hook"},
                         headers=bank["headers"])
    assert r.status_code == 200, r.text
    r = await client.put("/api/banks/me/webhook", json={"url": None}, headers=bank["headers"])
    assert r.status_code == 200, r.text


# --- on every delivery -----------------------------------------------------------------------

async def _queue_delivery(bank: dict[str, Any], url: str, key: str) -> None:
    """A bank webhook row due now, with ``url`` written as if set before this check existed
    (or resolving to something else since)."""
    from server.tables.financing import Bank
    from server.tables.notifications import Notification, Outbox

    await Outbox.update({Outbox.status: "failed"}).where(Outbox.status == "pending")  # earlier tests' rows
    await Bank.update({Bank.webhook_url: url, Bank.webhook_secret: "s" * 32}).where(Bank.code == "ICBC-SY")
    now = datetime.now(UTC)
    note = Notification(user=bank["user"], kind="risk", level="red", title="测试", body={"x": 1},
                        dedup_key=key, created_at=now, updated_at=now)
    await note.save()
    # Due only for this test's relay (which runs at LATER): the app's own relay must not take it.
    await Outbox(notification=note.id, channel="webhook", next_attempt_at=now + LATER).save()


async def _webhook_row(key: str) -> dict[str, Any]:
    from server.tables.notifications import Outbox

    return await Outbox.select(Outbox.status, Outbox.attempts, Outbox.last_error).where(
        Outbox.notification.dedup_key == key).first()


async def _relay(sender: Any) -> int:
    from alerts.outbox import relay_webhooks
    from server.notifications.outbox import DbOutboxStore

    return await relay_webhooks(DbOutboxStore(), sender, datetime.now(UTC) + LATER)


def _resolver(answers: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if host in answers:
            return answers[host]
        raise OSError(f"no such host {host}")

    return resolve


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(client, bank, local_service, monkeypatch):
    from alerts import netguard
    from alerts.webhooks import WebhookSender

    # Public when the bank sets it; loopback when it is delivered (DNS rebinding).
    answers = {"hooks.bank.example": ["93.184.216.34"]}
    monkeypatch.setattr(netguard, "resolve", _resolver(answers))
    url = f"http://hooks.bank.example:{local_service.port}/hook"
    r = await client.put("/api/banks/me/webhook", json={"url": url}, headers=bank["headers"])
    assert r.status_code == 200, r.text
    answers["hooks.bank.example"] = ["127.0.0.1"]
    r = await client.put("/api/banks/me/webhook", json={"url": url}, headers=bank["headers"])
    assert r.status_code == 400 and "loopback" in r.json()["detail"], r.text
    await _queue_delivery(bank, url, "ssrf:rebind")
    async with httpx.AsyncClient() as http:
        assert await _relay(WebhookSender(http, allow=(ALLOWED_LOCAL,))) == 0
    row = await _webhook_row("ssrf:rebind")
    assert row["status"] == "pending" and row["last_error"].startswith("url:"), row
    assert "loopback" in row["last_error"]
    assert local_service.received == []


async def test_the_stored_url_of_localhost_is_refused_at_delivery(bank, local_service):
    from alerts.webhooks import WebhookSender

    await _queue_delivery(bank, f"http://localhost:{local_service.port}/hook", "ssrf:localhost")
    async with httpx.AsyncClient() as http:  # the real resolver
        assert await _relay(WebhookSender(http, allow=(ALLOWED_LOCAL,))) == 0
    assert (await _webhook_row("ssrf:localhost"))["last_error"].startswith("url:")
    assert local_service.received == []


async def test_an_allowed_receiver_gets_the_delivery_at_the_checked_address(bank, allowed_receiver):
    from alerts.webhooks import WebhookSender

    # The name resolves to the allowed address: the POST goes there, with the name as Host.
    await _queue_delivery(bank, f"http://receiver.bank.example:{allowed_receiver.port}/hook", "ssrf:allowed")
    resolver = _resolver({"receiver.bank.example": [ALLOWED_LOCAL]})
    async with httpx.AsyncClient() as http:
        assert await _relay(WebhookSender(http, allow=(ALLOWED_LOCAL,), resolver=resolver)) == 1
    assert (await _webhook_row("ssrf:allowed"))["status"] == "sent"
    [headers] = allowed_receiver.received
    assert headers["Host"] == f"receiver.bank.example:{allowed_receiver.port}"
    assert headers["X-Xinbao-Signature"].startswith("sha256=")


async def test_the_reply_body_is_never_stored(bank, allowed_receiver):
    from alerts.webhooks import WebhookSender

    allowed_receiver.status = 500
    await _queue_delivery(bank, f"http://{ALLOWED_LOCAL}:{allowed_receiver.port}/hook", "ssrf:reply")
    async with httpx.AsyncClient() as http:
        assert await _relay(WebhookSender(http, allow=(ALLOWED_LOCAL,))) == 0
    row = await _webhook_row("ssrf:reply")
    assert row["last_error"] == "HTTP 500"
    assert len(allowed_receiver.received) == 1


async def test_the_app_relay_uses_the_operator_allow_list(app, bank, local_service):
    from server.tables.financing import Bank

    # The relay the app runs is built from settings: 127.0.0.1 is not in this module's list.
    relay = app.state.push_relay
    assert relay.sender.allow == AllowList.parse((ALLOWED_LOCAL,))
    await Bank.update({Bank.webhook_url: None, Bank.webhook_secret: None}).where(Bank.code == "ICBC-SY")


# --- the guard itself ------------------------------------------------------------------------

@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"), ("0.0.0.0", "unspecified"),
    ("::", "unspecified"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.0.1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fc00::1", "private"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "private"),
    ("100.64.0.1", "non-public"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::7f00:1", "loopback"), ("2002:7f00:1::", "loopback"), ("198.18.0.1", "private"),
])
def test_non_public_addresses_are_blocked(address, reason):
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert blocked_reason(ipaddress.ip_address(address)) is None


async def test_every_resolved_address_must_be_public():
    resolver = _resolver({"mixed.example": ["8.8.8.8", "10.0.0.1"], "public.example": ["8.8.8.8"]})
    with pytest.raises(BlockedTarget, match=r"^url: mixed.example resolves to a private address"):
        await check_url("https://mixed.example/x", resolver=resolver)
    assert await check_url("https://public.example/x", resolver=resolver) == ["8.8.8.8"]


async def test_allow_list_entries_are_hosts_ips_or_networks():
    resolver = _resolver({"intranet.bank": ["10.1.2.3"], "other.bank": ["10.9.9.9"]})
    assert await check_url("http://intranet.bank/", ["intranet.bank"], resolver=resolver) == ["10.1.2.3"]
    assert await check_url("http://other.bank/", ["10.9.0.0/16"], resolver=resolver) == ["10.9.9.9"]
    with pytest.raises(BlockedTarget):
        await check_url("http://other.bank/", ["10.1.0.0/16", "intranet.bank"], resolver=resolver)


async def test_unresolvable_names_and_other_schemes():
    resolver = _resolver({})
    with pytest.raises(BlockedTarget, match="^url: the host nowhere.example does not resolve"):
        await check_url("https://nowhere.example/", resolver=resolver)
    assert await check_url("https://nowhere.example/", resolver=resolver, must_resolve=False) == []
    with pytest.raises(BlockedTarget, match="^url: must be an http"):
        await check_url("file:///etc/passwd", resolver=resolver)


async def test_pin_keeps_host_and_sni_and_connects_to_the_checked_address():
    resolver = _resolver({"hooks.bank.example": ["93.184.216.34"], "v6.bank.example": ["2606:2800:220:1::1"]})
    target = await pin("https://hooks.bank.example:8443/x?y=1", resolver=resolver)
    assert str(target.url) == "https://93.184.216.34:8443/x?y=1"
    assert (target.host_header, target.sni_hostname) == ("hooks.bank.example:8443", "hooks.bank.example")
    target = await pin("http://v6.bank.example/x", resolver=resolver)
    assert str(target.url) == "http://[2606:2800:220:1::1]/x"
    assert (target.host_header, target.sni_hostname) == ("v6.bank.example", None)
