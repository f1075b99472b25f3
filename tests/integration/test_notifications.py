"""Watchlists and notifications on each engine: subscriptions, who is told, dedup and escalation,
quiet hours, the daily digest, read state, and the guards and 4xx of the routes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerts.digest import SHANGHAI, next_digest_at
from server.notifications.events import RiskEvent
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

PASSWORD = "secret-pass-1"


async def _firm(serial: int, name: str) -> dict[str, Any]:
    from server.tables.firms import Firm
    from server.uscc import make_uscc

    now = datetime.now(UTC)
    uscc = make_uscc(700_000 + serial)
    firm = Firm(uscc=uscc, name=name, industry_section="C", industry_division="13", town="百官街道",
                registered_capital_fen=100_000_000, founded_on=date(2015, 3, 1), size_class="small",
                created_at=now, updated_at=now)
    await firm.save()
    return {"id": firm.id, "uscc": uscc, "name": name}


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Five firms; firm A applied to ICBC; users of every kind, signed in."""
    from server.tables.financing import Bank, LoanApplication, LoanProduct

    firms = {k: await _firm(i, f"通知测试{k}有限公司") for i, k in enumerate("ABCDE")}
    users = {
        "watcher": await make_user("13911100001", "subscriber"),
        "other": await make_user("13911100002", "subscriber"),
        "icbc": await make_user("13911100003", "bank_manager", bank_code="ICBC-SY"),
        "rcb": await make_user("13911100004", "bank_manager", bank_code="RCB-SY"),
        "owner_a": await make_user("13911100005", "owner", firm_uscc=firms["A"]["uscc"]),
        "admin": await make_user("13911100006", "admin"),
        "digest": await make_user("13911100007", "subscriber"),
        "quiet": await make_user("13911100008", "subscriber"),
        "icbc2": await make_user("13911100009", "bank_manager", bank_code="ICBC-SY"),
    }
    phones = {k: f"139111000{i:02d}" for i, k in enumerate(users, start=1)}
    headers = {k: await login(client, phones[k]) for k in users}
    icbc = (await Bank.select(Bank.id).where(Bank.code == "ICBC-SY").first())["id"]
    product = (await LoanProduct.select(LoanProduct.id).where(LoanProduct.bank == icbc).first())["id"]
    application = LoanApplication(firm=firms["A"]["id"], product=product, amount_fen=50_000_000, term_months=12,
                                  purpose="流动资金", status="pending", created_at=datetime.now(UTC))
    await application.save()
    return {"firms": firms, "users": users, "headers": headers, "bank_icbc": icbc,
            "application": application.id}


def _event(firm: dict[str, Any], warning_id: int, *, level: str = "yellow", kind: str = "tax",
           event: str = "raised") -> RiskEvent:
    return RiskEvent(
        firm_id=firm["id"], uscc=firm["uscc"], firm_name=firm["name"], rule_code="TAX_ARREARS", level=level,
        kind=kind, title_zh="欠缴税款", title_en="Tax arrears", message_zh="欠税 12.5 万元，已 45 天",
        message_en="125,000 yuan of tax unpaid for 45 days", evidence={"amount_fen": 12_500_000, "days": 45},
        event=event, warning_id=warning_id, at=datetime.now(UTC))


async def _notifications(user_id: int) -> list[dict[str, Any]]:
    from server.tables.notifications import Notification

    return await Notification.select().where(Notification.user == user_id).order_by(Notification.id).output(
        load_json=True)


async def _outbox(notification_id: int) -> list[dict[str, Any]]:
    from server.tables.notifications import Outbox

    return await Outbox.select().where(Outbox.notification == notification_id).order_by(Outbox.id)


async def _watch(client: httpx.AsyncClient, headers: dict[str, str], uscc: str, **filters: Any) -> dict:
    r = await client.post("/api/subscriptions", json={"uscc": uscc, **filters}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_subscriptions_are_created_replaced_listed_and_deleted(client, world):
    h, firm = world["headers"]["other"], world["firms"]["C"]
    first = await _watch(client, h, firm["uscc"].lower())
    assert first["uscc"] == firm["uscc"] and first["firm_name"] == firm["name"]
    assert first["levels"] == ["red", "yellow", "blue"] and first["kinds"] == []
    assert not first["automatic"] and not first["detail"]
    again = await _watch(client, h, firm["uscc"], levels=["red"], kinds=["tax", "tax"], quiet_start=22,
                         quiet_end=7, daily_digest=True)
    assert again["id"] == first["id"]  # one subscription per firm: the filters were replaced
    assert (again["levels"], again["kinds"], again["quiet_start"], again["quiet_end"], again["daily_digest"]) == (
        ["red"], ["tax"], 22, 7, True)
    listed = (await client.get("/api/subscriptions", headers=h)).json()
    assert [s["id"] for s in listed] == [first["id"]]
    # someone else's subscription is not theirs to delete
    r = await client.delete(f"/api/subscriptions/{first['id']}", headers=world["headers"]["watcher"])
    assert r.status_code == 404 and r.json()["detail"].startswith("subscription_id:")
    assert (await client.delete(f"/api/subscriptions/{first['id']}", headers=h)).status_code == 204
    assert (await client.get("/api/subscriptions", headers=h)).json() == []


@pytest.mark.parametrize(("body", "field", "status"), [
    ({"uscc": "91331004000000000X"}, "uscc", 400),  # wrong check character
    ({"uscc": "913310040000000001"[:17]}, "uscc", 400),  # too short
    ({"levels": ["green"]}, "levels", 400),
    ({"levels": []}, "levels", 400),
    ({"kinds": ["Tax Arrears!"]}, "kinds", 400),
    ({"quiet_start": 22}, "quiet_end", 400),
    ({"quiet_end": 7}, "quiet_start", 400),
    ({"quiet_start": 24, "quiet_end": 7}, "quiet_start", 400),
    ({"quiet_start": 7, "quiet_end": 7}, "quiet_end", 400),
])
async def test_bad_subscriptions_name_the_field(client, world, body, field, status):
    payload = {"uscc": world["firms"]["A"]["uscc"], **body}
    r = await client.post("/api/subscriptions", json=payload, headers=world["headers"]["watcher"])
    assert r.status_code == status, r.text
    assert r.json()["detail"].startswith(f"{field}") or f"$.{field}" in r.json()["detail"], r.json()


async def test_unknown_firm_and_bad_queries_are_4xx_naming_the_field(client, world):
    from server.uscc import make_uscc

    h = world["headers"]["watcher"]
    r = await client.post("/api/subscriptions", json={"uscc": make_uscc(999_999)}, headers=h)
    assert r.status_code == 404 and r.json()["detail"].startswith("uscc: no firm")
    for query, field in [("after_id=-1", "after_id"), ("limit=0", "limit"), ("limit=201", "limit"),
                         ("unread=maybe", "unread")]:
        r = await client.get(f"/api/notifications?{query}", headers=h)
        assert r.status_code == 400 and field in r.json()["detail"], (query, r.text)
    assert (await client.post("/api/notifications/99999999/read", headers=h)).status_code == 404
    assert (await client.post("/api/notifications/0/read", headers=h)).status_code == 400


async def test_routes_need_a_signed_in_user_and_the_webhook_a_bank_manager(client, world):
    assert (await client.get("/api/subscriptions")).status_code == 401
    assert (await client.get("/api/notifications")).status_code == 401
    assert (await client.get("/api/notifications/unread-count")).status_code == 401
    body = {"url": "https://bank.example.com/hook"}
    for who in ("watcher", "owner_a", "admin"):
        r = await client.put("/api/banks/me/webhook", json=body, headers=world["headers"][who])
        assert r.status_code == 403, who
    r = await client.put("/api/banks/me/webhook", json={"url": "ftp://x"}, headers=world["headers"]["rcb"])
    assert r.status_code == 400 and "url" in r.json()["detail"]
    r = await client.put("/api/banks/me/webhook", json={**body, "secret": "short"}, headers=world["headers"]["rcb"])
    assert r.status_code == 400 and "secret" in r.json()["detail"]


async def test_bank_webhook_url_is_stored_with_a_generated_secret(client, world):
    from server.tables.financing import Bank

    h = world["headers"]["rcb"]
    r = await client.put("/api/banks/me/webhook", json={"url": "https://rcb.example.com/hook"}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["url"] == "https://rcb.example.com/hook" and len(out["secret"]) >= 32
    bank = await Bank.select(Bank.webhook_url, Bank.webhook_secret).where(Bank.id == out["bank_id"]).first()
    assert bank == {"webhook_url": "https://rcb.example.com/hook", "webhook_secret": out["secret"]}
    # changing the URL keeps the secret (and does not show it again); null turns the hook off
    r = await client.put("/api/banks/me/webhook", json={"url": "https://rcb.example.com/v2"}, headers=h)
    assert r.json()["secret"] is None
    assert (await Bank.select(Bank.webhook_secret).where(Bank.id == out["bank_id"]).first())[
        "webhook_secret"] == out["secret"]
    r = await client.put("/api/banks/me/webhook", json={"url": None}, headers=h)
    assert r.status_code == 200 and r.json()["url"] is None


async def test_watchers_and_the_applicants_bank_are_told_and_nobody_else(client, world):
    from server.notifications.common import transaction
    from server.notifications.fanout import notify_risk_events
    from server.tables.notifications import Subscription

    firms, users = world["firms"], world["users"]
    await _watch(client, world["headers"]["watcher"], firms["A"]["uscc"])
    await _watch(client, world["headers"]["owner_a"], firms["A"]["uscc"])
    async with transaction():  # inside the caller's transaction, as the risk engine does
        written = await notify_risk_events([_event(firms["A"], 101)])
    assert written == 4  # watcher, owner, and both ICBC managers (automatic watch of their applicant)
    for who in ("other", "rcb", "admin", "digest"):
        assert await _notifications(users[who]) == [], who
    public = (await _notifications(users["watcher"]))[0]
    assert public["kind"] == "risk" and public["level"] == "yellow" and public["title"] == "欠缴税款"
    assert public["dedup_key"] == f"risk:101:{users['watcher']}"
    assert public["body"]["uscc"] == firms["A"]["uscc"] and public["body"]["title_en"] == "Tax arrears"
    assert public["body"]["detail"] is False
    assert "evidence" not in public["body"] and "message_zh" not in public["body"]
    assert (await _notifications(users["owner_a"]))[0]["body"]["evidence"] == {"amount_fen": 12_500_000, "days": 45}
    bank = (await _notifications(users["icbc"]))[0]
    assert bank["body"]["detail"] is False  # no consent from firm A to ICBC yet: public signals
    auto = await Subscription.select(Subscription.automatic).where(
        (Subscription.user == users["icbc"]) & (Subscription.firm == firms["A"]["id"])).first()
    assert auto == {"automatic": True}
    # every notification is queued for a push in the same transaction
    assert [r["channel"] for r in await _outbox(public["id"])] == ["push"]


async def test_a_bank_with_consent_gets_the_evidence_and_its_webhook_is_queued_once(client, world):
    from server.notifications.fanout import notify_risk_events
    from server.tables.consent import Consent
    from server.tables.financing import Bank
    from server.tables.notifications import Outbox

    firms, users = world["firms"], world["users"]
    now = datetime.now(UTC)
    await Consent(firm=firms["A"]["id"], bank=world["bank_icbc"], scope="evaluation", granted_at=now,
                  expires_at=now + timedelta(days=30), granted_by=users["owner_a"]).save()
    await Bank.update({Bank.webhook_url: "https://icbc.example.com/hook", Bank.webhook_secret: "s" * 32}).where(
        Bank.id == world["bank_icbc"])
    try:
        assert await notify_risk_events([_event(firms["A"], 102, level="red", kind="overdue")]) == 4
    finally:
        await Bank.update({Bank.webhook_url: None, Bank.webhook_secret: None}).where(Bank.id == world["bank_icbc"])
    for who in ("icbc", "icbc2"):
        note = [n for n in await _notifications(users[who]) if n["dedup_key"] == f"risk:102:{users[who]}"][0]
        assert note["body"]["detail"] is True and note["body"]["evidence"]["days"] == 45
        assert note["body"]["message_en"].startswith("125,000 yuan")
    watcher = [n for n in await _notifications(users["watcher"]) if n["body"]["warning_id"] == 102][0]
    assert watcher["body"]["detail"] is False
    hooks = await Outbox.select(Outbox.notification.user.id).where(
        (Outbox.channel == "webhook") & Outbox.notification.dedup_key.like("risk:102:%"))
    assert [h["notification.user.id"] for h in hooks] == [min(users["icbc"], users["icbc2"])]  # one per bank


async def test_filters_by_level_and_kind(client, world):
    from server.notifications.fanout import notify_risk_events

    firms, users = world["firms"], world["users"]
    await _watch(client, world["headers"]["other"], firms["B"]["uscc"], levels=["red"], kinds=["credit", "contagion"])
    assert await notify_risk_events([_event(firms["B"], 201, level="yellow", kind="credit")]) == 0
    assert await notify_risk_events([_event(firms["B"], 202, level="red", kind="tax")]) == 0
    assert await notify_risk_events([_event(firms["B"], 203, level="red", kind="contagion")]) == 1
    assert [n["dedup_key"] for n in await _notifications(users["other"])] == [f"risk:203:{users['other']}"]
    # a kind that the rule catalogue does not have is refused, naming the field
    r = await client.post("/api/subscriptions", json={"uscc": firms["B"]["uscc"], "kinds": ["credit\n"]},
                          headers=world["headers"]["other"])
    assert r.status_code == 400 and r.json()["detail"].startswith("kinds[0]"), r.text


async def test_the_same_event_twice_is_one_notification_and_an_escalation_updates_it(client, world):
    from server.notifications.fanout import notify_risk_events
    from server.tables.notifications import Notification

    firm, uid = world["firms"]["C"], world["users"]["watcher"]
    await _watch(client, world["headers"]["watcher"], firm["uscc"])
    assert await notify_risk_events([_event(firm, 301)]) == 1
    assert await notify_risk_events([_event(firm, 301)]) == 0  # a repeat: nothing new
    notes = [n for n in await _notifications(uid) if n["body"]["warning_id"] == 301]
    assert len(notes) == 1
    note = notes[0]
    assert len(await _outbox(note["id"])) == 1
    await Notification.update({Notification.read_at: datetime.now(UTC)}).where(Notification.id == note["id"])

    assert await notify_risk_events([_event(firm, 301, level="red", event="escalated")]) == 1
    escalated = [n for n in await _notifications(uid) if n["body"]["warning_id"] == 301]
    assert [n["id"] for n in escalated] == [note["id"]]  # the same notification, merged
    assert escalated[0]["level"] == "red" and escalated[0]["body"]["event"] == "escalated"
    assert escalated[0]["read_at"] is None and escalated[0]["updated_at"] > note["updated_at"]
    pushes = [r for r in await _outbox(note["id"]) if r["channel"] == "push"]
    assert 1 <= len(pushes) <= 2  # re-queued (or merged into a row the relay had not taken yet)
    assert any(r["status"] == "pending" for r in pushes) or escalated[0]["delivered_at"] is not None

    # Clearing is a second entry, at its own time; the raised one keeps its level and title.
    assert await notify_risk_events([_event(firm, 301, level="red", event="closed")]) == 1
    assert await notify_risk_events([_event(firm, 301, level="red", event="closed")]) == 0  # once
    both = sorted((n for n in await _notifications(uid) if n["body"]["warning_id"] == 301), key=lambda n: n["id"])
    assert [n["id"] for n in both][0] == note["id"] and len(both) == 2
    raised, cleared = both
    assert raised["level"] == "red" and not raised["title"].startswith("已解除") and raised["body"]["event"] == "escalated"
    assert cleared["level"] == "blue" and cleared["title"].startswith("已解除：")
    assert cleared["body"]["title_en"].startswith("Cleared: ") and cleared["body"]["warning_level"] == "red"
    assert cleared["created_at"] > raised["created_at"] and cleared["read_at"] is None
    assert [r["channel"] for r in await _outbox(cleared["id"])] == ["push"]


async def test_quiet_hours_hold_the_push_until_they_end(client, world):
    from server.notifications.fanout import notify_risk_events
    from server.notifications.outbox import DbOutboxStore

    firm, uid = world["firms"]["B"], world["users"]["quiet"]
    hour = datetime.now(SHANGHAI).hour
    start, end = hour, (hour + 2) % 24  # quiet now, for two hours at most
    await _watch(client, world["headers"]["quiet"], firm["uscc"], quiet_start=start, quiet_end=end)
    assert await notify_risk_events([_event(firm, 401)]) == 1
    note = (await _notifications(uid))[0]
    [row] = await _outbox(note["id"])
    held_until = row["next_attempt_at"].astimezone(SHANGHAI)
    assert held_until.hour == end and held_until.minute == 0
    assert timedelta(0) < held_until - datetime.now(SHANGHAI) <= timedelta(hours=2)
    store = DbOutboxStore()
    now = datetime.now(UTC)
    assert [d for d in await store.claim("push", now, 100, timedelta(seconds=30))
            if d.notification_id == note["id"]] == []
    later = await store.claim("push", row["next_attempt_at"] + timedelta(seconds=1), 100, timedelta(seconds=30))
    assert [d.notification_id for d in later if d.notification_id == note["id"]] == [note["id"]]
    await store.sent(later, row["next_attempt_at"])
    assert (await _notifications(uid))[0]["delivered_at"] is not None


async def test_digest_subscribers_get_one_digest_a_day_instead_of_pushes(client, world):
    from server.notifications.digest import daily_digest
    from server.notifications.fanout import notify_risk_events

    firms, uid = world["firms"], world["users"]["digest"]
    for k in ("D", "E"):
        await _watch(client, world["headers"]["digest"], firms[k]["uscc"], daily_digest=True)
    assert await notify_risk_events([_event(firms["D"], 501, level="red"), _event(firms["E"], 502)]) == 2
    held = await _notifications(uid)
    assert len(held) == 2
    for n in held:
        assert [(r["channel"], r["status"]) for r in await _outbox(n["id"])] == [("digest", "pending")]
    now = datetime.now(UTC)
    assert await daily_digest(now) == 0  # not yet digest time
    at = next_digest_at(now)
    assert at.astimezone(SHANGHAI).hour == 8
    assert await daily_digest(at) == 1
    assert await daily_digest(at) == 0  # safe to run twice
    notes = await _notifications(uid)
    digest = [n for n in notes if n["kind"] == "digest"]
    assert len(digest) == 1
    d = digest[0]
    assert d["level"] == "red" and [i["id"] for i in d["body"]["items"]] == [n["id"] for n in held]
    assert "2条" in d["title"] and "2 alerts" in d["body"]["title_en"] and "1 red" in d["body"]["title_en"]
    assert [r["channel"] for r in await _outbox(d["id"])] == ["push"]
    assert all(n["delivered_at"] is not None for n in notes if n["kind"] == "risk")
    for n in held:
        assert [r["status"] for r in await _outbox(n["id"])] == ["sent"]


async def test_read_unread_and_ownership(client, world):
    from server.notifications.fanout import notify_users

    uid, h = world["users"]["other"], world["headers"]["other"]
    await notify_users([uid], "policy", "blue", "您可申请新政策", "You now qualify for a policy",
                       {"policy_id": 1}, "policy:1")
    await notify_users([uid], "application", "blue", "贷款申请已批准", "Your loan was approved",
                       {"application_id": 9}, "application:9")
    count = (await client.get("/api/notifications/unread-count", headers=h)).json()["unread"]
    assert count >= 2
    listed = (await client.get("/api/notifications?unread=true&limit=2", headers=h)).json()
    assert [n["kind"] for n in listed] == ["application", "policy"]  # newest first
    assert listed[0]["title_zh"] == "贷款申请已批准" and listed[0]["title_en"] == "Your loan was approved"
    assert listed[0]["body"] == {"application_id": 9}
    first = listed[1]["id"]
    after = (await client.get(f"/api/notifications?after_id={first}", headers=h)).json()
    assert [n["id"] for n in after] == [listed[0]["id"]]  # oldest first after an id
    # another user cannot read (or learn about) it
    r = await client.post(f"/api/notifications/{first}/read", headers=world["headers"]["watcher"])
    assert r.status_code == 404 and r.json()["detail"].startswith("notification_id:")
    r = await client.post(f"/api/notifications/{first}/read", headers=h)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    assert (await client.get("/api/notifications/unread-count", headers=h)).json()["unread"] == count - 1
    assert [n["id"] for n in (await client.get("/api/notifications?unread=false", headers=h)).json()] == [first]
    marked = (await client.post("/api/notifications/read-all", headers=h)).json()["marked"]
    assert marked == count - 1
    assert (await client.get("/api/notifications/unread-count", headers=h)).json()["unread"] == 0
    assert all(n["user"] == uid for n in await _notifications(uid))


async def test_generic_notifications_merge_by_key(client, world):
    from server.notifications.fanout import notify_users

    uid = world["users"]["admin"]
    args = ("policy", "blue", "新政策", "New policy", {"policy_id": 7}, "policy:7")
    assert await notify_users([uid, uid], *args) == 1
    assert await notify_users([uid], *args) == 0
    assert await notify_users([uid], "policy", "yellow", "新政策（已更新）", "New policy (updated)",
                              {"policy_id": 7}, "policy:7") == 1
    notes = [n for n in await _notifications(uid) if n["dedup_key"] == f"policy:7:{uid}"]
    assert len(notes) == 1 and notes[0]["level"] == "yellow"
    with pytest.raises(ValueError, match="level"):
        await notify_users([uid], "policy", "green", "x", "x", {}, "policy:8")


async def test_ensure_bank_watch_and_automatic_watches_cannot_be_dropped(client, world):
    from server.notifications.fanout import notify_risk_events
    from server.notifications.subscriptions import ensure_bank_watch
    from server.tables.financing import LoanApplication, LoanProduct

    firms, users = world["firms"], world["users"]
    icbc_product = (await LoanProduct.select(LoanProduct.id).where(LoanProduct.bank == world["bank_icbc"]).first())
    app = LoanApplication(firm=firms["C"]["id"], product=icbc_product["id"], amount_fen=20_000_000, term_months=6,
                          purpose="设备", status="approved", created_at=datetime.now(UTC))
    await app.save()
    assert await ensure_bank_watch(app.id) == 2  # both ICBC managers
    assert await ensure_bank_watch(app.id) == 0
    subs = (await client.get("/api/subscriptions", headers=world["headers"]["icbc"])).json()
    auto = [s for s in subs if s["uscc"] == firms["C"]["uscc"]][0]
    assert auto["automatic"] is True
    r = await client.delete(f"/api/subscriptions/{auto['id']}", headers=world["headers"]["icbc"])
    assert r.status_code == 409 and r.json()["detail"].startswith("subscription_id:")
    # narrowing it works; a repaid loan ends the automatic watch
    await _watch(client, world["headers"]["icbc"], firms["C"]["uscc"], levels=["red"])
    await notify_risk_events([_event(firms["C"], 601, level="yellow")])
    assert not [n for n in await _notifications(users["icbc"]) if n["dedup_key"] == f"risk:601:{users['icbc']}"]
    await notify_risk_events([_event(firms["C"], 602, level="red")])
    assert [n for n in await _notifications(users["icbc"]) if n["dedup_key"] == f"risk:602:{users['icbc']}"]
    await LoanApplication.update({LoanApplication.status: "repaid"}).where(LoanApplication.id == app.id)
    await notify_risk_events([_event(firms["C"], 603, level="red")])
    assert not [n for n in await _notifications(users["icbc"]) if n["dedup_key"] == f"risk:603:{users['icbc']}"]


def test_quiet_hours_and_digest_times_in_shanghai():
    from alerts.digest import digest_content, quiet_until

    def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)

    assert quiet_until(at(23, 30), 22, 7) == at(7, day=11)  # wraps midnight: until 07:00 next day
    assert quiet_until(at(3), 22, 7) == at(7)
    assert quiet_until(at(7), 22, 7) is None and quiet_until(at(21, 59), 22, 7) is None
    assert quiet_until(at(13), 12, 14) == at(14) and quiet_until(at(14), 12, 14) is None
    assert quiet_until(at(13), None, None) is None
    assert next_digest_at(at(7, 59)) == at(8) and next_digest_at(at(8)) == at(8, day=11)
    level, zh, en = digest_content(date(2026, 3, 10), [{"level": "blue"}, {"level": "red"}, {"level": "blue"}])
    assert level == "red" and "3条（红1，蓝2）" in zh and en.endswith("3 alerts (1 red, 2 blue)")


async def test_the_stream_with_max_seconds_0_sends_what_was_missed_and_ends(client, world):
    from server.notifications.fanout import notify_users

    uid, h = world["users"]["icbc2"], world["headers"]["icbc2"]
    await notify_users([uid], "application", "blue", "新的贷款申请", "A new loan application",
                       {"application_id": 77}, "stream-poll:77")
    ids = [n["id"] for n in (await client.get("/api/notifications?limit=200", headers=h)).json()]
    r = await client.get("/api/notifications/stream", params={"after_id": 0, "max_seconds": 0}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.split("\r\n\r\n") if "event: notification" in block]
    sent = [int(line[4:]) for block in events for line in block.split("\r\n") if line.startswith("id: ")]
    assert sorted(sent) == sorted(ids) and len(sent) == len(set(sent))
    last = max(ids)
    r = await client.get("/api/notifications/stream", params={"max_seconds": 0},
                         headers={**h, "Last-Event-ID": str(last)})
    assert "event: notification" not in r.text and ": ready" in r.text  # nothing missed
    ticket = (await client.post("/api/notifications/stream-ticket", headers=h)).json()["ticket"]
    r = await client.get("/api/notifications/stream", params={"max_seconds": 0, "ticket": ticket,
                                                              "after_id": last - 1})
    assert r.text.count("event: notification") == 1  # ?ticket= for EventSource, which sends no headers
    r = await client.get("/api/notifications/stream", params={"max_seconds": 0}, headers={**h, "Last-Event-ID": "x"})
    assert r.status_code == 400 and r.json()["detail"].startswith("Last-Event-ID:")
    r = await client.get("/api/notifications/stream", params={"max_seconds": 4000}, headers=h)
    assert r.status_code == 400 and "max_seconds" in r.json()["detail"]
