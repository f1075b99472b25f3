"""Accounts: sign-in, two-step self-service registration, staff accounts and proving a firm."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3

import anyio
from asyncpg.exceptions import UniqueViolationError
from litestar.exceptions import (
    ClientException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.stores.base import Store
from zxcvbn import zxcvbn

from server import db
from server.audit.services import mask_phone, record
from server.lookup import firm_by_uscc
from server.tables.financing import Bank
from server.tables.ingest import Department
from server.tables.users import ROLES, User
from server.texts import LANGS, Text, t
from server.users.schemas import (
    FirmClaimStarted,
    Registration,
    RegistrationStarted,
    StaffCreate,
    UserOut,
)
from server.users.security import AuthUser, hash_password, utcnow, verify_password
from server.users.throttle import REGISTER_ADDRESS, REGISTER_PHONE, Limit, LoginThrottle

__all__ = ["authenticate", "create_staff", "create_user", "finish_registration", "list_users",
           "password_problem", "set_language", "start_firm_claim", "start_registration",
           "verify_firm_claim"]

log = logging.getLogger("xinbao.accounts")

CODE_TTL_SECONDS = 600
# One-time codes (firm claims and registrations): tries of one code, and tries and new codes
# per account / phone and per firm over a day, so asking for new codes never buys more guesses.
CLAIM_CODE_TRIES = 5
CLAIM_ACCOUNT_TRIES = 10
CLAIM_FIRM_TRIES = 20
CLAIM_ACCOUNT_ISSUES = 5
CLAIM_FIRM_ISSUES = 10
REGISTER_PHONE_TRIES = 10
DAY = 86400
MIN_PASSWORD_SCORE = 2  # zxcvbn 0-4; 2 = resists online guessing (with the throttles here)


# zxcvbn's warnings (English), each as the platform's text.
_WARNINGS: dict[str, Text] = {
    "Straight rows of keys are easy to guess.": t("straight rows of keys are easy to guess"),
    "Short keyboard patterns are easy to guess.": t("short keyboard patterns are easy to guess"),
    'Repeats like "aaa" are easy to guess.': t('repeats like "aaa" are easy to guess'),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".':
        t('repeats like "abcabcabc" are only slightly harder to guess than "abc"'),
    'Sequences like "abc" or "6543" are easy to guess.': t('sequences like "abc" or "6543" are easy to guess'),
    "Recent years are easy to guess.": t("recent years are easy to guess"),
    "Dates are often easy to guess.": t("dates are often easy to guess"),
    "This is a top-10 common password.": t("this is a top-10 common password"),
    "This is a top-100 common password.": t("this is a top-100 common password"),
    "This is a very common password.": t("this is a very common password"),
    "This is similar to a commonly used password.": t("this is similar to a commonly used password"),
    "A word by itself is easy to guess.": t("a word by itself is easy to guess"),
    "Names and surnames by themselves are easy to guess.": t("names and surnames by themselves are easy to guess"),
    "Common names and surnames are easy to guess.": t("common names and surnames are easy to guess"),
}


def password_problem(password: str, *user_inputs: str) -> Text | None:
    """Why a new password is refused (too common, guessable, or built from the phone or name),
    or None. zxcvbn knows the common-password lists and keyboard/date/repeat patterns."""
    result = zxcvbn(password[:72], user_inputs=[u for u in user_inputs if u])  # 72: zxcvbn's cap
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    warning = _WARNINGS.get(result["feedback"].get("warning") or "", t("it is too easy to guess"))
    return t("password: choose a less common password ({warning})", warning=warning)


async def authenticate(phone: str, password: str,
                       limiter: anyio.CapacityLimiter | None = None) -> User | None:
    """The active user with this phone and password, or None (same cost either way)."""
    user = await User.objects().where(User.phone == phone).first()
    ok = await verify_password(user.password_hash if user else None, password, limiter)
    if user is None or not ok or not user.is_active:
        return None
    return user


async def create_user(phone: str, password: str, role: str, display_name: str = "", *,
                      firm_id: int | None = None, bank_id: int | None = None,
                      department_id: int | None = None,
                      limiter: anyio.CapacityLimiter | None = None,
                      password_hash: str | None = None) -> User:
    """Store an account (no password policy here: seeds and tests create accounts directly)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user = User(phone=phone, password_hash=password_hash or await hash_password(password, limiter),
                role=role, display_name=display_name, firm=firm_id, bank=bank_id,
                department=department_id, created_at=utcnow())
    await user.save()
    return user


async def set_language(user_id: int, language: str | None) -> None:
    """The language the account reads the platform's texts in: "zh", "en", or None (follow each
    request's Accept-Language); 422 for anything else."""
    if language is not None and language not in LANGS:
        raise ClientException(t("language: must be zh or en (or null), not {got!r}", got=language),
                              status_code=422)
    await User.update({User.language: language}).where(User.id == user_id)


async def _phone_free(phone: str) -> None:
    if await User.exists().where(User.phone == phone):
        raise ClientException(t("phone: this number is already registered"), status_code=409)


# ---------------------------------------------------------------------------------------------
# Registration in two steps: the first answers the same whether or not the number has an
# account (no enumeration); the code sent to the phone proves it and opens the account.

def _registration_key(phone: str) -> str:
    return f"register:{phone}"


def _code_digest(secret: str, subject: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{subject}:{code}".encode(), hashlib.sha256).hexdigest()


def _too_many(what: Text, wait: int) -> TooManyRequestsException:
    return TooManyRequestsException(t("{what}: try again in {wait} seconds", what=what, wait=wait),
                                    headers={"Retry-After": str(wait)})


async def start_registration(data: Registration, address: str, *, store: Store, throttle: LoginThrottle,
                             secret: str, demo: bool,
                             limiter: anyio.CapacityLimiter | None = None) -> RegistrationStarted:
    """Check the input, count the attempt, and send a code to the phone (in the demo: the log).

    A number that already has an account gets no code (its owner is told instead), but the
    caller sees exactly the same answer, after the same work (the password is hashed either way).
    """
    problem = password_problem(data.password, data.phone, data.display_name)
    if problem:
        raise ValidationException(problem)
    limit, wait = await throttle.hit((throttle.key(REGISTER_PHONE.scope, data.phone), REGISTER_PHONE),
                                     (throttle.key(REGISTER_ADDRESS.scope, address), REGISTER_ADDRESS))
    if limit is not None:
        raise _too_many(t("too many registrations"), wait)
    if not demo:
        # No SMS gateway is integrated yet: refuse rather than pretend a code was sent.
        raise ServiceUnavailableException(t("no SMS gateway is configured to send verification codes"))
    password_hash = await hash_password(data.password, limiter)
    if await User.exists().where(User.phone == data.phone):
        log.warning("registration attempt for %s, which already has an account: no code sent "
                    "(an SMS would tell its owner)", data.phone)
    else:
        code = f"{secrets.randbelow(10**6):06d}"
        record = {"digest": _code_digest(secret, data.phone, code), "nonce": secrets.token_hex(8),
                  "password_hash": password_hash, "role": data.role, "display_name": data.display_name}
        await store.set(_registration_key(data.phone), json.dumps(record), expires_in=CODE_TTL_SECONDS)
        log.warning("demo registration code for %s: %s", data.phone, code)
    return RegistrationStarted(phone=data.phone, expires_in=CODE_TTL_SECONDS, delivery="log")


async def finish_registration(phone: str, code: str, *, store: Store, throttle: LoginThrottle,
                              secret: str) -> User:
    """Open the account when the code matches; wrong codes are counted per code and per phone."""
    key = _registration_key(phone)
    raw = await store.get(key)
    record = json.loads(raw) if raw else None
    nonce = record["nonce"] if record else "none"
    limit, wait = await throttle.hit(
        (throttle.key("register:code", phone, nonce), Limit("code", CLAIM_CODE_TRIES, CODE_TTL_SECONDS)),
        (throttle.key("register:tries", phone), Limit("phone", REGISTER_PHONE_TRIES, DAY)))
    if limit is not None:
        if limit.scope == "code":
            await store.delete(key)
            raise ValidationException(t("code: too many wrong codes; ask for a new one"))
        raise _too_many(t("code: too many wrong codes for this number"), wait)
    if record is None or not hmac.compare_digest(record["digest"], _code_digest(secret, phone, code)):
        # Also the answer for a number that already has an account: it never got a code.
        raise ValidationException(t("code: wrong or expired code"))
    await store.delete(key)
    try:
        return await create_user(phone, "", record["role"], record["display_name"],
                                 password_hash=record["password_hash"])
    except (UniqueViolationError, sqlite3.IntegrityError):
        # Two finishes with the same code: the unique phone index lets one through.
        if await User.exists().where(User.phone == phone):
            raise ClientException(t("phone: this number is already registered; sign in"),
                                  status_code=409) from None
        raise


async def create_staff(data: StaffCreate, limiter: anyio.CapacityLimiter | None = None,
                       actor: AuthUser | None = None) -> UserOut:
    """Admins open the accounts that act for a bank or a department (audited as
    ``account.open``, in the account's own transaction)."""
    await _phone_free(data.phone)
    problem = password_problem(data.password, data.phone, data.display_name)
    if problem:
        raise ValidationException(problem)
    bank_id = dept_id = None
    if data.role == "bank_manager":
        if data.bank_id is None:
            raise ValidationException(t("bank_id: a bank manager must be linked to a bank"))
        if not await Bank.exists().where(Bank.id == data.bank_id):
            raise ValidationException(t("bank_id: no bank with id {bank_id}", bank_id=data.bank_id))
        bank_id = data.bank_id
    if data.role == "dept_operator":
        dept = await Department.select(Department.id).where(Department.code == (data.department or "")).first()
        if dept is None:
            raise ValidationException(t("department: no department with code {code!r}", code=data.department))
        dept_id = dept["id"]
    password_hash = await hash_password(data.password, limiter)  # before the write lock: it takes a while
    try:
        async with db.write_transaction():
            user = await create_user(data.phone, "", data.role, data.display_name, bank_id=bank_id,
                                     department_id=dept_id, password_hash=password_hash)
            await record(actor, "account.open", mask_phone(data.phone), {
                "user_id": user.id, "role": data.role, "display_name": data.display_name,
                "bank_id": bank_id, "department": data.department if dept_id is not None else None})
    except (UniqueViolationError, sqlite3.IntegrityError):
        # Two admins opened the same number at once: the unique phone index lets one through.
        raise ClientException(t("phone: this number is already registered"), status_code=409) from None
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


# ---------------------------------------------------------------------------------------------
# Proving a firm

def _claim_key(user_id: int, uscc: str) -> str:
    return f"claim:{user_id}:{uscc}"


async def _claimable_firm(user: AuthUser, uscc: str) -> dict:
    if user.firm_id is not None:
        raise ClientException(t("uscc: your account already acts for firm {uscc}", uscc=user.firm_uscc),
                              status_code=409)
    firm = await firm_by_uscc(uscc)
    if await User.exists().where((User.firm == firm["id"]) & (User.role == "owner")):
        raise ClientException(
            t("uscc: the firm is already claimed by another account; ask the platform to transfer it"),
            status_code=409)
    return firm


async def start_firm_claim(user: AuthUser, uscc: str, store: Store, *, throttle: LoginThrottle,
                           secret: str, demo: bool) -> FirmClaimStarted:
    """Send a one-time code to the firm's registered contact; in the demo it goes to the log.
    New codes are limited per account and per firm a day."""
    firm = await _claimable_firm(user, uscc)
    if not demo:
        # No SMS gateway is integrated yet: refuse rather than pretend a code was sent.
        raise ServiceUnavailableException(t("no SMS gateway is configured to send verification codes"))
    limit, wait = await throttle.hit(
        (throttle.key("claim:issue:user", user.id), Limit("account", CLAIM_ACCOUNT_ISSUES, DAY)),
        (throttle.key("claim:issue:firm", firm["id"]), Limit("firm", CLAIM_FIRM_ISSUES, DAY)))
    if limit is not None:
        raise _too_many(t("uscc: too many codes asked for this account today") if limit.scope == "account"
                        else t("uscc: too many codes asked for this firm today"), wait)
    code = f"{secrets.randbelow(10**6):06d}"
    record = {"digest": _code_digest(secret, f"{user.id}:{uscc}", code), "nonce": secrets.token_hex(8)}
    await store.set(_claim_key(user.id, uscc), json.dumps(record), expires_in=CODE_TTL_SECONDS)
    log.warning("demo verification code for firm %s (%s), account %s: %s",
                uscc, firm["name"], user.phone, code)
    return FirmClaimStarted(uscc=uscc, firm_name=firm["name"], expires_in=CODE_TTL_SECONDS,
                            delivery="log")


async def verify_firm_claim(user: AuthUser, uscc: str, code: str, store: Store, *,
                            throttle: LoginThrottle, secret: str) -> None:
    """Link the account to the firm when the code matches. Every try is counted before the
    code is compared: five per code, and per account and per firm a day across new codes."""
    firm = await _claimable_firm(user, uscc)
    key = _claim_key(user.id, uscc)
    raw = await store.get(key)
    if raw is None:
        raise ValidationException(t("code: no code is pending for this firm, or it expired; ask for a new one"))
    record = json.loads(raw)
    code_key = throttle.key("claim:code", user.id, uscc, record.get("nonce", ""))
    limit, wait = await throttle.hit(
        (code_key, Limit("code", CLAIM_CODE_TRIES, CODE_TTL_SECONDS)),
        (throttle.key("claim:tries:user", user.id), Limit("account", CLAIM_ACCOUNT_TRIES, DAY)),
        (throttle.key("claim:tries:firm", firm["id"]), Limit("firm", CLAIM_FIRM_TRIES, DAY)))
    if limit is not None:
        if limit.scope == "code":
            await store.delete(key)
            raise ValidationException(t("code: too many wrong codes; ask for a new one"))
        raise _too_many(t("code: too many wrong codes for this account today") if limit.scope == "account"
                        else t("code: too many wrong codes for this firm today"), wait)
    if not hmac.compare_digest(record["digest"], _code_digest(secret, f"{user.id}:{uscc}", code)):
        used = await throttle.count(code_key)
        raise ValidationException(t("code: wrong code ({left} tries left)", left=max(0, CLAIM_CODE_TRIES - used)))
    await store.delete(key)
    try:  # one owner per firm is a unique index: of two accounts verifying at once, one wins
        await User.update({User.firm: firm["id"]}).where(User.id == user.id)
    except (UniqueViolationError, sqlite3.IntegrityError):
        raise ClientException(
            t("uscc: the firm is already claimed by another account; ask the platform to transfer it"),
            status_code=409) from None
