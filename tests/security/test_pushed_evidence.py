"""Issue 10, point 3: a detailed warning pushed to a consented bank (records, amounts) was not in
the firm's access log, and stayed readable in the bank's inbox after the firm revoked. Each
detailed delivery is logged as a view now, and after a revoke whatever the bank reads about the
firm (inbox, stream catch-up, a webhook still queued) carries only the public signals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.notifications.events import RiskEvent
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

SECRET_AMOUNT = 12_345_678  # fen: must never reach the bank after the revoke
SECRET_TEXT = "欠税 12.3 万元"
LATER = timedelta(days=3650)  # the bank's push and webhook rows wait this long: only the test claims them


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """A firm that consented to ICBC; an ICBC manager who watches it; ICBC has a webhook."""
    from server.tables.financing import Bank
    from server.tables.firms import Firm
    from server.uscc import make_uscc

    now = datetime.now(UTC)
    uscc = make_uscc(830_001)
    firm = Firm(uscc=uscc, name="推送证据测试有限公司", industry_section="C", industry_division="34",
                town="百官街道", registered_capital_fen=100_000_000, founded_on=date(2016, 5, 1),
                size_class="small", created_at=now, updated_at=now)
    await firm.save()
    owner_id = await make_user("13944400001", "owner", firm_uscc=uscc)
    manager_id = await make_user("13944400002", "bank_manager", bank_code="ICBC-SY")
    owner, manager = await login(client, "13944400001"), await login(client, "13944400002")
    bank = (await Bank.select(Bank.id).where(Bank.code == "ICBC-SY").first())["id"]
    await Bank.update({Bank.webhook_url: "https://icbc.example.com/hook", Bank.webhook_secret: "s" * 32}).where(
        Bank.id == bank)
    r = await client.post("/api/consents", json={"bank_id": bank, "days": 30}, headers=owner)
    assert r.status_code == 201, r.text
    for headers in (manager, owner):
        r = await client.post("/api/subscriptions", json={"uscc": uscc}, headers=headers)
        assert r.status_code == 201, r.text
    return {"firm": {"id": firm.id, "uscc": uscc, "name": firm.name}, "bank": bank, "owner": owner,
            "manager": manager, "owner_id": owner_id, "manager_id": manager_id}


def _event(firm: dict[str, Any], warning_id: int) -> RiskEvent:
    return RiskEvent(
        firm_id=firm["id"], uscc=firm["uscc"], firm_name=firm["name"], rule_code="TAX_ARREARS", level="red",
        kind="tax", title_zh="欠缴税款", title_en="Tax arrears", message_zh=f"{SECRET_TEXT}，已 45 天",
        message_en="123,456.78 yuan of tax unpaid for 45 days",
        evidence={"amount_fen": SECRET_AMOUNT, "days": 45}, event="raised", warning_id=warning_id,
        at=datetime.now(UTC))


async def _notify(firm: dict[str, Any], warning_id: int) -> None:
    """The risk engine's call, with the bank's push and webhook rows deferred in the same
    transaction: the app's own relay must not take them before the test does."""
    from server.notifications.common import transaction
    from server.notifications.fanout import notify_risk_events
    from server.tables.notifications import Outbox

    async with transaction():
        assert await notify_risk_events([_event(firm, warning_id)]) == 2  # the manager and the owner
        await Outbox.update({Outbox.next_attempt_at: datetime.now(UTC) + LATER}).where(
            Outbox.notification.dedup_key.like(f"risk:{warning_id}:%")
            & (Outbox.notification.user.role == "bank_manager"))


async def _payloads(channel: str, user_id: int) -> list[bytes]:
    """What the relay would push or POST for the user now (claimed and marked sent, as the relay
    does)."""
    from server.notifications.outbox import DbOutboxStore

    store = DbOutboxStore()
    when = datetime.now(UTC) + LATER + timedelta(minutes=1)
    deliveries = await store.claim(channel, when, 50, timedelta(minutes=2))
    await store.sent(deliveries, when)
    return [d.payload for d in deliveries if d.user_id == user_id]


async def _access_log(client: httpx.AsyncClient, world: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.get(f"/api/firms/{world['firm']['uscc']}/access-log", headers=world["owner"])
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_detailed_warning_to_the_bank_is_a_logged_view(client, world):
    await _notify(world["firm"], 9001)
    inbox = (await client.get("/api/notifications", headers=world["manager"])).json()
    assert inbox[0]["body"]["detail"] is True and inbox[0]["body"]["evidence"]["amount_fen"] == SECRET_AMOUNT

    log = await _access_log(client, world)
    views = [e for e in log if e["bank_id"] == world["bank"] and e["viewer_role"] == "bank_manager"]
    assert [e["what"] for e in views].count("warning") == 1, log

    for channel in ("push", "webhook"):
        payloads = await _payloads(channel, world["manager_id"])
        assert len(payloads) == 1 and str(SECRET_AMOUNT).encode() in payloads[0]
    whats = [e["what"] for e in await _access_log(client, world)]
    assert sorted(whats) == ["warning", "warning_push", "warning_webhook"], whats


async def test_after_a_revoke_the_bank_reads_only_public_signals(client, world):
    from server.tables.consent import Consent

    await _notify(world["firm"], 9002)  # its push and webhook are still queued when the firm revokes
    consent = (await Consent.select(Consent.id).where(
        (Consent.firm == world["firm"]["id"]) & Consent.revoked_at.is_null()).first())["id"]
    r = await client.delete(f"/api/consents/{consent}", headers=world["owner"])
    assert r.status_code == 204, r.text
    logged = await _access_log(client, world)

    r = await client.get("/api/notifications", headers=world["manager"])
    assert r.status_code == 200 and len(r.json()) == 2
    for note in r.json():
        body = note["body"]
        assert body["detail"] is False and body["uscc"] == world["firm"]["uscc"]
        assert body["firm_name"] == world["firm"]["name"] and note["level"] == "red"
        assert note["title_zh"] == "欠缴税款" and note["title_en"] == "Tax arrears"
        assert not {"evidence", "message_zh", "message_en"} & set(body)
    assert str(SECRET_AMOUNT) not in r.text and SECRET_TEXT not in r.text

    stream = await client.get("/api/notifications/stream", params={"after_id": 0, "max_seconds": 0},
                              headers=world["manager"])
    assert stream.text.count("event: notification") == 2
    assert str(SECRET_AMOUNT) not in stream.text and SECRET_TEXT not in stream.text
    read = await client.post(f"/api/notifications/{r.json()[0]['id']}/read", headers=world["manager"])
    assert read.status_code == 200 and str(SECRET_AMOUNT) not in read.text

    for channel in ("push", "webhook"):
        payloads = await _payloads(channel, world["manager_id"])
        assert len(payloads) == 1 and b'"detail":false' in payloads[0], channel
        assert str(SECRET_AMOUNT).encode() not in payloads[0] and SECRET_TEXT.encode() not in payloads[0]
    assert await _access_log(client, world) == logged  # nothing detailed went out: no view

    # The firm's owner still sees its own evidence.
    mine = (await client.get("/api/notifications", headers=world["owner"])).json()
    assert all(n["body"]["evidence"]["amount_fen"] == SECRET_AMOUNT for n in mine)
