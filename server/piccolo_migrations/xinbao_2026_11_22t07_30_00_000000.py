"""objection.proposed: the corrected values an owner proposes when filing an objection.

Stored so the department's operator sees them and can accept them as the correction.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-22T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "proposed values of an objection"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Objection",
        tablename="objection",
        column_name="proposed",
        db_column_name="proposed",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
