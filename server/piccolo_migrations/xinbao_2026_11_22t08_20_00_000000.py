"""An index for the outbox relay's poll: pending rows of a channel that are due.

The relay looks for due rows several times a second; without this index that is a scan of
every outbox row ever written (sent rows stay as the delivery record). Plain SQL, the same on
SQLite and PostgreSQL; Piccolo's snapshot has no composite indexes, so it is not affected.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-22T08:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "index of due outbox rows"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def create_index():
        # The engine of this run (a process can migrate several databases, e.g. the tests).
        await engine_finder().run_ddl(
            "CREATE INDEX IF NOT EXISTS outbox_due_idx ON outbox (status, channel, next_attempt_at)")

    async def drop_index():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS outbox_due_idx")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
