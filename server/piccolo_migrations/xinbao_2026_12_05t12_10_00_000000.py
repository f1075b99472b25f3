"""Ingestion at the size of a region (issue 17): the indexes its lookups and searches need.

- ``ingest_batch (source, fingerprint) WHERE state <> 'done'``: finding a broken-off batch.
- ``score_history (run, grade)``: the grade screening of a run reads its own rows only.
- ``firm_uscc`` dropped: the unique constraint's index answers every equality lookup, and
  each index on ``firm`` costs every registry row written.
- PostgreSQL: ``firm (uscc text_pattern_ops)`` for the code-prefix search (``LIKE 'x%'``
  cannot use the plain index under a non-C collation), and where the ``pg_trgm`` extension
  can be created, a trigram GIN index on ``firm.name`` for the name-contains search (without
  the extension the search still works, by a scan). Its pending list is 32 MB, so a registry
  batch appends new names there (merged by autovacuum) instead of updating the index per row:
  measured at 120,000 firms, 1.13 s -> 0.50 s for the insert.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T12:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes for resumable batches, name and code search, grade screening"

TRIGRAM = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS firm_name_trgm ON firm USING gin (name gin_trgm_ops)
        WITH (gin_pending_list_limit = 32768);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm not available: firm name search runs without a trigram index';
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def indexes() -> None:
        engine = engine_finder()
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS score_history_run_grade ON score_history (run, grade)", in_pool=False)
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ingest_batch_unfinished ON ingest_batch (source, fingerprint) "
            "WHERE state <> 'done'", in_pool=False)
        await engine.run_ddl("DROP INDEX IF EXISTS firm_uscc", in_pool=False)
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl(
                "CREATE INDEX IF NOT EXISTS firm_uscc_pattern ON firm (uscc text_pattern_ops)", in_pool=False)
            await engine.run_ddl(TRIGRAM, in_pool=False)

    manager.add_raw(indexes)
    return manager
