"""Issue 10 point 12: argon2 runs off the event loop, and registration is throttled.

The probe saw 20 concurrent registrations push ``/api/health`` from 41 ms to 7 s: every hash
ran inside the handler and froze the loop. Here hashes are watched as they run, and health must
answer while some are still in flight (ordering, not wall time).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from tests.conftest import fresh_database_url

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # What is checked is the event loop, not the database: one engine is enough.
    yield from fresh_database_url("sqlite", tmp_path_factory.mktemp("db"))


class _InFlight:
    """Counts argon2 hashes and verifications running right now, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.started = 0

    def wrap(self, fn):  # type: ignore[no-untyped-def]
        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            with self.lock:
                self.running += 1
                self.started += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1

        return counted


@pytest.fixture(autouse=True)
def production_hashing(password_profile) -> None:
    """These tests watch real hashes run: the production profile, not the suite's cheap one."""
    password_profile("rfc9106-low-memory")


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> _InFlight:
    watch = _InFlight()
    monkeypatch.setattr(PasswordHasher, "hash", watch.wrap(PasswordHasher.hash))
    monkeypatch.setattr(PasswordHasher, "verify", watch.wrap(PasswordHasher.verify))
    return watch


async def test_health_answers_while_registrations_hash(client, hashes):
    registrations = [asyncio.create_task(client.post(
        "/api/auth/register", json={"phone": f"1390000{i:04d}", "password": "hash-off-loop-pass"}))
        for i in range(8)]
    while hashes.started == 0:  # the first hash has begun
        await asyncio.sleep(0)
    answered_during_hashing = 0
    while not all(t.done() for t in registrations):
        r = await client.get("/api/health")
        assert r.status_code == 200
        if hashes.running > 0:  # the health answer came back while a hash was still running
            answered_during_hashing += 1
    results = await asyncio.gather(*registrations)
    assert all(r.status_code < 300 for r in results), [r.text for r in results]
    assert hashes.started >= 8
    assert answered_during_hashing >= 3, answered_during_hashing


async def test_unknown_phone_sign_in_verifies_off_the_loop(client, hashes):
    logins = [asyncio.create_task(client.post(
        "/api/auth/login", json={"phone": f"1390001{i:04d}", "password": "whatever-it-is"}))
        for i in range(4)]
    while hashes.started == 0:
        await asyncio.sleep(0)
    during = 0
    while not all(t.done() for t in logins):
        assert (await client.get("/api/health")).status_code == 200
        during += hashes.running > 0
    assert all(r.status_code == 401 for r in await asyncio.gather(*logins))
    assert during >= 1


async def test_registration_is_throttled_per_phone_and_per_address(client):
    register_phone, register_address = 5, 20  # attempts an hour (server/users/throttle.py)
    phone = "13900020001"
    body = {"phone": phone, "password": "hash-off-loop-pass"}
    codes = [(await client.post("/api/auth/register", json=body)).status_code
             for _ in range(register_phone + 1)]
    assert codes[-1] == 429 and codes.count(202) == register_phone, codes

    bodies = [{"phone": f"1390003{i:04d}", "password": "hash-off-loop-pass"}
              for i in range(register_address + 3)]
    answers = await asyncio.gather(*[client.post("/api/auth/register", json=b) for b in bodies])
    statuses = [a.status_code for a in answers]
    assert statuses.count(429) >= 3, statuses
    assert statuses.count(202) <= register_address, statuses
    assert int(next(a for a in answers if a.status_code == 429).headers["retry-after"]) > 0
