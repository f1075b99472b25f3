"""Issue 16, first part: a region at a real region's density, through ingestion and the
firm-month feature store, on PostgreSQL.

For each ``--firms`` size a region is generated at ``--density`` records per firm
(``xinbao generate --density``: the monthly tax, utility and customs rows in parts), written as
the departments' CSV files and ingested feed by feed into a fresh PostgreSQL database through
``server.ingest.services.ingest`` (the path of ``xinbao ingest``); a file over ``PART_BYTES``
(2 GB) is sent as several files of about that size, and each file is deleted once ingested (at
10,000 firms the 16 GB of files and the 67 GB database do not both fit on this machine's disk).
Then, each in a child process
of its own (its peak RSS is its own), the 66 indicators of every firm at the last month end are
computed twice:

- ``features_from_store``: the feature store's cells (``load_cells``) plus the rows of the kinds
  the store does not keep;
- ``features_from_records``: every record (``load_records``), as the scoring reads today.

Both give the same indicators (``tests/integration/test_feature_store.py`` proves it exactly on
the demo region; here the two results are compared and the largest relative difference printed:
a cell of many parts sums non-integer quantities in another order than the rows do).

Then the full re-score, ``xinbao score``'s own path (``server.scores.pipeline.score_platform``:
indicators, scorecard, hard rules, authenticity checks, feed health, the scores written), each
in a child process: ``rescore_from_store`` reads the cells, the other kinds' rows and the
arrivals (the default); ``rescore_from_records`` reads every version of every record (the path
before the store), for sizes up to ``--records-up-to`` firms. The re-score from the store runs
``--rescore-runs`` times (3), in process and on Dask, each a fresh process: its figure is the
fastest run, and ``runs_s`` lists every run (the first comes right after the load, beside the
server's autovacuum of the new tables). The model is trained once, by
``train_platform_model`` on the first size's database (``train_s`` / ``train_peak_rss_bytes``),
and registered in every other.

Prints one JSON object per line, ``{"name", "value", "unit", "firms", "density", ...}``:
``ingest_rows_per_s`` (per feed and ``total``; ingestion runs in a child process whose peak RSS
is ``ingest_peak_rss_bytes``), ``store_update_ms_per_chunk`` (per feed: the time
ingestion spent adding a chunk's cells, mean), ``store_update_share`` (of the ingest time),
``store_pack_s`` (every firm's cells packed one row per firm after the region's files, as the
first full re-score does before it reads: ``server.scores.packing``),
``records``, ``cells``, ``db_size_bytes``, ``firm_month_bytes``, ``firm_pack_bytes``, ``dept_record_bytes``,
``features_from_store_s`` / ``_peak_rss_bytes``, ``features_from_records_s`` / ``_peak_rss_bytes``,
``rescore_from_store_s`` / ``_peak_rss_bytes`` (with ``read_s``: its reads), ``rescore_from_records_s``
/ ``_peak_rss_bytes``, ``rescore_store_vs_records_equal_share`` (firms whose stored score, grade
and PD are equal), ``rescore_from_store_dask_s`` (the same re-score with ``XINBAO_DASK_SCHEDULER``
naming a local cluster the benchmark starts: a scheduler and ``--dask-workers`` single-threaded
workers, separate processes over TCP on 127.0.0.1) with ``rescore_from_store_dask_peak_rss_bytes``
per process (submitter, scheduler, each worker) and ``rescore_dask_vs_in_process_equal_share``, and, with two sizes or more, ``fit_<figure>`` (time or memory ~ a * records^b,
least squares in log-log) with its extrapolation to 120,000 firms and 2.18 billion records; the
extrapolated re-score from the store is ``rescore_120k_feature_store_s`` (on the local Dask
cluster: ``rescore_120k_feature_store_dask_s``), the larger of the power law and a straight line
through the sizes.

Then the full warning scan (``server.risk.scan.scan``, the nightly job's), in a child process:
``warning_scan_s`` / ``warning_scan_peak_rss_bytes`` with its number of parts (the firms' own
rules read about ``PART_RECORDS`` records at a time), and for sizes up to ``--scan-one-part-up-to``
firms the same scan in one part, every record at once (``warning_scan_one_part_*``, the scan
before the parts), with ``warning_scan_parts_equal`` (both wrote the same warnings); with
``--dask-workers``, the scan with its parts evaluated on a local cluster the benchmark starts
(``warning_scan_dask_s``, ``warning_scan_dask_peak_rss_bytes`` per process and
``warning_scan_dask_equal``: the same warnings as in process).

    python benchmarks/scale.py [--firms 200,500,1000] [--density 18000] [--seed 42] [--records-up-to 1000]
                               [--dask-workers 2] [--rescore-runs 3] [--scan-one-part-up-to 300]
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


#: A department's file larger than this is sent as several files of about this size (a month's
#: file each, as departments send them), each deleted once ingested: at 10,000 firms the
#: largest feeds are 8 GB of CSV each, and the database (about 67 GB) and a whole such file do
#: not both fit on this machine's disk.
PART_BYTES = 2 << 30


#: How much of a file the split holds in memory at a time.
COPY_PIECE = 16 << 20


def split_csv(path: Path, max_bytes: int = PART_BYTES, piece: int = COPY_PIECE) -> list[Path]:
    """``path`` itself when it is at most ``max_bytes``; otherwise files of about ``max_bytes``
    each, cut at line ends and each with the header, and ``path`` deleted.

    Copied ``piece`` bytes at a time: the split runs in the ingesting process, whose peak RSS
    the benchmark prints. (Reading a whole part and appending the cut line to it held two
    copies of a 2 GB part at once: 4 GB of that peak at 10,000 firms.)"""
    if path.stat().st_size <= max_bytes:
        return [path]
    parts: list[Path] = []
    with path.open("rb") as src:
        header = src.readline()
        while first := src.read(min(piece, max_bytes)):
            part = path.with_name(f"{path.stem}.part{len(parts) + 1:02d}{path.suffix}")
            with part.open("wb") as out:
                out.write(header)
                out.write(first)
                left = max_bytes - len(first)
                del first
                while left > 0 and (data := src.read(min(piece, left))):
                    out.write(data)
                    left -= len(data)
                out.write(src.readline())  # to the end of the line the part cut
            parts.append(part)
    path.unlink()
    return parts


def write_region(n_firms: int, density: int, seed: int, out: Path) -> dict[str, Path]:
    from server.demo._feeds import plan_density
    from server.demo.synth import generate_region, write_feeds

    region = generate_region(n_firms, seed)
    plan = plan_density(region, density, seed) if density else None
    return write_feeds(region, out, density=plan)


def ingest_child(url: str, files: dict[str, Path], tags: dict, spec: Path) -> None:
    """:func:`ingest_region` in a child process of its own: its JSON lines are passed on, and
    its peak RSS printed as ``ingest_peak_rss_bytes``."""
    spec.write_text(json.dumps({"files": {k: str(v) for k, v in files.items()}, "tags": tags}))
    done = subprocess.run([sys.executable, __file__, "--child", "ingest", "--url", url, "--out", str(spec)],
                          capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        done.check_returncode()
    *lines, last = done.stdout.strip().splitlines()
    for line in lines:
        print(line, flush=True)
    emit("ingest_peak_rss_bytes", json.loads(last)["peak_rss_bytes"], "bytes", **tags)


async def ingest_spec(url: str, spec: str) -> dict:
    """(child process) Ingest the files a spec names; then its peak RSS."""
    data = json.loads(Path(spec).read_text())
    await ingest_region(url, {k: Path(v) for k, v in data["files"].items()}, data["tags"])
    return {"peak_rss_bytes": _peak_rss()}


def timed(fn, spent: dict):
    """``fn`` (a coroutine function) adding its time to ``spent["s"]`` and its calls to
    ``spent["chunks"]``."""
    async def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            spent["s"] += time.perf_counter() - t
            spent["chunks"] += 1
    return wrapper


async def ingest_region(url: str, files: dict[str, Path], tags: dict) -> None:
    """Ingest every feed; time the feature store's share (each chunk's cells added)."""
    from server import db
    from server.demo import FEED_SOURCES
    from server.ingest import cells, fastpath, services
    from server.ingest.parse import iter_file

    spent = {"s": 0.0, "chunks": 0}
    fastpath.add_cells = timed(cells.add_cells, spent)
    fastpath.add_new_rows = timed(cells.add_new_rows, spent)
    services.add_new_rows = timed(cells.add_new_rows, spent)
    engine = await db.open_engine(url)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON lines only
            await db.migrate(engine)
        total_rows, total_s, store_s = 0, 0.0, 0.0
        for source in FEED_SOURCES:
            parts = split_csv(files[source])
            rows, seconds = 0, 0.0
            spent.update(s=0.0, chunks=0)
            for path in parts:
                part_rows = count_rows(path)
                t = time.perf_counter()
                result = await services.ingest(engine, source, iter_file(str(path)), "csv", filename=path.name)
                seconds += time.perf_counter() - t
                assert result.rows == part_rows and not result.rejected_rows, (source, result.rejected[:3])
                rows += part_rows
                path.unlink()  # ingested: at 10,000 firms the files and the database do not both fit on disk
            total_rows, total_s, store_s = total_rows + rows, total_s + seconds, store_s + spent["s"]
            emit("ingest_rows_per_s", round(rows / seconds), "rows/s", feed=source, rows=rows,
                 seconds=round(seconds, 2), files=len(parts), **tags)
            if spent["chunks"]:
                emit("store_update_ms_per_chunk", round(spent["s"] / spent["chunks"] * 1000, 1), "ms",
                     feed=source, chunks=spent["chunks"], store_s=round(spent["s"], 2), **tags)
        emit("ingest_rows_per_s", round(total_rows / total_s), "rows/s", feed="total", rows=total_rows,
             seconds=round(total_s, 1), **tags)
        emit("store_update_share", round(store_s / total_s, 3), "of ingest time", store_s=round(store_s, 1), **tags)
        # every firm's cells packed one row per firm, as the first full re-score after these
        # region-sized batches does before it reads (``server.scores.packing``)
        from server.scores.packing import pack_dirty

        t = time.perf_counter()
        packed = await pack_dirty(engine)
        emit("store_pack_s", round(time.perf_counter() - t, 2), "s", packed_firms=packed.firms, **tags)
        emit("records", total_rows, "rows", **tags)
        conn = await engine.get_new_connection()
        try:
            emit("cells", int(await conn.fetchval("SELECT count(*) FROM firm_month")), "rows", **tags)
            emit("db_size_bytes", int(await conn.fetchval("SELECT pg_database_size(current_database())")),
                 "bytes", **tags)
            for table in ("firm_month", "firm_pack", "dept_record"):
                size = await conn.fetchval(  # a partitioned table's size is its partitions'
                    f"SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) "
                    f"FROM pg_partition_tree('{table}')), pg_total_relation_size('{table}'))")
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


def _settings(url: str, data_dir: str, dask: str | None = None):
    from server.settings import Settings

    # 2 bags, the regularisation of a few hundred firms: the model is what is scored with here
    # and the deployment's part size for a re-score in process (``XINBAO_SCORE_PART_FIRMS``)
    parts = os.environ.get("XINBAO_SCORE_PART_FIRMS")
    return Settings(database_url=url, data_dir=Path(data_dir), model_bags=2, model_regularization=0.1,
                    dask_scheduler=dask, **({"score_part_firms": int(parts)} if parts else {}))


async def train(url: str, data_dir: str) -> dict:
    """(child process) ``xinbao train``'s path on this database: time, peak RSS, the version."""
    from server import db
    from server.scores.pipeline import train_platform_model

    engine = await db.open_engine(url)
    try:
        t = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            version = await train_platform_model(_settings(url, data_dir), engine=engine)
        seconds = time.perf_counter() - t
    finally:
        await db.close(engine)
    return {"seconds": round(seconds, 2), "peak_rss_bytes": _peak_rss(), "version": version}


async def rescore(url: str, data_dir: str, how: str, dask: str | None = None) -> dict:
    """(child process) ``xinbao score``'s path, from the store or from every record: time,
    the time of its reads, peak RSS and the run it wrote."""
    from server import db
    from server.scores import pipeline
    from server.tables.scores import ScoringRun

    read = {"s": 0.0, "chunks": 0}
    for name in ("_store_inputs", "_recent_arrivals", "load_record_history", "load_firms"):
        setattr(pipeline, name, timed(getattr(pipeline, name), read))
    engine = await db.open_engine(url)
    try:
        t = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            result = await pipeline.score_platform(_settings(url, data_dir, dask), engine=engine,
                                                   from_store=how == "store", reason=f"bench {how}")
        seconds = time.perf_counter() - t
        run = await ScoringRun.select(ScoringRun.id).order_by(ScoringRun.id, ascending=False).first()
    finally:
        await db.close(engine)
    return {"seconds": round(seconds, 2), "read_s": round(read["s"], 2), "peak_rss_bytes": _peak_rss(),
            "run": run["id"], "firms": result["firms"], "as_of": result["as_of"]}


async def warning_scan(url: str, data_dir: str, part_records: int | None, dask: str | None = None) -> dict:
    """(child process) the full warning scan from no open warning (all it finds is raised):
    time, peak RSS, parts and a digest of the warnings it wrote; ``dask``: its parts evaluated
    on that cluster."""
    import hashlib

    from server import db
    from server.risk import scan as scanning
    from server.tables.risk import Warning

    engine = await db.open_engine(url)
    try:
        await Warning.delete(force=True)
        t = time.perf_counter()
        result = await scanning.scan(engine, _settings(url, data_dir, dask), None,
                                     part_records=part_records or scanning.PART_RECORDS)
        seconds = time.perf_counter() - t
        rows = await Warning.select(Warning.firm, Warning.rule_code, Warning.level, Warning.evidence,
                                    Warning.message_en).where(Warning.closed_at.is_null())
    finally:
        await db.close(engine)
    lines = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    digest = hashlib.sha256(json.dumps(lines).encode()).hexdigest()
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    (Path(data_dir) / f"scan-{result.details['parts']}{'-dask' if dask else ''}.jsonl").write_text("\n".join(lines))
    return {"seconds": round(seconds, 2), "peak_rss_bytes": _peak_rss(), "parts": result.details["parts"],
            "warnings": len(rows), "digest": digest}


async def register(url: str, version: str) -> None:
    """The trained model, active in another size's database (its files are shared)."""
    from datetime import UTC, datetime

    from server import db
    from server.tables.scores import ModelVersion

    engine = await db.open_engine(url)
    try:
        await ModelVersion(version=version, created_at=datetime.now(UTC), active=True).save()
    finally:
        await db.close(engine)


async def runs_equal_share(url: str, a: int, b: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return float(await conn.fetchval(
            "SELECT avg(CASE WHEN x.score = y.score AND x.grade = y.grade AND x.pd = y.pd THEN 1.0 ELSE 0.0 END) "
            "FROM score_history x JOIN score_history y ON y.firm = x.firm AND y.run = $2 WHERE x.run = $1", a, b))
    finally:
        await conn.close()


def _peak_rss(pid: int | str = "self") -> int:
    """A process's peak resident set (VmHWM; ``ru_maxrss`` would carry the parent's over
    the exec)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(url: str, how: str, out: Path, dask: str | None = None, part_records: int | None = None) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", how, "--url", url, "--out", str(out),
                           *(["--dask", dask] if dask else []),
                           *(["--part-records", str(part_records)] if part_records else [])],
                          capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        done.check_returncode()
    return json.loads(done.stdout.strip().splitlines()[-1])


#: The re-score figures extrapolated to 120,000 firms, and the name each extrapolation prints as.
AT_120K = {"rescore_from_store_s": "rescore_120k_feature_store_s",
           "rescore_from_store_dask_s": "rescore_120k_feature_store_dask_s"}


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """y = a * x^b by least squares on logs."""
    import numpy as np

    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    b, log_a = np.polyfit(x, y, 1)
    return float(np.exp(log_a)), float(b)


class LocalCluster:
    """A Dask scheduler and ``workers`` single-threaded workers, each a process of its own
    (``dask scheduler`` / ``dask worker --no-nanny``) over TCP on 127.0.0.1."""

    def __init__(self, workers: int = 2) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        cmd = [sys.executable, "-m", "dask"]
        self.scheduler = subprocess.Popen([*cmd, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                           "--no-dashboard", "--preload", "server.dask_preload"], **quiet)
        self.workers = [subprocess.Popen([*cmd, "worker", self.address, "--no-nanny", "--nthreads", "1",
                                          "--no-dashboard", "--memory-limit", "0", "--host", "127.0.0.1",
                                          "--preload", "server.dask_preload"], **quiet)
                        for _ in range(workers)]
        from distributed import Client

        with Client(self.address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)

    def peak_rss(self) -> dict[str, int]:
        out = {"scheduler": _peak_rss(self.scheduler.pid)}
        for k, w in enumerate(self.workers):
            out[f"worker_{k}"] = _peak_rss(w.pid)
        return out

    def close(self) -> None:
        for p in (*self.workers, self.scheduler):
            p.kill()
            p.wait(timeout=30)


def fastest(results: list[dict]) -> dict:
    """Of several runs' results, the fastest, with every run's ``seconds`` as ``runs_s`` and the
    highest ``peak_rss_bytes`` of them."""
    best = dict(min(results, key=lambda r: r["seconds"]))
    best["runs_s"] = [r["seconds"] for r in results]
    best["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in results)
    return best


def on_local_cluster(workers: int, figure: str, tags: dict, url: str, how: str, out: Path, runs: int = 1) -> dict:
    """``child(url, how, out)`` submitting to a local cluster of ``workers`` ``runs`` times, and
    the fastest run's result (:func:`fastest`); prints ``<figure>_peak_rss_bytes`` of every
    process (the submitting children, the scheduler, each worker)."""
    cluster = LocalCluster(workers)
    try:
        r = fastest([child(url, how, out, dask=cluster.address) for _ in range(runs)])
        peaks = cluster.peak_rss()
    finally:
        cluster.close()
    for process, peak in {"submitter": r["peak_rss_bytes"], **peaks}.items():
        emit(f"{figure}_peak_rss_bytes", peak, "bytes", process=process, **tags)
    return r


def compare_features(work: Path, tags: dict) -> None:
    import numpy as np

    a, b = np.load(work / "store.npy"), np.load(work / "records.npy")
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(all="ignore"):
        rel = np.nanmax(np.where(same, 0.0, np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
    # equal but for the order of additions of non-integer quantities in a cell
    from scoring.indicators import INDICATORS

    differ = {code: int((~same[:, j]).sum()) for j, code in enumerate(INDICATORS) if not same[:, j].all()}
    emit("features_store_vs_records_max_rel_diff", float(rel), "relative", exactly_equal_share=round(
        float(same.mean()), 6), firms_differing_by_indicator=differ, **tags)


def linear(points: list[tuple[float, float]]) -> tuple[float, float]:
    """y = per * x + fixed by least squares."""
    import numpy as np

    per, fixed = np.polyfit([p[0] for p in points], [p[1] for p in points], 1)
    return float(per), float(fixed)


async def run(args: argparse.Namespace) -> None:
    import asyncpg

    work = Path(tempfile.mkdtemp(prefix="xinbao-scale-"))
    measured: dict[str, list[tuple[float, float]]] = {}
    version: str | None = None  # the model, trained once on the first size
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
                ingest_child(url, files, tags, work / "ingest.json")
                shutil.rmtree(work / str(n), ignore_errors=True)
                conn = await asyncpg.connect(url)
                records = int(await conn.fetchval("SELECT count(*) FROM dept_record"))
                await conn.close()
                results = {}
                for how in ("store", "records") if n <= args.records_up_to else ("store",):
                    r = results[how] = child(url, how, work / f"{how}.npy")
                    emit(f"features_from_{how}_s", r["seconds"], "s", as_of=r["as_of"],
                         **{k: v for k, v in r.items() if k.endswith("read_s")}, **tags)
                    emit(f"features_from_{how}_peak_rss_bytes", r["peak_rss_bytes"], "bytes", **tags)
                    measured.setdefault(f"features_from_{how}_s", []).append((records, r["seconds"]))
                    measured.setdefault(f"features_from_{how}_peak_rss_bytes", []).append(
                        (records, r["peak_rss_bytes"]))
                if "records" in results:
                    compare_features(work, tags)
                data_dir = work / "data"
                if version is None:
                    r = child(url, "train", data_dir)
                    version = r["version"]
                    emit("train_s", r["seconds"], "s", **tags)
                    emit("train_peak_rss_bytes", r["peak_rss_bytes"], "bytes", **tags)
                else:
                    await register(url, version)
                runs = {}
                for how in ("records", "store") if n <= args.records_up_to else ("store",):
                    # the store's re-score ``--rescore-runs`` times, each a fresh process: the
                    # figure is the fastest (the first comes right after the load, beside the
                    # server's autovacuum of the new tables), every run's time is printed
                    r = fastest([child(url, f"rescore_{how}", data_dir)
                                 for _ in range(args.rescore_runs if how == "store" else 1)])
                    runs[how] = r["run"]
                    emit(f"rescore_from_{how}_s", r["seconds"], "s", read_s=r["read_s"], scored=r["firms"],
                         as_of=r["as_of"], runs_s=r["runs_s"], **tags)
                    emit(f"rescore_from_{how}_peak_rss_bytes", r["peak_rss_bytes"], "bytes", **tags)
                    measured.setdefault(f"rescore_from_{how}_s", []).append((records, r["seconds"]))
                    measured.setdefault(f"rescore_from_{how}_peak_rss_bytes", []).append(
                        (records, r["peak_rss_bytes"]))
                if len(runs) == 2:
                    emit("rescore_store_vs_records_equal_share",
                         await runs_equal_share(url, runs["records"], runs["store"]), "of firms", **tags)
                if args.dask_workers:
                    r = on_local_cluster(args.dask_workers, "rescore_from_store_dask", tags, url, "rescore_store",
                                         data_dir, runs=args.rescore_runs)
                    emit("rescore_from_store_dask_s", r["seconds"], "s", read_s=r["read_s"], scored=r["firms"],
                         workers=args.dask_workers, runs_s=r["runs_s"], **tags)
                    emit("rescore_dask_vs_in_process_equal_share",
                         await runs_equal_share(url, runs["store"], r["run"]), "of firms", **tags)
                    measured.setdefault("rescore_from_store_dask_s", []).append((records, r["seconds"]))
                scans = {}
                for how in ("parts", "one_part") if n <= args.scan_one_part_up_to else ("parts",):
                    r = scans[how] = child(url, "scan", data_dir, part_records=10**15 if how == "one_part" else None)
                    figure = "warning_scan" if how == "parts" else "warning_scan_one_part"
                    emit(f"{figure}_s", r["seconds"], "s", parts=r["parts"], warnings=r["warnings"], **tags)
                    emit(f"{figure}_peak_rss_bytes", r["peak_rss_bytes"], "bytes", parts=r["parts"], **tags)
                    measured.setdefault(f"{figure}_s", []).append((records, r["seconds"]))
                    measured.setdefault(f"{figure}_peak_rss_bytes", []).append((records, r["peak_rss_bytes"]))
                if len(scans) == 2:
                    same = scans["parts"]["digest"] == scans["one_part"]["digest"]
                    emit("warning_scan_parts_equal", int(same), "1 if the same warnings", **tags)
                    if not same:  # what differs, for the record
                        a, b = ((data_dir / f"scan-{scans[h]['parts']}.jsonl").read_text().splitlines()
                                for h in ("one_part", "parts"))
                        for line in sorted(set(a) ^ set(b))[:6]:
                            sys.stderr.write(("one part: " if line in a else "parts:    ") + line[:1500] + "\n")
                if args.dask_workers:
                    r = on_local_cluster(args.dask_workers, "warning_scan_dask", tags, url, "scan", data_dir)
                    emit("warning_scan_dask_s", r["seconds"], "s", parts=r["parts"], warnings=r["warnings"],
                         workers=args.dask_workers, **tags)
                    emit("warning_scan_dask_equal", int(r["digest"] == scans["parts"]["digest"]),
                         "1 if the same warnings as in process", **tags)
                    measured.setdefault("warning_scan_dask_s", []).append((records, r["seconds"]))
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
        for figure, points in measured.items():
            if len({p[0] for p in points}) < 2:
                continue
            a, b = fit(points)
            at_weihai = round(a * WEIHAI_RECORDS**b, 1)
            emit(f"fit_{figure}", round(b, 3), "exponent b of a*records^b", a=a, points=points,
                 at_weihai=at_weihai, weihai_records=WEIHAI_RECORDS, weihai_firms=WEIHAI_FIRMS)
            if figure in AT_120K:
                # a power law through sizes where fixed costs still weigh bends too low: the
                # straight line (fixed cost + cost per record) is the other reading; the larger
                # of the two is the figure
                per, fixed = linear(points)
                straight = round(fixed + per * WEIHAI_RECORDS, 1)
                emit(AT_120K[figure], max(at_weihai, straight), "s", extrapolated=True,
                     power_law=at_weihai, exponent=round(b, 3), straight_line=straight,
                     s_per_million_records=round(per * 1e6, 4), fixed_s=round(fixed, 2),
                     from_firms=[int(x) for x in args.firms.split(",")],
                     weihai_records=WEIHAI_RECORDS, weihai_firms=WEIHAI_FIRMS)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", default="200,500,1000")
    ap.add_argument("--density", type=int, default=18_000, help="records per firm (0: the demo's own)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--records-up-to", type=int, default=1000,
                    help="read every record too (indicators, re-score) up to this many firms; the model "
                         "is trained on the first size, so it should be within this")
    ap.add_argument("--dask-workers", type=int, default=2,
                    help="re-score from the store on a local Dask cluster of this many workers too (0: not)")
    ap.add_argument("--rescore-runs", type=int, default=3,
                    help="re-score from the store this many times per size (in process and on Dask), each "
                         "a fresh process; the figure is the fastest, every run is printed")
    ap.add_argument("--scan-one-part-up-to", type=int, default=300,
                    help="run the warning scan in one part too (every record at once) up to this many firms")
    ap.add_argument("--child", choices=["ingest", "store", "records", "train", "rescore_store", "rescore_records",
                                        "scan"], help=argparse.SUPPRESS)
    ap.add_argument("--part-records", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dask", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # a child process of its own, tuned as the ``xinbao`` command tunes its own
        from server.runtime import tune_memory

        tune_memory()
    if args.child == "ingest":
        print(json.dumps(asyncio.run(ingest_spec(args.url, args.out))))
    elif args.child == "train":
        print(json.dumps(asyncio.run(train(args.url, args.out))))
    elif args.child == "scan":
        print(json.dumps(asyncio.run(warning_scan(args.url, args.out, args.part_records, args.dask))))
    elif args.child in ("rescore_store", "rescore_records"):
        print(json.dumps(asyncio.run(rescore(args.url, args.out, args.child.removeprefix("rescore_"), args.dask))))
    elif args.child:
        print(json.dumps(asyncio.run(features(args.url, args.child, args.out))))
    if args.child:
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
