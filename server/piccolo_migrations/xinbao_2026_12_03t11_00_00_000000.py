"""Hard overrides as a versioned table (issue 11, "what to build" 2).

``override_rule_set`` holds every version of the override rules (``scoring.overrides``) with
its audit history, like ``weight_profile``; the newest version is the one scoring applies.
``scoring_run`` and ``score_history`` name the version each score used
(``override_version``, NULL for rows scored before overrides existed). The default set
(version 1) is seeded at start-up with the other reference data, not here, so the rows are
written by the same code that reads them. Plain ADD COLUMN, the same on SQLite and PostgreSQL.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "override rule sets; scores name the override version"


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

    manager.add_table(class_name="OverrideRuleSet", tablename="override_rule_set", schema=None,
                      columns=None)
    for name, cls, params in (
        ("version", Varchar, _params(length=64, unique=True)),
        ("name", Varchar, _params(length=100)),
        ("reason", Text, _params()),
        ("rules", JSON, _params(default="{}")),
        ("created_by", Integer, _params(default=None, null=True)),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
    ):
        manager.add_column(
            table_class_name="OverrideRuleSet",
            tablename="override_rule_set",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params=params,
            schema=None,
        )
    for class_name, tablename in (("ScoringRun", "scoring_run"), ("ScoreHistory", "score_history")):
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name="override_version",
            db_column_name="override_version",
            column_class_name="Varchar",
            column_class=Varchar,
            params=_params(length=64, default=None, null=True),
            schema=None,
        )
    return manager
