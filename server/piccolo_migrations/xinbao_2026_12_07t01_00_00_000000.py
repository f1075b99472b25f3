"""The feature store's cells one row per firm (issue 16, must-show 2): ``firm_pack`` (PostgreSQL).

- ``firm_pack (uscc, n, kinds, categories, meters, cells)``: a firm's cells as fixed-width
  binary records (``server.scores.cell_packs``), compressed by the writer (stored as they are);
- ``firm_pack_dirty (uscc, change)``: the firms whose cells changed since their pack was
  written, each with a number of the sequence ``firm_pack_change``;
- statement triggers on ``firm_month`` (insert, update, delete; COPY fires them too) mark the
  firms of the rows a statement changed, in the writer's own transaction; a TRUNCATE of the
  cells empties the packs and the marks in the same transaction;
- every firm with cells starts marked, so a reader reads its rows until it is packed
  (``server.scores.packing.pack_dirty``).

Nothing on SQLite: the embedded default reads the cells as rows. The SQL is written out here,
not imported, so that the migration stays what it was when it ran.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-07T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "firm_month cells packed one row per firm (PostgreSQL)"

CREATE = [
    "CREATE TABLE IF NOT EXISTS firm_pack (uscc varchar(18) PRIMARY KEY, n integer NOT NULL, "
    "kinds text[] NOT NULL, categories text[] NOT NULL, meters text[] NOT NULL, cells bytea NOT NULL)",
    # compressed by the writer (LZ4 frames): kept out of line, as the server's own compression of
    # them would gain nothing
    "ALTER TABLE firm_pack ALTER COLUMN cells SET STORAGE EXTERNAL",
    "CREATE TABLE IF NOT EXISTS firm_pack_dirty (uscc varchar(18) PRIMARY KEY, change bigint NOT NULL)",
    "CREATE SEQUENCE IF NOT EXISTS firm_pack_change",
    """CREATE OR REPLACE FUNCTION firm_pack_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- in USCC order, so that two writers lock the marks in the same order
    INSERT INTO firm_pack_dirty AS d (uscc, change)
    SELECT u, nextval('firm_pack_change') FROM (SELECT DISTINCT uscc AS u FROM changed ORDER BY 1) s
    ON CONFLICT (uscc) DO UPDATE SET change = EXCLUDED.change;
    RETURN NULL;
END
$$""",
    "DROP TRIGGER IF EXISTS firm_pack_insert ON firm_month",
    "CREATE TRIGGER firm_pack_insert AFTER INSERT ON firm_month REFERENCING NEW TABLE AS changed "
    "FOR EACH STATEMENT EXECUTE FUNCTION firm_pack_mark()",
    "DROP TRIGGER IF EXISTS firm_pack_update ON firm_month",
    "CREATE TRIGGER firm_pack_update AFTER UPDATE ON firm_month REFERENCING NEW TABLE AS changed "
    "FOR EACH STATEMENT EXECUTE FUNCTION firm_pack_mark()",
    "DROP TRIGGER IF EXISTS firm_pack_delete ON firm_month",
    "CREATE TRIGGER firm_pack_delete AFTER DELETE ON firm_month REFERENCING OLD TABLE AS changed "
    "FOR EACH STATEMENT EXECUTE FUNCTION firm_pack_mark()",
    # a TRUNCATE fires no delete trigger: every pack goes with the cells
    """CREATE OR REPLACE FUNCTION firm_pack_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM firm_pack;
    DELETE FROM firm_pack_dirty;
    RETURN NULL;
END
$$""",
    "DROP TRIGGER IF EXISTS firm_pack_truncate ON firm_month",
    "CREATE TRIGGER firm_pack_truncate AFTER TRUNCATE ON firm_month "
    "FOR EACH STATEMENT EXECUTE FUNCTION firm_pack_truncated()",
    "INSERT INTO firm_pack_dirty (uscc, change) SELECT u, nextval('firm_pack_change') "
    "FROM (SELECT DISTINCT uscc AS u FROM firm_month) s ON CONFLICT (uscc) DO NOTHING",
]
DROP = [
    "DROP TRIGGER IF EXISTS firm_pack_insert ON firm_month",
    "DROP TRIGGER IF EXISTS firm_pack_update ON firm_month",
    "DROP TRIGGER IF EXISTS firm_pack_delete ON firm_month",
    "DROP TRIGGER IF EXISTS firm_pack_truncate ON firm_month",
    "DROP FUNCTION IF EXISTS firm_pack_mark()",
    "DROP FUNCTION IF EXISTS firm_pack_truncated()",
    "DROP TABLE IF EXISTS firm_pack_dirty",
    "DROP TABLE IF EXISTS firm_pack",
    "DROP SEQUENCE IF EXISTS firm_pack_change",
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
