"""Attacks reproduced over HTTP (issue 10): the integration fixtures, plus PostgreSQL-only ones.

Race tests need real concurrency on PostgreSQL: a module that only makes sense there overrides
``db_url`` with ``pg_db_url`` (``db_url = pytest.fixture(scope="module")(pg_only_db_url)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.conftest import fresh_database_url
from tests.integration.conftest import (  # noqa: F401  (fixtures re-exported for this folder)
    app,
    client,
    demo,
    settings,
    tokens,
)


def pg_only_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database for a module whose attack needs real concurrency."""
    yield from fresh_database_url("postgres", tmp_path_factory.mktemp("db"))


async def scored_firm(serial: int, name: str) -> dict[str, Any]:
    """A firm (USCC from ``serial``) with one grade-A score, so its evaluation can be read and it
    fits every fund-covered product."""
    from server.firms.tables import Firm
    from server.firms.uscc import make_uscc
    from server.scores.tables import ScoreHistory, ScoringRun

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
