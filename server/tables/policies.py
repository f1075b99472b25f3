"""The policy supermarket: support policies and firms' applications for them."""

from __future__ import annotations

from piccolo.columns import JSON, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.firms import Firm
from server.tables.ingest import Department


class Policy(Table, tablename="policy"):
    """A support policy with machine-readable eligibility rules."""

    department = ForeignKey(references=Department, on_delete=OnDelete.restrict)
    title = Varchar(length=200)
    summary = Text(default="")
    benefit = Text(default="")
    eligibility = JSON(default={})
    valid_from = Date()
    valid_to = Date(null=True, default=None)
    status = Varchar(length=12, default="published")
    created_at = Timestamptz()


class PolicyApplication(Table, tablename="policy_application"):
    """A firm applies; the owning department's operator decides."""

    policy = ForeignKey(references=Policy, on_delete=OnDelete.cascade, index=True)
    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    status = Varchar(length=12, default="pending")
    reason = Text(default="")
    created_at = Timestamptz()
    decided_at = Timestamptz(null=True, default=None)
    decided_by = Integer(null=True, default=None)
