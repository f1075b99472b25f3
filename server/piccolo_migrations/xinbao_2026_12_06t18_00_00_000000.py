"""The feature store's cells by electricity meter (issue 16): re-scoring a few firms from the store.

``firm_month_meter (meter) WHERE meter <> ''``: a re-score of the firms a batch touched reads
their cells (the unique key's ``uscc`` prefix finds them) and, to split a shared meter's reading
as the whole region's split does, the other firms' cells on the same meters
(``server.scores.frames.load_cells(usccs=...)``). Only electricity cells have a meter, so the
index holds a small share of the store. Both engines.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-06T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "firm_month cells by electricity meter"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def create():
        await engine_finder().run_ddl(
            "CREATE INDEX IF NOT EXISTS firm_month_meter ON firm_month (meter) WHERE meter <> ''")

    async def drop():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS firm_month_meter")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
