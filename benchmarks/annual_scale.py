"""The annual report's figures at the size of a real region (issue 16), on PostgreSQL.

The report reads the firm-month panel (every firm's month-end score, its open red and yellow
warnings and its first default), which grows with firms x months and not with records per firm.
So the benchmark writes that panel directly, without records: ``--firms`` firms (sections and
towns drawn as a county's), scored at each of ``--months`` month ends up to the end of last year
(firms enter and leave), about 6 % of firms with red or yellow warnings opened and closed over
those months, 1 % with a default. For each size it times ``server.reports.annual.figures.gather``
for last year in a process of its own, in process and submitting to a local Dask cluster of
``--workers`` worker processes (scheduler and workers separate processes over TCP on
127.0.0.1), and prints, as JSON lines ``{"name", "value", "unit", ...}``:

- ``annual_figures_s`` (``how``: ``in_process`` or ``dask``) and the peak RSS of every process;
- ``annual_figures_same``: 1 when the cluster's figures equal the in-process figures exactly;
- ``panel_rows``: the month-end scores read.

    python benchmarks/annual_scale.py --firms 10000,30000,120000 --months 36
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scale import PG_ADMIN, LocalCluster, _peak_rss, emit  # noqa: E402

YEAR = datetime.now(UTC).year - 1


def _url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def _create(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# sections weighted as a county's firms are (manufacturing, trade, services the most), 12 towns
_SECTIONS = "CCCCCGGGGFFIKLMNAEHOPRS"


async def build(url: str, firms: int, months: int) -> int:
    """The schema, and the panel written by SQL; the month-end scores written."""
    import asyncpg

    from server import db

    engine = await db.open_engine(url)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            await db.migrate(engine)
    finally:
        await db.close(engine)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT setseed(0.42)")
        await conn.execute(
            "INSERT INTO firm (uscc, name, industry_section, industry_division, town, size_class, founded_on) "
            "SELECT '9137' || lpad(i::text, 14, '0'), 'firm ' || i, substr($1, 1 + (hashint4(i) & 1023) % length($1), 1), "
            "lpad(((hashint4(i + 7) & 1023) % 90 + 1)::text, 2, '0'), 'town ' || ((hashint4(i + 3) & 1023) % 12), "
            "(ARRAY['micro','small','medium','large'])[1 + (hashint4(i + 5) & 1023) % 4], date '2010-01-01' "
            "FROM generate_series(1, $2) i", _SECTIONS, firms)
        ends = f"(SELECT (date_trunc('month', make_date({YEAR}, 12, 1)) - make_interval(months => m) " \
               f"+ interval '1 month' - interval '1 day')::date AS as_of FROM generate_series(0, {months - 1}) m)"
        await conn.execute(f"INSERT INTO scoring_run (model_version, as_of, firms, reason) "
                           f"SELECT 'bench', as_of, $1, 'full' FROM {ends} e ORDER BY as_of", firms)
        # each firm enters at a random month and a tenth leave before the end; scores drift
        await conn.execute(
            "INSERT INTO score_history (firm, run, as_of, score, grade, pd, model_version, created_at) "
            "SELECT f.id, r.id, r.as_of, s.score, CASE WHEN s.score >= 720 THEN 'A' WHEN s.score >= 620 THEN 'B' "
            "WHEN s.score >= 520 THEN 'C' ELSE 'D' END, 0.05, 'bench', now() "
            "FROM firm f CROSS JOIN scoring_run r "
            "CROSS JOIN LATERAL (SELECT 380 + (hashint4(f.id) & 1023) % 420 "
            "  + ((hashint4(f.id * 31 + r.id) & 1023) % 41) - 20 AS score) s "
            "WHERE r.id > (hashint4(f.id + 11) & 1023) % $1 / 2 "
            "AND NOT (f.id % 10 = 0 AND r.id > $1 - (hashint4(f.id + 13) & 1023) % 6)", months)
        await conn.execute(
            "INSERT INTO risk_warning (firm, rule_code, level, kind, opened_at, closed_at) "
            "SELECT f.id, 'bench', CASE WHEN f.id % 3 = 0 THEN 'red' ELSE 'yellow' END, 'rule', o.at, "
            "CASE WHEN f.id % 2 = 0 THEN o.at + make_interval(days => 10 + (hashint4(f.id + 2) & 1023) % 200) END "
            "FROM firm f CROSS JOIN LATERAL (SELECT make_date($1, 12, 31)::timestamptz "
            "  - make_interval(days => (hashint4(f.id + 1) & 1023) % ($2 * 30)) AS at) o "
            "WHERE (hashint4(f.id + 17) & 1023) % 100 < 6", YEAR, months)
        await conn.execute(
            "INSERT INTO dept_record (source, record_key, uscc, event_date, days, amount_fen) "
            "SELECT 'bank_loan', 'bench-' || f.id, f.uscc, make_date($1, 1 + f.id % 12, 15), 120, 100000 "
            "FROM firm f WHERE (hashint4(f.id + 19) & 1023) % 100 = 0", YEAR)
        await conn.execute("ANALYZE")
        return int(await conn.fetchval("SELECT count(*) FROM score_history"))
    finally:
        await conn.close()


async def gather_once(url: str, dask: str | None) -> dict:
    from server import db
    from server.reports.annual.figures import gather

    engine = await db.open_engine(url)
    try:
        t = time.perf_counter()
        figures = await gather(YEAR, 3, dask=dask)
        seconds = time.perf_counter() - t
    finally:
        await db.close(engine)
    return {"seconds": seconds, "peak_rss_bytes": _peak_rss(),
            "digest": hashlib.sha256(repr(figures).encode()).hexdigest(), "scored_end": figures.scored_end}


def child(url: str, dask: str | None) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", "--url", url, *(["--dask", dask] if dask else [])],
                          capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        done.check_returncode()
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--firms", default="10000,30000,120000")
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="Keep the databases (xinbao_annual_<firms>).")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--dask", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(gather_once(args.url, args.dask))))
        return
    os.environ.setdefault("XINBAO_ENV", "bench")
    for firms in [int(x) for x in args.firms.split(",")]:
        name = f"xinbao_annual_{firms}"
        url = _url(name)
        asyncio.run(_create(name))
        try:
            t = time.perf_counter()
            rows = asyncio.run(build(url, firms, args.months))
            tags = {"engine": "postgres", "firms": firms, "months": args.months, "year": YEAR}
            emit("panel_rows", rows, "rows", build_s=round(time.perf_counter() - t, 1), **tags)
            here = [child(url, None) for _ in range(args.repeat)]
            emit("annual_figures_s", min(r["seconds"] for r in here), "s", how="in_process",
                 runs=[round(r["seconds"], 2) for r in here], **tags)
            emit("annual_figures_peak_rss_bytes", max(r["peak_rss_bytes"] for r in here), "bytes",
                 how="in_process", process="submitter", **tags)
            cluster = LocalCluster(args.workers)
            try:
                there = [child(url, cluster.address) for _ in range(args.repeat)]
                peaks = cluster.peak_rss()
            finally:
                cluster.close()
            emit("annual_figures_s", min(r["seconds"] for r in there), "s", how="dask", workers=args.workers,
                 runs=[round(r["seconds"], 2) for r in there], **tags)
            for process, peak in {"submitter": max(r["peak_rss_bytes"] for r in there), **peaks}.items():
                emit("annual_figures_peak_rss_bytes", peak, "bytes", how="dask", process=process, **tags)
            digests = {r["digest"] for r in here + there}
            emit("annual_figures_same", int(len(digests) == 1), "bool", scored_end=here[0]["scored_end"], **tags)
        finally:
            if not args.keep:
                asyncio.run(_drop(name))


if __name__ == "__main__":
    main()
