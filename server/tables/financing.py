"""Banks, loan products, applications and their decisions."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.firms import Firm


class Bank(Table, tablename="bank"):
    """A lender on the platform."""

    code = Varchar(length=20, unique=True)
    name = Varchar(length=100)
    webhook_url = Varchar(length=300, null=True, default=None)
    webhook_secret = Varchar(length=100, null=True, default=None)
    suspended_at = Timestamptz(null=True, default=None)  # suspended from new fund-covered loans


class LoanProduct(Table, tablename="loan_product"):
    """A loan a bank offers, with who is eligible."""

    bank = ForeignKey(references=Bank, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    min_amount_fen = BigInt()
    max_amount_fen = BigInt()
    min_term_months = Integer()
    max_term_months = Integer()
    min_rate_bp = Integer()  # annual rate in basis points
    max_rate_bp = Integer()
    eligible_grades = Varchar(length=8, default="ABC")
    industries = JSON(default=[])  # GB/T 4754 section letters; empty = all
    collateral_free = Boolean(default=False)
    fund_covered = Boolean(default=False)
    active = Boolean(default=True)


class LoanApplication(Table, tablename="loan_application"):
    """A firm's request for one product, and the bank's decision on it. At most one pending
    application per firm and product: the partial unique index ``loan_application_one_pending``."""

    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    product = ForeignKey(references=LoanProduct, on_delete=OnDelete.restrict, index=True)
    amount_fen = BigInt()
    term_months = Integer()
    purpose = Varchar(length=200)
    status = Varchar(length=12, default="pending")  # pending/approved/declined/disbursed/defaulted/repaid
    grade_at_apply = Varchar(length=1, default="")
    created_at = Timestamptz()
    decided_at = Timestamptz(null=True, default=None)
    decided_by = Integer(null=True, default=None)
    approved_amount_fen = BigInt(null=True, default=None)
    rate_bp = Integer(null=True, default=None)
    approved_term_months = Integer(null=True, default=None)
    decline_code = Varchar(length=30, null=True, default=None)
    decline_text = Text(null=True, default=None)
    fund_share_pct = Integer(default=0)


class ApplicationEvent(Table, tablename="application_event"):
    """Every state change of an application, timestamped."""

    application = ForeignKey(references=LoanApplication, on_delete=OnDelete.cascade, index=True)
    status = Varchar(length=12)
    at = Timestamptz()
    by_user = Integer(null=True, default=None)
    note = Text(default="")
