"""Issue 10, point 7: parallel grants made several active consents for one firm and bank, so
revoking one left the bank reading the evaluation. One active consent per firm, bank and scope
is the database's rule now, and a revoke ends the bank's access at once.

PostgreSQL only: the race needs real concurrent transactions.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import login, make_user
from tests.security.conftest import pg_only_db_url, scored_firm

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)

GRANTS = 8
MIGRATION = "server.piccolo_migrations.xinbao_2026_12_03t09_10_00_000000"


async def _scored_firm(serial: int) -> dict[str, Any]:
    return await scored_firm(810_000 + serial, f"授权竞态测试{serial}有限公司")


@pytest.fixture(scope="module")
async def parties(client: httpx.AsyncClient) -> dict[str, Any]:
    from server.tables.financing import Bank

    firm = await _scored_firm(1)
    await make_user("13922200001", "owner", firm_uscc=firm["uscc"])
    await make_user("13922200002", "bank_manager", bank_code="ICBC-SY")
    bank = (await Bank.select(Bank.id).where(Bank.code == "ICBC-SY").first())["id"]
    return {"firm": firm, "bank": bank, "owner": await login(client, "13922200001"),
            "manager": await login(client, "13922200002")}


async def _open_consents(firm_id: int, bank_id: int) -> list[dict[str, Any]]:
    from server.tables.consent import Consent

    return await Consent.select().where(
        (Consent.firm == firm_id) & (Consent.bank == bank_id) & Consent.revoked_at.is_null())


async def _grant_all_at_once(client: httpx.AsyncClient, parties: dict[str, Any]) -> list[httpx.Response]:
    return await asyncio.gather(*(
        client.post("/api/consents", json={"bank_id": parties["bank"], "days": 30 + i},
                    headers=parties["owner"]) for i in range(GRANTS)))


async def test_parallel_grants_make_one_consent_and_a_revoke_ends_access(client, parties):
    firm, bank = parties["firm"], parties["bank"]
    evaluation = f"/api/firms/{firm['uscc']}/evaluation"
    assert (await client.get(evaluation, headers=parties["manager"])).status_code == 403

    answers = await _grant_all_at_once(client, parties)
    assert [r.status_code for r in answers] == [201] * GRANTS, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1  # every grant extended the same consent
    open_rows = await _open_consents(firm["id"], bank)
    assert len(open_rows) == 1, open_rows
    longest = max(r.json()["expires_at"] for r in answers)
    assert open_rows[0]["expires_at"] >= datetime.fromisoformat(longest) - timedelta(seconds=1)

    read = await client.get(evaluation, headers=parties["manager"])
    assert read.status_code == 200, read.text
    r = await client.delete(f"/api/consents/{answers[0].json()['id']}", headers=parties["owner"])
    assert r.status_code == 204, r.text
    refused = await client.get(evaluation, headers=parties["manager"])
    assert refused.status_code == 403 and "consent" in refused.json()["detail"]
    assert "no-store" in read.headers.get("cache-control", "")  # no proxy or browser keeps a copy

    # A grant after the revoke is a new consent (the revoked one stays in the history), once.
    again = await _grant_all_at_once(client, parties)
    assert len({r.json()["id"] for r in again}) == 1 and again[0].json()["id"] != answers[0].json()["id"]
    assert len(await _open_consents(firm["id"], bank)) == 1
    listed = (await client.get("/api/consents", headers=parties["owner"])).json()
    assert sorted(c["active"] for c in listed) == [False, True]


async def test_an_expired_consent_is_closed_by_the_next_grant(client, parties):
    from server.tables.consent import Consent

    firm, bank = parties["firm"], parties["bank"]
    past = datetime.now(UTC) - timedelta(days=1)
    await Consent.update({Consent.expires_at: past}).where(
        (Consent.firm == firm["id"]) & Consent.revoked_at.is_null())
    evaluation = f"/api/firms/{firm['uscc']}/evaluation"
    assert (await client.get(evaluation, headers=parties["manager"])).status_code == 403
    answers = await _grant_all_at_once(client, parties)
    assert [r.status_code for r in answers] == [201] * GRANTS
    open_rows = await _open_consents(firm["id"], bank)
    assert len(open_rows) == 1 and open_rows[0]["expires_at"] > datetime.now(UTC)
    assert (await client.get(evaluation, headers=parties["manager"])).status_code == 200


async def test_the_migration_ends_duplicates_before_it_creates_the_index(client, parties):
    """A database from before the fix may hold several open consents of one firm and bank:
    the migration keeps the one that lasts longest and revokes the rest."""
    from server.tables.consent import Consent

    firm, bank = parties["firm"], parties["bank"]
    migration = importlib.import_module(MIGRATION)
    await Consent.raw("DROP INDEX consent_one_open")
    now = datetime.now(UTC)
    try:
        for days in (5, 50, 20):
            await Consent(firm=firm["id"], bank=bank, scope="evaluation", granted_at=now,
                          expires_at=now + timedelta(days=days)).save()
        assert len(await _open_consents(firm["id"], bank)) >= 3
    finally:
        await migration.one_open_consent()
    open_rows = await _open_consents(firm["id"], bank)
    assert len(open_rows) == 1 and open_rows[0]["expires_at"] > now + timedelta(days=49)
    with pytest.raises(Exception, match="consent_one_open"):  # the index is back
        await Consent(firm=firm["id"], bank=bank, scope="evaluation", granted_at=now,
                      expires_at=now + timedelta(days=1)).save()
