"""Re-scoring from the feature store (issue 16): feed arrivals, two partial indexes, a fill.

- ``feed_arrival``: how many rows of a monthly kind dated a day arrived in a batch at a time
  (``server.tables.ingest.FeedArrival``), unique on (kind, event_date, batch_id, received_at)
  (``feed_arrival_key``): the feed-health lateness without reading the rows.
- ``dept_record_row_kinds (source) WHERE superseded_at IS NULL AND source NOT IN (the kinds the
  cells replace)``: with the firm-month cells, a re-score reads the current rows of the other
  kinds only (``server.scores.frames.load_row_kinds``, whose WHERE states the same predicate
  word for word). At a real region's density they are a small share of the table, and without
  the index the read scans all of it. The monthly tax, social-insurance, utility and customs
  rows, most of ingestion, get no entry.
- ``dept_record_replaced (source, uscc) WHERE superseded_at IS NOT NULL``: the few firms with a
  replaced record (``load_redeclared_history``); a row gets its entry when it is replaced, never
  at ingestion.
- A database whose records were stored before the store existed gets its cells and arrivals
  computed from them (``server.ingest.cells.fill_from_records``), so a re-score from the store
  reads what the records hold.

The kinds are written out here, not imported, so that the migration stays what it was when it
ran; ``tests/integration/test_score_from_store.py`` checks they match ``ROW_KINDS_PREDICATE``.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Date, Timestamptz, Varchar
from piccolo.columns.defaults.date import DateNow
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.engine.finder import engine_finder

ID = "2026-12-06T01:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "feed arrivals and partial indexes for re-scoring from the feature store"

ROW_KINDS = ("superseded_at IS NULL AND source NOT IN "
             "('customs_export', 'social_insurance', 'tax_monthly', 'utility')")
STATEMENTS = [
    "CREATE UNIQUE INDEX IF NOT EXISTS feed_arrival_key ON feed_arrival (kind, event_date, batch_id, received_at)",
    f"CREATE INDEX IF NOT EXISTS dept_record_row_kinds ON dept_record (source) WHERE {ROW_KINDS}",
    "CREATE INDEX IF NOT EXISTS dept_record_replaced ON dept_record (source, uscc) WHERE superseded_at IS NOT NULL",
]

_COLUMNS = [  # name, class, params
    ("kind", Varchar, {"length": 30, "default": "", "null": False}),
    ("event_date", Date, {"default": DateNow(), "null": False}),
    ("batch_id", BigInt, {"default": 0, "null": False}),
    ("received_at", Timestamptz, {"default": TimestamptzNow(), "null": False}),
    ("rows", BigInt, {"default": 0, "null": False}),
]


class _Manager(MigrationManager):
    """Creates the table, then the indexes, then fills the store, in one transaction."""

    async def run(self, backwards: bool = False) -> None:
        engine = engine_finder()
        async with engine.transaction():  # the manager's own transaction joins this one
            if backwards:
                for name in ("feed_arrival_key", "dept_record_row_kinds", "dept_record_replaced"):
                    await engine.run_ddl(f"DROP INDEX IF EXISTS {name}")
            await super().run(backwards=backwards)
            if not backwards:
                for statement in STATEMENTS:
                    await engine.run_ddl(statement)
                from server.ingest.cells import fill_from_records

                await fill_from_records(engine)


async def forwards():
    manager = _Manager(migration_id=ID, app_name="xinbao", description=DESCRIPTION)
    manager.add_table(class_name="FeedArrival", tablename="feed_arrival", schema=None, columns=None)
    for name, cls, params in _COLUMNS:
        manager.add_column(
            table_class_name="FeedArrival", tablename="feed_arrival", column_name=name, db_column_name=name,
            column_class_name=cls.__name__, column_class=cls,
            params={**params, "primary_key": False, "unique": False, "index": False,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                    "secret": False},
            schema=None)
    return manager
