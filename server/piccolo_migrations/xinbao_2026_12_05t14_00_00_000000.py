"""Shared electricity meters (issue 15): an index on the meter number of utility records.

Scoring a few firms splits the reading of a meter they share with firms outside the few
(``server.scores.frames.load_records``), so it looks up the other rows of their meters by
number: ``dept_record ((attrs->>'meter_id')) WHERE source = 'utility'`` on PostgreSQL,
``json_extract(attrs, '$.meter_id')`` on SQLite. Partial, so other feeds pay nothing for it.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "index on the meter number of utility records"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def meter_index() -> None:
        engine = engine_finder()
        key = "(attrs->>'meter_id')" if isinstance(engine, PostgresEngine) else "json_extract(attrs, '$.meter_id')"
        await engine.run_ddl(
            f"CREATE INDEX IF NOT EXISTS dept_record_meter ON dept_record ({key}) WHERE source = 'utility'",
            in_pool=False)

    manager.add_raw(meter_index)
    return manager
