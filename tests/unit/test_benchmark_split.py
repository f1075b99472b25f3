"""``benchmarks/scale.py`` sends a department's file of several gigabytes as parts; the split
runs in the process whose peak RSS the benchmark prints, so it must not hold a part in memory."""

from __future__ import annotations

import importlib.util
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _scale():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parts_hold_every_line_once_with_the_header_and_the_split_holds_only_a_piece(tmp_path):
    scale = _scale()
    header = b"record_key,uscc,event_date,amount_yuan\n"
    # lines of varying length, so that parts end in the middle of lines
    lines = [b"k%07d,913310%012d,2026-0%d-01,%s\n" % (i, i % 977, 1 + i % 9, b"9" * (i % 37))
             for i in range(400_000)]
    body = b"".join(lines)
    path = tmp_path / "tax_monthly.csv"
    path.write_bytes(header + body)
    max_bytes, piece = 8 << 20, 1 << 20
    assert len(body) > 2 * max_bytes

    tracemalloc.start()
    try:
        parts = scale.split_csv(path, max_bytes=max_bytes, piece=piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert not path.exists()
    assert [p.name for p in parts] == [f"tax_monthly.part{i:02d}.csv" for i in range(1, len(parts) + 1)]
    assert len(parts) == -(-len(body) // max_bytes)
    bodies = []
    for p in parts:
        data = p.read_bytes()
        assert data.startswith(header)
        bodies.append(data[len(header):])
        assert bodies[-1].endswith(b"\n")
        assert len(bodies[-1]) <= max_bytes + max(map(len, lines))
    assert b"".join(bodies) == body
    # a piece or two at a time (reading a whole part would be 8 MiB, twice over with the cut
    # line appended)
    assert peak < 4 * piece, peak


def test_a_file_no_larger_than_a_part_is_sent_as_it_is(tmp_path):
    path = tmp_path / "court_case.csv"
    path.write_bytes(b"record_key,uscc\na,913310000000000001\n")
    assert _scale().split_csv(path, max_bytes=1 << 20) == [path]
    assert path.exists()
