from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-22T06:29:13:062706"
VERSION = "1.38.0"
DESCRIPTION = "industry statistics of a scoring run"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="xinbao", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="ScoringRun",
        tablename="scoring_run",
        column_name="industry_stats",
        db_column_name="industry_stats",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": "{}",
            "null": False,
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
