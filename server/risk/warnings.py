"""Reading warnings: the rule catalogue, one firm's warnings and a bank's or admin's list; every
warning detail shown to a bank is logged in the firm's access log."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.exceptions import ValidationException

from scoring.risk import (
    catalogue,
)
from scoring.risk.rules import KINDS, LEVELS
from server.consent.services import active_consent
from server.lookup import firm_by_uscc
from server.risk.catalogue import (
    CONTAGION_CLEAR,
    CONTAGION_CODE,
    CONTAGION_KIND,
    CONTAGION_MESSAGE,
    CONTAGION_TITLE,
    LEVEL_RANK,
    MIN_DISTRESS,
    RED_DISTRESS,
    YELLOW_DISTRESS,
    clear_texts,
    kind_of,
    titles,
)
from server.risk.schemas import (
    FirmWarnings,
    RuleOut,
    WarningOut,
)
from server.tables.consent import AccessLog, Consent
from server.tables.financing import LoanApplication
from server.tables.risk import Warning
from server.texts import t
from server.users.security import AuthUser


def rule_catalogue() -> list[RuleOut]:
    """Every rule of the catalogue, then the DebtRank contagion warning."""
    rules = [msgspec.convert(r, RuleOut) for r in catalogue()]
    rules.append(RuleOut(
        code=CONTAGION_CODE, level="red", level_zh=LEVELS["red"][0], level_en=LEVELS["red"][1],
        kind=CONTAGION_KIND, kind_zh=KINDS[CONTAGION_KIND][0], kind_en=KINDS[CONTAGION_KIND][1],
        dimension=None, sources=["guarantee", "financial_statement"], title_zh=CONTAGION_TITLE[0],
        title_en=CONTAGION_TITLE[1], message_zh=CONTAGION_MESSAGE[0], message_en=CONTAGION_MESSAGE[1],
        clear_zh=CONTAGION_CLEAR[0], clear_en=CONTAGION_CLEAR[1],
        params={"min_distress": MIN_DISTRESS, "yellow_distress": YELLOW_DISTRESS,
                "red_distress": RED_DISTRESS}))
    return rules


_WARNING_COLUMNS = (
    Warning.id, Warning.firm, Warning.firm.uscc.as_alias("uscc"),
    Warning.firm.name.as_alias("firm_name"), Warning.rule_code, Warning.level, Warning.kind,
    Warning.opened_at, Warning.closed_at, Warning.updated_at, Warning.first_seen,
    Warning.message_zh, Warning.message_en, Warning.evidence,
)


def _warning_out(row: dict[str, Any], detail: bool) -> WarningOut:
    title_zh, title_en = titles(row["rule_code"])
    out = WarningOut(
        id=row["id"], uscc=row["uscc"], firm_name=row["firm_name"], rule_code=row["rule_code"],
        level=row["level"], kind=row["kind"] or kind_of(row["rule_code"]), title_zh=title_zh,
        title_en=title_en, opened_at=row["opened_at"], closed_at=row["closed_at"],
        status="open" if row["closed_at"] is None else "closed", detail=detail)
    if detail:
        evidence = row["evidence"]
        if isinstance(evidence, str | bytes):
            evidence = json.loads(evidence or "{}")
        out.message_zh, out.message_en = row["message_zh"], row["message_en"]
        out.evidence, out.first_seen = evidence, row["first_seen"]
        out.updated_at = row["updated_at"]
        out.clear_zh, out.clear_en = clear_texts(row["rule_code"])
    return out


def _status_filter(status: str) -> Any:
    if status == "open":
        return Warning.closed_at.is_null()
    if status == "closed":
        return Warning.closed_at.is_not_null()
    return None


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open before closed, red before yellow before blue, newest first."""
    rows = sorted(rows, key=lambda r: r["opened_at"], reverse=True)
    return sorted(rows, key=lambda r: (r["closed_at"] is not None, -LEVEL_RANK.get(r["level"], 0)))


async def _log_detail_views(user: AuthUser, firm_ids: Iterable[int]) -> None:
    """Detail views by anyone but the firm's owner are logged for the firm, as evaluations."""
    ids = sorted(set(firm_ids))
    if not ids or user.role == "owner":
        return
    now = datetime.now(UTC)
    await AccessLog.insert(*[AccessLog(firm=i, viewer=user.id, viewer_role=user.role,
                                       bank=user.bank_id, what="warnings", at=now) for i in ids])


async def consented_firms(bank_id: int, firm_ids: Collection[int] | None = None) -> set[int]:
    where = (Consent.bank == bank_id) & active_consent(datetime.now(UTC))  # the one consent rule
    if firm_ids is not None:
        where &= Consent.firm.is_in(sorted(firm_ids) or [0])
    return {r["firm"] for r in await Consent.select(Consent.firm).where(where)}


async def firm_warnings(user: AuthUser, uscc: str, status: str, limit: int) -> FirmWarnings:
    """A firm's warnings: public signals for everyone signed in, detail for its owner, admins
    and banks it consented to (their views are logged)."""
    firm = await firm_by_uscc(uscc)
    fid = firm["id"]
    if user.role == "admin":
        detail = True
    elif user.role == "owner":
        detail = user.firm_id == fid
    elif user.role == "bank_manager" and user.bank_id is not None:
        detail = bool(await consented_firms(user.bank_id, [fid]))
    else:
        detail = False
    query = Warning.select(*_WARNING_COLUMNS).where(Warning.firm == fid)
    cond = _status_filter(status)
    if cond is not None:
        query = query.where(cond)
    rows = _sorted(await query.order_by(Warning.id, ascending=False).limit(limit))
    counts = {lvl: 0 for lvl in LEVEL_RANK}
    for r in await Warning.select(Warning.level).where(
            (Warning.firm == fid) & Warning.closed_at.is_null()):
        counts[r["level"]] = counts.get(r["level"], 0) + 1
    if detail and rows:
        await _log_detail_views(user, [fid])
    return FirmWarnings(uscc=firm["uscc"], name=firm["name"], detail=detail,
                        open_red=counts["red"], open_yellow=counts["yellow"],
                        open_blue=counts["blue"], warnings=[_warning_out(r, detail) for r in rows])


async def bank_firms(bank_id: int) -> set[int]:
    """Firms that applied to or borrow from the bank."""
    rows = await LoanApplication.select(LoanApplication.firm).where(
        LoanApplication.product.bank == bank_id).distinct()
    return {r["firm"] for r in rows}


async def list_warnings(user: AuthUser, level: str | None, status: str, kind: str | None,
                        limit: int) -> list[WarningOut]:
    """Warnings across firms: an admin's of every firm; a bank manager's of the firms that
    applied to or borrow from the bank and of those that consented to it (detail only where
    consent allows)."""
    if kind is not None and kind not in KINDS:
        raise ValidationException(t("kind: unknown warning kind {kind!r}; known: {known}", kind=kind,
                                    known=", ".join(KINDS)))
    query = Warning.select(*_WARNING_COLUMNS)
    consented: set[int] = set()
    if user.role == "bank_manager":
        if user.bank_id is None:
            return []
        consented = await consented_firms(user.bank_id)
        scope = await bank_firms(user.bank_id) | consented
        if not scope:
            return []
        query = query.where(Warning.firm.is_in(sorted(scope)))
    cond = _status_filter(status)
    if cond is not None:
        query = query.where(cond)
    if level is not None:
        query = query.where(Warning.level == level)
    if kind is not None:
        query = query.where(Warning.kind == kind)
    rows = _sorted(await query.order_by(Warning.id, ascending=False).limit(limit))
    out = []
    shown: set[int] = set()
    for r in rows:
        detail = user.role == "admin" or r["firm"] in consented
        if detail:
            shown.add(r["firm"])
        out.append(_warning_out(r, detail))
    await _log_detail_views(user, shown)
    return out
