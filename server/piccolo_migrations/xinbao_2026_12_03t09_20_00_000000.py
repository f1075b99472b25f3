"""Every rejected (and in-batch repeated) row of an ingestion batch, for the downloadable report
(issue 10, point 16).

A batch of a million bad rows used to answer with all of them (99 MB); the answer now lists the
first hundred and the full list is written here, in the batch's own transaction, and served as
CSV by ``GET /api/ingest/batches/{id}/rejected``. ``seq`` orders a batch's entries by row.
Plain SQL, the same on SQLite and PostgreSQL; the table is read and written with SQL only (no
Piccolo table class), so Piccolo's snapshot is not affected.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-03T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ingest_rejection: the full list of a batch's rejected rows"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def create_table():
        await engine_finder().run_ddl(
            """CREATE TABLE IF NOT EXISTS ingest_rejection (
                   batch_id BIGINT NOT NULL REFERENCES ingest_batch (id) ON DELETE CASCADE,
                   seq INTEGER NOT NULL,
                   row_no BIGINT NOT NULL,
                   kind VARCHAR(10) NOT NULL,
                   field VARCHAR(100) NOT NULL,
                   message TEXT NOT NULL,
                   first_row BIGINT,
                   PRIMARY KEY (batch_id, seq)
               )""")

    async def drop_table():
        await engine_finder().run_ddl("DROP TABLE IF EXISTS ingest_rejection")

    manager.add_raw(create_table)
    manager.add_raw_backwards(drop_table)
    return manager
