"""``server.health.HealthProbe``: the requests that ask while a check runs share it; a request
that comes after a check ended gets a fresh one (unless a TTL is set); a caller that goes away
does not cancel the others' check; a failed check is not kept."""

from __future__ import annotations

import asyncio

import pytest

from server.health import HealthProbe

pytestmark = pytest.mark.anyio


class Backends:
    """A check that takes ``seconds`` and answers with its own number."""

    def __init__(self, seconds: float = 0.05, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.started = 0

    async def check(self) -> dict[str, str]:
        self.started += 1
        n = self.started
        await asyncio.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("check failed")
        return {"database": "sqlite", "check": str(n)}


async def test_requests_arriving_during_a_check_share_it():
    backends = Backends()
    probe = HealthProbe(backends.check, ttl_s=0)
    answers = await asyncio.gather(*(probe.answer() for _ in range(50)))
    assert backends.started == 1 and probe.checks == 1
    assert all(a == {"database": "sqlite", "check": "1"} for a in answers)


async def test_a_request_after_a_check_ended_gets_a_fresh_one_without_ttl():
    backends = Backends(seconds=0.001)
    probe = HealthProbe(backends.check, ttl_s=0)
    first = await probe.answer()
    second = await probe.answer()
    assert (first["check"], second["check"]) == ("1", "2")


async def test_with_a_ttl_an_answer_is_reused_until_it_expires():
    backends = Backends(seconds=0.001)
    probe = HealthProbe(backends.check, ttl_s=1.0)  # long enough for a loaded machine
    assert (await probe.answer())["check"] == "1"
    assert (await probe.answer())["check"] == "1"
    await asyncio.sleep(1.05)
    assert (await probe.answer())["check"] == "2"


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_check():
    backends = Backends(seconds=0.1)
    probe = HealthProbe(backends.check, ttl_s=0)
    leaving = asyncio.create_task(probe.answer())
    staying = asyncio.create_task(probe.answer())
    await asyncio.sleep(0.02)
    leaving.cancel()
    assert (await staying)["check"] == "1"
    assert backends.started == 1


async def test_a_failed_check_reaches_every_waiter_and_is_not_kept():
    backends = Backends(fail=True)
    probe = HealthProbe(backends.check, ttl_s=10)
    results = await asyncio.gather(probe.answer(), probe.answer(), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and backends.started == 1
    backends.fail = False
    assert (await probe.answer())["check"] == "2"  # checked again, though the TTL is long


@pytest.mark.parametrize("ttl", [0.0, 0.5])
async def test_many_at_once_on_the_real_check(ttl, tmp_path):
    """The real check on a real (SQLite) database: 40 requests at once, one or two checks."""
    from server import db
    from server.health import check_backends

    engine = await db.open_engine(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        await db.migrate(engine)
        probe = HealthProbe(lambda: check_backends(engine, None), ttl_s=ttl)
        answers = await asyncio.gather(*(probe.answer() for _ in range(40)))
        assert all(a == {"database": "sqlite"} for a in answers)
        assert probe.checks <= 2, probe.checks
    finally:
        await db.close(engine)


def test_the_route_sends_each_state_s_answer_made_once_and_never_another_state_s():
    """``/api/health`` keeps each distinct answer (status and body) on the probe and sends it
    again; a change of state (the database down, Redis down, back) is answered with that
    state's own status and body, exactly as a plain ``Response`` of it."""
    import json

    from litestar import Litestar
    from litestar.di import Provide
    from litestar.testing import TestClient

    from server.app import health

    state = {"checked": {"database": "postgres"}}

    async def check() -> dict[str, str]:
        return dict(state["checked"])

    probe = HealthProbe(check, ttl_s=0.0)

    class Listener:  # the live-push listener's readiness, as push.push_status reads it
        ready = True

    app = Litestar([health], dependencies={"health_probe": Provide(lambda: probe, sync_to_thread=False)})
    app.state.push_backend = Listener()
    expected = [
        ({"database": "postgres"}, 200, {"status": "ok", "database": "postgres"}),
        ({"database": "down"}, 503, {"status": "down", "database": "down"}),
        ({"database": "postgres", "redis": "up"}, 200,
         {"status": "ok", "database": "postgres", "redis": "up", "push": "live"}),
        ({"database": "postgres", "redis": "down"}, 200,
         {"status": "degraded", "database": "postgres", "redis": "down", "push": "live"}),
        ({"database": "postgres"}, 200, {"status": "ok", "database": "postgres"}),
    ]
    with TestClient(app) as client:
        for checked, status, body in expected:
            state["checked"] = checked
            for _ in range(3):
                r = client.get("/api/health")
                assert (r.status_code, r.json()) == (status, body)
                assert r.content == json.dumps(body, separators=(",", ":")).encode()
                assert r.headers["content-type"] == "application/json"
        assert len(probe.answers) == 4  # one per distinct answer, each made once
        made = {key: kept._asgi for key, kept in probe.answers.items()}
        client.get("/api/health")
        assert {key: kept._asgi for key, kept in probe.answers.items()} == made
