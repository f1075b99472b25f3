"""Composite indexes Piccolo columns cannot declare (same SQL on SQLite and PostgreSQL).

- dept_record (uscc, source, record_key) UNIQUE: a department's key is stored once; re-sending
  is a no-op. A key never moves between firms, so leading with ``uscc`` loses nothing; it also
  serves one firm's reads by prefix and matches the planned hash-by-uscc partitioning (which
  requires the partition key in every unique index). It is the only secondary index on
  dept_record: each extra B-tree slows the bulk COPY of ingestion (measured: 4 indexes 11 s per
  million rows, PK only 4 s), so no (uscc, event_date) or (batch_id) index.
- score_history (firm, as_of): the latest score and the 24-month history of a firm.
- consent (firm, bank), access_log (firm, at), risk_warning (firm, rule_code) for the hot reads.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-22T04:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite indexes"

STATEMENTS = [
    "CREATE UNIQUE INDEX IF NOT EXISTS dept_record_uscc_source_key ON dept_record (uscc, source, record_key)",
    "CREATE INDEX IF NOT EXISTS score_history_firm_asof ON score_history (firm, as_of)",
    "CREATE INDEX IF NOT EXISTS consent_firm_bank ON consent (firm, bank)",
    "CREATE INDEX IF NOT EXISTS access_log_firm_at ON access_log (firm, at)",
    "CREATE INDEX IF NOT EXISTS risk_warning_firm_rule ON risk_warning (firm, rule_code)",
    'CREATE UNIQUE INDEX IF NOT EXISTS subscription_user_firm ON subscription ("user", firm)',
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement, in_pool=False)

    manager.add_raw(run)
    return manager
