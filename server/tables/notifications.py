"""Watchlists, notifications and the outbox that delivers them."""

from __future__ import annotations

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.firms import Firm
from server.tables.users import User


class Subscription(Table, tablename="subscription"):
    """A user watches a firm, with filters."""

    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    levels = Varchar(length=20, default="red,yellow,blue")
    kinds = JSON(default=[])  # empty = all kinds
    quiet_start = Integer(null=True, default=None)  # hour 0..23, Asia/Shanghai
    quiet_end = Integer(null=True, default=None)
    daily_digest = Boolean(default=False)
    automatic = Boolean(default=False)  # made for a bank manager's applicant/borrower
    created_at = Timestamptz()


class Notification(Table, tablename="notification"):
    """One message to one user; dedup_key makes a repeated event the same notification."""

    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    firm = ForeignKey(references=Firm, null=True, default=None, on_delete=OnDelete.cascade)
    kind = Varchar(length=30)
    level = Varchar(length=8, default="blue")
    title = Text()
    body = JSON(default={})
    dedup_key = Varchar(length=200, unique=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
    read_at = Timestamptz(null=True, default=None)


class Outbox(Table, tablename="outbox"):
    """A delivery still to make, written in the same transaction as its notification."""

    notification = ForeignKey(references=Notification, on_delete=OnDelete.cascade)
    channel = Varchar(length=12)  # push / webhook
    status = Varchar(length=12, default="pending")  # pending/sent/failed
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    last_error = Text(default="")
