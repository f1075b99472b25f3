"""Evidence follows consent, at every read: a stored notification keeps its detail (message,
evidence) only while its reader would get detail today (``bodies_now``), so after a firm
revokes, the bank's inbox, a stream's catch-up and a webhook still queued carry public signals
only. Each detailed delivery to a bank (the inbox copy, each push, each webhook) is a view in
the firm's access log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from server.consent.services import consented_pairs
from server.users.security import AuthUser

__all__ = ["DETAIL_KEYS", "Reader", "bodies_now", "detail_for", "public_signals", "reader_for"]


async def detail_for(user: AuthUser, firm_id: int) -> bool:
    """Full detail (evidence) or public signals only: consent decides for banks."""
    reader = reader_for(user)
    if reader.always_detail(firm_id):
        return True
    pair = reader.bank_pair(firm_id)
    return pair is not None and bool(await consented_pairs([pair]))


#: What a detailed risk body adds to the public signals (level, title, rule, firm, grade).
DETAIL_KEYS = ("message_zh", "message_en", "evidence")


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads a notification: what decides whether its evidence may be shown."""

    role: str
    bank_id: int | None  # a bank manager's bank
    firm_id: int | None  # an owner's firm

    def always_detail(self, firm_id: int | None) -> bool:
        """Admins, and the firm's own owner, see detail whatever the consents."""
        return self.role == "admin" or (self.role == "owner" and firm_id is not None
                                        and self.firm_id == firm_id)

    def bank_pair(self, firm_id: int | None) -> tuple[int, int] | None:
        """``(firm, bank)`` whose consent decides, for a bank manager; None for anyone else."""
        if self.role != "bank_manager" or self.bank_id is None or firm_id is None:
            return None
        return firm_id, self.bank_id


def reader_for(user: AuthUser) -> Reader:
    return Reader(role=user.role, bank_id=user.bank_id, firm_id=user.firm_id)


def _pairs(pairs: Iterable[tuple[int, int] | None]) -> set[tuple[int, int]]:
    return {p for p in pairs if p is not None}


def public_signals(body: dict[str, Any]) -> dict[str, Any]:
    """A detailed body cut down to what anyone signed in may see."""
    return {**{k: v for k, v in body.items() if k not in DETAIL_KEYS}, "detail": False}


async def bodies_now(items: Sequence[tuple[Reader, int | None, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each stored body ``(reader, firm_id the note is about, body)`` as its reader may see it
    now: a detailed body keeps its evidence only for the firm's owner, admins and managers of a
    bank whose consent is in force; everyone else gets the public signals. One consent query
    for the whole batch. The inbox, the streams' catch-up and the outbox relay all call this."""
    detailed = [(reader, firm) for reader, firm, body in items if body.get("detail")]
    consented = await consented_pairs(_pairs(
        reader.bank_pair(firm) for reader, firm in detailed if not reader.always_detail(firm)))
    out = []
    for reader, firm, body in items:
        keep = (not body.get("detail") or reader.always_detail(firm)
                or reader.bank_pair(firm) in consented)
        out.append(body if keep else public_signals(body))
    return out
