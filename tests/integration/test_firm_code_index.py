"""Issue 17: one index for a firm's code on PostgreSQL (migration ``2026-12-07T11:00``).

``firm.uscc`` is served by one unique b-tree of ``text_pattern_ops`` instead of a unique
constraint plus a second, pattern b-tree. That one index must still do every job of the two:
refuse a repeated code (and name itself in the error), be the arbiter of the registry's
``ON CONFLICT (uscc)``, and answer equality, ``= ANY`` and prefix (``LIKE 'x%'``) lookups.
The plans are asked with sequential scans turned off, so the test reads which index *can*
serve each query on a small table."""

from __future__ import annotations

import asyncpg
import pytest

from server.uscc import make_uscc
from tests.conftest import module_database_url

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db_url(request, tmp_path_factory):
    """PostgreSQL only: SQLite has no operator classes; its unique index is unchanged."""
    yield from module_database_url("postgres", request, tmp_path_factory)


INSERT = ("INSERT INTO firm (uscc, name, industry_section, industry_division, town, registered_capital_fen, "
          "founded_on, size_class, status, created_at, updated_at) "
          "VALUES ($1, $2, 'C', '34', '城关镇', 100, '2015-01-01', 'small', 'active', now(), now())")


async def test_one_unique_pattern_index_does_the_work_of_the_constraint_and_the_pattern_index(engine) -> None:
    conn = await engine.get_new_connection()
    try:
        indexes = {r["indexname"]: r["indexdef"] for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'firm'")}
        on_code = {name: d for name, d in indexes.items() if "(uscc" in d}
        assert list(on_code) == ["firm_uscc_key"], indexes
        assert "UNIQUE" in on_code["firm_uscc_key"] and "text_pattern_ops" in on_code["firm_uscc_key"]
        assert not await conn.fetch("SELECT conname FROM pg_constraint WHERE conrelid = 'firm'::regclass "
                                    "AND contype = 'u'")

        code = make_uscc(71_001)
        await conn.execute(INSERT, code, "索引甲有限公司")
        with pytest.raises(asyncpg.UniqueViolationError) as refused:
            await conn.execute(INSERT, code, "索引乙有限公司")
        assert refused.value.constraint_name == "firm_uscc_key"

        upsert = INSERT + " ON CONFLICT (uscc) DO UPDATE SET name = EXCLUDED.name RETURNING (xmax = 0) AS inserted"
        assert await conn.fetchval(upsert, code, "索引丙有限公司") is False  # the arbiter found the row
        assert await conn.fetchval("SELECT name FROM firm WHERE uscc = $1", code) == "索引丙有限公司"
        assert await conn.fetchval("SELECT count(*) FROM firm WHERE uscc = $1", code) == 1

        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            for sql, args in (("SELECT id FROM firm WHERE uscc = $1", (code,)),
                              ("SELECT id FROM firm WHERE uscc = ANY($1::text[])", ([code],)),
                              ("SELECT id FROM firm WHERE uscc LIKE $1", (code[:10] + "%",)),
                              ("SELECT k.key, t.id FROM unnest($1::text[]) AS k(key) CROSS JOIN LATERAL "
                               "(SELECT id FROM firm WHERE uscc = k.key LIMIT 1) AS t", ([code],))):
                plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *args))
                assert "firm_uscc_key" in plan, (sql, plan)
            plan = "\n".join(r[0] for r in await conn.fetch(
                "EXPLAIN INSERT INTO firm (uscc, name) VALUES ($1, 'x') ON CONFLICT (uscc) DO NOTHING", code))
            assert "Conflict Arbiter Indexes: firm_uscc_key" in plan, plan
    finally:
        await conn.close()
