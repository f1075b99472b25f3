"""Ingestion throughput: 1,000,000 department records into SQLite and PostgreSQL.

Measures the whole ingestion path (read CSV, validate every row, check firms, write in
committed chunks, stored keys skipped) and, in the same run, plain Piccolo inserts of the same rows (on a
sample: a million rows through Piccolo would take minutes), and prints one JSON object per
line: ``{"name", "engine", "rows_per_s", ...}``. Target: >= 150,000 rows/s into PostgreSQL.

    python benchmarks/ingest_records.py [--rows 1000000] [--piccolo-rows 50000] [--engines sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import db  # noqa: E402
from server.ingest.services import ingest  # noqa: E402
from server.uscc import make_uscc  # noqa: E402

PG_ADMIN = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
N_FIRMS = 2000


def firms_csv() -> bytes:
    lines = ["uscc,name,industry_division,town,registered_capital_yuan,founded_on,size_class,status"]
    lines += [f"{make_uscc(i)},基准企业{i}号有限公司,13,城关镇,1000000,2010-01-01,small,active"
              for i in range(N_FIRMS)]
    return ("\n".join(lines) + "\n").encode()


def records_csv(n: int, key_prefix: str) -> list[bytes]:
    """Monthly VAT records in 1 MiB-ish chunks, as a department would send them."""
    usccs = [make_uscc(i) for i in range(N_FIRMS)]
    months = [f"{y}-{m:02d}-28" for y in range(2015, 2025) for m in range(1, 13)]
    chunks, buf = [], ["record_key,uscc,event_date,category,amount_yuan,arrears_yuan"]
    for i in range(n):
        buf.append(f"{key_prefix}{i},{usccs[i % N_FIRMS]},{months[(i // N_FIRMS) % len(months)]},vat,"
                   f"{(i * 7919) % 100000}.{i % 100:02d},0")
        if len(buf) >= 20000:
            chunks.append(("\n".join(buf) + "\n").encode())
            buf = []
    if buf:
        chunks.append(("\n".join(buf) + "\n").encode())
    return chunks


async def piccolo_rate(n: int) -> float:
    """Plain Piccolo ``Table.insert`` in chunks of 500 rows (its parameter limits allow that)."""
    from server.tables.ingest import DeptRecord

    usccs = [make_uscc(i) for i in range(N_FIRMS)]
    now = datetime.now(UTC)
    rows = [
        DeptRecord(source="tax_monthly", record_key=f"P-{i}", uscc=usccs[i % N_FIRMS],
                   event_date=date(2020, 1 + i % 12, 28), category="vat", amount_fen=i,
                   arrears_fen=0, batch_id=0, received_at=now)
        for i in range(n)
    ]
    t = time.perf_counter()
    for i in range(0, n, 500):
        await DeptRecord.insert(*rows[i : i + 500]).run()
    return n / (time.perf_counter() - t)


async def bench(engine_kind: str, url: str, n: int, piccolo_n: int) -> list[dict]:
    engine = await db.open_engine(url)
    try:
        await db.migrate(engine)
        await ingest(engine, "firms", [firms_csv()], "csv")
        chunks = records_csv(n, "R-")
        t = time.perf_counter()
        result = await ingest(engine, "tax_monthly", chunks, "csv")
        first = time.perf_counter() - t
        assert result.accepted == n and not result.rejected, (result.accepted, result.rejected[:3])
        t = time.perf_counter()
        again = await ingest(engine, "tax_monthly", chunks, "csv")
        resend = time.perf_counter() - t
        assert again.accepted == 0 and again.duplicates == n
        pic = await piccolo_rate(piccolo_n)
    finally:
        await db.close(engine)
    fast = n / first
    return [
        {"name": "ingest_new_rows", "engine": engine_kind, "rows": n, "seconds": round(first, 2),
         "rows_per_s": round(fast), "store_s": round(result.store_seconds, 2),
         "path": "Arrow CSV parse + column-wise validate + firm check + "
                 + ("sorted binary COPY in a savepoint" if engine_kind == "postgres" else "executemany ON CONFLICT")
                 + ", committed per chunk",
         **({"target_rows_per_s": 150_000} if engine_kind == "postgres" else {})},
        {"name": "ingest_resend_duplicates", "engine": engine_kind, "rows": n, "seconds": round(resend, 2),
         "rows_per_s": round(n / resend), "store_s": round(again.store_seconds, 2),
         "path": "same batch again: every key found stored (ON CONFLICT), nothing written"},
        {"name": "piccolo_insert", "engine": engine_kind, "rows": piccolo_n, "rows_per_s": round(pic),
         "path": "Table.insert(*rows) in chunks of 500, autocommit"},
        {"name": "ingest_vs_piccolo_ratio", "engine": engine_kind, "ratio": round(fast / pic, 1)},
    ]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--piccolo-rows", type=int, default=50_000)
    ap.add_argument("--engines", default="sqlite,postgres")
    args = ap.parse_args()
    import asyncpg

    for kind in args.engines.split(","):
        if kind == "sqlite":
            tmp = tempfile.mkdtemp()
            results = await bench(kind, f"sqlite:///{tmp}/bench.db", args.rows, args.piccolo_rows)
        else:
            name = f"xinbao_bench_{uuid.uuid4().hex[:8]}"
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                results = await bench(kind, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", args.rows,
                                      args.piccolo_rows)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
        for r in results:
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
