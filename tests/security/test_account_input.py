"""Issue 10 points 13 and 16 (accounts): trailing newlines, look-alike phones, weak passwords,
and a registration that does not tell whether a phone number has an account.

msgspec checks ``pattern`` with ``re.search``, where ``$`` also matches before a final newline:
``"owner\\n"`` passed the role pattern and ``"13800000001\\n"`` the phone pattern.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from tests.conftest import fresh_database_url
from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # No race here: one engine keeps the suite fast (tests/security/test_refresh_once.py and
    # the integration tests cover PostgreSQL).
    yield from fresh_database_url("sqlite", tmp_path_factory.mktemp("db"))


GOOD = "plenty-long-passphrase-7"


@pytest.fixture(scope="module")
async def existing(client) -> str:
    await make_user("13800000001", "owner", password=GOOD)
    return "13800000001"


@pytest.fixture(scope="module")
async def admin(client) -> dict[str, str]:
    await make_user("13700000901", "admin")
    return await login(client, "13700000901")


def code_for(caplog: pytest.LogCaptureFixture, phone: str) -> str | None:
    """The demo's stand-in for the SMS: the last registration code printed for ``phone``."""
    found = [re.search(r"registration code for (\d+): (\d{6})$", r.getMessage()) for r in caplog.records
             if r.name == "xinbao.accounts"]
    codes = [m.group(2) for m in found if m and m.group(1) == phone]
    return codes[-1] if codes else None


@pytest.mark.parametrize("body, field", [
    ({"phone": "13911120001", "password": GOOD, "role": "owner\n"}, "role"),
    ({"phone": "13911120002", "password": GOOD, "role": "subscriber\n"}, "role"),
    ({"phone": "13800000001\n", "password": GOOD}, "phone"),
    ({"phone": "13911120003", "password": "password"}, "password"),
    ({"phone": "13911120004", "password": "12345678"}, "password"),
    ({"phone": "13911120005", "password": "qwertyuiop"}, "password"),
    ({"phone": "13911120006", "password": "13911120006"}, "password"),
    ({"phone": "13911120007", "password": "short"}, "password"),
])
async def test_bad_registration_is_a_400_naming_the_field(client, existing, body, field):
    r = await client.post("/api/auth/register", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(f"{field}: "), r.json()


async def test_admin_role_with_a_newline_is_a_400(client, admin):
    r = await client.post("/api/users", json={"phone": "13911120010", "password": GOOD, "role": "admin\n"},
                          headers=admin)
    assert r.status_code == 400 and r.json()["detail"].startswith("role"), r.text
    r = await client.post("/api/users", json={"phone": "13911120011\n", "password": GOOD, "role": "admin"},
                          headers=admin)
    assert r.status_code == 400 and r.json()["detail"].startswith("phone"), r.text
    listed = await client.get("/api/users", params={"role": "admin\n"}, headers=admin)
    assert listed.status_code == 400 and "role" in listed.json()["detail"], listed.text


async def test_login_with_a_newline_phone_is_a_400(client, existing):
    r = await client.post("/api/auth/login", json={"phone": existing + "\n", "password": GOOD})
    assert r.status_code == 400 and r.json()["detail"].startswith("phone"), r.text


async def test_registration_does_not_reveal_existing_phones(client, existing, caplog):
    caplog.set_level(logging.INFO, logger="xinbao.accounts")
    taken = await client.post("/api/auth/register", json={"phone": existing, "password": GOOD})
    fresh = await client.post("/api/auth/register", json={"phone": "13911120020", "password": GOOD})
    assert taken.status_code == fresh.status_code == 202, (taken.text, fresh.text)
    strip = lambda body: {k: v for k, v in body.items() if k != "phone"}  # noqa: E731
    assert strip(taken.json()) == strip(fresh.json())
    assert code_for(caplog, existing) is None  # the owner of the number is told, not given a code

    # Guessing a code for the existing number fails exactly like a wrong code for a new one.
    guess_taken = await client.post("/api/auth/register/verify", json={"phone": existing, "code": "123456"})
    real = code_for(caplog, "13911120020")
    assert real is not None
    wrong = f"{(int(real) + 1) % 10**6:06d}"
    guess_fresh = await client.post("/api/auth/register/verify", json={"phone": "13911120020", "code": wrong})
    assert guess_taken.status_code == guess_fresh.status_code == 400
    assert guess_taken.json()["detail"].split("(")[0] == guess_fresh.json()["detail"].split("(")[0]
    assert guess_taken.json()["detail"].startswith("code: ")

    # The existing account keeps its password; the new one signs in after the code.
    assert (await client.post("/api/auth/login", json={"phone": existing, "password": GOOD})).status_code == 200
    done = await client.post("/api/auth/register/verify", json={"phone": "13911120020", "code": real})
    assert done.status_code == 201, done.text
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {done.json()['access_token']}"})
    assert me.json()["phone"] == "13911120020" and me.json()["role"] == "owner"


async def test_a_look_alike_phone_cannot_be_registered(client, existing, caplog):
    caplog.set_level(logging.INFO, logger="xinbao.accounts")
    r = await client.post("/api/auth/register", json={"phone": existing + "\n", "password": GOOD})
    assert r.status_code == 400
    from server.tables.users import User

    assert await User.count().where(User.phone.like("13800000001%")) == 1
