"""Accounts: argon2 passwords, access/refresh tokens, logout that really revokes."""

from __future__ import annotations

import pytest

from tests.integration.conftest import make_user

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def account(client) -> str:
    await make_user("13700000001", "subscriber", password="right-password")
    return "13700000001"


async def test_password_is_stored_as_argon2(account):
    from server.tables.users import User

    row = await User.select(User.password_hash).where(User.phone == account).first()
    assert row["password_hash"].startswith("$argon2id$")
    assert "right-password" not in row["password_hash"]


async def test_wrong_password_and_unknown_phone_get_the_same_401(client, account):
    a = await client.post("/api/auth/login", json={"phone": account, "password": "nope"})
    b = await client.post("/api/auth/login", json={"phone": "13799999999", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"]


async def test_bad_login_body_names_the_field(client):
    r = await client.post("/api/auth/login", json={"phone": "12"})
    assert r.status_code == 400
    assert "phone" in r.text or "password" in r.text


async def test_refresh_rotates_and_logout_revokes(client, account):
    r = await client.post("/api/auth/login", json={"phone": account, "password": "right-password"})
    pair = r.json()
    auth = {"Authorization": f"Bearer {pair['access_token']}"}
    assert (await client.get("/api/me", headers=auth)).status_code == 200

    # a refresh token is not an access token
    as_access = {"Authorization": f"Bearer {pair['refresh_token']}"}
    assert (await client.get("/api/me", headers=as_access)).status_code == 401

    new = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert new.status_code == 200
    # the old refresh token was single-use
    again = await client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401

    assert (await client.post("/api/auth/logout", headers=auth)).status_code == 204
    assert (await client.get("/api/me", headers=auth)).status_code == 401


async def test_no_token_and_garbage_token(client):
    assert (await client.get("/api/me")).status_code == 401
    assert (await client.get("/api/me", headers={"Authorization": "Bearer x.y.z"})).status_code == 401


@pytest.mark.parametrize("path", ["/api/consents", "/api/users", "/api/weight-profiles"])
async def test_options_on_guarded_routes_answers_without_a_token(client, path):
    # Preflight requests carry no token: they must get the allowed methods, not a 500.
    r = await client.options(path)
    assert r.status_code in (200, 204)
    assert "OPTIONS" in r.headers["allow"] and "," in r.headers["allow"]


async def test_expired_token_is_refused(client, app, account):
    import time

    import jwt

    from server.tables.users import User

    user = await User.select(User.id).where(User.phone == account).first()
    now = int(time.time())
    # Signed with the right secret, shaped like ours, but expired a minute ago.
    token = jwt.encode({"sub": str(user["id"]), "iat": now - 120, "exp": now - 60, "jti": "expired-1",
                        "extras": {"typ": "access"}}, app.state.settings.jwt_secret, algorithm="HS256")
    r = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
