"""PostgreSQL binary ``COPY`` payloads built from Arrow columns, without a Python loop per row.

Text ``COPY`` makes the server parse every date, number and timestamp; the binary format
hands it the values ready-made, which measured ~1 s less server time per million department
records (the server is the bottleneck of ingestion). Each field becomes an Arrow binary
array of "int32 length + big-endian value" (or length -1 for NULL), and one element-wise
join glues a row together, so encoding a million rows takes a fraction of a second.
Format: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["binary_copy_payload"]

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_NULL = pa.scalar(struct.pack(">i", -1), pa.binary())
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_DAYS = 10957  # 2000-01-01 in days since 1970-01-01
_FORMATS = {"date": ">i4", "int4": ">i4", "int8": ">i8", "float8": ">f8"}


def _fixed(values: np.ndarray, fmt: str, valid: pa.Array | None) -> pa.Array:
    """Length-prefixed fixed-width big-endian values (NULL where ``valid`` is false)."""
    n = len(values)
    width = np.dtype(fmt).itemsize
    rec = np.empty(n, dtype=[("len", ">i4"), ("v", fmt)])
    rec["len"] = width
    rec["v"] = values
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4 + width), n, [None, pa.py_buffer(rec.tobytes())])
    out = arr.cast(pa.binary())
    return out if valid is None else pc.if_else(valid, out, _NULL)


def _field(col: pa.Array, pg_type: str) -> pa.Array:
    """One column as length-prefixed binary COPY fields."""
    valid = None if col.null_count == 0 else pc.is_valid(col)
    if pg_type in ("text", "json"):  # json's binary form is its text
        data = pc.fill_null(col.cast(pa.binary()), b"")
        lengths = pc.binary_length(data).to_numpy().astype(">i4")
        prefix = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4), len(col), [None, pa.py_buffer(lengths.tobytes())])
        out = pc.binary_join_element_wise(prefix.cast(pa.binary()), data, b"")
        return out if valid is None else pc.if_else(valid, out, _NULL)
    if pg_type == "date":
        days = pc.fill_null(col.cast(pa.int32()), 0).to_numpy() - _PG_EPOCH_DAYS
        return _fixed(days, _FORMATS[pg_type], valid)
    if pg_type in _FORMATS:
        filler = 0.0 if pg_type == "float8" else 0
        return _fixed(pc.fill_null(col, filler).to_numpy(), _FORMATS[pg_type], valid)
    raise ValueError(f"no binary COPY encoding for {pg_type}")


def binary_copy_payload(table: pa.Table, pg_types: Sequence[str],
                        constant_timestamptz: datetime | None = None, constant_columns: int = 1) -> bytes:
    """``table``'s rows, then (if given) ``constant_columns`` timestamptz columns equal to
    ``constant_timestamptz``, as a complete binary COPY stream. ``pg_types`` names each
    column's PostgreSQL type: text (varchar), json, date, int4, int8 or float8."""
    n = table.num_rows
    extra = constant_columns if constant_timestamptz is not None else 0
    parts = [pa.repeat(pa.scalar(struct.pack(">h", table.num_columns + extra), pa.binary()), n)]
    parts += [_field(col.combine_chunks(), t) for col, t in zip(table.columns, pg_types, strict=True)]
    if constant_timestamptz is not None:
        micros = (constant_timestamptz - _PG_EPOCH) // timedelta(microseconds=1)
        parts += [pa.repeat(pa.scalar(struct.pack(">iq", 8, micros), pa.binary()), n)] * extra
    rows = pc.binary_join_element_wise(*parts, b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=n + 1, offset=rows.offset * 4)
    body = memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]
    return b"".join((_HEADER, body, _TRAILER))
