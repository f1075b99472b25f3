"""The guarantee fund: covering approved loans within its capacity, the loans' repayment or
default as the bank reports them, the banks' claims, and each bank's non-performing ratio.

Definitions (money is integer fen; one fund, the first row of ``guarantee_fund``):

- **cover**: the ledger entry booked when an approved, fund-covered application is covered; its
  amount is the loan's *covered principal*, the approved amount.
- A cover is **open** until the loan is repaid (a ``release`` entry of the same amount) or a
  claim is paid on it (a ``claim`` entry, whose amount is the money the fund paid).
- **Outstanding covered exposure** = Σ covers − Σ releases − Σ covered principal of the claimed
  loans = the principal of the open covers. A defaulted loan stays in it until its claim is paid.
- **Capacity**: a new cover of X fits while exposure + X ≤ ``limit_total_fen`` and the firm's
  exposure + X ≤ ``limit_per_firm_fen``.
- **A bank's NPL ratio** (basis points, rounded down) = covered principal of the bank's covered
  loans now in status ``defaulted`` ÷ covered principal of every cover ever booked for the bank
  (0 without covers). It is cumulative, so repayments of good loans neither lower nor raise it.
  Recomputed after each default (and repayment) the bank reports: above ``npl_limit_bp`` the bank
  gets ``Bank.suspended_at`` and no new covers; at a recompute at or below the limit (after the
  limit is raised, say) the suspension is lifted. A suspended bank still sees and manages the
  loans it has.
- Ledger kinds: ``capital``, ``cover``, ``release``, ``claim``, ``recovery`` move money or
  exposure; ``default`` is a memo of the principal outstanding at default (the cap of a claim)
  and counts in no sum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from piccolo.query.functions.aggregate import Count, Sum

from server import db
from server.audit.services import changes, record
from server.fund.schemas import (
    ClaimCreate,
    ClaimOut,
    FundBankLine,
    FundOverview,
    FundUpdate,
    LedgerEntry,
    LedgerPage,
    LoanDefault,
    LoanState,
)
from server.notifications import owners
from server.tables.financing import ApplicationEvent, Bank, LoanApplication
from server.tables.fund import FundLedger, GuaranteeFund
from server.texts import Text, reader_lang, t
from server.texts.stored import shown, store
from server.users.security import AuthUser

__all__ = [
    "closed_covers",
    "REFUSALS", "CoverState", "bank_npl", "cover", "cover_refusal", "cover_refusals", "cover_state", "exposure_fen", "file_claim", "ledger",
    "overview", "recompute_npl", "report_default", "report_repaid", "share_pct", "update_limits",
]

# A loan application's status as people say it (the API's codes stay as they are).
_STATUS: dict[str, Text] = {
    "pending": t("pending"), "approved": t("approved"), "declined": t("declined"),
    "disbursed": t("disbursed"), "defaulted": t("defaulted"), "repaid": t("repaid"),
}

REFUSALS: dict[str, Text] = {
    "bank_suspended": t("the bank's non-performing ratio on covered loans is above the fund's "
                        "limit: it is suspended from new fund-covered loans"),
    "fund_capacity_total": t("the guarantee fund's total capacity is used up"),
    "fund_capacity_firm": t("the firm has reached the fund's per-firm cover limit"),
}

_LIVE = ("approved", "disbursed")  # a loan the bank has granted and not yet closed
_CLOSING = ("release", "claim")  # entries that close a cover


def _now() -> datetime:
    return datetime.now(UTC)


async def _lock_application(application_id: int) -> None:
    """Row lock on PostgreSQL (SQLite's IMMEDIATE transaction already serialises writers).

    Always the application before the fund row, so two fund steps cannot deadlock.
    """
    if db.on_postgres():
        await LoanApplication.select(LoanApplication.id).where(
            LoanApplication.id == application_id).lock_rows()


def _conflict(text: Text, **extra: Any) -> ClientException:
    return ClientException(detail=text, status_code=409, extra=extra or None)


def _no_fund() -> ClientException:
    return _conflict(t("fund: no guarantee fund is configured"))


async def _fund(lock: bool = False) -> GuaranteeFund:
    """The fund; ``lock`` takes its row lock on PostgreSQL, which serialises every fund step
    (capacity checks, claims against the balance, NPL recomputes) across connections."""
    query = GuaranteeFund.objects().order_by(GuaranteeFund.id)
    if lock and db.on_postgres():
        query = query.lock_rows()
    fund = await query.first()
    if fund is None:
        raise _no_fund()
    return fund


def _share_of(fund: GuaranteeFund, grade: str) -> int:
    return {"A": fund.share_a_pct, "B": fund.share_b_pct, "C": fund.share_c_pct}.get(grade, 0)


async def share_pct(grade: str) -> int:
    """The fund's share (percent) of a loss on a loan to a firm of this grade; 0 for D or none."""
    return _share_of(await _fund(), grade.strip().upper())


def _int(value: Any) -> int:
    return int(value or 0)  # SUM is NULL over no rows, and numeric (Decimal) on PostgreSQL


def closed_covers() -> Any:
    """The applications whose cover was released or claimed (a sub-select)."""
    return FundLedger.select(FundLedger.application).where(
        FundLedger.kind.is_in(list(_CLOSING)) & FundLedger.application.is_not_null())


async def exposure_fen(fund_id: int, firm_id: int | None = None) -> int:
    """Outstanding covered exposure of the fund, or of one firm: the open covers' principal."""
    where = ((FundLedger.fund == fund_id) & (FundLedger.kind == "cover")
             & FundLedger.application.not_in(closed_covers()))
    if firm_id is not None:
        where &= FundLedger.application.firm == firm_id
    row = await FundLedger.select(Sum(FundLedger.amount_fen).as_alias("s")).where(where).first()
    return _int(row["s"] if row else 0)


async def cover_refusal(bank_id: int, firm_id: int, amount_fen: int) -> str | None:
    """None if the fund can cover a new loan of this size for this bank and firm; else the
    reason code (see :func:`cover_refusals`)."""
    return (await cover_refusals([bank_id], firm_id, amount_fen))[bank_id]


async def cover_refusals(bank_ids: Iterable[int], firm_id: int, amount_fen: int) -> dict[int, str | None]:
    """For each bank: None if the fund can cover a new loan of this size for the bank and firm,
    else the reason code ("bank_suspended" | "fund_capacity_total" | "fund_capacity_firm"), as
    the cover itself decides (:meth:`CoverState.refusals`)."""
    banks = sorted(set(bank_ids))
    if not banks:
        return {}
    return (await cover_state(firm_id)).refusals(banks, amount_fen)


@dataclass(frozen=True, slots=True)
class CoverState:
    """What the fund's answer to a new cover for one firm depends on, read at once: four reads
    however many products a match weighs (per product this was four reads each). A match may
    keep it until the database reports a change of the fund, its ledger or a bank
    (``server.changes``); the cover itself decides again under the fund's row lock."""

    fund: GuaranteeFund | None
    total_exposure_fen: int
    firm_exposure_fen: int
    suspended_banks: frozenset[int]

    def share_pct(self, grade: str) -> int:
        """As :func:`share_pct` (409 when no fund is configured)."""
        if self.fund is None:
            raise _no_fund()
        return _share_of(self.fund, grade.strip().upper())

    def refusals(self, bank_ids: Iterable[int], amount_fen: int) -> dict[int, str | None]:
        banks = sorted(set(bank_ids))
        if self.fund is None:
            return dict.fromkeys(banks, "fund_capacity_total")  # no fund, no capacity
        capacity = None
        if self.total_exposure_fen + amount_fen > self.fund.limit_total_fen:
            capacity = "fund_capacity_total"
        elif self.firm_exposure_fen + amount_fen > self.fund.limit_per_firm_fen:
            capacity = "fund_capacity_firm"
        return {b: "bank_suspended" if b in self.suspended_banks else capacity for b in banks}


async def cover_state(firm_id: int, fund: GuaranteeFund | None = None) -> CoverState:
    """The fund's state for a cover to ``firm_id``; ``fund`` when the caller holds its row lock."""
    if fund is None:
        fund = await GuaranteeFund.objects().order_by(GuaranteeFund.id).first()
    suspended = frozenset(r["id"] for r in await Bank.select(Bank.id).where(Bank.suspended_at.is_not_null()))
    if fund is None:
        return CoverState(None, 0, 0, suspended)
    return CoverState(fund, await exposure_fen(fund.id), await exposure_fen(fund.id, firm_id), suspended)


async def _application(application_id: int) -> dict[str, Any] | None:
    return await LoanApplication.select(
        LoanApplication.id, LoanApplication.firm, LoanApplication.status,
        LoanApplication.approved_amount_fen, LoanApplication.grade_at_apply,
        LoanApplication.fund_share_pct, LoanApplication.product.fund_covered.as_alias("covered"),
        LoanApplication.product.bank.as_alias("bank"),
    ).where(LoanApplication.id == application_id).first()


async def _entries(application_id: int) -> dict[str, dict[str, Any]]:
    """The fund's entries on one application, by kind (at most one of each)."""
    rows = await FundLedger.select(FundLedger.id, FundLedger.kind, FundLedger.amount_fen).where(
        FundLedger.application == application_id)
    return {r["kind"]: r for r in rows}


async def cover(application_id: int, by_user: int | None = None) -> None:
    """Books the cover of an approved, fund-covered application (exposure = approved amount).

    409 naming the reason when the fund refuses; a second call books nothing; joins the
    caller's transaction when there is one. The check and the booking are one step: the fund's
    row lock (PostgreSQL; SQLite's IMMEDIATE transaction has one writer) makes concurrent
    approvals take turns, each seeing the covers booked before it, and the index
    ``fund_ledger_once`` keeps a loan to one cover whatever the caller does. The fund share is the one the application recorded
    when it was made (0 — grade D, an excluded firm — is refused: a cover of nothing).
    """
    async with db.write_transaction():
        await _lock_application(application_id)
        app = await _application(application_id)
        if app is None:
            raise NotFoundException(t("application_id: no loan application {id}", id=application_id))
        fund = await _fund(lock=True)
        if "cover" in await _entries(application_id):
            return
        if not app["covered"]:
            raise _conflict(t("application {id}: its product is not covered by the fund",
                              id=application_id), reason="not_fund_covered")
        if app["status"] not in _LIVE or not app["approved_amount_fen"]:
            raise _conflict(t("application {id} is {status}: only an approved loan can be covered",
                              id=application_id, status=_STATUS.get(app["status"], app["status"])),
                            reason="not_approved")
        share = app["fund_share_pct"]
        if share <= 0:
            raise _conflict(t("application {id}: no fund share was recorded (grade {grade})",
                              id=application_id, grade=app["grade_at_apply"] or "-"),
                            reason="no_fund_share")
        amount = app["approved_amount_fen"]
        reason = (await cover_state(app["firm"], fund)).refusals([app["bank"]], amount)[app["bank"]]
        if reason is not None:
            why = REFUSALS[reason]
            raise _conflict(t("{reason}: {why}", reason=reason, why=why), reason=reason,
                            text_zh=why.render("zh"), text_en=why.render("en"))
        grade = app["grade_at_apply"] or "-"
        note = store(t("grade {grade}, fund share {share}%", grade=grade, share=share) if by_user is None
                    else t("grade {grade}, fund share {share}%, by user {user}", grade=grade, share=share,
                           user=by_user))
        await FundLedger.insert(FundLedger(
            fund=fund.id, kind="cover", amount_fen=amount, application=application_id,
            bank=app["bank"], at=_now(), note=note)).run()


async def _bank_books(fund_id: int) -> dict[int, dict[str, int]]:
    """Each bank's covered book: covers ever booked, defaulted ones, open covers, claims."""
    books: dict[int, dict[str, int]] = {}

    def book(bank_id: int) -> dict[str, int]:
        return books.setdefault(bank_id, dict.fromkeys(
            ("covered_loans", "covered_fen", "defaulted_loans", "defaulted_fen", "exposure_fen",
             "claims_fen"), 0))

    mine = FundLedger.fund == fund_id
    for r in await FundLedger.select(
        FundLedger.bank, FundLedger.application.status.as_alias("status"),
        Count(FundLedger.id).as_alias("n"), Sum(FundLedger.amount_fen).as_alias("s"),
    ).where(mine & (FundLedger.kind == "cover")).group_by(
        FundLedger.bank, FundLedger.application.status,
    ):
        b = book(r["bank"])
        b["covered_loans"] += _int(r["n"])
        b["covered_fen"] += _int(r["s"])
        if r["status"] == "defaulted":
            b["defaulted_loans"] += _int(r["n"])
            b["defaulted_fen"] += _int(r["s"])
    for r in await FundLedger.select(FundLedger.bank, Sum(FundLedger.amount_fen).as_alias("s")).where(
        mine & (FundLedger.kind == "cover") & FundLedger.application.not_in(closed_covers())
    ).group_by(FundLedger.bank):
        book(r["bank"])["exposure_fen"] = _int(r["s"])
    for r in await FundLedger.select(FundLedger.bank, Sum(FundLedger.amount_fen).as_alias("s")).where(
        mine & (FundLedger.kind == "claim")
    ).group_by(FundLedger.bank):
        book(r["bank"])["claims_fen"] = _int(r["s"])
    return books


def _npl_bp(defaulted_fen: int, covered_fen: int) -> int:
    return defaulted_fen * 10_000 // covered_fen if covered_fen else 0


async def bank_npl(bank_id: int) -> int:
    """The bank's NPL ratio on fund-covered loans, basis points (see the module docstring)."""
    fund = await _fund()
    b = (await _bank_books(fund.id)).get(bank_id)
    return _npl_bp(b["defaulted_fen"], b["covered_fen"]) if b else 0


async def recompute_npl(bank_id: int) -> tuple[int, bool]:
    """Recomputes the bank's NPL ratio and suspends (or reinstates) it; (ratio bp, suspended)."""
    async with db.write_transaction():
        fund = await _fund(lock=True)
        ratio = await bank_npl(bank_id)
        bank = await Bank.select(Bank.suspended_at).where(Bank.id == bank_id).first()
        suspended = bank is not None and bank["suspended_at"] is not None
        if ratio > fund.npl_limit_bp and not suspended:
            await Bank.update({Bank.suspended_at: _now()}).where(Bank.id == bank_id)
        elif ratio <= fund.npl_limit_bp and suspended:
            await Bank.update({Bank.suspended_at: None}).where(Bank.id == bank_id)
        return ratio, ratio > fund.npl_limit_bp


def _bank_of(user: AuthUser) -> int:
    if user.bank_id is None:
        raise PermissionDeniedException(t("your account is not linked to a bank"))
    return user.bank_id


async def _loan_of_bank(user: AuthUser, application_id: int) -> dict[str, Any]:
    """The application, if it is a loan of the caller's bank; locks it and then the fund."""
    bank_id = _bank_of(user)
    await _lock_application(application_id)
    app = await _application(application_id)
    if app is None:
        raise NotFoundException(t("application_id: no loan application {id}", id=application_id))
    if app["bank"] != bank_id:
        raise PermissionDeniedException(
            t("application_id: loan {id} is not a loan of your bank", id=application_id))
    await _fund(lock=True)
    return app


def _must_be_live(app: dict[str, Any], step: str) -> None:
    if app["status"] in _LIVE:
        return
    status = _STATUS.get(app["status"], app["status"])
    if step == "repaid":
        text = t("application {id} is {status}: only an approved or disbursed loan can be reported "
                 "repaid", id=app["id"], status=status)
    else:
        text = t("application {id} is {status}: only an approved or disbursed loan can be reported "
                 "in default", id=app["id"], status=status)
    raise _conflict(text, reason="not_live")


async def _set_status(app_id: int, status: str, at: datetime, by_user: int, note: str) -> None:
    await LoanApplication.update({LoanApplication.status: status}).where(
        LoanApplication.id == app_id)
    await ApplicationEvent.insert(ApplicationEvent(
        application=app_id, status=status, at=at, by_user=by_user, note=note)).run()


async def report_repaid(user: AuthUser, application_id: int) -> LoanState:
    """The bank reports a loan repaid in full: status repaid, and its cover (if any) released."""
    async with db.write_transaction():
        app = await _loan_of_bank(user, application_id)
        _must_be_live(app, "repaid")
        at = _now()
        entries = await _entries(application_id)
        released = 0
        if "cover" in entries and not any(k in entries for k in _CLOSING):
            fund = await _fund()
            released = entries["cover"]["amount_fen"]
            await FundLedger.insert(FundLedger(
                fund=fund.id, kind="release", amount_fen=released, application=application_id,
                bank=app["bank"], at=at, note=store(t("loan repaid")))).run()
        await _set_status(application_id, "repaid", at, user.id, store(t("Repaid in full")))
        await owners.loan_reported(application_id)
        ratio, suspended = await recompute_npl(app["bank"])
    return LoanState(application_id=application_id, status="repaid", changed_at=at,
                     covered="cover" in entries, released_fen=released, outstanding_fen=None,
                     bank_npl_bp=ratio, bank_suspended=suspended)


async def report_default(user: AuthUser, application_id: int, data: LoanDefault) -> LoanState:
    """The bank reports a loan in default: status defaulted, the outstanding principal noted
    (the cap of a claim), and the bank's NPL ratio recomputed, which may suspend it."""
    async with db.write_transaction():
        app = await _loan_of_bank(user, application_id)
        _must_be_live(app, "in default")
        outstanding = data.outstanding_yuan * 100
        if outstanding > (app["approved_amount_fen"] or 0):
            raise ValidationException(t(
                "outstanding_yuan: must not exceed the approved amount {approved:fen}",
                approved=app["approved_amount_fen"] or 0))
        at = _now()
        entries = await _entries(application_id)
        covered = "cover" in entries
        if covered:
            fund = await _fund()
            await FundLedger.insert(FundLedger(
                fund=fund.id, kind="default", amount_fen=outstanding, application=application_id,
                bank=app["bank"], at=at, note=store(t("a memo of the principal outstanding at default")))).run()
        said = data.note.strip()
        note = store(t("Reported in default by the bank, {outstanding:fen} outstanding ({said})",
                      outstanding=outstanding, said=said) if said
                    else t("Reported in default by the bank, {outstanding:fen} outstanding",
                           outstanding=outstanding))
        await _set_status(application_id, "defaulted", at, user.id, note)
        await owners.loan_reported(application_id, outstanding)
        ratio, suspended = await recompute_npl(app["bank"])
    return LoanState(application_id=application_id, status="defaulted", changed_at=at,
                     covered=covered, released_fen=0, outstanding_fen=outstanding,
                     bank_npl_bp=ratio, bank_suspended=suspended)


async def _balance_fen(fund: GuaranteeFund) -> tuple[int, int, int]:
    """(claims paid, number of claims, balance = capital + recoveries − claims paid)."""
    rows = await FundLedger.select(
        FundLedger.kind, Count(FundLedger.id).as_alias("n"),
        Sum(FundLedger.amount_fen).as_alias("s"),
    ).where((FundLedger.fund == fund.id) & FundLedger.kind.is_in(["claim", "recovery"])).group_by(
        FundLedger.kind)
    sums = {r["kind"]: (_int(r["n"]), _int(r["s"])) for r in rows}
    claims_n, claims = sums.get("claim", (0, 0))
    recoveries = sums.get("recovery", (0, 0))[1]
    return claims, claims_n, fund.capital_fen + recoveries - claims


async def file_claim(user: AuthUser, data: ClaimCreate) -> ClaimOut:
    """The fund pays its share of the bank's loss on a defaulted covered loan, once.

    paid = loss × the fund share recorded on the application / 100, rounded half up to the fen
    (exact for a loss in whole yuan). The claim closes the loan's cover.
    """
    async with db.write_transaction():
        app = await _loan_of_bank(user, data.application_id)
        fund = await _fund()
        entries = await _entries(data.application_id)
        if "cover" not in entries:
            raise _conflict(t("application_id: loan {id} is not covered by the fund",
                              id=data.application_id), reason="not_covered")
        if "claim" in entries:
            raise _conflict(t("application_id: a claim on loan {id} was already paid",
                              id=data.application_id), reason="already_claimed")
        if app["status"] != "defaulted" or "default" not in entries:
            raise _conflict(t("application_id: loan {id} is {status}: a claim needs a loan reported "
                              "in default", id=data.application_id,
                              status=_STATUS.get(app["status"], app["status"])),
                            reason="not_defaulted")
        loss = data.loss_yuan * 100
        outstanding = entries["default"]["amount_fen"]
        if loss > outstanding:
            raise ValidationException(t("loss_yuan: must not exceed the principal outstanding at "
                                        "default, {outstanding:fen}", outstanding=outstanding))
        share = app["fund_share_pct"]
        paid = (loss * share + 50) // 100
        _, _, balance = await _balance_fen(fund)
        if paid > balance:
            raise _conflict(t("fund: the claim of {paid:fen} exceeds the fund's balance of {balance:fen}",
                              paid=paid, balance=balance), reason="fund_balance")
        at = _now()
        claim_id = (await FundLedger.insert(FundLedger(
            fund=fund.id, kind="claim", amount_fen=paid, application=data.application_id,
            bank=app["bank"], at=at,
            note=store(t("loss {loss:yuan} x {share}%, by user {user}", loss=data.loss_yuan, share=share,
                        user=user.id)))).run())[0]["id"]
        exposure = await exposure_fen(fund.id)
    return ClaimOut(id=claim_id, application_id=data.application_id, bank_id=app["bank"],
                    loss_fen=loss, share_pct=share, paid_fen=paid, at=at, exposure_fen=exposure)


async def overview(user: AuthUser) -> FundOverview:
    """The fund's totals, and every bank's line for an admin or the caller's own for a bank."""
    only = _bank_of(user) if user.role == "bank_manager" else None
    fund = await _fund()
    claims, claims_n, balance = await _balance_fen(fund)
    exposure = await exposure_fen(fund.id)
    books = await _bank_books(fund.id)
    banks = Bank.select(Bank.id, Bank.code, Bank.name, Bank.suspended_at).order_by(Bank.id)
    if only is not None:
        banks = banks.where(Bank.id == only)
    lines = []
    for bank in await banks:
        b = books.get(bank["id"]) or dict.fromkeys(
            ("covered_loans", "covered_fen", "defaulted_loans", "defaulted_fen", "exposure_fen",
             "claims_fen"), 0)
        lines.append(FundBankLine(
            bank_id=bank["id"], bank_code=bank["code"], bank_name=bank["name"],
            covered_loans=b["covered_loans"], covered_principal_fen=b["covered_fen"],
            defaulted_loans=b["defaulted_loans"], defaulted_principal_fen=b["defaulted_fen"],
            npl_bp=_npl_bp(b["defaulted_fen"], b["covered_fen"]), exposure_fen=b["exposure_fen"],
            claims_paid_fen=b["claims_fen"], suspended=bank["suspended_at"] is not None,
            suspended_at=bank["suspended_at"]))
    return FundOverview(
        name=fund.name, capital_fen=fund.capital_fen, claims_paid_fen=claims, claims_count=claims_n,
        balance_fen=balance, exposure_fen=exposure, limit_total_fen=fund.limit_total_fen,
        limit_per_firm_fen=fund.limit_per_firm_fen,
        available_capacity_fen=max(0, fund.limit_total_fen - exposure),
        npl_limit_bp=fund.npl_limit_bp,
        share_pct={g: _share_of(fund, g) for g in "ABCD"}, banks=lines)


def _limits(fund: GuaranteeFund) -> dict[str, Any]:
    """The fund's limits as the API names them (money in yuan)."""
    return {"limit_total_yuan": fund.limit_total_fen // 100, "limit_per_firm_yuan": fund.limit_per_firm_fen // 100,
            "npl_limit_bp": fund.npl_limit_bp,
            "share_pct": {"A": fund.share_a_pct, "B": fund.share_b_pct, "C": fund.share_c_pct}}


async def update_limits(user: AuthUser, data: FundUpdate) -> FundOverview:
    """An admin's new limits, checked once merged with the current ones: the per-firm limit at
    most the total, shares not rising from A to C. A total below the exposure is allowed: it
    only stops new covers (``cover`` reads the limits under the fund's lock)."""
    reason = data.reason.strip()
    if not reason:
        raise ValidationException(t("{field}: must not be blank", field="reason"))
    async with db.write_transaction():
        fund = await _fund(lock=True)
        before = _limits(fund)
        shares = dict(before["share_pct"])
        if data.share_pct is not None:
            shares |= {g: v for g in "ABC" if (v := getattr(data.share_pct, g)) is not None}
        after = {
            "limit_total_yuan": before["limit_total_yuan"] if data.limit_total_yuan is None else data.limit_total_yuan,
            "limit_per_firm_yuan": (before["limit_per_firm_yuan"] if data.limit_per_firm_yuan is None
                                    else data.limit_per_firm_yuan),
            "npl_limit_bp": before["npl_limit_bp"] if data.npl_limit_bp is None else data.npl_limit_bp,
            "share_pct": shares,
        }
        if after["limit_per_firm_yuan"] > after["limit_total_yuan"]:
            raise ValidationException(t(
                "limit_per_firm_yuan: must not exceed the total limit {total:yuan}", total=after["limit_total_yuan"]))
        if not shares["A"] >= shares["B"] >= shares["C"]:
            raise ValidationException(t(
                "share_pct: the fund's share must not rise from grade A to C (A {a}%, B {b}%, C {c}%)",
                a=shares["A"], b=shares["B"], c=shares["C"]))
        await GuaranteeFund.update({
            GuaranteeFund.limit_total_fen: after["limit_total_yuan"] * 100,
            GuaranteeFund.limit_per_firm_fen: after["limit_per_firm_yuan"] * 100,
            GuaranteeFund.npl_limit_bp: after["npl_limit_bp"],
            GuaranteeFund.share_a_pct: shares["A"], GuaranteeFund.share_b_pct: shares["B"],
            GuaranteeFund.share_c_pct: shares["C"],
        }).where(GuaranteeFund.id == fund.id)
        await record(user, "fund.update", fund.name, {**changes(before, after), "reason": reason})
    return await overview(user)


_OLD_COVER = re.compile(r"^grade (\S+), fund share (\d+)%(?:, by user (\d+))?$")
_OLD_CLAIM = re.compile(r"^loss (\d+) yuan x (\d+)%, by user (\d+)$")


def _ledger_note(note: str | None) -> str:
    """A ledger note for the reader: the text it keeps, or for a row written before notes kept
    texts, its words read back into the catalogue where they are the platform's own."""
    note = note or ""
    old: Text | None = {
        "initial capital": t("initial capital"),
        "loan repaid": t("loan repaid"),
        "memo: principal outstanding at default": t("a memo of the principal outstanding at default"),
    }.get(note)
    if (m := _OLD_COVER.match(note)) is not None:
        old = (t("grade {grade}, fund share {share}%", grade=m[1], share=int(m[2])) if m[3] is None
               else t("grade {grade}, fund share {share}%, by user {user}", grade=m[1], share=int(m[2]),
                      user=int(m[3])))
    elif (m := _OLD_CLAIM.match(note)) is not None:
        old = t("loss {loss:yuan} x {share}%, by user {user}", loss=int(m[1]), share=int(m[2]), user=int(m[3]))
    return old.render(reader_lang()) if old is not None else shown(note)


async def ledger(limit: int, offset: int) -> LedgerPage:
    """Every ledger entry, newest first."""
    total = await FundLedger.count()
    rows = await FundLedger.select(
        FundLedger.id, FundLedger.kind, FundLedger.amount_fen, FundLedger.application,
        FundLedger.bank, FundLedger.at, FundLedger.note,
    ).order_by(FundLedger.at, FundLedger.id, ascending=False).limit(limit).offset(offset)
    return LedgerPage(total=total, limit=limit, offset=offset, entries=[
        LedgerEntry(id=r["id"], kind=r["kind"], amount_fen=r["amount_fen"],
                    application_id=r["application"], bank_id=r["bank"], at=r["at"], note=_ledger_note(r["note"]))
        for r in rows])
