"""Firms, the people tied to them, and firm-to-firm guarantees."""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Date,
    ForeignKey,
    Numeric,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class Firm(Table, tablename="firm"):
    """A registered enterprise, keyed by its unified social credit code."""

    uscc = Varchar(length=18, unique=True)  # the unique index answers lookups (no second index)
    name = Varchar(length=200, index=True)
    industry_section = Varchar(length=1)
    industry_division = Varchar(length=2)
    town = Varchar(length=50)
    registered_capital_fen = BigInt()
    founded_on = Date()
    size_class = Varchar(length=10)
    status = Varchar(length=12, default="active")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Person(Table, tablename="person"):
    """A natural person (legal representative, shareholder); identity only as a salted hash."""

    id_hash = Varchar(length=64, unique=True)
    name = Varchar(length=50)


class FirmPerson(Table, tablename="firm_person"):
    """A person's role in a firm over a period."""

    record_key = Varchar(length=100, unique=True)
    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    person = ForeignKey(references=Person, on_delete=OnDelete.cascade, index=True)
    role = Varchar(length=12)
    share_pct = Numeric(digits=(5, 2), null=True, default=None)
    start_date = Date()
    end_date = Date(null=True, default=None)


class Guarantee(Table, tablename="guarantee"):
    """The guarantor firm stands behind a loan of the guaranteed firm."""

    record_key = Varchar(length=100, unique=True)
    guarantor = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    guaranteed = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    amount_fen = BigInt()
    start_date = Date()
    end_date = Date()
