"""Ingestion at the size of a region (issue 17): resumable batches.

- ``ingest_batch.state`` ('running' while chunks are being committed, 'done' once the whole
  file is stored; batches stored before are 'done') and ``ingest_batch.fingerprint`` (the
  SHA-256 of the file), so a file sent again after its batch broke off resumes that batch.

The indexes come in the next migration (Piccolo runs a migration's raw steps before its
added columns).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-05T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "resumable ingest batches"


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
    for name, params in (
        ("state", _params(length=10, default="done")),
        ("fingerprint", _params(length=64, default=None, null=True)),
    ):
        manager.add_column(
            table_class_name="IngestBatch",
            tablename="ingest_batch",
            column_name=name,
            db_column_name=name,
            column_class_name="Varchar",
            column_class=Varchar,
            params=params,
            schema=None,
        )

    return manager
