"""Accounts, roles and revoked tokens."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.financing import Bank
from server.tables.firms import Firm
from server.tables.ingest import Department

ROLES = ("owner", "bank_manager", "subscriber", "dept_operator", "analyst", "admin")


class User(Table, tablename="app_user"):
    """A person who signs in by phone number; the role decides what they may do."""

    phone = Varchar(length=20, unique=True)
    password_hash = Varchar(length=200)
    role = Varchar(length=16)
    display_name = Varchar(length=50, default="")
    firm = ForeignKey(references=Firm, null=True, default=None, on_delete=OnDelete.set_null)
    bank = ForeignKey(references=Bank, null=True, default=None, on_delete=OnDelete.set_null)
    department = ForeignKey(
        references=Department, null=True, default=None, on_delete=OnDelete.set_null
    )
    is_active = Boolean(default=True)
    created_at = Timestamptz()
    # The language the account reads the platform's texts in ("zh" / "en"); None: the request's
    # Accept-Language decides, else Chinese (server.texts.negotiate).
    language = Varchar(length=2, null=True, default=None)


class RevokedToken(Table, tablename="revoked_token"):
    """A JWT id that was logged out before it expired."""

    jti = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
