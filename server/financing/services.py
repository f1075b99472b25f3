"""Lending on the platform, in small named steps: products, matching, application, decision, report.

Matching reads the firm's standing (latest grade, dishonest-debtor listing), applies the
region's ``MatchingRules`` on top of each product's limits and asks the guarantee fund whether
it can cover the loan. Applying re-runs the same assessment, so a product that does not fit can
never be applied for; a decision on a fund-covered product books the fund's cover in the same
transaction, so a refused cover leaves nothing changed.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import reduce
from typing import Any

import asyncpg
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)

from server import db
from server.changes import ChangeCache
from server.consent import services as consent_services
from server.consent.schemas import ConsentCreate
from server.financing.rules import (
    DECLINE_CODES,
    FUND_LIMITS,
    WEIHAI_RULES,
    MatchingRules,
    reason_text,
)
from server.financing.schemas import (
    ApplicationCreate,
    ApplicationDetail,
    ApplicationEventOut,
    ApplicationHistoryItem,
    ApplicationOut,
    ApplicationsCreated,
    BankDecisionTimes,
    ConsentGranted,
    DecisionCreate,
    Exposure,
    MatchReason,
    MatchRequest,
    MatchResult,
    ProductMatch,
    ProductOut,
)
from server.firms import services as firm_services
from server.fund import services as fund
from server.notifications import owners
from server.tables.financing import ApplicationEvent, Bank, LoanApplication, LoanProduct
from server.tables.firms import Firm, Guarantee
from server.tables.fund import FundLedger
from server.tables.ingest import DeptRecord
from server.tables.scores import ScoreHistory
from server.texts import Text, reader_lang, render, t
from server.texts.stored import revive, store
from server.users.security import AuthUser

__all__ = [
    "FirmStanding",
    "Matching",
    "apply",
    "assess",
    "decide",
    "decision_times",
    "event_text",
    "event_texts",
    "exposure",
    "firm_standing",
    "get_application",
    "list_applications",
    "list_products",
    "match",
]

# A loan application's status as people say it (the API's codes stay as they are).
_STATUS: dict[str, Text] = {
    "pending": t("pending"), "approved": t("approved"), "declined": t("declined"),
    "disbursed": t("disbursed"), "defaulted": t("defaulted"), "repaid": t("repaid"),
}

STATUSES = ("pending", "approved", "declined", "disbursed", "defaulted", "repaid")
PENDING_INDEX = "loan_application_one_pending"  # one pending application per firm and product


def _pct(bp: int | None) -> float | None:
    return None if bp is None else round(bp / 100, 2)


def _listed(texts: list[Text]) -> Text:
    """Texts one after another, "; " between them (a Chinese reader's "；")."""
    return reduce(lambda a, b: t("{a}; {b}", a=a, b=b), texts)


# ---------------------------------------------------------------------------------------------
# Products

_PRODUCT_COLUMNS = (
    LoanProduct.id, LoanProduct.bank.id, LoanProduct.bank.name, LoanProduct.name,
    LoanProduct.min_amount_fen, LoanProduct.max_amount_fen, LoanProduct.min_term_months,
    LoanProduct.max_term_months, LoanProduct.min_rate_bp, LoanProduct.max_rate_bp,
    LoanProduct.eligible_grades, LoanProduct.industries, LoanProduct.collateral_free,
    LoanProduct.fund_covered,
)


def _product(r: dict[str, Any]) -> ProductOut:
    return ProductOut(
        id=r["id"], bank_id=r["bank.id"], bank_name=r["bank.name"], name=r["name"],
        min_amount_yuan=r["min_amount_fen"] // 100, max_amount_yuan=r["max_amount_fen"] // 100,
        min_term_months=r["min_term_months"], max_term_months=r["max_term_months"],
        min_rate_bp=r["min_rate_bp"], max_rate_bp=r["max_rate_bp"],
        min_rate_pct=_pct(r["min_rate_bp"]) or 0.0, max_rate_pct=_pct(r["max_rate_bp"]) or 0.0,
        eligible_grades=list(r["eligible_grades"]), industries=list(r["industries"] or []),
        collateral_free=r["collateral_free"], fund_covered=r["fund_covered"],
    )


async def _active_products(ids: list[int] | None = None) -> list[ProductOut]:
    query = LoanProduct.select(*_PRODUCT_COLUMNS).where(LoanProduct.active.eq(True))
    if ids is not None:
        query = query.where(LoanProduct.id.is_in(ids or [-1]))
    rows = await query.order_by(LoanProduct.id).output(load_json=True)
    return [_product(r) for r in rows]


async def list_products() -> list[ProductOut]:
    """Every active product with its bank and limits."""
    return await _active_products()


# ---------------------------------------------------------------------------------------------
# Matching

@dataclass(frozen=True, slots=True)
class FirmStanding:
    """What matching needs to know about the borrower."""

    firm_id: int
    uscc: str
    industry_section: str
    grade: str | None
    grade_as_of: date | None
    dishonest_listed: bool


async def _latest_score(firm_id: int) -> dict[str, Any] | None:
    return await (
        ScoreHistory.select(ScoreHistory.grade, ScoreHistory.as_of)
        .where(ScoreHistory.firm == firm_id)
        .order_by(ScoreHistory.as_of, ascending=False)
        .order_by(ScoreHistory.id, ascending=False)
        .first()
    )


async def _dishonest_listed(uscc: str, today: date) -> bool:
    """An active 失信被执行人 listing: known by today, not ended, not replaced by a correction."""
    return await DeptRecord.exists().where(
        (DeptRecord.uscc == uscc) & (DeptRecord.source == "dishonest_debtor")
        & DeptRecord.superseded_at.is_null() & (DeptRecord.event_date <= today)
        & (DeptRecord.end_date.is_null() | (DeptRecord.end_date > today))
    )


async def firm_standing(firm_id: int, today: date | None = None) -> FirmStanding:
    """The firm's current grade (latest score) and whether it is dishonest-listed today."""
    today = today or datetime.now(UTC).date()
    firm = await Firm.select(Firm.id, Firm.uscc, Firm.industry_section).where(Firm.id == firm_id).first()
    if firm is None:
        raise NotFoundException(t("no firm {id}", id=firm_id))
    score = await _latest_score(firm_id)
    return FirmStanding(
        firm_id=firm_id, uscc=firm["uscc"], industry_section=firm["industry_section"],
        grade=score["grade"] if score else None, grade_as_of=score["as_of"] if score else None,
        dishonest_listed=await _dishonest_listed(firm["uscc"], today),
    )


#: Reasons already rendered, by code and values: a match renders the same few texts, in two
#: languages, for every product of every request (rendering was a quarter of a match's time).
_REASONS: dict[tuple, MatchReason] = {}
_REASONS_KEPT = 4096


def _reason(code: str, **values: object) -> MatchReason:
    key = (code, *sorted(values.items()))
    try:
        found = _REASONS.get(key)
    except TypeError:  # a value that cannot be a key: rendered each time
        key, found = None, None
    if found is None:
        text = reason_text(code, **values)
        found = MatchReason(code=code, text_zh=text.render("zh"), text_en=text.render("en"))
        if key is not None:
            if len(_REASONS) >= _REASONS_KEPT:
                _REASONS.clear()
            _REASONS[key] = found
    return found


def _fund_refusal_reason(refusal: str) -> MatchReason:
    if refusal == "bank_suspended":
        return _reason("bank_suspended")
    return _reason("fund_capacity", which=FUND_LIMITS.get(refusal, refusal))


def assess(product: ProductOut, amount_fen: int, term_months: int, standing: FirmStanding,
           rules: MatchingRules, fund_share: int, fund_refusal: str | None) -> ProductMatch:
    """Whether one product fits the need, with every reason; pure, so it is easy to test."""
    grade = standing.grade
    term = term_months
    eligible = product.eligible_grades
    covered = product.fund_covered
    refusals: list[MatchReason] = []
    excluded = rules.exclude_dishonest and standing.dishonest_listed
    if excluded:
        refusals.append(_reason("dishonest_listed"))
    if grade is None:
        refusals.append(_reason("not_scored"))
    elif grade not in eligible:
        refusals.append(_reason("grade_too_low", grade=grade, eligible="".join(eligible)))
    if amount_fen > product.max_amount_yuan * 100:
        refusals.append(_reason("amount_above_cap", amount=amount_fen, limit=product.max_amount_yuan * 100))
    if amount_fen < product.min_amount_yuan * 100:
        refusals.append(_reason("amount_below_min", amount=amount_fen, limit=product.min_amount_yuan * 100))
    if not product.min_term_months <= term <= product.max_term_months:
        refusals.append(_reason("term_out_of_range", term=term, lo=product.min_term_months,
                                hi=product.max_term_months))
    if product.industries and standing.industry_section not in product.industries:
        refusals.append(_reason("industry_excluded", industry=standing.industry_section,
                                industries="".join(product.industries)))
    if product.collateral_free and grade is not None and amount_fen > rules.cap_fen(grade):
        refusals.append(_reason("collateral_free_cap", grade=grade, amount=amount_fen,
                                limit=rules.cap_fen(grade)))
    # The fund's share of a loss on this loan: nothing unless covered, and none for a grade the
    # fund does not cover or a dishonest-listed firm (it will never lend to one).
    share = fund_share if covered and not excluded else 0
    if covered and grade is not None and (grade not in rules.fund_grades or fund_share <= 0):
        refusals.append(_reason("fund_grade_excluded", grade=grade))
        share = 0
    if covered and fund_refusal is not None:
        refusals.append(_fund_refusal_reason(fund_refusal))

    if refusals:
        reasons = refusals
    else:
        reasons = [
            _reason("grade_ok", grade=grade, eligible="".join(eligible)),
            _reason("amount_ok", lo=product.min_amount_yuan * 100, hi=product.max_amount_yuan * 100),
            _reason("term_ok", lo=product.min_term_months, hi=product.max_term_months),
        ]
        if product.collateral_free:
            reasons.append(_reason("collateral_free_ok", grade=grade,
                                   limit=rules.cap_fen(grade or "D")))
        if covered:
            reasons.append(_reason("fund_cover", share=share))
    lo, hi = rules.expected_rate_bp(grade, product.min_rate_bp, product.max_rate_bp)
    return ProductMatch(
        product=product, fits=not refusals, reasons=reasons, expected_min_rate_bp=lo,
        expected_max_rate_bp=hi, expected_min_rate_pct=_pct(lo) or 0.0,
        expected_max_rate_pct=_pct(hi) or 0.0, collateral_free=product.collateral_free,
        fund_share_pct=share,
    )


async def _assess_all(products: list[ProductOut], amount_fen: int, term_months: int,
                      standing: FirmStanding, rules: MatchingRules) -> list[ProductMatch]:
    """Every product assessed, fitting first, then cheapest expected rate, then fund share."""
    return _ranked(products, amount_fen, term_months, standing, rules, await fund.cover_state(standing.firm_id))


def _ranked(products: list[ProductOut], amount_fen: int, term_months: int, standing: FirmStanding,
            rules: MatchingRules, cover: fund.CoverState) -> list[ProductMatch]:
    share = cover.share_pct(standing.grade) if standing.grade else 0
    covered = share > 0 and standing.grade in rules.fund_grades
    refusals = cover.refusals([p.bank_id for p in products if p.fund_covered and covered], amount_fen)
    matches = [assess(product, amount_fen, term_months, standing, rules, share, refusals.get(product.bank_id)
                      if product.fund_covered and covered else None) for product in products]
    matches.sort(key=lambda m: (not m.fits, m.expected_min_rate_bp, -m.fund_share_pct, m.product.id))
    return matches


@dataclass(frozen=True, slots=True)
class Matching:
    """What the match route is handed, as one dependency (Litestar resolves several side by
    side in a task group per request): the region's rules and the process's cache of match
    inputs (None without a change feed)."""

    rules: MatchingRules
    cache: ChangeCache | None


#: What a match of one firm reads: its standing, the active products, the fund's state for it.
MatchInputs = tuple[FirmStanding, list[ProductOut], fund.CoverState]


async def _match_inputs(firm_id: int, cache: ChangeCache | None,
                        scope: MutableMapping[str, Any] | None) -> MatchInputs:
    """Read, or with ``cache`` (PostgreSQL, ``server.changes``) kept per firm and day until the
    database reports a change of the firm, its scores, its dishonest-debtor listing, or any
    product, bank, the fund or its ledger. Applying still reads and decides everything again."""
    today = datetime.now(UTC).date()
    key = ("match", firm_id, today)
    ticket = 0
    if cache is not None:
        await cache.sync(scope)
        hit = cache.get(key)
        if hit is not None:
            return hit
        ticket = cache.ticket()
    standing = await firm_standing(firm_id, today)
    inputs = (standing, await _active_products(), await fund.cover_state(firm_id))
    if cache is not None:
        tag = str(firm_id)
        cache.put(key, inputs, [("firm", tag), ("score", tag), ("listing", standing.uscc), ("financing", "")],
                  ticket)
    return inputs


async def match(user: AuthUser, need: MatchRequest, rules: MatchingRules = WEIHAI_RULES, *,
                cache: ChangeCache | None = None, scope: MutableMapping[str, Any] | None = None) -> MatchResult:
    """Every active product ranked for the owner's firm and need, each saying why it fits or not."""
    standing, products, cover = await _match_inputs(user.linked_firm(), cache, scope)
    matches = _ranked(products, need.amount_yuan * 100, need.term_months, standing, rules, cover)
    return MatchResult(
        firm_uscc=standing.uscc, grade=standing.grade, grade_as_of=standing.grade_as_of,
        dishonest_listed=standing.dishonest_listed,
        collateral_free_cap_yuan=rules.cap_fen(standing.grade) // 100 if standing.grade else 0,
        amount_yuan=need.amount_yuan, term_months=need.term_months, purpose=need.purpose,
        matches=matches,
    )


# ---------------------------------------------------------------------------------------------
# Applications

_APP_COLUMNS = (
    LoanApplication.id, LoanApplication.firm.id, LoanApplication.firm.uscc, LoanApplication.firm.name,
    LoanApplication.product.id, LoanApplication.product.name, LoanApplication.product.bank.id,
    LoanApplication.product.bank.name, LoanApplication.amount_fen, LoanApplication.term_months,
    LoanApplication.purpose, LoanApplication.status, LoanApplication.grade_at_apply,
    LoanApplication.fund_share_pct, LoanApplication.created_at, LoanApplication.decided_at,
    LoanApplication.approved_amount_fen, LoanApplication.rate_bp, LoanApplication.approved_term_months,
    LoanApplication.decline_code, LoanApplication.decline_text,
)


def _application(r: dict[str, Any]) -> ApplicationOut:
    approved = r["approved_amount_fen"]
    return ApplicationOut(
        id=r["id"], firm_uscc=r["firm.uscc"], firm_name=r["firm.name"], product_id=r["product.id"],
        product_name=r["product.name"], bank_id=r["product.bank.id"], bank_name=r["product.bank.name"],
        amount_yuan=r["amount_fen"] // 100, term_months=r["term_months"], purpose=r["purpose"],
        status=r["status"], grade_at_apply=r["grade_at_apply"], fund_share_pct=r["fund_share_pct"],
        created_at=r["created_at"], decided_at=r["decided_at"],
        approved_amount_yuan=None if approved is None else approved // 100, rate_bp=r["rate_bp"],
        rate_pct=_pct(r["rate_bp"]), approved_term_months=r["approved_term_months"],
        decline_code=r["decline_code"], decline_text=r["decline_text"],
    )


async def _application_row(application_id: int) -> dict[str, Any]:
    row = await LoanApplication.select(*_APP_COLUMNS).where(LoanApplication.id == application_id).first()
    if row is None:
        raise NotFoundException(t("no application {id}", id=application_id))
    return row


def _check_can_see(user: AuthUser, row: dict[str, Any]) -> None:
    """Owners see their firm's applications, bank managers their bank's, admins all."""
    if user.role == "owner" and row["firm.id"] != user.firm_id:
        raise NotFoundException(t("no application {id} of your firm", id=row["id"]))
    if user.role == "bank_manager" and row["product.bank.id"] != user.bank_id:
        raise PermissionDeniedException(t("application {id} is for another bank", id=row["id"]))
    if user.role not in ("owner", "bank_manager", "admin"):
        raise PermissionDeniedException(t("only the firm's owner, the bank and admins see applications"))


def _unique(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


async def _fitting_products(product_ids: list[int], amount_fen: int, term_months: int,
                            standing: FirmStanding, rules: MatchingRules) -> list[ProductMatch]:
    """The chosen products, each assessed; unknown ones are 400, ones that do not fit 422."""
    products = await _active_products(product_ids)
    missing = sorted(set(product_ids) - {p.id for p in products})
    if missing:
        raise ValidationException(t("product_ids: no active product with id {ids}",
                                    ids=", ".join(map(str, missing))))
    matches = await _assess_all(products, amount_fen, term_months, standing, rules)
    unfit = [m for m in matches if not m.fits]
    if unfit:
        parts = [t("product {id} ({codes})", id=m.product.id, codes=", ".join(r.code for r in m.reasons))
                 for m in unfit]
        raise ClientException(
            t("product_ids: does not fit: {products}", products=_listed(parts)), status_code=422,
            extra=[{"product_id": m.product.id, "reasons": [
                {"code": r.code, "text_zh": r.text_zh, "text_en": r.text_en} for r in m.reasons]}
                for m in unfit],
        )
    order = {pid: i for i, pid in enumerate(product_ids)}
    return sorted(matches, key=lambda m: order[m.product.id])


def _second_pending(exc: Exception) -> bool:
    """Whether a unique violation is the one-pending-application index's."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return exc.constraint_name == PENDING_INDEX
    return "loan_application.firm" in str(exc)  # SQLite names the index's columns


async def _write_applications(user: AuthUser, firm_id: int, data: ApplicationCreate,
                              matches: list[ProductMatch], standing: FirmStanding,
                              rules: MatchingRules, now: datetime) -> tuple[list[int], list[ConsentGranted]]:
    """The applications, their first events and the banks' consents, in one transaction. The
    database allows one pending application per firm and product (``loan_application_one_pending``):
    the check here names the taken products; the index decides between parallel requests."""
    ids: list[int] = []
    consents: list[ConsentGranted] = []
    product_ids = [m.product.id for m in matches]
    async with db.write_transaction():
        pending = await LoanApplication.select(LoanApplication.id, LoanApplication.product).where(
            (LoanApplication.firm == firm_id) & LoanApplication.product.is_in(product_ids)
            & (LoanApplication.status == "pending"))
        if pending:
            taken = reduce(lambda a, b: t("{a}, {b}", a=a, b=b), [
                t("product {product} (application {id})", product=r["product"], id=r["id"]) for r in pending])
            raise ClientException(t("product_ids: already pending: {taken}", taken=taken), status_code=409)
        # Rows and index entries in id order: two parallel applies for the same products in
        # another order wait for each other instead of deadlocking.
        for m in sorted(matches, key=lambda m: m.product.id):
            application = LoanApplication(
                firm=firm_id, product=m.product.id, amount_fen=data.amount_yuan * 100,
                term_months=data.term_months, purpose=data.purpose, status="pending",
                grade_at_apply=standing.grade or "", created_at=now, fund_share_pct=m.fund_share_pct,
            )
            await application.save()
            ids.append(application.id)
            await ApplicationEvent(
                application=application.id, status="pending", at=now, by_user=user.id,
                note=store(_applied(data.amount_yuan * 100, data.term_months)),
            ).save()
        for bank_id, bank_name in sorted(dict.fromkeys((m.product.bank_id, m.product.bank_name) for m in matches)):
            granted = await consent_services.grant(
                user, ConsentCreate(bank_id=bank_id, days=rules.consent_days))
            consents.append(ConsentGranted(
                bank_id=bank_id, bank_name=bank_name, consent_id=granted.id, expires_at=granted.expires_at,
                text_zh=f"已授权{bank_name}查看本企业信用评价，有效期至{granted.expires_at.date()}，可随时撤销",
                text_en=f"{bank_name} may see your firm's evaluation until {granted.expires_at.date()}; "
                        "you can revoke this at any time",
            ))
    order = list(dict.fromkeys(m.product.bank_id for m in matches))  # as the owner chose
    return ids, sorted(consents, key=lambda c: order.index(c.bank_id))


async def apply(user: AuthUser, data: ApplicationCreate, rules: MatchingRules = WEIHAI_RULES,
                now: datetime | None = None) -> ApplicationsCreated:
    """One application per chosen product, each bank granted consent to the evaluation."""
    firm_id = user.linked_firm()
    if not data.confirm_consent:
        raise ValidationException(
            t("confirm_consent: must be true — applying lets each chosen bank see your evaluation"))
    product_ids = _unique(data.product_ids)
    amount_fen = data.amount_yuan * 100
    standing = await firm_standing(firm_id)
    matches = await _fitting_products(product_ids, amount_fen, data.term_months, standing, rules)
    now = now or datetime.now(UTC)
    try:
        ids, consents = await _write_applications(user, firm_id, data, matches, standing, rules, now)
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError) as exc:
        if not _second_pending(exc):
            raise
        # A parallel apply for the same product committed first: the index kept one pending.
        raise ClientException(
            t("product_ids: already pending: one of {ids} was applied for at the same moment",
              ids=", ".join(map(str, product_ids))), status_code=409) from exc
    rows = await LoanApplication.select(*_APP_COLUMNS).where(LoanApplication.id.is_in(ids)).order_by(
        LoanApplication.id)
    return ApplicationsCreated(applications=[_application(r) for r in rows], consents=consents)


async def list_applications(user: AuthUser, status: str | None = None, limit: int = 100) -> list[ApplicationOut]:
    """Owner: the firm's applications, newest first; bank manager: the bank's queue, oldest first;
    admin: all, newest first."""
    query = LoanApplication.select(*_APP_COLUMNS)
    ascending = False
    if user.role == "owner":
        query = query.where(LoanApplication.firm == user.linked_firm())
    elif user.role == "bank_manager":
        query = query.where(LoanApplication.product.bank.id == user.linked_bank())
        ascending = True
    if status is not None:
        query = query.where(LoanApplication.status == status)
    rows = await query.order_by(LoanApplication.created_at, ascending=ascending).order_by(
        LoanApplication.id, ascending=ascending).limit(limit)
    return [_application(r) for r in rows]


_OUTSTANDING_NOTE = re.compile(r"^outstanding (\d+) yuan(?:; (.*))?$", re.S)  # notes of older rows


def _applied(amount_fen: int, term_months: int) -> Text:
    return t("Applied for {amount:fen} over {months} months", amount=amount_fen, months=term_months)


def _approved(amount_fen: int | None, rate_bp: int | None, term_months: int) -> Text:
    return t("Approved {amount:fen} at {rate:.2f}% a year over {months} months",
             amount=amount_fen, rate=(rate_bp or 0) / 100, months=term_months)


def event_text(status: str, note: str, app: dict[str, Any]) -> Text:
    """An application event in words for people, rendered per reader: the text its note keeps
    (:mod:`server.texts.stored`), or for a row written before notes kept texts, worded from the
    application's own figures (its note parsed for what only the note knows). A bank's reason
    or note is quoted as written."""
    text = revive(note)
    if text is not None:
        return text
    amount, term = app["amount_fen"], app["term_months"]
    if status == "pending":
        return _applied(amount, term)
    if status == "approved":
        return _approved(app["approved_amount_fen"], app["rate_bp"], app["approved_term_months"] or term)
    if status == "declined":
        why = app["decline_text"]
        return t("Declined: “{why}”", why=why) if why else t("Declined")
    if status == "disbursed":
        return t("Disbursed")
    if status == "repaid":
        return t("Repaid in full")
    if status == "defaulted":
        m = _OUTSTANDING_NOTE.match(note)
        if m is None:
            return t("Reported in default by the bank")
        left = int(m.group(1)) * 100
        said = m.group(2) or ""
        if said:
            return t("Reported in default by the bank, {outstanding:fen} outstanding ({said})",
                     outstanding=left, said=said)
        return t("Reported in default by the bank, {outstanding:fen} outstanding", outstanding=left)
    return t("{note}", note=note)


def event_texts(status: str, note: str, app: dict[str, Any]) -> tuple[str, str]:
    """:func:`event_text` in Chinese and in English."""
    text = event_text(status, note, app)
    return text.render("zh"), text.render("en")


async def _events(app: dict[str, Any]) -> list[ApplicationEventOut]:
    """The application's events, oldest first, worded from ``app`` (its ``_APP_COLUMNS`` row)."""
    rows = await ApplicationEvent.select(
        ApplicationEvent.status, ApplicationEvent.at, ApplicationEvent.by_user, ApplicationEvent.note,
    ).where(ApplicationEvent.application == app["id"]).order_by(ApplicationEvent.at).order_by(
        ApplicationEvent.id)
    lang = reader_lang()
    return [ApplicationEventOut(status=r["status"], at=r["at"], by_user=r["by_user"], note=text.render(lang),
                                text_zh=text.render("zh"), text_en=text.render("en"))
            for r in rows for text in [event_text(r["status"], r["note"] or "", app)]]


def _detail(row: dict[str, Any], events: list[ApplicationEventOut], **extra: Any) -> ApplicationDetail:
    base = _application(row)
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    return ApplicationDetail(**fields, events=events, **extra)


async def get_application(user: AuthUser, application_id: int, *,
                          min_group_size: int | None = None) -> ApplicationDetail:
    """One application with its timeline; the bank manager also gets the firm's evaluation
    (a consented, logged view through the firms service)."""
    row = await _application_row(application_id)
    _check_can_see(user, row)
    extra: dict[str, Any] = {}
    if user.role == "bank_manager":
        try:
            extra["evaluation"] = await firm_services.get_evaluation(
                row["firm.uscc"], user, min_group_size=min_group_size)
        except (PermissionDeniedException, NotFoundException) as exc:
            extra["evaluation_note"] = render(exc.detail, reader_lang())
        else:  # consent active (the evaluation was shown and logged): what the firm owes, too
            extra["exposure"] = await exposure(row["firm.id"], row["firm.uscc"], user.bank_id)
            extra["history"] = await _history(row["firm.id"], application_id)
    return _detail(row, await _events(row), **extra)


_OUTSTANDING = ("approved", "disbursed")


async def exposure(firm_id: int, uscc: str, bank_id: int | None, today: date | None = None) -> Exposure:
    """The firm's loans outstanding on the platform (and with ``bank_id``), the fund's cover on
    them, its defaults, and the guarantees in force it gives and receives on ``today``."""
    today = today or datetime.now(UTC).date()
    loans = await LoanApplication.select(
        LoanApplication.id, LoanApplication.status, LoanApplication.approved_amount_fen,
        LoanApplication.amount_fen, LoanApplication.product.bank.id,
    ).where((LoanApplication.firm == firm_id)
            & LoanApplication.status.is_in([*_OUTSTANDING, "defaulted"]))
    open_loans = [r for r in loans if r["status"] in _OUTSTANDING]

    def principal(r: dict[str, Any]) -> int:
        return r["approved_amount_fen"] if r["approved_amount_fen"] is not None else r["amount_fen"]

    cover = 0
    if open_loans:
        entries = await FundLedger.select(FundLedger.application, FundLedger.kind, FundLedger.amount_fen).where(
            FundLedger.application.is_in([r["id"] for r in open_loans])
            & FundLedger.kind.is_in(["cover", "release"]))
        released = {e["application"] for e in entries if e["kind"] == "release"}
        cover = sum(e["amount_fen"] for e in entries if e["kind"] == "cover" and e["application"] not in released)
    reported = ((DeptRecord.uscc == uscc) & (DeptRecord.source == "bank_loan")
                & DeptRecord.superseded_at.is_null() & (DeptRecord.event_date <= today))
    last = await DeptRecord.select(DeptRecord.event_date).where(reported).order_by(
        DeptRecord.event_date, ascending=False).first()
    month_rows = [] if last is None else await DeptRecord.select(DeptRecord.amount_fen, DeptRecord.days).where(
        reported & (DeptRecord.event_date == last["event_date"]))
    in_force = (Guarantee.start_date <= today) & (Guarantee.end_date >= today)
    given = await Guarantee.select(Guarantee.amount_fen).where((Guarantee.guarantor == firm_id) & in_force)
    received = await Guarantee.select(Guarantee.amount_fen).where((Guarantee.guaranteed == firm_id) & in_force)
    return Exposure(
        loans_outstanding=len(open_loans),
        outstanding_yuan=sum(principal(r) for r in open_loans) // 100,
        with_this_bank_yuan=sum(principal(r) for r in open_loans if r["product.bank.id"] == bank_id) // 100,
        defaulted_loans=sum(r["status"] == "defaulted" for r in loans),
        fund_cover_yuan=cover // 100,
        guarantees_given=len(given), guarantees_given_yuan=sum(g["amount_fen"] for g in given) // 100,
        guarantees_received=len(received),
        guarantees_received_yuan=sum(g["amount_fen"] for g in received) // 100,
        bank_debt_month=None if last is None else last["event_date"],
        bank_debt_yuan=sum(r["amount_fen"] or 0 for r in month_rows) // 100,
        bank_days_overdue=max((r["days"] or 0 for r in month_rows), default=0),
    )


async def _history(firm_id: int, but: int, limit: int = 20) -> list[ApplicationHistoryItem]:
    """The firm's other applications on the platform, newest first."""
    rows = await LoanApplication.select(
        LoanApplication.id, LoanApplication.product.bank.name, LoanApplication.product.name,
        LoanApplication.amount_fen, LoanApplication.term_months, LoanApplication.status,
        LoanApplication.created_at, LoanApplication.decided_at, LoanApplication.approved_amount_fen,
    ).where((LoanApplication.firm == firm_id) & (LoanApplication.id != but)).order_by(
        LoanApplication.created_at, ascending=False).order_by(LoanApplication.id, ascending=False).limit(limit)
    return [ApplicationHistoryItem(
        id=r["id"], bank_name=r["product.bank.name"], product_name=r["product.name"],
        amount_yuan=r["amount_fen"] // 100, term_months=r["term_months"], status=r["status"],
        created_at=r["created_at"], decided_at=r["decided_at"],
        approved_amount_yuan=None if r["approved_amount_fen"] is None else r["approved_amount_fen"] // 100,
    ) for r in rows]


# ---------------------------------------------------------------------------------------------
# Decision

@dataclass(frozen=True, slots=True)
class _Terms:
    amount_fen: int
    rate_bp: int
    term_months: int


def _approval_terms(data: DecisionCreate, applied: dict[str, Any], product: dict[str, Any]) -> _Terms:
    """The approved terms: within the product, and no more than the firm asked for."""
    if data.reason_code is not None or data.reason_text is not None:
        raise ValidationException(t("reason_code: only a decline takes a reason"))
    if data.rate_bp is None:
        raise ValidationException(t("rate_bp: an approval needs the annual rate in basis points"))
    if not product["min_rate_bp"] <= data.rate_bp <= product["max_rate_bp"]:
        raise ValidationException(t("rate_bp: must be within the product's {lo}–{hi} bp",
                                    lo=product["min_rate_bp"], hi=product["max_rate_bp"]))
    amount_fen = applied["amount_fen"] if data.amount_yuan is None else data.amount_yuan * 100
    cap = min(product["max_amount_fen"], applied["amount_fen"])
    if not product["min_amount_fen"] <= amount_fen <= cap:
        raise ValidationException(t(
            "amount_yuan: must be within {lo:fen}–{hi:fen} (the product's minimum up to the amount "
            "applied for)", lo=product["min_amount_fen"], hi=cap))
    term = applied["term_months"] if data.term_months is None else data.term_months
    if not product["min_term_months"] <= term <= product["max_term_months"]:
        raise ValidationException(t("term_months: must be within the product's {lo}–{hi} months",
                                    lo=product["min_term_months"], hi=product["max_term_months"]))
    return _Terms(amount_fen=amount_fen, rate_bp=data.rate_bp, term_months=term)


def _decline_reason(data: DecisionCreate) -> tuple[str, str]:
    if data.amount_yuan is not None or data.rate_bp is not None or data.term_months is not None:
        raise ValidationException(t("amount_yuan: only an approval takes amount, rate and term"))
    if data.reason_code is None:
        raise ValidationException(t("reason_code: a decline needs a reason code"))
    if data.reason_code not in DECLINE_CODES:
        raise ValidationException(t("reason_code: one of {codes}", codes=", ".join(DECLINE_CODES)))
    text = (data.reason_text or "").strip()
    if not text:
        raise ValidationException(t("reason_text: a decline needs the reason in words for the owner"))
    return data.reason_code, text


async def decide(user: AuthUser, application_id: int, data: DecisionCreate,
                 now: datetime | None = None, *, min_group_size: int | None = None) -> ApplicationDetail:
    """The bank's approval or decline of a pending application; an approval of a fund-covered
    product books the fund's cover in the same transaction (a refusal changes nothing)."""
    bank_id = user.linked_bank()
    applied = await LoanApplication.select(
        LoanApplication.id, LoanApplication.status, LoanApplication.amount_fen,
        LoanApplication.term_months, LoanApplication.product,
    ).where(LoanApplication.id == application_id).first()
    if applied is None:
        raise NotFoundException(t("no application {id}", id=application_id))
    product = await LoanProduct.select().where(LoanProduct.id == applied["product"]).first()
    if product["bank"] != bank_id:
        raise PermissionDeniedException(t("application {id} is for another bank", id=application_id))
    if applied["status"] != "pending":
        raise ClientException(t("application {id} is already {status}", id=application_id,
                                status=_STATUS.get(applied["status"], applied["status"])), status_code=409)
    now = now or datetime.now(UTC)
    values: dict[Any, Any] = {LoanApplication.decided_at: now, LoanApplication.decided_by: user.id}
    if data.decision == "approve":
        terms = _approval_terms(data, applied, product)
        status = "approved"
        values |= {LoanApplication.approved_amount_fen: terms.amount_fen,
                   LoanApplication.rate_bp: terms.rate_bp,
                   LoanApplication.approved_term_months: terms.term_months}
        note = store(_approved(terms.amount_fen, terms.rate_bp, terms.term_months))
    else:
        code, text = _decline_reason(data)
        status = "declined"
        values |= {LoanApplication.decline_code: code, LoanApplication.decline_text: text}
        note = store(t("Declined: “{why}”", why=text))
    values[LoanApplication.status] = status
    async with db.write_transaction():
        # The status condition makes a concurrent second decision find nothing to update.
        changed = await LoanApplication.update(values).where(
            (LoanApplication.id == application_id) & (LoanApplication.status == "pending")
        ).returning(LoanApplication.id)
        if not changed:
            raise ClientException(t("application {id} was decided meanwhile", id=application_id),
                                  status_code=409)
        await ApplicationEvent(application=application_id, status=status, at=now, by_user=user.id,
                               note=note).save()
        if status == "approved" and product["fund_covered"]:
            await fund.cover(application_id, by_user=user.id)
        await owners.application_decided(application_id)  # the owners hear it with the decision
    # As the manager saw it before deciding: with the evaluation while the consent lasts.
    return await get_application(user, application_id, min_group_size=min_group_size)


# ---------------------------------------------------------------------------------------------
# Report

def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..1) of already sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


async def decision_times(user: AuthUser, rules: MatchingRules = WEIHAI_RULES,
                         now: datetime | None = None) -> list[BankDecisionTimes]:
    """Per bank: decisions made, pending, and minutes from application to decision
    (median, p90, share within the platform's promise)."""
    now = now or datetime.now(UTC)
    banks = Bank.select(Bank.id, Bank.name).order_by(Bank.id)
    apps = LoanApplication.select(
        LoanApplication.product.bank.id, LoanApplication.status, LoanApplication.created_at,
        LoanApplication.decided_at,
    )
    if user.role == "bank_manager":
        bank_id = user.linked_bank()
        banks = banks.where(Bank.id == bank_id)
        apps = apps.where(LoanApplication.product.bank.id == bank_id)
    by_bank: dict[int, list[dict[str, Any]]] = {}
    for r in await apps:
        by_bank.setdefault(r["product.bank.id"], []).append(r)
    out = []
    for bank in await banks:
        rows = by_bank.get(bank["id"], [])
        waits = sorted(_minutes(r["created_at"], r["decided_at"]) for r in rows
                       if r["decided_at"] is not None)
        pending = [r for r in rows if r["status"] == "pending"]
        promise = rules.decision_promise_minutes

        def rounded(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        out.append(BankDecisionTimes(
            bank_id=bank["id"], bank_name=bank["name"], decided=len(waits),
            approved=sum(1 for r in rows if r["decided_at"] is not None and r["status"] != "declined"),
            declined=sum(1 for r in rows if r["status"] == "declined"),
            pending=len(pending),
            median_minutes=rounded(_percentile(waits, 0.5)), p90_minutes=rounded(_percentile(waits, 0.9)),
            within_promise_share=(round(sum(1 for w in waits if w <= promise) / len(waits), 4)
                                  if waits else None),
            promise_minutes=promise,
            oldest_pending_minutes=rounded(max((_minutes(r["created_at"], now) for r in pending),
                                               default=None)),
        ))
    return out
