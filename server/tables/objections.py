"""Objections (异议): a firm disputes a department record."""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.firms import Firm
from server.tables.ingest import Department


class Objection(Table, tablename="objection"):
    """Open until the owning department corrects or rejects it."""

    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    record_id = BigInt(index=True)  # dept_record.id
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict)
    reason = Text()
    # The owner's proposed corrected values in feed terms ({"amount_yuan": 12000}), if any.
    proposed = JSON(null=True, default=None)
    status = Varchar(length=12, default="open")  # open/corrected/rejected
    resolution = Text(default="")
    corrected_record_id = BigInt(null=True, default=None)
    filed_by = Integer()
    created_at = Timestamptz()
    resolved_at = Timestamptz(null=True, default=None)
    resolved_by = Integer(null=True, default=None)
