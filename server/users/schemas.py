"""Structs of the account routes."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["LoginRequest", "Me", "RefreshRequest", "TokenPair"]

Phone = Annotated[str, msgspec.Meta(min_length=5, max_length=20, pattern=r"^\+?[0-9]{5,19}$",
                                    examples=["13800000001"])]


class LoginRequest(msgspec.Struct):
    phone: Phone
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["demo1234"])]


class RefreshRequest(msgspec.Struct):
    refresh_token: Annotated[str, msgspec.Meta(min_length=10, max_length=4000)]


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = 3600


class Me(msgspec.Struct):
    id: int
    phone: str
    role: str
    display_name: str
    firm_uscc: str | None = None
    bank_id: int | None = None
    department: str | None = None
