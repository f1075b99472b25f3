"""Department records partitioned by source on PostgreSQL (migration ``2026-12-07T12:00``).

Each record feed's rows sit in a partition of their own (``dept_record_<source>``, a default
one for any other source), with their own share of every index, so that a feed's inserts meet
only its own keys. What must hold: ingestion stores every row once in its feed's partition and
finds a resent key stored (the unique key spans the partitions through ``source``); the
change-log triggers still fire; and the migration's rebuild, run back to one table and forward
again on stored rows, keeps every row, id, index and trigger."""

from __future__ import annotations

import pytest

from server.uscc import make_uscc
from tests.conftest import module_database_url

pytestmark = pytest.mark.anyio

A, B = make_uscc(81_001), make_uscc(81_002)


@pytest.fixture(scope="module")
def db_url(request, tmp_path_factory):
    """PostgreSQL only: SQLite keeps one table."""
    yield from module_database_url("postgres", request, tmp_path_factory)


@pytest.fixture(scope="module")
async def firms(engine) -> None:
    from server.ingest.services import ingest

    await ingest(engine, "firms", [(
        "uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status\n"
        f"{A},分区甲有限公司,34,城关镇,1000000,2012-03-01,small,active\n"
        f"{B},分区乙有限公司,51,城关镇,500000,2018-07-15,micro,active\n").encode()], "csv")


async def _fetch(engine, sql: str, *args) -> list:
    conn = await engine.get_new_connection()
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def _shape(engine) -> tuple:
    """The table's rows (every column), its indexes and its triggers, as the catalogue says."""
    rows = await _fetch(engine, "SELECT * FROM dept_record ORDER BY id")
    indexes = await _fetch(engine, "SELECT indexname, regexp_replace(indexdef, ' ON (ONLY )?', ' ON ') "
                                   "FROM pg_indexes WHERE tablename = 'dept_record' ORDER BY 1")
    triggers = await _fetch(engine, "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                                    "WHERE tgrelid = 'dept_record'::regclass AND NOT tgisinternal ORDER BY 1")
    return rows, indexes, triggers


async def test_each_feed_is_stored_in_its_own_partition_once(engine, firms) -> None:
    from server.ingest.services import ingest
    from server.ingest.sources import SOURCES

    partitions = dict(await _fetch(
        engine, "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'dept_record'::regclass"))
    records = [code for code, source in SOURCES.items() if source.target == "record"]
    assert set(partitions) == {f"dept_record_{code}" for code in records} | {"dept_record_other"}
    assert partitions["dept_record_other"] == "DEFAULT"
    assert partitions["dept_record_court_case"] == "FOR VALUES IN ('court_case')"

    tax = ("record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"
           + "".join(f"P-{i},{A if i % 2 else B},2025-0{1 + i % 9}-28,vat,{i}.5,0\n" for i in range(40))).encode()
    court = ("record_key,uscc,event_date,category,status,amount_yuan\n"
             f"C-1,{A},2024-05-01,defendant,open,1000\nC-2,{B},2024-06-01,plaintiff,closed,50\n").encode()
    first = await ingest(engine, "tax_monthly", [tax], "csv")
    assert (first.accepted, first.duplicates, first.rejected) == (40, 0, [])
    again = await ingest(engine, "tax_monthly", [tax], "csv")  # the key is found stored
    assert (again.accepted, again.duplicates) == (0, 40)
    assert (await ingest(engine, "court_case", [court], "csv")).accepted == 2
    counts = dict(await _fetch(engine, "SELECT tableoid::regclass::text, count(*) FROM dept_record GROUP BY 1"))
    assert counts == {"dept_record_tax_monthly": 40, "dept_record_court_case": 2}
    # a source no partition names goes to the default one; the key still refuses it twice
    insert = ("INSERT INTO dept_record (source, record_key, uscc, event_date, batch_id, received_at) "
              "VALUES ('new_feed', 'N-1', $1, '2025-01-01', 0, now()) ON CONFLICT (uscc, source, record_key) "
              "DO NOTHING RETURNING tableoid::regclass::text")
    assert await _fetch(engine, insert, A) == [("dept_record_other",)]
    assert await _fetch(engine, insert, A) == []


async def test_the_listing_trigger_still_logs_a_dishonest_debtor(engine, firms) -> None:
    from server.ingest.services import ingest

    await _fetch(engine, "DELETE FROM change_log")
    data = ("record_key,uscc,event_date,end_date,amount_yuan\n"
            f"D-1,{B},2024-03-01,,20000\n").encode()
    assert (await ingest(engine, "dishonest_debtor", [data], "csv")).accepted == 1
    assert ("listing", B) in await _fetch(engine, "SELECT topic, key FROM change_log")


async def test_the_rebuild_back_to_one_table_and_forward_again_keeps_rows_ids_indexes_and_triggers(
        engine, firms) -> None:
    import importlib

    migration = importlib.import_module("server.piccolo_migrations.xinbao_2026_12_07t12_00_00_000000")
    before = await _shape(engine)
    assert len(before[0]) >= 40 and before[1] and before[2]

    await engine.run_ddl(migration.BACKWARDS, in_pool=False)
    assert await _fetch(engine, "SELECT relkind::text FROM pg_class WHERE oid = 'dept_record'::regclass") == [("r",)]
    rows, indexes, triggers = await _shape(engine)
    assert rows == before[0] and triggers == before[2]
    assert [i for i in indexes if i[0] != "dept_record_pkey"] == [i for i in before[1] if i[0] != "dept_record_pkey"]

    await engine.run_ddl(migration.FORWARDS, in_pool=False)
    await engine.run_ddl(migration.FORWARDS, in_pool=False)  # a second run changes nothing
    assert await _fetch(engine, "SELECT relkind::text FROM pg_class WHERE oid = 'dept_record'::regclass") == [("p",)]
    assert await _shape(engine) == before
    # new rows take ids after the old ones: the sequence came along
    newest = max(r[0] for r in before[0])
    await _fetch(engine, "INSERT INTO dept_record (source, record_key, uscc, event_date, batch_id, received_at) "
                         "VALUES ('penalty', 'S-1', $1, '2025-01-01', 0, now())", A)
    assert (await _fetch(engine, "SELECT id FROM dept_record WHERE record_key = 'S-1'"))[0][0] > newest
    assert await _fetch(engine, "SELECT pg_get_serial_sequence('dept_record', 'id')") == [("public.dept_record_id_seq",)]
