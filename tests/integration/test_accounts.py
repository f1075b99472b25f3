"""Registration, proving a firm with a one-time code, and staff accounts opened by an admin."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime

import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

FIRM_A = "91331004MA2BX0001"  # completed with its check character below
FIRM_B = "91331004MA2BX0002"


def _full(first17: str) -> str:
    from server.uscc import check_character

    return first17 + check_character(first17)


@pytest.fixture(scope="module")
async def firms(client) -> list[str]:
    from server.tables.firms import Firm

    now = datetime.now(UTC)
    codes = [_full(FIRM_A), _full(FIRM_B)]
    for i, code in enumerate(codes):
        if not await Firm.exists().where(Firm.uscc == code):
            await Firm(uscc=code, name=f"测试企业{i}有限公司", industry_section="C", industry_division="34",
                       town="百官街道", registered_capital_fen=100_000_000, founded_on=date(2015, 1, 1),
                       size_class="small", created_at=now, updated_at=now).save()
    return codes


@pytest.fixture(scope="module")
async def admin(client) -> dict[str, str]:
    await make_user("13700000900", "admin")
    return await login(client, "13700000900")


async def register(client, caplog: pytest.LogCaptureFixture, phone: str, password: str = "long-enough-1",
                   **extra: str) -> dict[str, str]:
    """Both steps of registration: the code printed to the demo log opens the account."""
    caplog.set_level(logging.WARNING, logger="xinbao.accounts")
    started = await client.post("/api/auth/register", json={"phone": phone, "password": password, **extra})
    assert started.status_code == 202, started.text
    assert started.json()["delivery"] == "log"
    codes = [m.group(1) for m in (re.search(rf"registration code for {phone}: (\d{{6}})$", r.getMessage())
                                  for r in caplog.records if r.name == "xinbao.accounts") if m]
    assert codes, "the demo prints the registration code to the log"
    done = await client.post("/api/auth/register/verify", json={"phone": phone, "code": codes[-1]})
    assert done.status_code == 201, done.text
    return {"Authorization": f"Bearer {done.json()['access_token']}"}


def _code_from(caplog: pytest.LogCaptureFixture, uscc: str) -> str:
    found = [re.search(r": (\d{6})$", r.getMessage()) for r in caplog.records
             if r.name == "xinbao.accounts" and uscc in r.getMessage()]
    assert found and found[-1], "the demo prints the verification code to the log"
    return found[-1].group(1)


async def test_register_signs_in_and_duplicates_are_refused(client, caplog):
    auth = await register(client, caplog, "13911110001", role="subscriber", display_name="观察者")
    me = (await client.get("/api/me", headers=auth)).json()
    assert me["role"] == "subscriber" and me["phone"] == "13911110001" and me["firm_uscc"] is None

    # A second registration of the number looks the same to the caller, but sends no code:
    # the account keeps its password and nobody learns that the number is registered.
    caplog.clear()
    again = await client.post("/api/auth/register", json={"phone": "13911110001", "password": "another-pass-2"})
    assert again.status_code == 202
    assert not any("registration code for 13911110001" in r.getMessage() for r in caplog.records)
    assert (await client.post("/api/auth/login", json={"phone": "13911110001",
                                                       "password": "long-enough-1"})).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"phone": "12345", "password": "long-enough-1"}, "phone"),
    ({"phone": "13911110002", "password": "short"}, "password"),
    ({"phone": "13911110003", "password": "long-enough-1", "role": "admin"}, "role"),
    ({"phone": "13911110004", "password": "long-enough-1", "role": "bank_manager"}, "role"),
])
async def test_bad_registration_names_the_field(client, body, field):
    r = await client.post("/api/auth/register", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(f"{field}: "), r.json()


async def test_owner_proves_a_firm_with_the_code_from_the_log(client, firms, caplog):
    owner = await register(client, caplog, "13911110010")
    me = (await client.get("/api/me", headers=owner)).json()
    assert me["role"] == "owner" and me["firm_uscc"] is None
    # Not linked yet: no evaluation of anyone, and the consent routes say why.
    refused = await client.get("/api/consents", headers=owner)
    assert refused.status_code == 403 and "not linked" in refused.json()["detail"]

    started = await client.post("/api/me/firm-claim", json={"uscc": firms[0]}, headers=owner)
    assert started.status_code == 202, started.text
    assert started.json()["delivery"] == "log"
    code = _code_from(caplog, firms[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    bad = await client.post("/api/me/firm-claim/verify", json={"uscc": firms[0], "code": wrong}, headers=owner)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("code: wrong code (4 tries left)")

    ok = await client.post("/api/me/firm-claim/verify", json={"uscc": firms[0], "code": code}, headers=owner)
    assert ok.status_code == 200, ok.text
    assert ok.json()["firm_uscc"] == firms[0]
    assert (await client.get("/api/me", headers=owner)).json()["firm_uscc"] == firms[0]
    # The code is single-use and the account now acts for a firm.
    reuse = await client.post("/api/me/firm-claim/verify", json={"uscc": firms[1], "code": code}, headers=owner)
    assert reuse.status_code == 409

    # A second account cannot claim a firm that already has its owner.
    other = await register(client, caplog, "13911110011")
    taken = await client.post("/api/me/firm-claim", json={"uscc": firms[0]}, headers=other)
    assert taken.status_code == 409 and "already claimed" in taken.json()["detail"]


async def test_codes_run_out_after_five_wrong_tries(client, firms, caplog):
    owner = await register(client, caplog, "13911110020")
    assert (await client.post("/api/me/firm-claim", json={"uscc": firms[1]}, headers=owner)).status_code == 202
    code = _code_from(caplog, firms[1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        bad = await client.post("/api/me/firm-claim/verify", json={"uscc": firms[1], "code": wrong}, headers=owner)
        assert bad.status_code == 400
    late = await client.post("/api/me/firm-claim/verify", json={"uscc": firms[1], "code": code}, headers=owner)
    assert late.status_code == 400 and "too many" in late.json()["detail"]
    assert (await client.get("/api/me", headers=owner)).json()["firm_uscc"] is None


@pytest.mark.parametrize("uscc, status", [("91331004MA2BX00010", 400), ("913310040000000000", 400)])
async def test_claim_of_a_bad_code_names_the_field(client, uscc, status):
    await make_user("13911110030", "owner", password="long-enough-1")
    owner = await login(client, "13911110030", "long-enough-1")
    bad = await client.post("/api/me/firm-claim", json={"uscc": uscc}, headers=owner)
    assert bad.status_code == status and bad.json()["detail"].startswith("uscc")


async def test_admin_opens_staff_accounts(client, admin):
    from server.tables.financing import Bank

    bank_id = (await Bank.select(Bank.id).first())["id"]
    made = await client.post("/api/users", json={"phone": "13911110040", "password": "long-enough-1",
                                                 "role": "bank_manager", "bank_id": bank_id}, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["bank_id"] == bank_id
    manager = await login(client, "13911110040", "long-enough-1")
    assert (await client.get("/api/me", headers=manager)).json()["bank_id"] == bank_id

    op = await client.post("/api/users", json={"phone": "13911110041", "password": "long-enough-1",
                                               "role": "dept_operator", "department": "court"}, headers=admin)
    assert op.status_code == 201 and op.json()["department"] == "court"

    no_bank = await client.post("/api/users", json={"phone": "13911110042", "password": "long-enough-1",
                                                    "role": "bank_manager"}, headers=admin)
    assert no_bank.status_code == 400 and no_bank.json()["detail"].startswith("bank_id")
    bad_dept = await client.post("/api/users", json={"phone": "13911110043", "password": "long-enough-1",
                                                     "role": "dept_operator", "department": "nope"}, headers=admin)
    assert bad_dept.status_code == 400 and bad_dept.json()["detail"].startswith("department")

    listed = (await client.get("/api/users?role=bank_manager", headers=admin)).json()
    assert "13911110040" in {u["phone"] for u in listed}
    # Only admins open accounts.
    assert (await client.post("/api/users", json={"phone": "13911110044", "password": "long-enough-1",
                                                  "role": "admin"}, headers=manager)).status_code == 403
