"""Granting and revoking banks' access to a firm's evaluation; the firm's view of who looked.

The database keeps one open consent per firm, bank and scope (a partial unique index on
``(firm, bank, scope) WHERE revoked_at IS NULL``): a grant extends the open one or opens a new
one in one atomic upsert, so parallel grants cannot leave a second consent that outlives a
revoke. Every access decision by consent goes through ``active_consent`` / ``consented_pairs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from litestar.exceptions import NotFoundException, PermissionDeniedException, ValidationException
from piccolo.columns.combination import Combination

from server import db
from server.consent.schemas import AccessEntry, ConsentCreate, ConsentCreated, ConsentOut
from server.lookup import firm_by_uscc
from server.tables.consent import AccessLog, Consent
from server.tables.financing import Bank
from server.texts import t
from server.users.security import AuthUser

__all__ = ["EVALUATION", "access_log", "active_consent", "consented_pairs", "grant", "list_consents",
           "revoke"]

EVALUATION = "evaluation"  # the one scope so far: the firm's evaluation and warning detail
_CHUNK = 500


def active_consent(now: datetime, scope: str = EVALUATION) -> Combination:
    """The condition of a consent in force at ``now``: not revoked, not expired, this scope."""
    return Consent.revoked_at.is_null() & (Consent.expires_at > now) & (Consent.scope == scope)


async def consented_pairs(pairs: Iterable[tuple[int, int]], scope: str = EVALUATION,
                          now: datetime | None = None) -> set[tuple[int, int]]:
    """The ``(firm_id, bank_id)`` pairs among ``pairs`` whose consent is in force now."""
    wanted = set(pairs)
    if not wanted:
        return set()
    now = now or datetime.now(UTC)
    banks = sorted({b for _, b in wanted})
    firms = sorted({f for f, _ in wanted})
    found: set[tuple[int, int]] = set()
    for start in range(0, len(firms), _CHUNK):
        rows = await Consent.select(Consent.firm, Consent.bank).where(
            Consent.firm.is_in(firms[start:start + _CHUNK]) & Consent.bank.is_in(banks)
            & active_consent(now, scope))
        found |= {(r["firm"], r["bank"]) for r in rows}
    return found & wanted


# Insert, or extend the open consent of the same firm, bank and scope: one statement, so two
# grants at once cannot both insert (the second waits on the index and then extends).
_UPSERT = """
INSERT INTO consent (firm, bank, scope, granted_at, expires_at, revoked_at, granted_by)
VALUES ({}, {}, {}, {}, {}, NULL, {})
ON CONFLICT (firm, bank, scope) WHERE revoked_at IS NULL
DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > consent.expires_at
                                THEN excluded.expires_at ELSE consent.expires_at END
RETURNING id
"""


async def grant(user: AuthUser, data: ConsentCreate) -> ConsentCreated:
    """Consent for the bank until ``days`` from now; an open consent for the bank is extended
    (never shortened), an expired one is closed and a new one opened. Joins the caller's
    transaction if one is open."""
    firm_id = user.linked_firm()
    if not await Bank.exists().where(Bank.id == data.bank_id):
        raise ValidationException(t("bank_id: no bank with id {id}", id=data.bank_id))
    now = datetime.now(UTC)
    expires = now + timedelta(days=data.days)
    mine = (Consent.firm == firm_id) & (Consent.bank == data.bank_id) & (Consent.scope == data.scope)
    async with db.write_transaction():
        # An expired consent still holds the index's one open place: close it at its expiry.
        await Consent.update({Consent.revoked_at: Consent.expires_at}).where(
            mine & Consent.revoked_at.is_null() & (Consent.expires_at <= now))
        rows = await Consent.raw(_UPSERT, firm_id, data.bank_id, data.scope, now, expires, user.id)
        consent = await Consent.select(Consent.id, Consent.expires_at).where(
            Consent.id == rows[0]["id"]).first()
    return ConsentCreated(id=consent["id"], expires_at=consent["expires_at"])


async def revoke(user: AuthUser, consent_id: int) -> None:
    """Takes effect at once: the bank's next request, and whatever it reads of notifications
    about the firm, gets public signals only."""
    firm_id = user.linked_firm()
    consent = await Consent.select(Consent.id, Consent.firm).where(Consent.id == consent_id).first()
    if consent is None or consent["firm"] != firm_id:
        raise NotFoundException(t("consent_id: no consent {id} of your firm", id=consent_id))
    await Consent.update({Consent.revoked_at: datetime.now(UTC)}).where(
        (Consent.id == consent_id) & Consent.revoked_at.is_null())


async def list_consents(user: AuthUser) -> list[ConsentOut]:
    firm_id = user.linked_firm()
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
    firm = await firm_by_uscc(uscc)
    if user.role == "owner" and user.firm_id != firm["id"]:
        raise PermissionDeniedException(t("owners see only their own firm's access log"))
    rows = await AccessLog.select(
        AccessLog.at, AccessLog.viewer_role, AccessLog.bank.id, AccessLog.bank.name, AccessLog.what,
    ).where(AccessLog.firm == firm["id"]).order_by(AccessLog.at, ascending=False).limit(limit)
    return [AccessEntry(at=r["at"], viewer_role=r["viewer_role"], bank_id=r["bank.id"],
                        bank_name=r["bank.name"], what=r["what"]) for r in rows]
