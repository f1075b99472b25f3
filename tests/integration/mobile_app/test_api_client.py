"""The app's API client against the real API (in-process) and against failing transports."""

from __future__ import annotations

import json

import httpx
import pytest

from mobile_app.api import ApiClient, ApiError, AuthError, ConnectionLost, PushStream, parse_sse
from mobile_app.api.models import Evaluation, Notification, TokenPair
from tests.integration.mobile_app.conftest import PASSWORD, PHONES, Api

pytestmark = pytest.mark.anyio


async def test_login_me_and_evaluation(api: Api) -> None:
    seen: list[TokenPair | None] = []
    client = api.client()
    client.on_tokens = seen.append
    tokens = await client.login(PHONES["owner"], PASSWORD)
    assert seen == [tokens] and tokens.access_token
    me = await client.me()
    assert me.role == "owner" and me.firm_uscc == api.firm_uscc
    ev = await client.evaluation(api.firm_uscc)
    assert isinstance(ev, Evaluation) and ev.grade in "ABCD" and 0 < ev.pd < 1
    assert set(ev.dimensions) == {"capital", "operation", "profitability", "solvency", "development", "integrity"}
    assert ev.history and ev.industry is not None and ev.industry.firms > 0
    assert all(r.text_zh and r.text_en for r in ev.reasons)


async def test_wrong_password_is_an_auth_error(api: Api) -> None:
    client = api.client()
    with pytest.raises(AuthError) as err:
        await client.login(PHONES["owner"], "not-the-password")
    assert err.value.status == 401 and client.tokens is None


async def test_bad_input_names_the_field(api: Api) -> None:
    client = await api.signed_in("owner")
    with pytest.raises(ApiError) as err:
        await client.match(0, 12, "设备")
    assert err.value.status == 400 and err.value.field == "amount_yuan"


async def test_expired_access_token_is_refreshed_once(api: Api) -> None:
    client = await api.signed_in("owner")
    seen: list[TokenPair | None] = []
    client.on_tokens = seen.append
    good_refresh = client.tokens.refresh_token
    client.tokens = TokenPair(access_token="expired.or.forged", refresh_token=good_refresh)
    me = await client.me()
    assert me.role == "owner"
    assert len(seen) == 1 and seen[0] is not None and seen[0].access_token != "expired.or.forged"


async def test_refused_refresh_signs_out(api: Api) -> None:
    client = await api.signed_in("owner")
    seen: list[TokenPair | None] = []
    client.on_tokens = seen.append
    client.tokens = TokenPair(access_token="expired.or.forged", refresh_token="also.forged.token")
    with pytest.raises(AuthError):
        await client.me()
    assert client.tokens is None and seen == [None]


async def test_financing_round_trip_owner_and_bank(api: Api) -> None:
    owner = await api.signed_in("owner")
    result = await owner.match(1_000_000, 12, "购买设备")
    assert result.fitting, "the demo owner's firm should fit some product for ¥1,000,000 / 12 months"
    assert all(m.product.bank_name and m.expected_min_rate_pct <= m.expected_max_rate_pct for m in result.matches)
    assert all(m.reasons for m in result.not_fitting)
    bank = await api.signed_in("bank_manager")
    bank_id = (await bank.me()).bank_id
    choice = next((m for m in result.fitting if m.product.bank_id == bank_id), None)
    assert choice is not None, "the demo bank manager's bank should offer a fitting product"
    created = await owner.apply([choice.product.id], 1_000_000, 12, "购买设备", confirm_consent=True)
    assert created.consents and created.consents[0].bank_id == bank_id
    app_id = created.applications[0].id
    detail = await owner.application(app_id)
    assert detail.status == "pending" and detail.events
    queue = await bank.applications(status="pending")
    assert app_id in {a.id for a in queue}
    decided = await bank.decide(app_id, "approve", amount_yuan=900_000, rate_bp=420, term_months=12)
    assert decided.status == "approved" and decided.approved_amount_yuan == 900_000
    seen = await owner.application(app_id)
    assert seen.status == "approved" and seen.rate_pct == pytest.approx(4.2)
    assert [e.status for e in seen.events][-1] == "approved"


async def test_consents_and_access_log(api: Api) -> None:
    owner = await api.signed_in("owner")
    consents = await owner.consents()
    log = await owner.access_log(api.firm_uscc)
    assert all(c.bank_name for c in consents)
    assert all(e.viewer_role for e in log)
    active = [c for c in consents if c.active]
    if active:
        await owner.revoke_consent(active[0].id)
        after = {c.id: c for c in await owner.consents()}
        assert after[active[0].id].active is False


async def test_policies_and_objections(api: Api) -> None:
    owner = await api.signed_in("owner")
    matches = await owner.policy_matches()
    assert matches.eligible or matches.not_eligible
    assert all(m.criteria or m.missing for m in matches.eligible + matches.not_eligible)
    records = await owner.objection_records(limit=5)
    assert records.total >= len(records.items) > 0
    filed = await owner.file_objection(records.items[0].id, "该记录金额与实际不符")
    assert filed.objection.status == "open" and filed.record.id == records.items[0].id
    assert filed.objection.id in {o.id for o in await owner.objections()}


async def test_search_and_public_profile(api: Api) -> None:
    sub = await api.signed_in("subscriber")
    found = await sub.search_firms("公司", limit=5)
    assert 0 < len(found) <= 5
    profile = await sub.firm(found[0].uscc)
    assert profile.uscc == found[0].uscc and profile.name


async def test_watchlist_notifications_and_warnings(api: Api) -> None:
    sub = await api.signed_in("subscriber")
    watched = await sub.subscribe(api.firm_uscc)
    assert watched.uscc == api.firm_uscc
    assert api.firm_uscc in {s.uscc for s in await sub.subscriptions()}
    warnings = await sub.firm_warnings(api.firm_uscc)
    assert warnings.uscc == api.firm_uscc and warnings.open_red >= 0
    assert isinstance(await sub.notifications(), list)
    await sub.unsubscribe(watched.id)
    assert api.firm_uscc not in {s.uscc for s in await sub.subscriptions()}
    bank = await api.signed_in("bank_manager")
    assert all(w.level in ("red", "yellow", "blue") for w in await bank.warnings())


async def test_unreachable_api_is_connection_lost() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ApiClient("http://test", transport=httpx.MockTransport(refuse))
    with pytest.raises(ConnectionLost):
        await client.login("13800000001", "x")


async def test_unreadable_answer_is_a_clear_error() -> None:
    client = ApiClient("http://test", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={"id": 1, "phone": "1"})))
    with pytest.raises(ApiError) as err:
        await client.me()
    assert err.value.status == 502 and "role" in err.value.detail


async def test_sse_parser() -> None:
    lines = [": keep-alive", "", "event: notification", "id: 7", 'data: {"id": 7,', 'data:  "kind": "risk"}', "",
             "event: ping", "data: ", ""]

    async def source():
        for line in lines:
            yield line

    events = [e async for e in parse_sse(source())]
    assert events[0].event == "notification" and events[0].id == "7"
    assert events[0].json() == {"id": 7, "kind": "risk"}
    assert events[1].event == "ping"


async def test_push_stream_reconnects_with_last_event_id_and_catches_up() -> None:
    """First connection delivers one event then drops; the second resumes after it."""
    import asyncio

    calls: list[httpx.Request] = []
    note = {"id": 41, "kind": "risk", "level": "red", "title_zh": "红色预警", "title_en": "Red",
            "body": {}, "firm_uscc": None, "created_at": "2026-11-22T00:00:00Z",
            "updated_at": "2026-11-22T00:00:00Z", "read_at": None}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/api/me":
            return httpx.Response(200, json={"id": 1, "phone": "1", "role": "owner", "display_name": "x"})
        streams = [c for c in calls if c.url.path.endswith("/stream")]
        if len(streams) == 1:
            body = f"event: notification\nid: 41\ndata: {json.dumps(note)}\n\n"
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b": idle\n\n")

    client = ApiClient("http://test", transport=httpx.MockTransport(handler))
    client.tokens = TokenPair(access_token="a", refresh_token="r")
    got: list[Notification] = []
    statuses: list[bool] = []
    connects: list[int] = []
    stream = PushStream(client=client, on_event=lambda p: got.append(Notification(**p)),
                        on_status=statuses.append, on_connected=lambda: connects.append(1),
                        min_backoff=0.01, max_backoff=0.02)
    stream.start()
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len([c for c in calls if c.url.path.endswith("/stream")]) >= 3:
            break
    await stream.stop()
    streams = [c for c in calls if c.url.path.endswith("/stream")]
    assert [n.id for n in got] == [41]
    assert streams[0].headers.get("last-event-id") is None
    assert streams[1].headers["last-event-id"] == "41"
    assert streams[1].headers["authorization"] == "Bearer a"
    assert len(connects) >= 2 and True in statuses and statuses[-1] is False
