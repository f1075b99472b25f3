"""Authentication (argon2 passwords, JWT access and refresh tokens) and the roles of each route.

Every token pair carries a sign-in id (``sid`` in the token's extras), kept across refreshes:
logout revokes the sign-in, and with it every access and refresh token it ever issued.
Revocations are rows of ``revoked_token``: a token's ``jti``, or ``sid:<sign-in id>``.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token

from server.changes import ChangeCache
from server.tables.firms import Firm
from server.tables.ingest import Department
from server.tables.users import ROLES, RevokedToken, User
from server.texts import Text, t

__all__ = [
    "AuthUser", "build_jwt_auth", "hash_password", "is_revoked", "issue_tokens", "password_hasher",
    "purge_expired_revocations", "requires", "enforce_roles", "Roles", "revoke_session", "session_id", "session_revoked",
    "spend_refresh_token", "verify_password", "VerifiedToken",
]

SESSION_PREFIX = "sid:"

# argon2id cost profiles (``argon2.profiles``). Production uses RFC 9106's low-memory profile (the
# library's default: 64 MiB, 3 passes, 4 lanes, ~0.2-0.4 s of a core). ``cheapest-for-tests`` is
# still argon2id, salted and verified the same way, at the smallest cost: test suites sign in
# thousands of times and set it (tests/conftest.py); the server logs a warning when it runs on it.
PASSWORD_PROFILES = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    "rfc9106-high-memory": profiles.RFC_9106_HIGH_MEMORY,
    "cheapest-for-tests": profiles.CHEAPEST,
}


@functools.cache
def password_hasher() -> tuple[PasswordHasher, str]:
    """The hasher of ``XINBAO_PASSWORD_PROFILE`` and a real hash to verify against when the phone
    is unknown (so timing does not reveal accounts); built on first use, not at import."""
    name = os.environ.get("XINBAO_PASSWORD_PROFILE", "rfc9106-low-memory")
    if name not in PASSWORD_PROFILES:
        raise ValueError(f"XINBAO_PASSWORD_PROFILE must be one of {sorted(PASSWORD_PROFILES)}, not {name!r}")
    hasher = PasswordHasher.from_parameters(PASSWORD_PROFILES[name])
    return hasher, hasher.hash("not-a-real-password")


async def hash_password(password: str, limiter: anyio.CapacityLimiter | None = None) -> str:
    """An argon2id hash, computed in a worker thread (argon2-cffi releases the GIL) so the
    event loop keeps serving other requests meanwhile."""
    return await anyio.to_thread.run_sync(_hash, password, limiter=limiter)


def _hash(password: str) -> str:
    return password_hasher()[0].hash(password)  # the first call builds the hasher, off the loop too


def _verify(password_hash: str | None, password: str) -> bool:
    hasher, dummy = password_hasher()
    try:
        # A hash made under another profile still verifies: its parameters are in the hash.
        return hasher.verify(password_hash or dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str,
                          limiter: anyio.CapacityLimiter | None = None) -> bool:
    """Whether the password matches; an unknown account (None) costs the same and is False."""
    return await anyio.to_thread.run_sync(_verify, password_hash, password, limiter=limiter)


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
    language: str | None = None  # "zh" / "en": the reader's language when the request names none

    # The account's link, for the routes that act on it: 403 when the account has none.
    def linked_firm(self) -> int:
        """An owner's firm id."""
        return self.linked_firm_with_uscc()[0]

    def linked_firm_with_uscc(self) -> tuple[int, str]:
        if self.firm_id is None or self.firm_uscc is None:
            raise PermissionDeniedException(t("your account is not linked to a firm yet"))
        return self.firm_id, self.firm_uscc

    def linked_bank(self) -> int:
        """A bank manager's bank id."""
        if self.bank_id is None:
            raise PermissionDeniedException(t("your account is not linked to a bank"))
        return self.bank_id

    def linked_department(self) -> int:
        """A department operator's department id."""
        if self.department_id is None:
            raise PermissionDeniedException(t("your account is not linked to a department"))
        return self.department_id


# The signed-in user, read on every request: one statement written once (Piccolo's query
# builder costs more than the query itself here), with the token's revocation in the same trip.
_USER_SQL = (
    "SELECT u.id, u.phone, u.role, u.display_name, u.is_active, u.language, u.firm AS firm_id, "
    "f.uscc AS firm_uscc, u.bank AS bank_id, u.department AS department_id, d.code AS department_code"
    "{revoked} FROM " + User._meta.tablename + " u "
    "LEFT JOIN " + Firm._meta.tablename + " f ON f.id = u.firm "
    "LEFT JOIN " + Department._meta.tablename + " d ON d.id = u.department "
    "WHERE u.id = {{}}"
)
_LOAD_USER = _USER_SQL.format(revoked="")
_LOAD_SIGNED_IN = _USER_SQL.format(
    revoked=", EXISTS (SELECT 1 FROM " + RevokedToken._meta.tablename + " r WHERE r.jti IN ({}, {})) AS revoked")


def _auth_user(row: dict[str, Any]) -> AuthUser:
    return AuthUser(
        id=row["id"], phone=row["phone"], role=row["role"], display_name=row["display_name"],
        firm_id=row["firm_id"], firm_uscc=row["firm_uscc"], bank_id=row["bank_id"],
        department_id=row["department_id"], department_code=row["department_code"],
        language=row["language"],
    )


async def load_user(user_id: int) -> AuthUser | None:
    """The active account ``user_id`` with what it acts for; None if it is gone or disabled."""
    rows = await User.raw(_LOAD_USER, user_id)
    return _auth_user(rows[0]) if rows and rows[0]["is_active"] else None


async def _retrieve_user(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthUser | None:
    """The user an access token stands for, unless the token or its sign-in was revoked (what
    :func:`is_revoked` decides, read in the same statement as the user).

    With a change feed (PostgreSQL, ``server.changes``) the answer is kept per token and
    dropped when the database reports a change of the user, the firm or department it acts
    for, or a revocation of the token or its sign-in; the feed is read before every use, so a
    revocation committed before the request refuses it, in every process."""
    if token.extras.get("typ") != "access" or not token.jti or not isinstance(token.jti, str):
        return None  # a refresh token is not a pass to the API
    try:
        user_id = int(token.sub)
    except ValueError:
        return None
    sid = session_id(token)
    cache: ChangeCache | None = connection.app.state.get("auth_cache")
    ticket = 0
    if cache is not None:
        await cache.sync(connection.scope)
        hit = cache.get(token.jti)
        if hit is not None:
            return hit if hit.id == user_id else None
        ticket = cache.ticket()
    rows = await User.raw(_LOAD_SIGNED_IN, token.jti, SESSION_PREFIX + sid if sid else token.jti, user_id)
    if not rows or not rows[0]["is_active"] or rows[0]["revoked"]:
        return None
    user = _auth_user(rows[0])
    if cache is not None:  # a refused token is not kept: it is refused by the database each time
        tags = [("user", str(user.id)), ("token", token.jti)]
        if sid:
            tags.append(("token", SESSION_PREFIX + sid))
        if user.firm_id is not None:
            tags.append(("firm", str(user.firm_id)))
        cache.put(token.jti, user, tags, ticket)
    return user


#: Access tokens whose signature and claims were checked, by encoded token (this process's);
#: bounded, started again when full.
_VERIFIED: dict[tuple[str, str, str], Token] = {}
_VERIFIED_MAX = 100_000


class VerifiedToken(Token):
    """Litestar's token, its signature and claims checked once per encoded token per process:
    the same string with the same secret decodes to the same claims, so a repeat only needs its
    expiry checked again (PyJWT's decode was about a fifth of a signed-in request's time)."""

    @classmethod
    def decode(cls, encoded_token: str, secret: str, algorithm: str, audience: Any = None, issuer: Any = None,
               require_claims: Any = None, verify_exp: bool = True, verify_nbf: bool = True,
               strict_audience: bool = False) -> VerifiedToken:
        plain = (audience is None and issuer is None and not require_claims and verify_exp and verify_nbf
                 and not strict_audience)
        key = (encoded_token, secret, algorithm)
        token = _VERIFIED.get(key) if plain else None
        if token is None:
            token = super().decode(encoded_token, secret, algorithm, audience, issuer, require_claims,
                                   verify_exp, verify_nbf, strict_audience)
            if plain and "nbf" not in token.extras:
                if len(_VERIFIED) >= _VERIFIED_MAX:
                    _VERIFIED.clear()
                _VERIFIED[key] = token
        elif token.exp.timestamp() <= time.time():  # PyJWT's rule: expired once exp is not ahead
            _VERIFIED.pop(key, None)
            # decoded again, it is refused the way Litestar refuses an expired token
            return super().decode(encoded_token, secret, algorithm)  # type: ignore[return-value]
        return token  # type: ignore[return-value]


def session_id(token: Token) -> str | None:
    """The sign-in a (decoded) token belongs to; None for tokens issued before sign-in ids."""
    sid = token.extras.get("sid")
    return sid if isinstance(sid, str) and sid else None


async def session_revoked(sid: str) -> bool:
    """Whether the sign-in was logged out (one indexed lookup)."""
    return await RevokedToken.exists().where(RevokedToken.jti == SESSION_PREFIX + sid)


async def is_revoked(token: Token, _connection: ASGIConnection[Any, Any, Any, Any] | None = None) -> bool:
    """A token is refused when it was spent or revoked itself, or its sign-in was logged out."""
    if not token.jti or not isinstance(token.jti, str):
        return True
    ids = [token.jti]
    sid = session_id(token)
    if sid is not None:
        ids.append(SESSION_PREFIX + sid)
    return await RevokedToken.exists().where(RevokedToken.jti.is_in(ids))


def build_jwt_auth(secret: str, access_minutes: int, exclude: list[str]) -> JWTAuth[AuthUser, Token]:
    return JWTAuth[AuthUser, Token](
        token_secret=secret,
        token_cls=VerifiedToken,
        authentication_middleware_class=_SignInAndRoles,
        # Litestar skips HEAD too by default; the roles are checked here, so only the preflight
        # (which carries no token and reads nothing) goes unchecked
        exclude_http_methods=["OPTIONS"],
        retrieve_user_handler=_retrieve_user,  # refuses revoked tokens too (one query)
        default_token_expiration=timedelta(minutes=access_minutes),
        exclude=exclude,
        description="Bearer access token from POST /api/auth/login",
    )


def issue_tokens(auth: JWTAuth[AuthUser, Token], user_id: int, role: str, refresh_days: int,
                 sid: str | None = None) -> dict[str, Any]:
    """A fresh access token and refresh token for a user, in sign-in ``sid`` (a new one if None)."""
    sid = sid or uuid.uuid4().hex
    access = auth.create_token(
        identifier=str(user_id), token_unique_jwt_id=uuid.uuid4().hex,
        token_extras={"typ": "access", "role": role, "sid": sid},
    )
    refresh = auth.create_token(
        identifier=str(user_id), token_unique_jwt_id=uuid.uuid4().hex,
        token_expiration=timedelta(days=refresh_days), token_extras={"typ": "refresh", "sid": sid},
    )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": int(auth.default_token_expiration.total_seconds()),
    }


async def _insert_revocation(jti: str, expires_at: datetime) -> bool:
    """Insert a revocation row; True only for the one caller whose insert landed (the unique
    index on ``jti`` decides between concurrent callers, on SQLite and PostgreSQL alike)."""
    rows = await (
        RevokedToken.insert(RevokedToken(jti=jti, expires_at=expires_at))
        .on_conflict(target=RevokedToken.jti, action="DO NOTHING")
        .returning(RevokedToken.id)
    )
    return bool(rows)


async def spend_refresh_token(token: Token) -> bool:
    """Use up a refresh token; True for exactly one caller however many race with it."""
    if not token.jti or not isinstance(token.jti, str):
        return False
    return await _insert_revocation(token.jti, token.exp)


async def revoke_session(sid: str, refresh_days: int) -> None:
    """Log a sign-in out. Every token of it was issued before now, so none outlives
    now + the refresh lifetime: the row can be dropped after that."""
    await _insert_revocation(SESSION_PREFIX + sid, utcnow() + timedelta(days=refresh_days))


async def purge_expired_revocations(now: datetime) -> int:
    """Drop revocations of tokens and sign-ins that have expired anyway (an expired token is
    refused on its own): every refresh and logout adds a row, so without this the table grows."""
    rows = await RevokedToken.delete().where(RevokedToken.expires_at < now).returning(RevokedToken.id)
    return len(rows)


async def revoke(token: Token) -> None:
    """Refuse one token (one without a sign-in id) from now until it would have expired."""
    if token.jti and isinstance(token.jti, str):
        await _insert_revocation(token.jti, token.exp)


def decode_access(auth: JWTAuth[AuthUser, Token], encoded: str) -> Token | None:
    """A valid, unexpired access token, or None."""
    try:
        token = auth.token_cls.decode(encoded, secret=auth.token_secret, algorithm=auth.algorithm)
    except NotAuthorizedException:
        return None
    return token if token.extras.get("typ") == "access" else None


def decode_refresh(auth: JWTAuth[AuthUser, Token], encoded: str) -> Token:
    try:
        token = auth.token_cls.decode(encoded, secret=auth.token_secret, algorithm=auth.algorithm)
    except NotAuthorizedException:
        raise NotAuthorizedException(t("refresh_token: is invalid or expired")) from None
    if token.extras.get("typ") != "refresh":
        raise NotAuthorizedException(t("refresh_token: is not a refresh token"))
    return token


class Roles(frozenset):
    """The roles a route admits, with the 403 text naming them: a route declares them as
    ``roles=requires(...)`` (Litestar keeps it in the handler's ``opt``, a controller's
    ``opt = {"roles": ...}`` applies to its routes without their own), and the authentication
    middleware refuses every other role (``enforce_roles``)."""

    refusal: Text | str


def requires(*roles: str) -> Roles:
    """The roles of a route (a 403 names the roles allowed)."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {unknown}" if unknown else "a route admits at least one role")
    either: Text | str = roles[-1]
    for role in reversed(roles[:-1]):
        either = t("{one} or {other}", one=role, other=either)
    allowed = Roles(roles)
    allowed.refusal = t("this action needs the role {roles}", roles=either)
    return allowed


def enforce_roles(connection: ASGIConnection[Any, Any, Any, Any], user: Any) -> None:
    """Refuse (403) a signed-in user whose role the route does not admit. Run by the
    authentication middleware on every route it signs in, and by the guard of a route that
    signs in by itself (the event streams). Not a Litestar guard on each route: Litestar copies
    the route handler for every guard on every request, a sixth of a light request's time."""
    allowed = connection.scope["route_handler"].opt.get("roles")
    if allowed is None:
        return
    if not isinstance(user, AuthUser) or user.role not in allowed:
        raise PermissionDeniedException(allowed.refusal)


class _SignInAndRoles(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware, then the route's roles (``requires``)."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        # Litestar's own, reading the header from the raw ASGI list (``connection.headers``
        # builds a mapping of every header, on every request); ASGI names are lower case
        name = self.auth_header.lower().encode("latin-1")
        raw = next((value for key, value in connection.scope["headers"] if key == name), None)
        if not raw:
            return await super().authenticate_request(connection)  # Litestar's own 401
        result = await self.authenticate_token(raw.decode("latin-1").partition(" ")[-1], connection)
        enforce_roles(connection, result.user)
        return result


def utcnow() -> datetime:
    return datetime.now(UTC)
