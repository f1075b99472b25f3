"""One owner account per firm (issue 10: "every invariant is enforced by the database").

Two accounts verifying their claim codes for the same firm at the same moment both passed the
service's "not claimed yet" check and both became its owner. A partial unique index on the
firm of owner accounts makes the second link fail. Where a database already holds two owners
of one firm, the account that claimed it first keeps it; the others are unlinked (they can
claim again, and the platform can transfer the firm). Same SQL on SQLite and PostgreSQL.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-03T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one owner account per firm"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def one_owner() -> None:
        engine = engine_finder()
        await engine.run_ddl(
            """UPDATE app_user SET firm = NULL
               WHERE role = 'owner' AND firm IS NOT NULL AND id <> (
                   SELECT MIN(keep.id) FROM app_user AS keep
                   WHERE keep.role = 'owner' AND keep.firm = app_user.firm)""")
        await engine.run_ddl(
            """CREATE UNIQUE INDEX IF NOT EXISTS app_user_one_owner ON app_user (firm)
               WHERE role = 'owner' AND firm IS NOT NULL""")

    async def drop() -> None:
        await engine_finder().run_ddl("DROP INDEX IF EXISTS app_user_one_owner")

    manager.add_raw(one_owner)
    manager.add_raw_backwards(drop)
    return manager
