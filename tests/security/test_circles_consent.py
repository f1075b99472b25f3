"""Issue 10, point 2: guarantee circles without consent.

``GET /api/risk/circles`` gave any bank manager every circle with its members' names and
codes and the amounts guaranteed. A bank may see members and amounts only for firms that
consented to it or are its own applicants/borrowers; the rest are counts, and totals over
them only when they are at least K firms.
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.integration.conftest import login, make_user
from tests.security import _small_region

pytestmark = pytest.mark.anyio

BANK = "ICBC-SY"


@pytest.fixture(scope="module")
async def circle(client) -> list[str]:
    """A circle of three firms guaranteeing one another in turn: 1 -> 2 -> 3 -> 1."""
    from server.tables.firms import Firm, Guarantee

    region = await _small_region.build([("C", "13", "百官街道", 600 + i) for i in range(3)],
                                       serial0=300)
    ids = {r["uscc"]: r["id"] for r in await Firm.select(Firm.uscc, Firm.id).where(
        Firm.uscc.is_in(region.usccs))}
    codes = region.usccs
    for i, code in enumerate(codes):
        await Guarantee(record_key=f"CIRCLE-{i}", guarantor=ids[code],
                        guaranteed=ids[codes[(i + 1) % 3]], amount_fen=123_456_700 * (i + 1),
                        start_date=date(2020, 1, 1), end_date=date(2099, 1, 1)).save()
    return codes


async def _circles(client, headers) -> tuple[dict, str]:
    r = await client.get("/api/risk/circles", headers=headers)
    assert r.status_code == 200, r.text
    ours = [c for c in r.json()["circles"] if c["size"] == 3]
    assert len(ours) == 1, r.text
    return ours[0], r.text


async def test_a_bank_without_consent_sees_no_members_or_amounts(client, circle):
    from server.tables.firms import Firm

    await make_user("13900002001", "bank_manager", bank_code=BANK)
    found, text = await _circles(client, await login(client, "13900002001"))
    names = [r["name"] for r in await Firm.select(Firm.name).where(Firm.uscc.is_in(circle))]
    for secret in [*circle, *names]:
        assert secret not in text, f"{secret} of a firm that never consented was shown"
    assert found["members"] == [] and found["hidden_members"] == 3
    # The amounts are totals over three firms that did not consent: fewer than K.
    assert found["amount_yuan"] is None and found["outside_amount_yuan"] is None
    assert "1234567" not in text


async def test_consent_shows_that_member_only_and_admins_see_all(client, circle):
    from server.tables.consent import AccessLog
    from server.tables.financing import Bank
    from server.tables.firms import Firm

    bank = await Bank.select(Bank.id).where(Bank.code == BANK).first()
    await make_user("13900002002", "owner", firm_uscc=circle[0])
    owner = await login(client, "13900002002")
    r = await client.post("/api/consents", json={"bank_id": bank["id"], "days": 30}, headers=owner)
    assert r.status_code in (200, 201), r.text

    await make_user("13900002003", "bank_manager", bank_code=BANK)
    found, text = await _circles(client, await login(client, "13900002003"))
    assert [m["uscc"] for m in found["members"]] == [circle[0]] and found["hidden_members"] == 2
    assert circle[1] not in text and circle[2] not in text
    assert found["amount_yuan"] is None
    firm_id = (await Firm.select(Firm.id).where(Firm.uscc == circle[0]).first())["id"]
    assert await AccessLog.exists().where((AccessLog.firm == firm_id) & (AccessLog.what == "circles"))

    await make_user("13900002004", "admin")
    everything, _ = await _circles(client, await login(client, "13900002004"))
    assert sorted(m["uscc"] for m in everything["members"]) == sorted(circle)
    assert everything["amount_yuan"] == 1_234_567 * 6 and everything["hidden_members"] == 0
