"""Authentication (argon2 passwords, JWT access and refresh tokens) and role guards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from server.users.tables import ROLES, RevokedToken, User

__all__ = ["AuthUser", "build_jwt_auth", "hash_password", "requires", "verify_password"]

_hasher = PasswordHasher()  # argon2id with the library's (OWASP-recommended) parameters
# A real hash to verify against when the phone is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class AuthUser:
    """The signed-in user as every handler sees it."""

    id: int
    phone: str
    role: str
    display_name: str
    firm_id: int | None
    firm_uscc: str | None
    bank_id: int | None
    department_id: int | None
    department_code: str | None


async def load_user(user_id: int) -> AuthUser | None:
    row = await (
        User.select(
            User.id, User.phone, User.role, User.display_name, User.is_active,
            User.firm.id, User.firm.uscc, User.bank.id, User.department.id, User.department.code,
        )
        .where(User.id == user_id)
        .first()
    )
    if row is None or not row["is_active"]:
        return None
    return AuthUser(
        id=row["id"], phone=row["phone"], role=row["role"], display_name=row["display_name"],
        firm_id=row["firm.id"], firm_uscc=row["firm.uscc"], bank_id=row["bank.id"],
        department_id=row["department.id"], department_code=row["department.code"],
    )


async def _retrieve_user(token: Token, _connection: ASGIConnection[Any, Any, Any, Any]) -> AuthUser | None:
    if token.extras.get("typ") != "access":
        return None  # a refresh token is not a pass to the API
    try:
        return await load_user(int(token.sub))
    except ValueError:
        return None


async def is_revoked(token: Token, _connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    if not token.jti:
        return True
    return await RevokedToken.exists().where(RevokedToken.jti == token.jti)


def build_jwt_auth(secret: str, access_minutes: int, exclude: list[str]) -> JWTAuth[AuthUser, Token]:
    return JWTAuth[AuthUser, Token](
        token_secret=secret,
        retrieve_user_handler=_retrieve_user,
        revoked_token_handler=is_revoked,
        default_token_expiration=timedelta(minutes=access_minutes),
        exclude=exclude,
        description="Bearer access token from POST /api/auth/login",
    )


def issue_tokens(auth: JWTAuth[AuthUser, Token], user_id: int, role: str, refresh_days: int) -> dict[str, Any]:
    """A fresh access token and refresh token for a user."""
    access = auth.create_token(
        identifier=str(user_id), token_unique_jwt_id=uuid.uuid4().hex,
        token_extras={"typ": "access", "role": role},
    )
    refresh = auth.create_token(
        identifier=str(user_id), token_unique_jwt_id=uuid.uuid4().hex,
        token_expiration=timedelta(days=refresh_days), token_extras={"typ": "refresh"},
    )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": int(auth.default_token_expiration.total_seconds()),
    }


async def revoke(token: Token) -> None:
    """Logout: the token id is refused from now until it would have expired anyway."""
    if token.jti and not await RevokedToken.exists().where(RevokedToken.jti == token.jti):
        await RevokedToken.insert(RevokedToken(jti=token.jti, expires_at=token.exp)).run()


def decode_refresh(auth: JWTAuth[AuthUser, Token], encoded: str) -> Token:
    try:
        token = auth.token_cls.decode(encoded, secret=auth.token_secret, algorithm=auth.algorithm)
    except NotAuthorizedException:
        raise NotAuthorizedException("refresh_token is invalid or expired") from None
    if token.extras.get("typ") != "refresh":
        raise NotAuthorizedException("refresh_token is not a refresh token")
    return token


def requires(*roles: str):
    """A guard admitting only the given roles (403 names the roles allowed)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # the automatic OPTIONS answer (CORS preflight) carries no token and no data
        user = connection.scope.get("user")
        if not isinstance(user, AuthUser) or user.role not in roles:
            raise PermissionDeniedException(f"this action needs the role {' or '.join(roles)}")

    return guard


def utcnow() -> datetime:
    return datetime.now(UTC)
