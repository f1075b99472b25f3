"""A COPY framed while it arrives (``server.scores.frames._frame_from_stream``: the feature
store's read) gives the frame the COPY framed at its known count gives (``_frame_from_copy``),
in every column kind, whatever the blocks: arrays made small and grown many times, NULLs that
first appear in a late block, texts repeated and texts all distinct."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa

from server.scores.frames import _PG_ARROW, _frame_from_copy, _frame_from_stream

COLUMNS = [("uscc", "varchar"), ("kind", "varchar"), ("record_key", "text"), ("rows", "int8"),
           ("amount_max", "int8"), ("quantity", "float8"), ("first_event", "date"),
           ("received_at", "timestamptz"), ("backfill", "bool")]


def _copy_csv(n: int) -> bytes:
    """``n`` rows as PostgreSQL's ``COPY ... (FORMAT csv, HEADER)`` writes them."""
    rng = np.random.default_rng(3)
    lines = [",".join(c for c, _ in COLUMNS)]
    for i in range(n):
        late = i > n * 3 // 4  # NULLs only in the last blocks
        lines.append(",".join([
            f"9137100{i % 300:011d}",
            ["tax_monthly", "utility", "social_insurance"][i % 3],
            f"key-{i}",
            str(int(rng.integers(0, 10**12))),
            "" if late and i % 5 == 0 else str(int(rng.integers(-10**6, 10**6))),
            "" if late and i % 7 == 0 else f"{rng.random() * 1e4:.6f}",
            "" if late and i % 11 == 0 else f"20{10 + i % 15}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i % 59:02d}.{i % 999_999:06d}+00",
            "t" if i % 2 else "f",
        ]))
    return ("\n".join(lines) + "\n").encode()


def test_a_copy_framed_as_it_arrives_equals_the_copy_framed_at_its_count() -> None:
    n = 60_000
    data = _copy_csv(n)
    types = {name: _PG_ARROW.get(kind, pa.string()) for name, kind in COLUMNS}
    whole = _frame_from_copy(io.BytesIO(data), COLUMNS, n)
    for block_size, start in ((1 << 16, 1_000), (1 << 20, 1), (1 << 24, 1 << 16)):
        streamed, rows = _frame_from_stream(io.BytesIO(data), types, block_size=block_size, start=start)
        assert rows == n
        assert list(streamed.dtypes) == list(whole.dtypes)
        pd.testing.assert_frame_equal(streamed, whole)
    assert whole["amount_max"].isna().any() and not whole["amount_max"].iloc[: n // 2].isna().any()
    assert whole["first_event"].isna().any() and whole["quantity"].isna().any()
    assert whole["record_key"].nunique() == n and whole["kind"].nunique() == 3


def test_an_empty_copy_is_an_empty_frame_of_the_columns() -> None:
    data = (",".join(c for c, _ in COLUMNS) + "\n").encode()
    types = {name: _PG_ARROW.get(kind, pa.string()) for name, kind in COLUMNS}
    streamed, rows = _frame_from_stream(io.BytesIO(data), types)
    whole = _frame_from_copy(io.BytesIO(data), COLUMNS, 0)
    assert rows == 0 and list(streamed.columns) == [c for c, _ in COLUMNS]
    pd.testing.assert_frame_equal(streamed, whole)
