"""The query plans of ingestion's lookups at the size of a region (issue 17, docs/scale.md).

Loads a generated region's registries (``--firms`` firms, their people and guarantees) and a
slice of one record feed into a fresh PostgreSQL database through the ingestion path, with
every lookup the writer sends recorded (SQL and arguments). Then, after ``ANALYZE`` as
autovacuum would have run it (and once more without statistics, as right after a bulk load),
each distinct lookup, and each registry upsert against a staged chunk, is run under
``EXPLAIN (ANALYZE, BUFFERS)`` in a transaction that is rolled back; so are the reads issue 17
names (``/api/health``, the firm search by name and by code prefix), shown but not counted.
Prints the plans and one JSON line: ``{"name": "ingest_plans", "firms", "statements",
"seq_scans_on_firm_or_person"}`` over ingestion's statements (target: 0).

    python benchmarks/ingest_plans.py [--firms 120000] [--records 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import db  # noqa: E402
from server.db import dollar_params  # noqa: E402
from server.demo.synth import generate_region, write_feeds  # noqa: E402
from server.ingest import store  # noqa: E402
from server.ingest.fastpath import LINK_TABLES  # noqa: E402
from server.ingest.parse import iter_file  # noqa: E402
from server.ingest.services import file_sha256, ingest  # noqa: E402

PG_ADMIN = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SEQ = re.compile(r"Seq Scan on (firm|person)\b")

UPSERTS = {
    "firm upsert (firms feed)": (
        "CREATE TEMP TABLE stage_firm AS SELECT uscc, name, industry_section, industry_division, town, "
        "registered_capital_fen, founded_on, size_class, status, created_at, updated_at "
        "FROM firm ORDER BY id DESC LIMIT 5000",
        "INSERT INTO firm (uscc, name, industry_section, industry_division, town, registered_capital_fen, "
        "founded_on, size_class, status, updated_at, created_at) SELECT uscc, name, industry_section, "
        "industry_division, town, registered_capital_fen, founded_on, size_class, status, updated_at, created_at "
        "FROM stage_firm ON CONFLICT (uscc) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at "
        "WHERE (firm.name) IS DISTINCT FROM (EXCLUDED.name)"),
    "person insert (relations feed)": (
        "CREATE TEMP TABLE stage_new_people AS SELECT id_hash, name FROM person ORDER BY id DESC LIMIT 5000",
        "INSERT INTO person (id_hash, name) SELECT id_hash, name FROM stage_new_people "
        "ORDER BY id_hash ON CONFLICT (id_hash) DO NOTHING"),
    # the links' stages hold codes; the insert turns them into ids (server.ingest.fastpath)
    "relations insert (codes to ids)": (
        "CREATE TEMP TABLE stage_relation_links AS SELECT (row_number() OVER ())::int4 AS ord, "
        "'new-' || r.record_key AS record_key, f.uscc, p.id_hash, r.role, r.share_pct::float8 AS share_pct, "
        "r.start_date, r.end_date FROM (SELECT * FROM firm_person ORDER BY id DESC LIMIT 5000) r "
        "JOIN firm f ON f.id = r.firm JOIN person p ON p.id = r.person",
        LINK_TABLES["relation"].insert),
    "guarantees insert (codes to ids)": (
        "CREATE TEMP TABLE stage_guarantee_links AS SELECT (row_number() OVER ())::int4 AS ord, "
        "'new-' || g.record_key AS record_key, a.uscc AS guarantor_uscc, b.uscc AS guaranteed_uscc, g.amount_fen, "
        "g.start_date, g.end_date FROM (SELECT * FROM guarantee ORDER BY id DESC LIMIT 5000) g "
        "JOIN firm a ON a.id = g.guarantor JOIN firm b ON b.id = g.guaranteed",
        LINK_TABLES["guarantee"].insert),
}
# the check a links block makes when fewer rows were new than it has (a resend, or a firm the
# registry lacks): the stage as above, every code looked up
UPSERTS["unknown firms of a guarantees block"] = (
    UPSERTS["guarantees insert (codes to ids)"][0],
    store.unknown_keys_sql("stage_guarantee_links", LINK_TABLES["guarantee"].firm_columns, "firm", "uscc"))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=120_000)
    ap.add_argument("--records", type=int, default=200_000, help="rows of the tax feed loaded")
    args = ap.parse_args()
    import asyncpg

    work = Path(tempfile.mkdtemp(prefix="xinbao-plans-"))
    name = f"xinbao_plans_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    recorded: dict[str, list] = {}
    real_fetch = store.PostgresWriter.fetch

    async def recording_fetch(self, sql, args=()):  # type: ignore[no-untyped-def]
        if re.search(r"\b(firm|person|dept_record|ingest_batch)\b", sql):
            recorded.setdefault(sql, list(args))
        return await real_fetch(self, sql, args)

    try:
        files = write_feeds(generate_region(args.firms, 42), work)
        tax = work / "tax_slice.csv"
        with files["tax_monthly"].open() as src, tax.open("w") as out:
            for i, line in enumerate(src):
                if i > args.records:
                    break
                out.write(line)
        # a file sending its first 20,000 rows twice (new keys): its second chunk meets keys its
        # first stored, so the writer asks which of them this batch stored before
        repeat = work / "tax_repeat.csv"
        with tax.open() as src:
            lines = src.read().splitlines(keepends=True)
        again = ["R-" + line for line in lines[1:20_001]]
        repeat.write_text(lines[0] + "".join(again + again))
        engine = await db.open_engine(url)
        try:
            await db.migrate(engine)
            store.PostgresWriter.fetch = recording_fetch  # type: ignore[method-assign]
            for source, path in (("firms", files["firms"]), ("relations", files["relations"]),
                                 ("guarantees", files["guarantees"]), ("tax_monthly", tax),
                                 ("tax_monthly", tax),  # twice: the resend's lookups too
                                 ("tax_monthly", repeat)):
                os.environ["XINBAO_INGEST_CHUNK_ROWS"] = "20000" if path == repeat else "100000"
                await ingest(engine, source, iter_file(str(path)), "csv", fingerprint=file_sha256(str(path)))
        finally:
            store.PostgresWriter.fetch = real_fetch  # type: ignore[method-assign]
            await db.close(engine)

        sample = await _one(url, "SELECT name, uscc FROM firm ORDER BY id LIMIT 1 OFFSET 777")
        reads = {
            "/api/health": ("SELECT EXISTS(SELECT * FROM firm)", []),
            "firm search, a name's three characters": (
                "SELECT id, uscc, name FROM firm WHERE name LIKE $1 ORDER BY name, id LIMIT 20",
                [f"%{sample[0][2:5]}%"]),
            "firm search, a code's prefix": (
                "SELECT id, uscc, name FROM firm WHERE uscc LIKE $1 ORDER BY name, id LIMIT 20", [sample[1][:10] + "%"]),
        }
        conn = await asyncpg.connect(url)
        seq = 0
        count = 0
        try:
            for stats in ("without statistics (right after the bulk load)",
                          "after VACUUM ANALYZE (as autovacuum runs after a bulk load)"):
                if stats.startswith("after"):
                    await conn.execute("VACUUM ANALYZE")  # also merges the trigram index's pending list
                else:
                    await conn.execute("SELECT pg_stat_reset()")
                print(f"\n## {stats}\n")
                for sql, params in recorded.items():
                    shown = [p[:3] + ["..."] if isinstance(p, list) and len(p) > 3 else p for p in params]
                    # a lookup over a chunk's stage (the links' firms): that stage made as below
                    setup = next((stage for stage, _ in UPSERTS.values()
                                  if (m := re.search(r"TEMP TABLE (\w+)", stage)) and m.group(1) in sql), None)
                    plan = await _explain(conn, dollar_params(sql), params, setup)
                    count += 1
                    seq += len(SEQ.findall(plan))
                    print(f"### {sql}\n\narguments: {shown}" + (f" ({len(params[0])} keys)" if params and
                          isinstance(params[0], list) else "") + f"\n\n```\n{plan}\n```\n")
                for title, (sql, params) in reads.items():  # reads, not ingestion: shown, not counted
                    plan = await _explain(conn, sql, params)
                    print(f"### {title}\n\n```\n{sql}   -- {params}\n\n{plan}\n```\n")
                for title, (stage, sql) in UPSERTS.items():
                    tx = conn.transaction()
                    await tx.start()
                    try:
                        await conn.execute(stage)
                        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    finally:
                        await tx.rollback()
                    plan = "\n".join(r[0] for r in rows)
                    count += 1
                    seq += len(SEQ.findall(plan))
                    print(f"### {title}\n\n```\n{sql}\n\n{plan}\n```\n")
        finally:
            await conn.close()
        print(json.dumps({"name": "ingest_plans", "firms": args.firms, "statements": count,
                          "seq_scans_on_firm_or_person": seq}), flush=True)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        shutil.rmtree(work, ignore_errors=True)


async def _one(url: str, sql: str) -> tuple:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return tuple(await conn.fetchrow(sql))
    finally:
        await conn.close()


async def _explain(conn, sql: str, params: list, setup: str | None = None) -> str:  # type: ignore[no-untyped-def]
    tx = conn.transaction()
    await tx.start()
    try:
        if setup:
            await conn.execute(setup)
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
    finally:
        await tx.rollback()
    return "\n".join(r[0] for r in rows)


if __name__ == "__main__":
    asyncio.run(main())
