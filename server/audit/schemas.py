"""Structs of the audit log route."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

__all__ = ["AuditEntry", "AuditKind", "AuditPage"]

AuditKind = Literal["change", "view"]


class AuditEntry(msgspec.Struct):
    at: datetime
    kind: AuditKind  # change: an admin's change; view: someone saw a firm's evaluation
    actor_id: int | None
    actor_name: str  # the account's display name, else its phone masked (138****0001)
    actor_role: str
    action: str  # bank.create, product.update, fund.update, evaluation.view ... (the app translates)
    target: str  # a bank code, a product id, a USCC, a profile or model name ...
    detail: dict[str, Any]  # update: {"field": [before, after], "reason": ...}; create: the values


class AuditPage(msgspec.Struct):
    total: int
    limit: int
    offset: int
    entries: list[AuditEntry]  # newest first
