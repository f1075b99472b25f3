"""The audit trail of admins' changes (issue 13, the admin back office).

``audit_event``: one row per change an admin makes (banks, products, the fund's limits,
accounts, weight profiles, override rules, models, scans), written in the change's own
transaction; indexed on ``at`` because the log is read newest first. CREATE TABLE and
CREATE INDEX, the same on SQLite and PostgreSQL.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-05T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit trail of admins' changes"


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

    manager.add_table(class_name="AuditEvent", tablename="audit_event", schema=None, columns=None)
    for name, cls, params in (
        ("at", Timestamptz, _params(default=TimestamptzNow(), index=True)),
        ("actor", Integer, _params(default=None, null=True)),
        ("actor_role", Varchar, _params(length=16)),
        ("action", Varchar, _params(length=40)),
        ("target", Varchar, _params(length=100)),
        ("detail", JSON, _params(default="{}")),
    ):
        manager.add_column(
            table_class_name="AuditEvent",
            tablename="audit_event",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )
    return manager
