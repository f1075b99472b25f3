"""Structs of the ingestion route."""

from __future__ import annotations

import msgspec

__all__ = ["IngestReport", "RejectedRow"]


class RejectedRow(msgspec.Struct):
    row: int  # 1-based data row; the header is not counted
    field: str
    message: str


class IngestReport(msgspec.Struct):
    accepted: int
    duplicates: int
    rejected: list[RejectedRow]
    batch_id: int | None = None
    rows: int = 0
