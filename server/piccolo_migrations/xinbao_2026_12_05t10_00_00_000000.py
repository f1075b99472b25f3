"""The annual credit-index reports kept with their data version (issue 14).

``annual_report``: one row per year and language (``key`` unique), the PDF as bytes. CREATE
TABLE, the same on SQLite and PostgreSQL.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-05T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "annual credit-index reports"


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

    manager.add_table(class_name="AnnualReport", tablename="annual_report", schema=None, columns=None)
    for name, cls, params in (
        ("key", Varchar, _params(length=12, unique=True)),
        ("year", Integer, _params(default=0)),
        ("lang", Varchar, _params(length=2)),
        ("data_version", Varchar, _params(length=120)),
        ("generated_at", Timestamptz, _params(default=TimestamptzNow())),
        ("pages", Integer, _params(default=0)),
        ("size_bytes", Integer, _params(default=0)),
        ("pdf", Bytea, _params(default=b"")),
    ):
        manager.add_column(
            table_class_name="AnnualReport",
            tablename="annual_report",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )
    return manager
