"""One index for a firm's code (issue 17): ``firm (uscc text_pattern_ops)``, unique (PostgreSQL).

``firm`` kept two b-trees on ``uscc``: the unique constraint's (equality lookups, the
registry's ``ON CONFLICT (uscc)``) and ``firm_uscc_pattern`` (``text_pattern_ops``, for the
code-prefix search, which ``LIKE 'x%'`` cannot take from a plain index under a non-C
collation). A ``text_pattern_ops`` b-tree answers equality too, and ``ON CONFLICT (uscc)``
infers any unique index on the column, so one unique index of that class does both jobs.
Every firm a registry batch writes costs one index less: measured at 120,000 firms, the
insert of the whole registry into a table with the other indexes went from 1.75-2.0 s to
1.47-1.71 s.

The constraint gives way to a unique index of the same name (``firm_uscc_key``), so an error
about a repeated code still names it. Nothing on SQLite: it has no operator classes, and its
unique index stays.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-07T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one unique text_pattern_ops index for firm.uscc (PostgreSQL)"

# one statement each way (a block): its steps commit together or not at all
FORWARDS = """
DO $$
BEGIN
    ALTER TABLE firm DROP CONSTRAINT IF EXISTS firm_uscc_key;
    CREATE UNIQUE INDEX IF NOT EXISTS firm_uscc_key ON firm (uscc text_pattern_ops);
    DROP INDEX IF EXISTS firm_uscc_pattern;
END
$$;
"""

BACKWARDS = """
DO $$
BEGIN
    CREATE INDEX IF NOT EXISTS firm_uscc_pattern ON firm (uscc text_pattern_ops);
    DROP INDEX IF EXISTS firm_uscc_key;
    ALTER TABLE firm ADD CONSTRAINT firm_uscc_key UNIQUE (uscc);
END
$$;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def one_index() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl(FORWARDS, in_pool=False)

    async def two_indexes() -> None:
        engine = engine_finder()
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl(BACKWARDS, in_pool=False)

    manager.add_raw(one_index)
    manager.add_raw_backwards(two_indexes)
    return manager
