"""Re-scoring from the feature store (issue 16): two partial indexes on dept_record.

- ``dept_record_row_kinds (source) WHERE superseded_at IS NULL AND source NOT IN (the kinds the
  cells replace)``: with the firm-month cells, a re-score reads the current rows of the other
  kinds only (``server.scores.frames.load_row_kinds``, whose WHERE states the same predicate
  word for word). At a real region's density they are a small share of the table, and without
  the index the read scans all of it. The monthly tax, social-insurance, utility and customs
  rows, most of ingestion, get no entry.
- ``dept_record_replaced (source, uscc) WHERE superseded_at IS NOT NULL``: the few firms with a
  replaced record (``load_redeclared_history``); a row gets its entry when it is replaced, never
  at ingestion.

The kinds are written out here, not imported, so that the migration stays what it was when it
ran; ``tests/integration/test_score_from_store.py`` checks they match ``ROW_KINDS_PREDICATE``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-06T01:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "partial indexes for re-scoring from the feature store"

ROW_KINDS = ("superseded_at IS NULL AND source NOT IN "
             "('customs_export', 'social_insurance', 'tax_monthly', 'utility')")
STATEMENTS = [
    f"CREATE INDEX IF NOT EXISTS dept_record_row_kinds ON dept_record (source) WHERE {ROW_KINDS}",
    "CREATE INDEX IF NOT EXISTS dept_record_replaced ON dept_record (source, uscc) WHERE superseded_at IS NOT NULL",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def run() -> None:
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement, in_pool=False)

    manager.add_raw(run)
    return manager
