"""How fast the feature store's cells can be read in another layout (issue 16, must-show 2).

The store keeps one row per cell (``firm_month``: firm, kind, category, meter, month and
thirteen figures). At 120,000 firms that is about 23 M rows, and PostgreSQL alone spends about
1 µs producing each for a COPY, so the re-score's read cannot reach the 10 s target in that
layout. This benchmark measures one candidate before it is built: **one row per firm** holding
the firm's cells as fixed-width binary records (kind, category and meter as integer codes of
small dictionaries), so the read is one ``bytea`` per firm and the decoding one ``frombuffer``
over all of them.

On a database that holds a store (``--url``), it prints as JSON lines:

- ``narrow_read_s``: ``server.scores.frames.load_cells(split=False)``, the read the re-score
  does today;
- ``blob_write_s`` and ``blob_bytes``: the per-firm table written from those cells (in a
  temporary table of this session) and its size;
- ``blob_read_s``: the per-firm table read and decoded into the same cells frame;
- ``blob_equal``: 1 when the decoded frame equals the narrow read exactly.

``--compression`` stores the blobs uncompressed (``none``) or compressed by PostgreSQL's TOAST
(``lz4``, ``pglz``).

    python benchmarks/store_layout.py --url postgresql://postgres@127.0.0.1:5432/<db> [--compression lz4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.feature_store import CELL_COLUMNS  # noqa: E402

#: One cell as a fixed-width record; texts as codes of dictionaries kept beside the table.
CELL = np.dtype([("kind", "<i2"), ("category", "<i2"), ("meter", "<i4"), ("month", "<i4"), ("first_event", "<i4"),
                 ("rows", "<i8"),
                 ("amount_fen_sum", "<i8"), ("amount_fen_n", "<i8"), ("amount_fen_max", "<f8"),
                 ("arrears_fen_sum", "<i8"), ("arrears_fen_n", "<i8"), ("arrears_fen_max", "<f8"),
                 ("quantity_sum", "<f8"), ("quantity_n", "<i8"), ("quantity_max", "<f8"),
                 ("days_sum", "<f8"), ("days_n", "<i8"), ("days_max", "<f8")])
_TEXTS = ("kind", "category", "meter")


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **extra}), flush=True)


def encode(cells: pd.DataFrame) -> tuple[list[tuple[str, bytes]], dict[str, np.ndarray]]:
    """Each firm's cells as one blob of ``CELL`` records, and the dictionaries of the texts."""
    cells = cells.sort_values(["uscc", "kind", "category", "meter", "month"], kind="stable", ignore_index=True)
    out = np.zeros(len(cells), CELL)
    words = {}
    for c in _TEXTS:
        codes, uniques = pd.factorize(cells[c].to_numpy(dtype=object))
        out[c], words[c] = codes, uniques
    out["month"] = cells["month"].to_numpy()
    out["first_event"] = cells["first_event"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    for name in CELL.names[5:]:
        out[name] = (cells[name].to_numpy(dtype=float, na_value=np.nan) if CELL[name].kind == "f"
                     else cells[name].to_numpy(dtype=np.int64))
    usccs = cells["uscc"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, usccs[1:] != usccs[:-1]])
    ends = np.r_[starts[1:], len(cells)]
    return [(usccs[a], out[a:b].tobytes()) for a, b in zip(starts, ends, strict=True)], words


def decode(rows: list[tuple[str, bytes]], words: dict[str, np.ndarray]) -> pd.DataFrame:
    """The cells frame of the blobs, as ``load_cells(split=False)`` gives it (in store order)."""
    records = np.frombuffer(b"".join(b for _, b in rows), CELL)
    counts = np.fromiter((len(b) // CELL.itemsize for _, b in rows), np.int64, len(rows))
    usccs = np.repeat(np.array([u for u, _ in rows], dtype=object), counts)
    frame = {"uscc": usccs}
    for c in _TEXTS:
        frame[c] = words[c][records[c]]
    frame["month"] = records["month"].astype(np.int64)
    frame["rows"] = records["rows"]
    frame["first_event"] = records["first_event"].astype("datetime64[D]").astype("datetime64[ns]")
    for name in CELL_COLUMNS[7:]:
        frame[name] = records[name] if name.endswith("_n") else records[name].astype(float)
    return pd.DataFrame(frame, copy=False).loc[:, list(CELL_COLUMNS)]


async def run(url: str, compression: str) -> None:
    import asyncpg

    from server import db
    from server.scores.frames import load_cells

    engine = await db.open_engine(url)
    try:
        t = time.perf_counter()
        narrow = await load_cells(engine, split=False)
        emit("narrow_read_s", round(time.perf_counter() - t, 3), "s", cells=len(narrow),
             firms=int(narrow["uscc"].nunique()))
    finally:
        await db.close(engine)
    conn = await asyncpg.connect(url)
    try:
        t = time.perf_counter()
        rows, words = encode(narrow)
        await conn.execute("DROP TABLE IF EXISTS bench_firm_store")
        await conn.execute("CREATE TABLE bench_firm_store (uscc text PRIMARY KEY, cells bytea NOT NULL)")
        if compression == "none":
            await conn.execute("ALTER TABLE bench_firm_store ALTER COLUMN cells SET STORAGE EXTERNAL")
        else:
            await conn.execute(f"ALTER TABLE bench_firm_store ALTER COLUMN cells SET COMPRESSION {compression}")
        await conn.copy_records_to_table("bench_firm_store", records=rows, columns=["uscc", "cells"])
        emit("blob_write_s", round(time.perf_counter() - t, 3), "s", firms=len(rows), compression=compression)
        emit("blob_bytes", int(await conn.fetchval("SELECT pg_total_relation_size('bench_firm_store')")), "bytes",
             compression=compression)
        del rows
        for attempt in range(3):
            t = time.perf_counter()
            got = await conn.fetch("SELECT uscc, cells FROM bench_firm_store ORDER BY uscc")
            fetched = time.perf_counter() - t
            decoded = decode([(r[0], r[1]) for r in got], words)
            emit("blob_read_s", round(time.perf_counter() - t, 3), "s", fetch_s=round(fetched, 3), attempt=attempt,
                 compression=compression)
            del got
        want = narrow.sort_values(["uscc", "kind", "category", "meter", "month"], kind="stable", ignore_index=True)
        differ = [c for c in CELL_COLUMNS if not np.array_equal(
            want[c].to_numpy(), decoded[c].to_numpy(), equal_nan=want[c].dtype.kind == "f")]
        emit("blob_equal", int(not differ and len(want) == len(decoded)), "bool", columns_differing=differ)
        await conn.execute("DROP TABLE bench_firm_store")
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--compression", choices=["none", "lz4", "pglz"], default="none",
                    help="TOAST compression of the per-firm blobs")
    args = ap.parse_args()
    asyncio.run(run(args.url, args.compression))


if __name__ == "__main__":
    main()
