"""Shared meters by place (issue 15): an index on the supply address of utility records.

A utility that reports readings by supply address instead of meter number tells a shared meter
by the address (``scoring.authenticity.meter_key``); scoring a few firms then looks up the other
rows at their addresses, as it does for meter numbers (``dept_record_meter``):
``dept_record ((attrs->>'supply_address')) WHERE source = 'utility'`` on PostgreSQL,
``json_extract(attrs, '$.supply_address')`` on SQLite. Partial, so other feeds pay nothing.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "index on the supply address of utility records"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def address_index() -> None:
        engine = engine_finder()
        key = ("(attrs->>'supply_address')" if isinstance(engine, PostgresEngine)
               else "json_extract(attrs, '$.supply_address')")
        await engine.run_ddl(
            f"CREATE INDEX IF NOT EXISTS dept_record_supply_address ON dept_record ({key}) WHERE source = 'utility'",
            in_pool=False)

    manager.add_raw(address_index)
    return manager
