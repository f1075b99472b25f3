"""Structs of the consent and access-log routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = ["AccessEntry", "ConsentCreate", "ConsentCreated", "ConsentOut"]


class ConsentCreate(msgspec.Struct):
    bank_id: Annotated[int, msgspec.Meta(ge=1, examples=[1])]
    days: Annotated[int, msgspec.Meta(ge=1, le=366, examples=[30])] = 30
    scope: Annotated[Literal["evaluation"], msgspec.Meta(examples=["evaluation"])] = "evaluation"


class ConsentCreated(msgspec.Struct):
    id: int
    expires_at: datetime


class ConsentOut(msgspec.Struct):
    id: int
    bank_id: int
    bank_name: str
    scope: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool


class AccessEntry(msgspec.Struct):
    at: datetime
    viewer_role: str
    bank_id: int | None
    bank_name: str | None
    what: str
