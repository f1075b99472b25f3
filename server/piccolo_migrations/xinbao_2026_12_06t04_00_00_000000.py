"""More of ``change_log`` (issue 16): what a financing match reads.

PostgreSQL only, like ``2026-12-06T03:30`` whose ``change_log_note`` it reuses.

| table | statements | topic | key |
|---|---|---|---|
| dept_record, rows of ``dishonest_debtor`` only | INSERT, UPDATE, DELETE (per row) | listing | uscc |
| dept_record | TRUNCATE | listing | (none) |
| loan_product, bank, guarantee_fund, fund_ledger | INSERT, UPDATE, DELETE, TRUNCATE | financing | (none) |

``dept_record`` takes most of ingestion's rows, so its triggers are per row with a ``WHEN``
on the source, checked in the executor: the millions of monthly rows queue nothing, and no
statement keeps a transition table of them.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-06T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "change_log triggers for the financing match"

LISTED = "'dishonest_debtor'"
FINANCING = ("loan_product", "bank", "guarantee_fund", "fund_ledger")

LISTING_FUNCTION = """
CREATE OR REPLACE FUNCTION change_log_listing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO change_log (topic, key) VALUES ('listing', OLD.uscc);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.uscc IS DISTINCT FROM OLD.uscc) THEN
    INSERT INTO change_log (topic, key) VALUES ('listing', NEW.uscc);
  END IF;
  RETURN NULL;
END $$
"""

STATEMENTS = [
    LISTING_FUNCTION,
    "DROP TRIGGER IF EXISTS change_log_dept_record_insert ON dept_record",
    f"CREATE TRIGGER change_log_dept_record_insert AFTER INSERT ON dept_record FOR EACH ROW "
    f"WHEN (NEW.source = {LISTED}) EXECUTE FUNCTION change_log_listing()",
    "DROP TRIGGER IF EXISTS change_log_dept_record_update ON dept_record",
    f"CREATE TRIGGER change_log_dept_record_update AFTER UPDATE ON dept_record FOR EACH ROW "
    f"WHEN (OLD.source = {LISTED} OR NEW.source = {LISTED}) EXECUTE FUNCTION change_log_listing()",
    "DROP TRIGGER IF EXISTS change_log_dept_record_delete ON dept_record",
    f"CREATE TRIGGER change_log_dept_record_delete AFTER DELETE ON dept_record FOR EACH ROW "
    f"WHEN (OLD.source = {LISTED}) EXECUTE FUNCTION change_log_listing()",
    "DROP TRIGGER IF EXISTS change_log_dept_record_truncate ON dept_record",
    "CREATE TRIGGER change_log_dept_record_truncate AFTER TRUNCATE ON dept_record "
    "FOR EACH STATEMENT EXECUTE FUNCTION change_log_note('listing', '')",
]
for _table in FINANCING:
    for _op in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
        _name = f"change_log_{_table}_{_op.lower()}"
        STATEMENTS += [f"DROP TRIGGER IF EXISTS {_name} ON {_table}",
                       f"CREATE TRIGGER {_name} AFTER {_op} ON {_table} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION change_log_note('financing', '')"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            for statement in STATEMENTS:
                await engine.run_ddl(statement)

    async def drop():
        engine = engine_finder()
        if not isinstance(engine, PostgresEngine):
            return
        for table in ("dept_record", *FINANCING):
            for op in ("insert", "update", "delete", "truncate"):
                await engine.run_ddl(f"DROP TRIGGER IF EXISTS change_log_{table}_{op} ON {table}")
        await engine.run_ddl("DROP FUNCTION IF EXISTS change_log_listing()")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
