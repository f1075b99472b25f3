"""Issue 10 point 15: firm-claim codes cannot be guessed by asking for new codes.

Each reissue used to reset the five-try counter, so reissue + five guesses, repeated, gave
unlimited guesses (72/s). Wrong tries now count per account and per firm across reissues,
reissues are limited too, and the counting is atomic (parallel guesses on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, date, datetime

import pytest

from tests.integration.conftest import login, make_user
from tests.security.conftest import pg_only_db_url

pytestmark = pytest.mark.anyio

db_url = pytest.fixture(scope="module")(pg_only_db_url)

# The policy under test (server/users/services.py): tries per code, per account and per firm a day.
CLAIM_CODE_TRIES, CLAIM_ACCOUNT_TRIES, CLAIM_FIRM_TRIES = 5, 10, 20


def _full(first17: str) -> str:
    from server.uscc import check_character

    return first17 + check_character(first17)


async def _firm(first17: str) -> str:
    from server.tables.firms import Firm

    code = _full(first17)
    now = datetime.now(UTC)
    if not await Firm.exists().where(Firm.uscc == code):
        await Firm(uscc=code, name="认领测试有限公司", industry_section="C", industry_division="34",
                   town="百官街道", registered_capital_fen=100_000_000, founded_on=date(2015, 1, 1),
                   size_class="small", created_at=now, updated_at=now).save()
    return code


async def _owner(client, phone: str) -> dict[str, str]:
    await make_user(phone, "owner")
    return await login(client, phone)


def _code(caplog: pytest.LogCaptureFixture, uscc: str, phone: str) -> str:
    found = [re.search(r": (\d{6})$", r.getMessage()) for r in caplog.records
             if r.name == "xinbao.accounts" and uscc in r.getMessage() and phone in r.getMessage()]
    assert found and found[-1]
    return found[-1].group(1)


async def test_reissuing_does_not_reset_the_tries(client, caplog):
    caplog.set_level(logging.WARNING, logger="xinbao.accounts")
    uscc = await _firm("91331004MA2CL0001")
    owner = await _owner(client, "13500000701")
    evaluated = refused_issue = 0
    for _ in range(6):  # the attack: a new code, five guesses, again and again
        started = await client.post("/api/me/firm-claim", json={"uscc": uscc}, headers=owner)
        if started.status_code == 429:
            refused_issue += 1
            continue
        assert started.status_code == 202, started.text
        real = _code(caplog, uscc, "13500000701")
        for k in range(5):
            guess = f"{(int(real) + 1 + k) % 10**6:06d}"
            r = await client.post("/api/me/firm-claim/verify", json={"uscc": uscc, "code": guess}, headers=owner)
            evaluated += r.status_code == 400 and r.json()["detail"].startswith("code: wrong code")
    assert evaluated <= CLAIM_ACCOUNT_TRIES, evaluated
    assert refused_issue >= 1


async def test_parallel_guesses_are_counted_atomically(client, caplog):
    caplog.set_level(logging.WARNING, logger="xinbao.accounts")
    uscc = await _firm("91331004MA2CL0002")
    owner = await _owner(client, "13500000702")
    assert (await client.post("/api/me/firm-claim", json={"uscc": uscc}, headers=owner)).status_code == 202
    real = _code(caplog, uscc, "13500000702")
    guesses = [f"{(int(real) + 1 + k) % 10**6:06d}" for k in range(30)]
    answers = await asyncio.gather(*[
        client.post("/api/me/firm-claim/verify", json={"uscc": uscc, "code": g}, headers=owner) for g in guesses])
    wrong = [a for a in answers if a.status_code == 400 and a.json()["detail"].startswith("code: wrong code")]
    assert len(wrong) <= CLAIM_CODE_TRIES, [a.json()["detail"] for a in answers]


async def test_many_accounts_share_the_firms_limit(client, caplog):
    caplog.set_level(logging.WARNING, logger="xinbao.accounts")
    uscc = await _firm("91331004MA2CL0003")
    evaluated = 0
    for n in range(3):  # each account stays within its own limits; together (24 tries) they would not
        phone = f"135000008{n:02d}"
        owner = await _owner(client, phone)
        for _ in range(2):
            started = await client.post("/api/me/firm-claim", json={"uscc": uscc}, headers=owner)
            if started.status_code != 202:
                continue
            real = _code(caplog, uscc, phone)
            for k in range(4):
                guess = f"{(int(real) + 1 + k) % 10**6:06d}"
                r = await client.post("/api/me/firm-claim/verify", json={"uscc": uscc, "code": guess},
                                      headers=owner)
                evaluated += r.status_code == 400 and r.json()["detail"].startswith("code: wrong code")
    assert evaluated <= CLAIM_FIRM_TRIES, evaluated


async def test_one_owner_per_firm_when_accounts_verify_at_once(client, caplog):
    """Five accounts with valid codes for one firm verify at the same moment: the service's
    "not claimed yet" check passed for all of them; the database now lets exactly one in."""
    from server.tables.firms import Firm
    from server.tables.users import User

    caplog.set_level(logging.WARNING, logger="xinbao.accounts")
    uscc = await _firm("91331004MA2CL0009")
    owners, codes = [], []
    for i in range(5):
        phone = f"1350000081{i}"
        owner = await _owner(client, phone)
        assert (await client.post("/api/me/firm-claim", json={"uscc": uscc}, headers=owner)).status_code == 202
        owners.append(owner)
        codes.append(_code(caplog, uscc, phone))
    answers = await asyncio.gather(*[
        client.post("/api/me/firm-claim/verify", json={"uscc": uscc, "code": code}, headers=owner)
        for owner, code in zip(owners, codes, strict=True)])
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409], [a.text for a in answers]
    firm_id = (await Firm.select(Firm.id).where(Firm.uscc == uscc).first())["id"]
    assert await User.count().where((User.firm == firm_id) & (User.role == "owner")) == 1
