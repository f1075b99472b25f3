"""Granting and revoking banks' access to a firm's evaluation; the firm's view of who looked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar.exceptions import NotFoundException, PermissionDeniedException, ValidationException

from server.consent.schemas import AccessEntry, ConsentCreate, ConsentCreated, ConsentOut
from server.consent.tables import AccessLog, Consent
from server.financing.tables import Bank
from server.firms.tables import Firm
from server.users.security import AuthUser

__all__ = ["access_log", "grant", "list_consents", "revoke"]


def _owner_firm(user: AuthUser) -> int:
    if user.firm_id is None:
        raise PermissionDeniedException("your account is not linked to a firm yet")
    return user.firm_id


async def grant(user: AuthUser, data: ConsentCreate) -> ConsentCreated:
    """A new consent (an existing active one for the bank is extended, not duplicated)."""
    firm_id = _owner_firm(user)
    if not await Bank.exists().where(Bank.id == data.bank_id):
        raise ValidationException(f"bank_id: no bank with id {data.bank_id}")
    now = datetime.now(UTC)
    expires = now + timedelta(days=data.days)
    current = await Consent.objects().where(
        (Consent.firm == firm_id) & (Consent.bank == data.bank_id) & (Consent.scope == data.scope)
        & Consent.revoked_at.is_null() & (Consent.expires_at > now)
    ).first()
    if current is not None:
        current.expires_at = max(current.expires_at, expires)
        await current.save([Consent.expires_at])
        return ConsentCreated(id=current.id, expires_at=current.expires_at)
    consent = Consent(firm=firm_id, bank=data.bank_id, scope=data.scope, granted_at=now,
                      expires_at=expires, granted_by=user.id)
    await consent.save()
    return ConsentCreated(id=consent.id, expires_at=expires)


async def revoke(user: AuthUser, consent_id: int) -> None:
    """Takes effect at once: the bank's next request is refused."""
    firm_id = _owner_firm(user)
    consent = await Consent.objects().where(Consent.id == consent_id).first()
    if consent is None or consent.firm != firm_id:
        raise NotFoundException(f"no consent {consent_id} of your firm")
    if consent.revoked_at is None:
        consent.revoked_at = datetime.now(UTC)
        await consent.save([Consent.revoked_at])


async def list_consents(user: AuthUser) -> list[ConsentOut]:
    firm_id = _owner_firm(user)
    now = datetime.now(UTC)
    rows = await Consent.select(
        Consent.id, Consent.bank.id, Consent.bank.name, Consent.scope, Consent.granted_at,
        Consent.expires_at, Consent.revoked_at,
    ).where(Consent.firm == firm_id).order_by(Consent.granted_at, ascending=False)
    return [
        ConsentOut(id=r["id"], bank_id=r["bank.id"], bank_name=r["bank.name"], scope=r["scope"],
                   granted_at=r["granted_at"], expires_at=r["expires_at"], revoked_at=r["revoked_at"],
                   active=r["revoked_at"] is None and r["expires_at"] > now)
        for r in rows
    ]


async def access_log(user: AuthUser, uscc: str, limit: int = 200) -> list[AccessEntry]:
    """Who viewed the firm's evaluation: the owner sees their firm's log, admins any."""
    firm = await Firm.select(Firm.id).where(Firm.uscc == uscc).first()
    if firm is None:
        raise NotFoundException(f"no firm with uscc {uscc}")
    if user.role == "owner" and user.firm_id != firm["id"]:
        raise PermissionDeniedException("owners see only their own firm's access log")
    rows = await AccessLog.select(
        AccessLog.at, AccessLog.viewer_role, AccessLog.bank.id, AccessLog.bank.name, AccessLog.what,
    ).where(AccessLog.firm == firm["id"]).order_by(AccessLog.at, ascending=False).limit(limit)
    return [AccessEntry(at=r["at"], viewer_role=r["viewer_role"], bank_id=r["bank.id"],
                        bank_name=r["bank.name"], what=r["what"]) for r in rows]
