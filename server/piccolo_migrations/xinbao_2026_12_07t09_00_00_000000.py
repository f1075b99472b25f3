"""Who reads each electricity meter (issue 16): ``firm_meter`` (PostgreSQL).

A part of the region re-scored on its own (a Dask worker's part, the firms a batch touched)
splits a shared meter's reading as the whole region's split does, so it must find the other
firms on its meters. Asked of the cells, that question read every electricity cell of the
part's meters, most of them the part's own: on a small region the planner chose a scan of the
whole store for it, once per part; on a large one it fetched every month of every meter of
the part. ``firm_meter (meter, uscc)`` answers it from one row per firm and meter.

- A statement trigger on ``firm_month`` (insert and update; COPY fires it too) adds the pairs
  of the electricity cells with a meter that the statement wrote, in the writer's transaction.
- A pair is never taken away when cells go (a correction, a TRUNCATE): the table is a superset
  of the pairs the cells hold, and a firm it names that no longer reads the meter is only read
  for nothing (the split reads the cells themselves).
- Filled from the cells already stored.

Nothing on SQLite: the embedded default asks the cells. The SQL is written out here, not
imported, so that the migration stays what it was when it ran.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-07T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "who reads each electricity meter: firm_meter (PostgreSQL)"

_PAIRS = ("SELECT DISTINCT meter, uscc FROM {source} WHERE meter <> '' AND kind = 'utility' "
          "AND category = 'electricity'")

CREATE = [
    "CREATE TABLE IF NOT EXISTS firm_meter (meter varchar(110) NOT NULL, uscc varchar(18) NOT NULL, "
    "PRIMARY KEY (meter, uscc))",
    f"""CREATE OR REPLACE FUNCTION firm_meter_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- in key order, so that two writers take the pairs' locks in the same order
    INSERT INTO firm_meter (meter, uscc)
    SELECT meter, uscc FROM ({_PAIRS.format(source="changed")}) s ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$""",
    "DROP TRIGGER IF EXISTS firm_meter_insert ON firm_month",
    "CREATE TRIGGER firm_meter_insert AFTER INSERT ON firm_month REFERENCING NEW TABLE AS changed "
    "FOR EACH STATEMENT EXECUTE FUNCTION firm_meter_add()",
    "DROP TRIGGER IF EXISTS firm_meter_update ON firm_month",
    "CREATE TRIGGER firm_meter_update AFTER UPDATE ON firm_month REFERENCING NEW TABLE AS changed "
    "FOR EACH STATEMENT EXECUTE FUNCTION firm_meter_add()",
    f"INSERT INTO firm_meter (meter, uscc) {_PAIRS.format(source='firm_month')} ON CONFLICT DO NOTHING",
]
DROP = [
    "DROP TRIGGER IF EXISTS firm_meter_insert ON firm_month",
    "DROP TRIGGER IF EXISTS firm_meter_update ON firm_month",
    "DROP FUNCTION IF EXISTS firm_meter_add()",
    "DROP TABLE IF EXISTS firm_meter",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        if not isinstance(engine, PostgresEngine):
            return
        for statement in CREATE:
            await engine.run_ddl(statement)

    async def drop():
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            for statement in DROP:
                await engine.run_ddl(statement)

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
