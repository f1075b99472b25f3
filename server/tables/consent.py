"""A firm's consent for a bank to see its evaluation, and the log of every view."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.financing import Bank
from server.tables.firms import Firm


class Consent(Table, tablename="consent"):
    """Active while now < expires_at and not revoked. At most one open (not revoked) consent per
    firm, bank and scope: the partial unique index ``consent_one_open`` (migration 2026-12-03)."""

    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    bank = ForeignKey(references=Bank, on_delete=OnDelete.cascade, index=True)
    scope = Varchar(length=20, default="evaluation")
    granted_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    granted_by = Integer(null=True, default=None)


class AccessLog(Table, tablename="access_log"):
    """Who looked at a firm's evaluation, for the firm to see."""

    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    viewer = Integer()
    viewer_role = Varchar(length=16)
    bank = ForeignKey(references=Bank, null=True, default=None, on_delete=OnDelete.set_null)
    what = Varchar(length=30, default="evaluation")
    at = Timestamptz()
