"""Departments, ingestion batches and the long table of department records."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Boolean,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class Department(Table, tablename="department"):
    """A government department that feeds data (tax, court, utilities ...)."""

    code = Varchar(length=30, unique=True)
    name_zh = Varchar(length=50)
    name_en = Varchar(length=100)


class IngestBatch(Table, tablename="ingest_batch"):
    """One file or request of department data: provenance for every record it stored."""

    id = BigSerial(primary_key=True)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict)
    source = Varchar(length=30)
    filename = Varchar(length=200, default="")
    received_at = Timestamptz()
    rows = Integer(default=0)
    accepted = Integer(default=0)
    duplicates = Integer(default=0)
    rejected = Integer(default=0)
    submitted_by = Integer(null=True, default=None)  # users.id; a plain integer keeps the bulk path simple
    # A department's archive: its records count as known from their event date (for training
    # on past dates); a live batch's records are known from ``received_at``.
    backfill = Boolean(default=False)
    # 'running' while the file's chunks are being committed (``rows`` and the counts are those
    # committed so far), 'done' once it is all stored. A batch left running by a writer that
    # died is resumed when the same file (``fingerprint``, its SHA-256) is sent again.
    state = Varchar(length=10, default="done")
    fingerprint = Varchar(length=64, null=True, default=None)


class DeptRecord(Table, tablename="dept_record"):
    """One department fact about a firm; the columns are described in ``scoring.records``.

    Unique on (uscc, source, record_key) by a raw-SQL migration step, since Piccolo columns
    only declare single-column indexes; no other secondary index (they slow bulk COPY).
    """

    id = BigSerial(primary_key=True)
    source = Varchar(length=30)
    record_key = Varchar(length=100)
    uscc = Varchar(length=18)
    event_date = Date()
    end_date = Date(null=True, default=None)
    category = Varchar(length=20, null=True, default=None)
    amount_fen = BigInt(null=True, default=None)
    arrears_fen = BigInt(null=True, default=None)
    quantity = DoublePrecision(null=True, default=None)
    days = Integer(null=True, default=None)
    status = Varchar(length=12, null=True, default=None)
    attrs = JSON(null=True, default=None)
    batch_id = BigInt()
    received_at = Timestamptz()
    # Set when an upheld objection replaced this record by a corrected one.
    superseded_at = Timestamptz(null=True, default=None)


class FirmMonth(Table, tablename="firm_month"):
    """The firm-month feature store (``scoring.feature_store``): per firm, monthly kind,
    category, electricity meter and month, the rows' count, first event day, and per numeric
    column the sum, the count of values and the maximum. Ingestion adds each chunk's new rows
    in the chunk's own transaction; a correction rebuilds the cells of the firm and kind.

    Unique on (uscc, kind, category, meter, month) by a raw-SQL migration step; ``category``
    and ``meter`` are "" where the rows have none. ``month`` counts months since 1970-01.
    """

    uscc = Varchar(length=18)
    kind = Varchar(length=30)
    category = Varchar(length=20, default="")
    meter = Varchar(length=110, default="")
    month = Integer()
    rows = BigInt(default=0)
    first_event = Date()
    amount_fen_sum = BigInt(default=0)
    amount_fen_n = BigInt(default=0)
    amount_fen_max = BigInt(null=True, default=None)
    arrears_fen_sum = BigInt(default=0)
    arrears_fen_n = BigInt(default=0)
    arrears_fen_max = BigInt(null=True, default=None)
    quantity_sum = DoublePrecision(default=0.0)
    quantity_n = BigInt(default=0)
    quantity_max = DoublePrecision(null=True, default=None)
    days_sum = BigInt(default=0)
    days_n = BigInt(default=0)
    days_max = BigInt(null=True, default=None)


class FeedArrival(Table, tablename="feed_arrival"):
    """How many rows of a monthly kind dated ``event_date`` arrived in batch ``batch_id`` at
    ``received_at``, every version counted (a correction's new version too): the lateness of
    the departments' feeds (``scoring.authenticity.feed_health``) without reading the rows. Kept
    with the feature store, in the same transactions. Unique on (kind, event_date, batch_id,
    received_at) by a raw-SQL migration step."""

    kind = Varchar(length=30)
    event_date = Date()
    batch_id = BigInt()
    received_at = Timestamptz()
    rows = BigInt(default=0)
