"""Back-filled batches (issue 11, "what to build" 3: time-correct training data).

``ingest_batch.backfill``: the batch loads a department's archive (facts it held before the
platform received them), so its records count as known from their event date; the records
of every other batch are known from the moment the platform received them. Training reads,
for each past date, only the records known by then, in the version valid then. Plain ADD
COLUMN, the same on SQLite and PostgreSQL; batches stored before count as live (false).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-04T06:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ingest batches: backfill flag"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)
    manager.add_column(
        table_class_name="IngestBatch",
        tablename="ingest_batch",
        column_name="backfill",
        db_column_name="backfill",
        column_class_name="Boolean",
        column_class=Boolean,
        params={"default": False, "null": False, "primary_key": False, "unique": False, "index": False,
                "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                "secret": False},
        schema=None,
    )
    return manager
