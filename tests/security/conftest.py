"""Attacks reproduced over HTTP (issue 10): the integration fixtures, plus PostgreSQL-only ones.

One module (or more) per numbered point of the issue; each test failed on the code before
its fix:

 1 small groups leak figures      test_small_groups.py (+ tests/unit/server/test_privacy.py)
 2 circles without consent        test_circles_consent.py
 3 pushed evidence, revocation    test_pushed_evidence.py
 4 sign-ins outlive logout        test_logout.py, test_stream_logout.py
 5 one refresh token, many uses   test_refresh_once.py
 6 applications and fund cover    test_application_race.py
 7 consents                       test_consent_race.py
 8 throttles                      test_throttle.py
 9 cron double-run                test_cron_once.py (+ tests/chaos/test_two_workers.py)
10 Redis restart                  test_redis_outage.py (+ tests/chaos/test_redis_restart.py)
11 concurrent SSE connects        test_concurrent_streams.py
12 argon2 on the event loop       test_hashing_off_loop.py
13 500s on bad input              test_bad_input.py, test_account_input.py, test_ws_input.py
14 webhook SSRF                   test_webhook_ssrf.py
15 claim-code guessing            test_claim_codes.py
16 smaller                        test_account_input.py, test_stream_ticket.py, test_ingest_abuse.py

Race tests need real concurrency on PostgreSQL: a module that only makes sense there overrides
``db_url`` with ``pg_db_url`` (``db_url = pytest.fixture(scope="module")(pg_only_db_url)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.conftest import module_database_url
from tests.integration.conftest import (  # noqa: F401  (fixtures re-exported for this folder)
    app,
    client,
    demo,
    settings,
    tokens,
)


def pg_only_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database for a module whose attack needs real concurrency."""
    yield from module_database_url("postgres", request, tmp_path_factory)


async def scored_firm(serial: int, name: str) -> dict[str, Any]:
    """A firm (USCC from ``serial``) with one grade-A score, so its evaluation can be read and it
    fits every fund-covered product."""
    from server.tables.firms import Firm
    from server.tables.scores import ScoreHistory, ScoringRun
    from server.uscc import make_uscc

    now = datetime.now(UTC)
    uscc = make_uscc(serial)
    firm = Firm(uscc=uscc, name=name, industry_section="C", industry_division="34",
                town="百官街道", registered_capital_fen=100_000_000, founded_on=date(2016, 5, 1),
                size_class="small", created_at=now, updated_at=now)
    await firm.save()
    run = ScoringRun(model_version="test-model", as_of=now.date(), started_at=now, finished_at=now, firms=1)
    await run.save()
    await ScoreHistory(firm=firm.id, run=run.id, as_of=now.date(), score=720, grade="A", pd=0.01,
                       dimensions={}, reasons=[], model_version="test-model", created_at=now).save()
    return {"id": firm.id, "uscc": uscc}
