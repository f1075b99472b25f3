"""Attacks reproduced over HTTP (issue 10): the integration fixtures, plus PostgreSQL-only ones.

Race tests need real concurrency on PostgreSQL: a module that only makes sense there overrides
``db_url`` with ``pg_db_url`` (``db_url = pytest.fixture(scope="module")(pg_only_db_url)``).
"""

from __future__ import annotations

from collections.abc import Iterator

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
