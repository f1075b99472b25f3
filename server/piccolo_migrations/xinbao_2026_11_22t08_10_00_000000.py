"""Risk warnings: the warning's kind, first-seen date and messages; the ``risk_snapshot`` table
the risk jobs write (scan results with the fund-draw estimate, the monthly macro index,
drift checks)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Date, Text, Timestamptz, Varchar
from piccolo.columns.defaults.date import DateNow
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-22T08:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "warning kind, first_seen and messages; risk snapshots"


def _params(**changes):
    params = {
        "default": "",
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(changes)
    return params


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    for name, cls, params in (
        ("kind", Varchar, _params(length=20, default="")),
        ("first_seen", Date, _params(default=None, null=True)),
        ("message_zh", Text, _params(default="")),
        ("message_en", Text, _params(default="")),
    ):
        manager.add_column(
            table_class_name="Warning",
            tablename="risk_warning",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )

    manager.add_table(class_name="RiskSnapshot", tablename="risk_snapshot", schema=None,
                      columns=None)
    for name, cls, params in (
        ("kind", Varchar, _params(length=20, default="")),
        ("as_of", Date, _params(default=DateNow())),
        ("data", JSON, _params(default="{}")),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
    ):
        manager.add_column(
            table_class_name="RiskSnapshot",
            tablename="risk_snapshot",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )

    return manager
