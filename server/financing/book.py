"""The bank's post-loan book (issue 15, section 2): every live loan of the bank (approved,
disbursed or defaulted; a repaid loan leaves the book) followed since it was granted.

Per loan: the borrower's grade path since the grant and its grade now, the warnings raised
since, the data confidence of its latest evaluation, the loan's own events and the fund's cover,
and why the manager should act (defaulted, grade down, an open red warning, low data
confidence, the firm's consent lapsed). The loan relationship lets the bank see its loan, its
events, its cover and the warnings' public signals; the evaluation's content (grades, data
confidence, warning messages) needs the firm's active consent, as everywhere, and every firm
whose content is shown gets an access-log row (``what = "post_loan"``) the firm can read.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from server.consent.services import consented_pairs
from server.financing.book_schemas import BookEvent, BookLoan, BookOut, BookWarning, GradePoint
from server.risk.catalogue import titles
from server.tables.consent import AccessLog
from server.tables.financing import ApplicationEvent, LoanApplication
from server.tables.fund import FundLedger
from server.tables.risk import Warning
from server.tables.scores import ScoreHistory
from server.users.security import AuthUser

__all__ = ["LIVE", "loan_book"]

#: Loans on the book: granted and not yet repaid (a defaulted loan stays until it is repaid).
LIVE = ("approved", "disbursed", "defaulted")
_GRADES = "ABCD"


def _months(since: date, today: date) -> int:
    return max(0, (today.year - since.year) * 12 + today.month - since.month)


async def _covers(ids: list[int]) -> dict[int, str]:
    rows = await FundLedger.select(FundLedger.application, FundLedger.kind).where(
        FundLedger.application.is_in(ids) & FundLedger.kind.is_in(["cover", "release", "claim"]))
    kinds: dict[int, set[str]] = {}
    for r in rows:
        kinds.setdefault(r["application"], set()).add(r["kind"])
    return {i: ("claimed" if "claim" in k else "released" if "release" in k else "open") for i, k in kinds.items()}


async def _paths(firm_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each firm's scores, oldest first, one per date (the last run of the day)."""
    rows = await (ScoreHistory.select(ScoreHistory.firm, ScoreHistory.as_of, ScoreHistory.grade, ScoreHistory.score,
                                      ScoreHistory.data_confidence)
                  .where(ScoreHistory.firm.is_in(firm_ids)).order_by(ScoreHistory.as_of).order_by(ScoreHistory.id)
                  .output(load_json=True))
    out: dict[int, dict[date, dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["firm"], {})[r["as_of"]] = r
    return {f: list(days.values()) for f, days in out.items()}


def _act(status: str, steps: int | None, warnings: list[BookWarning], confidence: str | None,
         detail: bool) -> list[str]:
    act = []
    if status == "defaulted":
        act.append("defaulted")
    if steps is not None and steps > 0:
        act.append("grade_down")
    if any(w.level == "red" and w.closed_at is None for w in warnings):
        act.append("red_warning")
    if confidence == "low":
        act.append("low_confidence")
    if not detail:
        act.append("consent_lapsed")
    return act


async def loan_book(user: AuthUser, today: date) -> BookOut:
    """The manager's bank's live loans, those to act on first (see the module)."""
    bank = user.linked_bank()
    loans = await (LoanApplication.select(
        LoanApplication.id, LoanApplication.firm, LoanApplication.firm.uscc, LoanApplication.firm.name,
        LoanApplication.product.name, LoanApplication.amount_fen, LoanApplication.approved_amount_fen,
        LoanApplication.rate_bp, LoanApplication.approved_term_months, LoanApplication.status,
        LoanApplication.grade_at_apply, LoanApplication.decided_at, LoanApplication.created_at,
        LoanApplication.fund_share_pct,
    ).where((LoanApplication.product.bank == bank) & LoanApplication.status.is_in(list(LIVE)))
        .order_by(LoanApplication.id).limit(5000))
    if not loans:
        return BookOut(loans=0, principal_yuan=0, covered_yuan=0, to_act=0,
                       movement={"better": 0, "same": 0, "worse": 0, "withheld": 0}, items=[])
    ids = [r["id"] for r in loans]
    firms = sorted({r["firm"] for r in loans})
    consented = {f for f, _ in await consented_pairs([(f, bank) for f in firms])}
    covers = await _covers(ids)
    paths = await _paths(sorted(consented)) if consented else {}
    warn_rows = await (Warning.select(Warning.firm, Warning.rule_code, Warning.level, Warning.opened_at,
                                      Warning.closed_at, Warning.message_zh, Warning.message_en)
                       .where(Warning.firm.is_in(firms)).order_by(Warning.opened_at, ascending=False))
    events: dict[int, list[BookEvent]] = {}
    for e in await (ApplicationEvent.select().where(ApplicationEvent.application.is_in(ids))
                    .order_by(ApplicationEvent.at).order_by(ApplicationEvent.id)):
        events.setdefault(e["application"], []).append(BookEvent(status=e["status"], at=e["at"], note=e["note"]))

    items: list[BookLoan] = []
    for r in loans:
        granted = (r["decided_at"] or r["created_at"]).astimezone(UTC).date()
        detail = r["firm"] in consented
        path = [p for p in paths.get(r["firm"], []) if p["as_of"] >= granted] if detail else []
        latest = paths.get(r["firm"], [])[-1] if detail and paths.get(r["firm"]) else None
        grade_now = latest["grade"] if latest else None
        start = r["grade_at_apply"] or None
        steps = (_GRADES.index(grade_now) - _GRADES.index(start)
                 if grade_now in _GRADES and start in _GRADES else None) if detail else None
        confidence = (latest["data_confidence"] or {}).get("level") if latest else None
        since = datetime.combine(granted, datetime.min.time(), tzinfo=UTC)
        warnings = []
        for w in warn_rows:
            if w["firm"] != r["firm"] or (w["opened_at"] < since and w["closed_at"] is not None):
                continue  # raised since the grant, or still open from before it
            title_zh, title_en = titles(w["rule_code"])
            warnings.append(BookWarning(
                rule_code=w["rule_code"], level=w["level"], title_zh=title_zh, title_en=title_en,
                opened_at=w["opened_at"], closed_at=w["closed_at"],
                message_zh=w["message_zh"] if detail else None, message_en=w["message_en"] if detail else None))
        items.append(BookLoan(
            application_id=r["id"], firm_uscc=r["firm.uscc"], firm_name=r["firm.name"], product=r["product.name"],
            amount_yuan=(r["approved_amount_fen"] or r["amount_fen"] or 0) // 100, rate_bp=r["rate_bp"],
            term_months=r["approved_term_months"], status=r["status"], granted_on=granted,
            months_on_book=_months(granted, today), fund_share_pct=r["fund_share_pct"] or 0,
            cover=covers.get(r["id"], "none"), detail=detail, grade_at_grant=r["grade_at_apply"] or "",
            grade_now=grade_now, grade_steps=steps,
            grade_path=[GradePoint(as_of=p["as_of"], grade=p["grade"], score=p["score"]) for p in path],
            data_confidence=confidence, warnings=warnings[:20], events=events.get(r["id"], []),
            act=_act(r["status"], steps, warnings, confidence, detail)))
    items.sort(key=lambda b: (not b.act, -len(b.act), b.application_id))
    shown = sorted({r["firm"] for r in loans if r["firm"] in consented})
    if shown:
        now = datetime.now(UTC)
        await AccessLog.insert(*[AccessLog(firm=f, viewer=user.id, viewer_role=user.role, bank=bank, what="post_loan",
                                           at=now) for f in shown]).run()
    moved = Counter("withheld" if b.grade_steps is None else "worse" if b.grade_steps > 0
                    else "better" if b.grade_steps < 0 else "same" for b in items)
    return BookOut(
        loans=len(items), principal_yuan=sum(b.amount_yuan for b in items),
        covered_yuan=sum(b.amount_yuan * b.fund_share_pct // 100 for b in items if b.cover == "open"),
        to_act=sum(1 for b in items if b.act),
        movement={k: moved.get(k, 0) for k in ("better", "same", "worse", "withheld")}, items=items)
