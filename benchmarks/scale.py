"""Issue 16, first part: a region at a real region's density, through ingestion and the
firm-month feature store, on PostgreSQL.

For each ``--firms`` size a region is generated at ``--density`` records per firm
(``xinbao generate --density``: the monthly tax, utility and customs rows in parts), written as
the departments' CSV files and ingested feed by feed into a fresh PostgreSQL database through
``server.ingest.services.ingest`` (the path of ``xinbao ingest``). Then, each in a child process
of its own (its peak RSS is its own), the 66 indicators of every firm at the last month end are
computed twice:

- ``features_from_store``: the feature store's cells (``load_cells``) plus the rows of the kinds
  the store does not keep;
- ``features_from_records``: every record (``load_records``), as the scoring reads today.

Both give the same indicators (``tests/integration/test_feature_store.py`` proves it exactly on
the demo region; here the two results are compared and the largest relative difference printed:
a cell of many parts sums non-integer quantities in another order than the rows do). This is not yet the full re-score
(the authenticity checks and hard rules still read records): the figures say what reading
cells instead of rows saves as density grows.

Prints one JSON object per line, ``{"name", "value", "unit", "firms", "density", ...}``:
``ingest_rows_per_s`` (per feed and ``total``), ``store_update_ms_per_chunk`` (per feed: the time
ingestion spent adding a chunk's cells, mean), ``store_update_share`` (of the ingest time),
``records``, ``cells``, ``db_size_bytes``, ``firm_month_bytes``, ``dept_record_bytes``,
``features_from_store_s`` / ``_peak_rss_bytes``, ``features_from_records_s`` / ``_peak_rss_bytes``,
and, with two sizes or more, ``fit_<figure>`` (time or memory ~ a * records^b, least squares in
log-log) with its extrapolation to 120,000 firms and 2.18 billion records.

    python benchmarks/scale.py [--firms 200,500,1000] [--density 18000] [--seed 42]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WEIHAI_FIRMS = 120_000
WEIHAI_RECORDS = 2_180_000_000


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **extra}, ensure_ascii=False), flush=True)


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1, 0)


def write_region(n_firms: int, density: int, seed: int, out: Path) -> dict[str, Path]:
    from server.demo._feeds import plan_density
    from server.demo.synth import generate_region, write_feeds

    region = generate_region(n_firms, seed)
    plan = plan_density(region, density, seed) if density else None
    return write_feeds(region, out, density=plan)


async def ingest_region(url: str, files: dict[str, Path], tags: dict) -> None:
    """Ingest every feed; time the feature store's share (each chunk's cells added)."""
    from server import db
    from server.demo import FEED_SOURCES
    from server.ingest import cells, fastpath, services
    from server.ingest.parse import iter_file

    spent = {"s": 0.0, "chunks": 0}

    def timed(fn):
        async def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - t
                spent["chunks"] += 1
        return wrapper

    fastpath.add_cells = timed(cells.add_cells)
    fastpath.add_new_rows = timed(cells.add_new_rows)
    services.add_new_rows = timed(cells.add_new_rows)
    engine = await db.open_engine(url)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON lines only
            await db.migrate(engine)
        total_rows, total_s, store_s = 0, 0.0, 0.0
        for source in FEED_SOURCES:
            path = files[source]
            rows = count_rows(path)
            spent.update(s=0.0, chunks=0)
            t = time.perf_counter()
            result = await services.ingest(engine, source, iter_file(str(path)), "csv", filename=path.name)
            seconds = time.perf_counter() - t
            assert result.rows == rows and not result.rejected_rows, (source, result.rejected[:3])
            total_rows, total_s, store_s = total_rows + rows, total_s + seconds, store_s + spent["s"]
            emit("ingest_rows_per_s", round(rows / seconds), "rows/s", feed=source, rows=rows,
                 seconds=round(seconds, 2), **tags)
            if spent["chunks"]:
                emit("store_update_ms_per_chunk", round(spent["s"] / spent["chunks"] * 1000, 1), "ms",
                     feed=source, chunks=spent["chunks"], store_s=round(spent["s"], 2), **tags)
        emit("ingest_rows_per_s", round(total_rows / total_s), "rows/s", feed="total", rows=total_rows,
             seconds=round(total_s, 1), **tags)
        emit("store_update_share", round(store_s / total_s, 3), "of ingest time", store_s=round(store_s, 1), **tags)
        emit("records", total_rows, "rows", **tags)
        conn = await engine.get_new_connection()
        try:
            emit("cells", int(await conn.fetchval("SELECT count(*) FROM firm_month")), "rows", **tags)
            emit("db_size_bytes", int(await conn.fetchval("SELECT pg_database_size(current_database())")),
                 "bytes", **tags)
            for table in ("firm_month", "dept_record"):
                size = await conn.fetchval(f"SELECT pg_total_relation_size('{table}')")
                emit(f"{table}_bytes", int(size), "bytes", **tags)
        finally:
            await conn.close()
    finally:
        await db.close(engine)


async def features(url: str, how: str, out: str) -> dict:
    """(child process) The indicators of every firm at the last month end, from the store or
    from the records; time, peak RSS and a digest of the result."""
    import numpy as np
    import pandas as pd

    from scoring.feature_store import STORE_KINDS
    from scoring.features import compute_features
    from scoring.records import RECORD_KINDS
    from server import db
    from server.scores.frames import load_cells, load_firms, load_records

    engine = await db.open_engine(url)
    try:
        t = time.perf_counter()
        firms = await load_firms(engine)
        parts = {}
        if how == "store":
            cells = await load_cells(engine)
            parts["cells_read_s"] = round(time.perf_counter() - t, 2)
            others = tuple(k for k in RECORD_KINDS if k not in STORE_KINDS)
            records = await load_records(engine, kinds=others)
            parts["other_kinds_read_s"] = round(time.perf_counter() - t - parts["cells_read_s"], 2)
            end = pd.Timestamp(np.datetime64(int(cells["month"].max()), "M")) + pd.offsets.MonthEnd(0)
            read = time.perf_counter() - t
            X = compute_features(records, end, firms=firms, cells=cells)
        else:
            records = await load_records(engine)
            monthly = records[records["kind"].isin(STORE_KINDS)]
            end = monthly["event_date"].max() + pd.offsets.MonthEnd(0)
            read = time.perf_counter() - t
            X = compute_features(records, end, firms=firms)
        seconds = time.perf_counter() - t
    finally:
        await db.close(engine)
    np.save(out, X.to_numpy())
    return {"seconds": round(seconds, 2), "read_s": round(read, 2), "as_of": str(end.date()), **parts,
            "peak_rss_bytes": _peak_rss(), "firms": len(X)}


def _peak_rss() -> int:
    """This process's peak resident set (VmHWM; ``ru_maxrss`` would carry the parent's over
    the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(url: str, how: str, out: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", how, "--url", url, "--out", str(out)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """y = a * x^b by least squares on logs."""
    import numpy as np

    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    b, log_a = np.polyfit(x, y, 1)
    return float(np.exp(log_a)), float(b)


async def run(args: argparse.Namespace) -> None:
    import asyncpg
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="xinbao-scale-"))
    measured: dict[str, list[tuple[float, float]]] = {}
    try:
        for n in [int(x) for x in args.firms.split(",")]:
            tags = {"firms": n, "density": args.density}
            t = time.perf_counter()
            files = write_region(n, args.density, args.seed, work / str(n))
            emit("region_written_s", round(time.perf_counter() - t, 1), "s", **tags)
            name = f"xinbao_scale_{uuid.uuid4().hex[:8]}"
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'CREATE DATABASE "{name}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
            try:
                await ingest_region(url, files, tags)
                shutil.rmtree(work / str(n), ignore_errors=True)
                conn = await asyncpg.connect(url)
                records = int(await conn.fetchval("SELECT count(*) FROM dept_record"))
                await conn.close()
                results = {}
                for how in ("store", "records"):
                    r = results[how] = child(url, how, work / f"{how}.npy")
                    emit(f"features_from_{how}_s", r["seconds"], "s", as_of=r["as_of"],
                         **{k: v for k, v in r.items() if k.endswith("read_s")}, **tags)
                    emit(f"features_from_{how}_peak_rss_bytes", r["peak_rss_bytes"], "bytes", **tags)
                    measured.setdefault(f"features_from_{how}_s", []).append((records, r["seconds"]))
                    measured.setdefault(f"features_from_{how}_peak_rss_bytes", []).append(
                        (records, r["peak_rss_bytes"]))
                a, b = np.load(work / "store.npy"), np.load(work / "records.npy")
                same = (a == b) | (np.isnan(a) & np.isnan(b))
                with np.errstate(all="ignore"):
                    rel = np.nanmax(np.where(same, 0.0, np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
                # equal but for the order of additions of non-integer quantities in a cell
                from scoring.indicators import INDICATORS

                differ = {code: int((~same[:, j]).sum()) for j, code in enumerate(INDICATORS)
                          if not same[:, j].all()}
                emit("features_store_vs_records_max_rel_diff", float(rel), "relative", exactly_equal_share=round(
                    float(same.mean()), 6), firms_differing_by_indicator=differ, **tags)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
        for figure, points in measured.items():
            if len({p[0] for p in points}) < 2:
                continue
            a, b = fit(points)
            emit(f"fit_{figure}", round(b, 3), "exponent b of a*records^b", a=a, points=points,
                 at_weihai=round(a * WEIHAI_RECORDS**b, 1), weihai_records=WEIHAI_RECORDS,
                 weihai_firms=WEIHAI_FIRMS)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", default="200,500,1000")
    ap.add_argument("--density", type=int, default=18_000, help="records per firm (0: the demo's own)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--child", choices=["store", "records"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(features(args.url, args.child, args.out))))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
