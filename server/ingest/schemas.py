"""Structs of the ingestion routes."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

__all__ = ["BatchOut", "DepartmentHealth", "FeedField", "FeedHealth", "FeedSource", "IngestReport", "RejectedRow",
           "RepeatedRow"]


class RejectedRow(msgspec.Struct):
    row: int  # 1-based data row; the header is not counted
    field: str
    message: str  # in the reader's language
    message_zh: str = ""  # the same in each language, for an app that switches language
    message_en: str = ""


class RepeatedRow(msgspec.Struct):
    """A row whose key another row of the same batch has: not stored again (a duplicate)."""

    row: int
    field: str
    message: str  # in the reader's language
    first_row: int | None = None  # the row of this batch that is stored, when known
    message_zh: str = ""
    message_en: str = ""


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


class FeedField(msgspec.Struct):
    name: str
    type: str  # key / uscc / date / money / int / number / enum / text
    required: bool
    choices: list[str]  # the allowed values of an enum field


class FeedSource(msgspec.Struct):
    """A feed the operator's department sends: its columns, as ``docs/feeds.md`` describes them."""

    code: str
    target: str  # record / firm / relation / guarantee: where its rows are stored
    name_zh: str
    name_en: str
    fields: list[FeedField]


class BatchOut(msgspec.Struct):
    """One file or request a department sent, with its counts."""

    id: int
    source: str
    filename: str
    received_at: datetime
    rows: int
    accepted: int
    duplicates: int  # rows already stored (by an earlier batch or earlier in this one)
    rejected: int
    backfill: bool
    report_url: str | None  # CSV of the batch's rejected and in-batch repeated rows, when any
    # 'done'; 'running' while being stored, or broken off (sending the same file resumes it);
    # 'failed' when the file could not be read to its end (its counts say what was stored)
    state: str = "done"


class DepartmentHealth(msgspec.Struct):
    """How one department's feeds serve the platform: coverage, continuity and lateness of its
    monthly feeds and their disagreement with other departments' data (as of the last full
    scoring run), and its rejected-row rate over the last 90 days (live). Aggregates over
    every firm the department reports on; nothing names a firm."""

    department: str
    name_zh: str
    name_en: str
    kinds: list[str]
    month: str | None = None  # the latest month its monthly feeds report
    firms_reported: int | None = None  # trading firms with a record that month
    firms_trading: int | None = None
    coverage: float | None = None  # firms_reported / firms_trading
    continuity: float | None = None  # share of the firms reported in the year before still reported
    lateness_days_median: float | None = None  # month end -> arrival, last three months
    lateness_days_p90: float | None = None
    late_share: float | None = None  # arriving more than 15 days after the month end
    # per authenticity check reading this department: share of its firms the check flags
    disagreement: dict[str, float] = msgspec.field(default_factory=dict)
    batches_90d: int = 0
    rows_90d: int = 0
    rejected_90d: int = 0
    rejected_rate: float | None = None  # rejected_90d / rows_90d


class FeedHealth(msgspec.Struct):
    """The feed-health screen: per department, as of the last full scoring run (``as_of``;
    None before the first)."""

    as_of: date | None
    departments: list[DepartmentHealth]

