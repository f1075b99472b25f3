"""The feature store's cells read as rows and read as packs (issue 16, must-show 2).

The store keeps one row per cell (``firm_month``: firm, kind, category, meter, month and
thirteen figures). At 120,000 firms that is about 23 M rows, and a COPY client spends about
1.4 µs receiving each, so a whole-region read cannot come near the re-score's 10 s in that
layout. ``firm_pack`` (``server.scores.cell_packs``) keeps each firm's cells in one row as well:
fixed-width binary records in a ``bytea``, compressed by TOAST (lz4).

On a PostgreSQL database that holds a store (``--url``), it prints as JSON lines:

- ``rows_read_s``: the cells read as rows (``frames._cells``), the read before the packs;
- ``pack_all_s``: every firm marked, then packed (``server.scores.packing.pack_dirty``), the
  cost of packing a whole region at once (after a region-sized batch);
- ``pack_bytes``: ``firm_pack``'s size, against ``firm_month_bytes``;
- ``packed_read_s``: ``load_cells(split=False)`` with every firm packed, best of ``--repeat``;
- ``packed_equal``: 1 when the packed read equals the rows' read exactly (sorted by the key).

    python benchmarks/store_layout.py --url postgresql://postgres@127.0.0.1:5432/<db> [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.feature_store import CELL_COLUMNS, CELL_KEY  # noqa: E402


def emit(name: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"name": name, "value": value, "unit": unit, **extra}), flush=True)


async def run(url: str, repeat: int) -> None:
    from server import db
    from server.scores.frames import _cells, load_cells
    from server.scores.packing import pack_dirty

    engine = await db.open_engine(url)
    try:
        conn = await engine.get_new_connection()
        try:
            t = time.perf_counter()
            rows = await _cells(engine)
            emit("rows_read_s", round(time.perf_counter() - t, 3), "s", cells=len(rows),
                 firms=int(rows["uscc"].nunique()))
            await conn.execute("INSERT INTO firm_pack_dirty (uscc, change) "
                               "SELECT DISTINCT uscc, 0 FROM firm_month ON CONFLICT (uscc) DO NOTHING")
            t = time.perf_counter()
            done = await pack_dirty(engine)
            emit("pack_all_s", round(time.perf_counter() - t, 3), "s", firms=done.firms)
            await conn.execute("VACUUM ANALYZE firm_pack")
            await conn.execute("VACUUM ANALYZE firm_pack_dirty")
            for table in ("firm_pack", "firm_month"):
                emit(f"{table.replace('firm_', '')}_bytes",
                     int(await conn.fetchval(f"SELECT pg_total_relation_size('{table}')")), "bytes")
        finally:
            await conn.close()
        best = None
        for attempt in range(repeat):
            t = time.perf_counter()
            packed = await load_cells(engine, split=False)
            took = time.perf_counter() - t
            best = took if best is None else min(best, took)
            emit("packed_read_s", round(took, 3), "s", attempt=attempt)
        emit("packed_read_best_s", round(best, 3), "s", repeat=repeat)
        want = rows.sort_values(list(CELL_KEY), ignore_index=True)
        got = packed.sort_values(list(CELL_KEY), ignore_index=True)
        differ = [c for c in CELL_COLUMNS if not np.array_equal(
            want[c].to_numpy(), got[c].to_numpy(), equal_nan=want[c].dtype.kind == "f")]
        same_types = all(want[c].dtype == got[c].dtype for c in CELL_COLUMNS)
        emit("packed_equal", int(not differ and same_types and len(want) == len(got)), "bool",
             columns_differing=differ)
    finally:
        await db.close(engine)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    asyncio.run(run(args.url, args.repeat))


if __name__ == "__main__":
    main()
