"""Model promotion (issue 11, "what to build" 5).

A newly trained model version records how many firms it would move to another grade against
the active one (``grade_changes``); past a configured share it is not activated but waits for an
admin (``awaiting_confirmation``), who promotes it (``promoted_by``, ``promoted_at``). Plain
ADD COLUMN, the same on SQLite and PostgreSQL; existing versions keep their state.

``score_history.data_confidence``: the share of the coverage feeds reporting on the firm and
which are missing (issue 11, "what to build" 1), stored with every score ({} before).

``model_version_one_active``: a partial unique index, so the database itself refuses a second
active version (the same SQL on both engines).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Boolean, Integer, Timestamptz
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder

ID = "2026-12-04T02:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "model versions: grade changes, promotion by an admin; scores: data confidence"


def _params(**changes):
    params = {
        "default": None,
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
        ("grade_changes", JSON, _params(default="{}")),
        ("awaiting_confirmation", Boolean, _params(default=False)),
        ("promoted_by", Integer, _params(null=True)),
        ("promoted_at", Timestamptz, _params(null=True)),
    ):
        manager.add_column(
            table_class_name="ModelVersion",
            tablename="model_version",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )

    async def one_active() -> None:
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS model_version_one_active ON model_version (active) "
            "WHERE active", in_pool=False)

    manager.add_column(
        table_class_name="ScoreHistory",
        tablename="score_history",
        column_name="data_confidence",
        db_column_name="data_confidence",
        column_class_name="JSON",
        column_class=JSON,
        params=_params(default="{}"),
        schema=None,
    )
    manager.add_raw(one_active)
    return manager
