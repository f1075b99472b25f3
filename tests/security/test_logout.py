"""Issue 10 point 4 (tokens): logout ends the whole sign-in, even with an expired access token.

Every token pair carries a sign-in id (``sid``) kept across refreshes; logout with the refresh
token alone revokes the sign-in, so its refresh token and every access token of it are refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest

from tests.conftest import fresh_database_url
from tests.integration.conftest import make_user

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # No race here: one engine keeps the suite fast (tests/security/test_refresh_once.py and
    # the integration tests cover PostgreSQL).
    yield from fresh_database_url("sqlite", tmp_path_factory.mktemp("db"))


PHONE, PASSWORD = "13500000601", "logout-test-pass"


@pytest.fixture(scope="module")
async def account(client) -> str:
    await make_user(PHONE, "subscriber", password=PASSWORD)
    return PHONE


async def _sign_in(client) -> dict[str, str]:
    r = await client.post("/api/auth/login", json={"phone": PHONE, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def _expired_twin(app, access_token: str) -> str:
    """The same access token, expired a minute ago (signed with the app's secret)."""
    claims = jwt.decode(access_token, app.state.settings.jwt_secret, algorithms=["HS256"])
    now = int(time.time())
    claims.update(iat=now - 120, exp=now - 60)
    return jwt.encode(claims, app.state.settings.jwt_secret, algorithm="HS256")


async def test_logout_with_expired_access_token_kills_the_refresh_token(client, app, account):
    pair = await _sign_in(client)
    expired = {"Authorization": f"Bearer {_expired_twin(app, pair['access_token'])}"}
    r = await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=expired)
    assert r.status_code == 204, r.text
    again = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401


async def test_logout_with_the_refresh_token_alone(client, account):
    pair = await _sign_in(client)
    r = await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 204, r.text
    assert (await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 401


async def test_access_tokens_of_the_logged_out_sign_in_are_refused(client, account):
    first = await _sign_in(client)
    # A refresh keeps the sign-in: the old and the new access token belong to it.
    renewed = (await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    old_access = {"Authorization": f"Bearer {first['access_token']}"}
    new_access = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert (await client.get("/api/me", headers=new_access)).status_code == 200
    other = await _sign_in(client)  # another device of the same person stays signed in
    other_access = {"Authorization": f"Bearer {other['access_token']}"}

    r = await client.post("/api/auth/logout", json={"refresh_token": renewed["refresh_token"]})
    assert r.status_code == 204, r.text
    assert (await client.get("/api/me", headers=new_access)).status_code == 401
    assert (await client.get("/api/me", headers=old_access)).status_code == 401
    assert (await client.post("/api/auth/refresh", json={"refresh_token": renewed["refresh_token"]})).status_code == 401
    assert (await client.get("/api/me", headers=other_access)).status_code == 200


async def test_logout_needs_some_valid_token(client, account):
    assert (await client.post("/api/auth/logout")).status_code == 401
    assert (await client.post("/api/auth/logout", json={"refresh_token": "not.a.valid-token"})).status_code == 401


async def test_logout_closes_the_live_streams_of_the_sign_in(client, account, monkeypatch):
    from server.notifications import push
    from server.users.security import session_revoked

    closed: list[str] = []
    real = push.close_session_streams

    async def watched(app, sid: str) -> None:
        closed.append(sid)
        await real(app, sid)

    monkeypatch.setattr(push, "close_session_streams", watched)
    pair = await _sign_in(client)
    sid = jwt.decode(pair["access_token"], options={"verify_signature": False})["extras"]["sid"]
    assert not await session_revoked(sid)
    r = await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 204
    assert closed == [sid] and await session_revoked(sid)


async def test_expired_revocations_are_purged_and_live_ones_kept(client, account):
    """The revocation table does not grow for ever: rows whose tokens have expired anyway go;
    a logged-out sign-in whose tokens could still be presented stays refused."""
    from datetime import UTC, datetime, timedelta

    from server.tables.users import RevokedToken
    from server.users.security import purge_expired_revocations

    pair = await _sign_in(client)
    r = await client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 204, r.text
    await RevokedToken.insert(RevokedToken(jti="expired-long-ago", expires_at=datetime.now(UTC) - timedelta(days=1)))
    assert await purge_expired_revocations(datetime.now(UTC)) >= 1
    assert not await RevokedToken.exists().where(RevokedToken.jti == "expired-long-ago")
    again = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401, again.text
