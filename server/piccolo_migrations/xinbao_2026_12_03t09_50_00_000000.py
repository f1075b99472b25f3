"""The ``job_run`` table: one row per scheduled job and fire time, unique on the pair, so the
insert is the run's lock (issue 10, point 9: a worker stalled past the fire time must see
that the run was done, also after Redis lost its keys or without Redis).

The unique pair is a plain unique index, the same on SQLite and PostgreSQL (Piccolo adds a
table constraint with ALTER TABLE, which SQLite lacks). Piccolo runs raw steps before it
creates tables, so the index is made after the manager's own steps, in the same transaction.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.engine.finder import engine_finder

ID = "2026-12-03T09:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "job runs, unique per job and scheduled time"

UNIQUE_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS job_run_once ON job_run (job, scheduled_at)"


class _Manager(MigrationManager):
    """Creates the table, then its unique index, in one transaction (either way round back)."""

    async def run(self, backwards: bool = False) -> None:
        engine = engine_finder()
        async with engine.transaction():  # the manager's own transaction joins this one
            if backwards:
                await engine.run_ddl("DROP INDEX IF EXISTS job_run_once")
            await super().run(backwards=backwards)
            if not backwards:
                await engine.run_ddl(UNIQUE_INDEX)


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
    manager = _Manager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    manager.add_table(class_name="JobRun", tablename="job_run", schema=None, columns=None)
    for name, cls, params in (
        ("job", Varchar, _params(length=64)),
        ("scheduled_at", Timestamptz, _params(default=TimestamptzNow())),
        ("worker", Varchar, _params(length=128)),
        ("started_at", Timestamptz, _params(default=TimestamptzNow())),
        ("finished_at", Timestamptz, _params(default=None, null=True)),
        ("status", Varchar, _params(length=16, default="running")),
        ("error", Text, _params()),
    ):
        manager.add_column(
            table_class_name="JobRun",
            tablename="job_run",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )
    return manager
