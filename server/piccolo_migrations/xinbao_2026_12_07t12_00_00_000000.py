"""Department records partitioned by source (issue 17; issue 16's partitioned records): PostgreSQL.

``dept_record`` becomes a table partitioned by list of ``source``: one partition per record
feed known today (``dept_record_<source>``) and a default one for any other. Each feed's rows,
and each feed's share of every index, then sit apart.

Why: a feed's rows go into the unique index ``(uscc, source, record_key)``, and in one table
that index holds every feed's keys (2.8 GB at 120,000 firms and 24 million records). A sparse
feed (court cases, financial statements: a few rows per firm) puts each key on another page
of it, so its cost per row grew with the region: 256,285 financial statements inserted into
that table took 4.5 s, into an empty table with the same indexes 1.9 s. Partitioned, a feed's
rows meet only its own keys.

The key still holds the partition column (``source``), as PostgreSQL requires of a unique
index on a partitioned table, so ``ON CONFLICT (uscc, source, record_key)`` works as before.
The primary key becomes ``(id, source)``: ids still come from the one sequence, and a lookup
by id alone reads each partition's index. Every other index and trigger of the table is
recreated as it was, from the catalogue (so this step keeps whatever the earlier migrations
made), on the partitioned table, which gives each partition its own.

The rows are copied in the migration's transaction. Nothing on SQLite. The SQL is written out
here, not imported, so that the migration stays what it was when it ran.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-07T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "dept_record partitioned by source (PostgreSQL)"

SOURCES = ("tax_monthly", "social_insurance", "utility", "court_case", "dishonest_debtor", "penalty",
           "credit_list", "real_estate", "seizure_mortgage", "customs_export", "bank_loan",
           "financial_statement", "patent_honour", "personal_credit", "registry_change")

# The table rebuilt under the same name: its indexes (but the key) and triggers read from the
# catalogue first, the rows copied, the old table dropped, then the indexes and triggers made
# again on the new one. The id sequence is kept (its owner moves to the new table).
_REBUILD = """
DO $$
DECLARE
    indexes text[];
    triggers text[];
    statement text;
    partitioned boolean;
BEGIN
    SELECT c.relkind = 'p' INTO partitioned FROM pg_class c WHERE c.oid = 'dept_record'::regclass;
    IF partitioned = {already} THEN
        RETURN;
    END IF;
    SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid), '{{}}') INTO indexes
        FROM pg_index i WHERE i.indrelid = 'dept_record'::regclass AND NOT i.indisprimary;
    SELECT coalesce(array_agg(pg_get_triggerdef(t.oid) ORDER BY t.oid), '{{}}') INTO triggers
        FROM pg_trigger t WHERE t.tgrelid = 'dept_record'::regclass AND NOT t.tgisinternal;
    ALTER SEQUENCE dept_record_id_seq OWNED BY NONE;
    CREATE TABLE dept_record_rebuilt (LIKE dept_record INCLUDING DEFAULTS) {shape};
    {partitions}
    INSERT INTO dept_record_rebuilt SELECT * FROM dept_record;
    DROP TABLE dept_record;
    ALTER TABLE dept_record_rebuilt RENAME TO dept_record;
    ALTER SEQUENCE dept_record_id_seq OWNED BY dept_record.id;
    ALTER TABLE dept_record ADD CONSTRAINT dept_record_pkey PRIMARY KEY ({key});
    FOREACH statement IN ARRAY indexes LOOP
        EXECUTE statement;
    END LOOP;
    FOREACH statement IN ARRAY triggers LOOP
        EXECUTE statement;
    END LOOP;
END
$$;
"""

FORWARDS = _REBUILD.format(
    already="true", shape="PARTITION BY LIST (source)", key="id, source",
    partitions="\n    ".join(
        [f"CREATE TABLE dept_record_{s} PARTITION OF dept_record_rebuilt FOR VALUES IN ('{s}');" for s in SOURCES]
        + ["CREATE TABLE dept_record_other PARTITION OF dept_record_rebuilt DEFAULT;"]))

BACKWARDS = _REBUILD.format(already="false", shape="", key="id", partitions="")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def partition() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl(FORWARDS, in_pool=False)
            await engine.run_ddl("ANALYZE dept_record", in_pool=False)

    async def unpartition() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl(BACKWARDS, in_pool=False)

    manager.add_raw(partition)
    manager.add_raw_backwards(unpartition)
    return manager
