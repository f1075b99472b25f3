"""Accounts: sign-in, self-service registration, staff accounts and proving a firm."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets

from litestar.exceptions import (
    ClientException,
    NotFoundException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.stores.base import Store

from server.financing.tables import Bank
from server.firms.tables import Firm
from server.firms.uscc import uscc_error
from server.ingest.tables import Department
from server.users.schemas import (
    FirmClaimStarted,
    Registration,
    StaffCreate,
    UserOut,
)
from server.users.security import AuthUser, hash_password, utcnow, verify_password
from server.users.tables import ROLES, User

__all__ = ["authenticate", "create_staff", "create_user", "list_users", "register",
           "start_firm_claim", "verify_firm_claim"]

log = logging.getLogger("xinbao.accounts")

CLAIM_TTL_SECONDS = 600
CLAIM_MAX_ATTEMPTS = 5


async def authenticate(phone: str, password: str) -> User | None:
    """The active user with this phone and password, or None (same cost either way)."""
    user = await User.objects().where(User.phone == phone).first()
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        return None
    return user


async def create_user(phone: str, password: str, role: str, display_name: str = "", *,
                      firm_id: int | None = None, bank_id: int | None = None,
                      department_id: int | None = None) -> User:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user = User(phone=phone, password_hash=hash_password(password), role=role,
                display_name=display_name, firm=firm_id, bank=bank_id,
                department=department_id, created_at=utcnow())
    await user.save()
    return user


async def _phone_free(phone: str) -> None:
    if await User.exists().where(User.phone == phone):
        raise ClientException("phone: this number is already registered", status_code=409)


async def register(data: Registration) -> User:
    """A new owner (not yet linked to a firm: see the firm claim) or subscriber."""
    await _phone_free(data.phone)
    return await create_user(data.phone, data.password, data.role, data.display_name)


async def create_staff(data: StaffCreate) -> UserOut:
    """Admins open the accounts that act for a bank or a department."""
    await _phone_free(data.phone)
    bank_id = dept_id = None
    if data.role == "bank_manager":
        if data.bank_id is None:
            raise ValidationException("bank_id: a bank manager must be linked to a bank")
        if not await Bank.exists().where(Bank.id == data.bank_id):
            raise ValidationException(f"bank_id: no bank with id {data.bank_id}")
        bank_id = data.bank_id
    if data.role == "dept_operator":
        dept = await Department.select(Department.id).where(Department.code == (data.department or "")).first()
        if dept is None:
            raise ValidationException(f"department: no department with code {data.department!r}")
        dept_id = dept["id"]
    user = await create_user(data.phone, data.password, data.role, data.display_name,
                             bank_id=bank_id, department_id=dept_id)
    return (await list_users(user_id=user.id))[0]


async def list_users(role: str | None = None, user_id: int | None = None, limit: int = 100,
                     offset: int = 0) -> list[UserOut]:
    query = User.select(User.id, User.phone, User.role, User.display_name, User.firm.uscc,
                        User.bank.id, User.department.code, User.is_active)
    if role:
        query = query.where(User.role == role)
    if user_id is not None:
        query = query.where(User.id == user_id)
    rows = await query.order_by(User.id).limit(limit).offset(offset)
    return [UserOut(id=r["id"], phone=r["phone"], role=r["role"], display_name=r["display_name"],
                    firm_uscc=r["firm.uscc"], bank_id=r["bank.id"], department=r["department.code"],
                    is_active=r["is_active"]) for r in rows]


def _claim_key(user_id: int, uscc: str) -> str:
    return f"claim:{user_id}:{uscc}"


def _code_digest(secret: str, user_id: int, uscc: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{user_id}:{uscc}:{code}".encode(), hashlib.sha256).hexdigest()


async def _claimable_firm(user: AuthUser, uscc: str) -> dict:
    if user.firm_id is not None:
        raise ClientException(f"uscc: your account already acts for firm {user.firm_uscc}", status_code=409)
    problem = uscc_error(uscc)
    if problem:
        raise ValidationException(f"uscc: {problem}")
    firm = await Firm.select(Firm.id, Firm.uscc, Firm.name).where(Firm.uscc == uscc).first()
    if firm is None:
        raise NotFoundException(f"uscc: no firm with code {uscc} on the platform")
    if await User.exists().where((User.firm == firm["id"]) & (User.role == "owner")):
        raise ClientException(
            "uscc: the firm is already claimed by another account; ask the platform to transfer it",
            status_code=409)
    return firm


async def start_firm_claim(user: AuthUser, uscc: str, store: Store, *, secret: str,
                           demo: bool) -> FirmClaimStarted:
    """Send a one-time code to the firm's registered contact; in the demo it goes to the log."""
    firm = await _claimable_firm(user, uscc)
    if not demo:
        # No SMS gateway is integrated yet: refuse rather than pretend a code was sent.
        raise ServiceUnavailableException("no SMS gateway is configured to send verification codes")
    code = f"{secrets.randbelow(10**6):06d}"
    record = {"digest": _code_digest(secret, user.id, uscc, code), "attempts": 0}
    await store.set(_claim_key(user.id, uscc), json.dumps(record), expires_in=CLAIM_TTL_SECONDS)
    log.warning("demo verification code for firm %s (%s), account %s: %s",
                uscc, firm["name"], user.phone, code)
    return FirmClaimStarted(uscc=uscc, firm_name=firm["name"], expires_in=CLAIM_TTL_SECONDS,
                            delivery="log")


async def verify_firm_claim(user: AuthUser, uscc: str, code: str, store: Store, *,
                            secret: str) -> None:
    """Link the account to the firm when the code matches (five tries per code)."""
    firm = await _claimable_firm(user, uscc)
    key = _claim_key(user.id, uscc)
    raw = await store.get(key)
    if raw is None:
        raise ValidationException("code: no code is pending for this firm, or it expired; ask for a new one")
    record = json.loads(raw)
    if record["attempts"] >= CLAIM_MAX_ATTEMPTS:
        await store.delete(key)
        raise ValidationException("code: too many wrong codes; ask for a new one")
    if not hmac.compare_digest(record["digest"], _code_digest(secret, user.id, uscc, code)):
        record["attempts"] += 1
        ttl = await store.expires_in(key)
        await store.set(key, json.dumps(record), expires_in=max(1, ttl or 1))
        raise ValidationException(
            f"code: wrong code ({CLAIM_MAX_ATTEMPTS - record['attempts']} tries left)")
    await store.delete(key)
    await User.update({User.firm: firm["id"]}).where(User.id == user.id)
