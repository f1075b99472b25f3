"""Ingestion throughput at the size of a region: every feed of a synthetic region, per feed.

A region of ``--firms`` firms (120,000 is a real county: 24.4 million records) and a small one
of ``--small-firms`` (2,000) are generated with the demo generator, written as the department
CSV files, and each file is ingested in order (registries first) through the path
``xinbao ingest`` and ``POST /api/ingest/{source}`` use (``server.ingest.services.ingest``:
read, validate every row, check firms, store in committed chunks) into a fresh database.

Prints one JSON object per line:

- ``{"name": "ingest_feed", "feed", "engine", "firms", "rows", "seconds", "rows_per_s",
  "us_per_row"}`` for every feed of both regions;
- ``{"name": "ingest_scaling", "feed", "engine", "us_per_row_small", "us_per_row_large",
  "ratio"}``: the per-row cost at ``--firms`` over that at ``--small-firms`` (target <= 1.5);
- ``{"name": "ingest_total", "engine", "firms", "rows", "seconds", "rows_per_s"}`` per region;
- ``{"name": "ingest_resend_duplicates", ...}``: the largest feed sent again (every key found
  stored, nothing written).

Targets (issue 17, PostgreSQL): every feed >= 150,000 rows/s but the firms registry itself
(>= 50,000), and the scaling ratio <= 1.5. Feeds under ``--min-rows`` rows (20,000) are
reported but their rate is mostly the fixed cost of a batch (a transaction, a report).

    python benchmarks/ingest.py [--firms 120000] [--small-firms 2000] [--engines postgres,sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import db  # noqa: E402
from server.demo import FEED_SOURCES  # noqa: E402
from server.demo.synth import generate_region, write_feeds  # noqa: E402
from server.ingest.parse import iter_file  # noqa: E402
from server.ingest.services import ingest  # noqa: E402

PG_ADMIN = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET = 150_000
TARGET_FIRMS_FEED = 50_000


def write_region(n_firms: int, seed: int, out: Path) -> dict[str, Path]:
    region = generate_region(n_firms, seed)
    return write_feeds(region, out)


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1, 0)


#: The registries every other feed's rows name: always loaded first.
REGISTRIES = ("firms", "relations", "guarantees")


async def load_region(engine_kind: str, url: str, files: dict[str, Path], n_firms: int,
                      resend: bool, feeds: tuple[str, ...] = FEED_SOURCES) -> list[dict]:
    engine = await db.open_engine(url)
    out = []
    try:
        await db.migrate(engine)
        total_rows, total_s = 0, 0.0
        for source in feeds:
            path = files[source]
            rows = count_rows(path)
            t = time.perf_counter()
            result = await ingest(engine, source, iter_file(str(path)), "csv", filename=path.name)
            seconds = time.perf_counter() - t
            assert result.rows == rows and not result.rejected_rows, (source, result.rows, rows,
                                                                      result.rejected[:3])
            total_rows += rows
            total_s += seconds
            out.append({"name": "ingest_feed", "feed": source, "engine": engine_kind, "firms": n_firms,
                        "rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
                        "us_per_row": round(seconds / max(rows, 1) * 1e6, 3),
                        "store_s": round(result.store_seconds, 3)})
            print(json.dumps(out[-1]), flush=True)
        out.append({"name": "ingest_total", "engine": engine_kind, "firms": n_firms, "rows": total_rows,
                    "seconds": round(total_s, 1), "rows_per_s": round(total_rows / total_s)})
        print(json.dumps(out[-1]), flush=True)
        if resend:
            source = max(feeds, key=lambda s: files[s].stat().st_size)
            t = time.perf_counter()
            again = await ingest(engine, source, iter_file(str(files[source])), "csv")
            seconds = time.perf_counter() - t
            assert again.accepted == 0 and again.duplicates == again.rows
            out.append({"name": "ingest_resend_duplicates", "feed": source, "engine": engine_kind,
                        "firms": n_firms, "rows": again.rows, "seconds": round(seconds, 2),
                        "rows_per_s": round(again.rows / seconds)})
            print(json.dumps(out[-1]), flush=True)
    finally:
        await db.close(engine)
    return out


async def run_engine(kind: str, files: dict[str, Path], n_firms: int, resend: bool,
                     feeds: tuple[str, ...] = FEED_SOURCES) -> list[dict]:
    if kind == "sqlite":
        tmp = tempfile.mkdtemp()
        try:
            return await load_region(kind, f"sqlite:///{tmp}/bench.db", files, n_firms, resend, feeds)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    import asyncpg

    name = f"xinbao_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await load_region(kind, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", files, n_firms, resend, feeds)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=120_000)
    ap.add_argument("--small-firms", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--engines", default="postgres")
    ap.add_argument("--min-rows", type=int, default=20_000)
    ap.add_argument("--feeds", default="", help="only these feeds (and the registries), comma-separated")
    args = ap.parse_args()
    asked = {f for f in args.feeds.split(",") if f}
    if asked - set(FEED_SOURCES):
        ap.error(f"--feeds: no such feed: {', '.join(sorted(asked - set(FEED_SOURCES)))}")
    feeds = tuple(f for f in FEED_SOURCES if not asked or f in asked or f in REGISTRIES)
    work = Path(tempfile.mkdtemp(prefix="xinbao-ingest-bench-"))
    try:
        sizes = [args.small_firms, args.firms] if args.small_firms else [args.firms]
        regions = {}
        for n in sizes:
            t = time.perf_counter()
            regions[n] = write_region(n, args.seed, work / str(n))
            print(json.dumps({"name": "region_written", "firms": n,
                              "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        for kind in args.engines.split(","):
            per_row: dict[int, dict[str, dict]] = {}
            for n in sizes:
                rows = await run_engine(kind, regions[n], n, resend=n == args.firms, feeds=feeds)
                per_row[n] = {r["feed"]: r for r in rows if r["name"] == "ingest_feed"}
            if len(sizes) == 2:
                small, large = per_row[sizes[0]], per_row[sizes[1]]
                for feed in feeds:
                    a, b = small[feed], large[feed]
                    print(json.dumps({
                        "name": "ingest_scaling", "feed": feed, "engine": kind,
                        "firms_small": sizes[0], "firms_large": sizes[1],
                        "us_per_row_small": a["us_per_row"], "us_per_row_large": b["us_per_row"],
                        "ratio": round(b["us_per_row"] / a["us_per_row"], 2),
                        "rows_small": a["rows"], "rows_large": b["rows"]}), flush=True)
            large = per_row[sizes[-1]]
            below = [f for f, r in large.items() if r["rows"] >= args.min_rows
                     and r["rows_per_s"] < (TARGET_FIRMS_FEED if f == "firms" else TARGET)]
            print(json.dumps({"name": "ingest_targets", "engine": kind, "firms": sizes[-1],
                              "target_rows_per_s": TARGET, "target_firms_feed": TARGET_FIRMS_FEED,
                              "feeds_below_target": below}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
