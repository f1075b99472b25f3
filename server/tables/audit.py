"""The audit trail of what admins change (views of firms' evaluations are in ``access_log``)."""

from __future__ import annotations

from piccolo.columns import JSON, Integer, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["AuditEvent"]


class AuditEvent(Table, tablename="audit_event"):
    """One change an admin made: who (the account and its role at the time), what (an action
    code such as ``bank.update``), to what (a bank code, a product id, a USCC ...) and the
    detail: ``{"field": [before, after], "reason": ...}`` for an update, the values for a
    create; never a password, secret or token. Written in the change's own transaction."""

    at = Timestamptz(index=True)
    actor = Integer(null=True, default=None)  # the account's id; None for the platform itself
    actor_role = Varchar(length=16, default="")
    action = Varchar(length=40)
    target = Varchar(length=100, default="")
    detail = JSON(default={})
