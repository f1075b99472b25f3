"""``change_log`` and its triggers (issue 16): the database says which cached copies must go.

PostgreSQL only; on SQLite (one process, no request caches) this migration does nothing. See
``server/changes.py`` for the reader. Each trigger is statement-level: a statement that changes
many rows writes its distinct keys, or one row without a key (the whole topic) above
``MANY`` keys, so a scoring run or a registry resend adds a handful of rows, not one per row.

| table | statements | topic | key |
|---|---|---|---|
| app_user | UPDATE, DELETE, TRUNCATE | user | id |
| revoked_token | INSERT, TRUNCATE | token | jti |
| firm | UPDATE, DELETE, TRUNCATE | firm | id |
| department | UPDATE, DELETE, TRUNCATE | department | (none) |
| score_history | INSERT, UPDATE, DELETE, TRUNCATE | score | firm |
| scoring_run | INSERT, UPDATE, DELETE, TRUNCATE | score | (none) |
| objection | INSERT, UPDATE, DELETE, TRUNCATE | objection | firm |

A new user or firm needs no row: nothing can hold a copy of a row that did not exist.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-06T03:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "change_log and the triggers that fill it"

MANY = 256

# (table, topic, key column or None, statements)
FOLLOWED = [
    ("app_user", "user", "id", ("UPDATE", "DELETE")),
    ("revoked_token", "token", "jti", ("INSERT",)),
    ("firm", "firm", "id", ("UPDATE", "DELETE")),
    ("department", "department", None, ("UPDATE", "DELETE")),
    ("score_history", "score", "firm", ("INSERT", "UPDATE", "DELETE")),
    ("scoring_run", "score", None, ("INSERT", "UPDATE", "DELETE")),
    ("objection", "objection", "firm", ("INSERT", "UPDATE", "DELETE")),
]

FUNCTION = f"""
CREATE OR REPLACE FUNCTION change_log_note() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  topic text := TG_ARGV[0];
  col text := TG_ARGV[1];
  rel text;
  n bigint;
BEGIN
  IF TG_OP = 'TRUNCATE' OR col = '' THEN
    INSERT INTO change_log (topic, key) VALUES (topic, NULL);
    RETURN NULL;
  END IF;
  rel := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT %1$I::text AS k FROM changed_new'
    WHEN 'DELETE' THEN 'SELECT %1$I::text AS k FROM changed_old'
    ELSE 'SELECT %1$I::text AS k FROM changed_old UNION SELECT %1$I::text FROM changed_new' END;
  EXECUTE format('SELECT count(DISTINCT k) FROM (' || rel || ') r', col) INTO n;
  IF n > {MANY} THEN
    INSERT INTO change_log (topic, key) VALUES (topic, NULL);
  ELSIF n > 0 THEN
    EXECUTE format('INSERT INTO change_log (topic, key) SELECT DISTINCT $1, k FROM (' || rel
                   || ') r WHERE k IS NOT NULL', col) USING topic;
  END IF;
  RETURN NULL;
END $$
"""


def _triggers(table: str, topic: str, column: str | None, statements: tuple[str, ...]) -> list[str]:
    out = []
    for op in statements:
        name = f"change_log_{table}_{op.lower()}"
        refs = {"INSERT": "REFERENCING NEW TABLE AS changed_new",
                "DELETE": "REFERENCING OLD TABLE AS changed_old",
                "UPDATE": "REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new"}[op]
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(f"CREATE TRIGGER {name} AFTER {op} ON {table} {refs if column else ''} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION change_log_note('{topic}', '{column or ''}')")
    name = f"change_log_{table}_truncate"
    out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    out.append(f"CREATE TRIGGER {name} AFTER TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION change_log_note('{topic}', '')")
    return out


STATEMENTS = [
    "CREATE TABLE IF NOT EXISTS change_log (id bigserial PRIMARY KEY, "
    "txid xid8 NOT NULL DEFAULT pg_current_xact_id(), topic text NOT NULL, key text)",
    "CREATE INDEX IF NOT EXISTS change_log_txid ON change_log (txid)",
    FUNCTION,
    *[s for followed in FOLLOWED for s in _triggers(*followed)],
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        if not isinstance(engine, PostgresEngine):
            return
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    async def drop():
        engine = engine_finder()
        if not isinstance(engine, PostgresEngine):
            return
        for table, _topic, _column, statements in FOLLOWED:
            for op in (*statements, "TRUNCATE"):
                await engine.run_ddl(f"DROP TRIGGER IF EXISTS change_log_{table}_{op.lower()} ON {table}")
        await engine.run_ddl("DROP FUNCTION IF EXISTS change_log_note()")
        await engine.run_ddl("DROP TABLE IF EXISTS change_log")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
