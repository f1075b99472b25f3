"""Structs of the ingestion routes."""

from __future__ import annotations

import msgspec

__all__ = ["IngestReport", "RejectedRow", "RepeatedRow"]


class RejectedRow(msgspec.Struct):
    row: int  # 1-based data row; the header is not counted
    field: str
    message: str


class RepeatedRow(msgspec.Struct):
    """A row whose key another row of the same batch has: not stored again (a duplicate)."""

    row: int
    field: str
    message: str
    first_row: int | None = None  # the row of this batch that is stored, when known


class IngestReport(msgspec.Struct):
    accepted: int
    duplicates: int
    rejected: list[RejectedRow]  # the first 100 (in row order); all are in ``report_url``
    batch_id: int | None = None
    rows: int = 0
    rejected_count: int = 0  # every rejection (a row may be rejected for several fields)
    rejected_rows: int = 0  # distinct rows rejected
    repeated: list[RepeatedRow] = msgspec.field(default_factory=list)  # the first 100 in-batch duplicates
    repeated_count: int = 0
    report_url: str | None = None  # CSV of every rejected and repeated row, when there are any
