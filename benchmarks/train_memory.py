"""Peak memory of ``xinbao train`` and ``xinbao score`` on a county-sized region (issue 16,
must-show 5: both within 8 GB resident at 120,000 firms on PostgreSQL).

A region of ``--firms`` firms (120,000 by default: 24.4 million records) is generated, every
feed is ingested into a fresh PostgreSQL database as the departments' archive (as the demo
loads its region), and the real commands run one after the other, each in its own process:
``xinbao train`` twice (the second compares its grades with the active model's, which scores
the region twice more) and ``xinbao score``. Prints one JSON line per step:
``{"name": "peak_rss", "step", "firms", "records", "peak_rss_gib", "seconds"}`` (GiB: 2³⁰ bytes), read from the
kernel's account of each child process (``wait4``).

    python benchmarks/train_memory.py [--firms 120000] [--seed 42]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import db  # noqa: E402
from server.demo import FEED_SOURCES  # noqa: E402
from server.demo.synth import generate_region, write_feeds  # noqa: E402
from server.ingest.parse import iter_file  # noqa: E402
from server.ingest.services import ingest  # noqa: E402

PG_ADMIN = os.environ.get("XINBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LIMIT_GIB = round(8e9 / 2**30, 2)  # the 8 GB read strictly, as 8·10⁹ bytes: 7.45 GiB


async def load(url: str, files: dict[str, Path]) -> int:
    engine = await db.open_engine(url)
    try:
        await db.migrate(engine)
        records = 0
        for source in FEED_SOURCES:
            result = await ingest(engine, source, iter_file(str(files[source])), "csv",
                                  filename=files[source].name, backfill=True)
            records += result.accepted if source not in ("firms", "relations", "guarantees") else 0
        return records
    finally:
        await db.close(engine)


def run(step: str, args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in GB, seconds) of one ``xinbao`` command, which must succeed."""
    xinbao = str(Path(sys.executable).with_name("xinbao"))
    t = time.perf_counter()
    proc = subprocess.Popen([xinbao, *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{step} failed ({proc.returncode}):\n{out.decode(errors='replace')[-3000:]}")
    return usage.ru_maxrss / 2**20, time.perf_counter() - t  # ru_maxrss: KiB on Linux; GiB out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=120_000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xinbao-train-memory-"))
    name = f"xinbao_train_mem_{uuid.uuid4().hex[:8]}"
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    try:
        t = time.perf_counter()
        files = write_feeds(generate_region(args.firms, args.seed), work / "feeds")
        records = asyncio.run(load(url, files))
        print(json.dumps({"name": "region_loaded", "firms": args.firms, "records": records,
                          "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        shutil.rmtree(work / "feeds", ignore_errors=True)
        env = {**os.environ, "XINBAO_DEMO": "1", "XINBAO_DATA_DIR": str(work / "data"), "XINBAO_DATABASE_URL": url}
        for step, command in (("train", ["train"]), ("train_again", ["train"]), ("score", ["score"])):
            peak, seconds = run(step, command, env, work)
            print(json.dumps({"name": "peak_rss", "step": step, "firms": args.firms, "records": records,
                              "peak_rss_gib": round(peak, 2), "limit_gib": LIMIT_GIB, "within": peak <= LIMIT_GIB,
                              "seconds": round(seconds, 1)}), flush=True)
    finally:
        subprocess.run(["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
