"""The demo bank's book: borrowers and applicants it follows from the first day.

A bank manager signing in to the demo should see the product working: the bank's borrowers and
pending applicants, its consents, and the region's warnings on those firms in the alerts inbox.
The book is drawn from the generated region itself: the firms with a bank loan in the latest
month are the region's borrowers; the bank takes the most overdue of them and a spread of the
rest (so its book has the troubled firms a real book has), plus a few pending applicants:
half already owing another bank or tied by a guarantee, half without a loan. Written before
the first warning scan, so the scan's warnings on these firms reach the manager's inbox like
any other. Runs once (skipped when the bank has applications).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

from server.tables.consent import Consent
from server.tables.financing import ApplicationEvent, Bank, LoanApplication, LoanProduct
from server.tables.firms import Firm, Guarantee
from server.tables.scores import ScoreHistory
from server.tables.users import User

__all__ = ["seed_demo_book", "seed_demo_watchlist"]

BORROWERS = 40  # disbursed loans the demo bank holds
TROUBLED = 12  # of them, the most overdue borrowers of the region
APPLICANTS = 8  # pending applications from firms outside the bank's book
CONSENT_DAYS = 365
T = TypeVar("T")
WATCHED = 5  # firms the demo subscriber watches from the start


async def seed_demo_book(bank_code: str, exclude_firm: int | None = None) -> int:
    """Give the bank its book (see the module docstring); returns the applications written."""
    bank = await Bank.objects().where(Bank.code == bank_code).first()
    if bank is None:
        return 0
    products = await LoanProduct.select(LoanProduct.id, LoanProduct.fund_covered,
                                        LoanProduct.min_amount_fen, LoanProduct.min_term_months).where(
        LoanProduct.bank == bank.id).order_by(LoanProduct.id)
    if not products or await LoanApplication.exists().where(LoanApplication.product.is_in(
            [p["id"] for p in products])):
        return 0
    # A product without fund cover: the demo's loans book nothing on the guarantee fund.
    product = next((p for p in products if not p["fund_covered"]), products[0])
    latest = await _latest_loans()
    grades = await _latest_grades()
    by_uscc = {r["uscc"]: r["id"] for r in await Firm.select(Firm.id, Firm.uscc)}
    owners = {r["firm"] for r in await User.select(User.firm).where(User.firm.is_not_null())}
    skip = owners | ({exclude_firm} if exclude_firm else set())
    ranked = [(days, uscc) for uscc, days in latest.items() if by_uscc.get(uscc) not in skip]
    ranked.sort(key=lambda t: (-t[0], t[1]))
    troubled = [u for _, u in ranked[:TROUBLED]]
    rest = sorted(u for _, u in ranked[TROUBLED:])
    step = max(1, len(rest) // max(1, BORROWERS - TROUBLED))
    borrowers = troubled + rest[::step][: BORROWERS - len(troubled)]
    lending, chosen = set(latest), set(borrowers)
    tied = await _guarantee_firms()
    pool = sorted(u for u, fid in by_uscc.items()
                  if u not in chosen and fid not in skip and grades.get(fid) in {"A", "B", "C"})
    # Half of the applicants already owe another bank or stand in a guarantee (what the decision
    # screen's exposure is for), the rest have no loan and no tie.
    owing = _spread([u for u in pool if u in lending or by_uscc[u] in tied], APPLICANTS // 2)
    applicants = owing + _spread([u for u in pool if u not in lending and by_uscc[u] not in tied],
                                 APPLICANTS - len(owing))

    now = datetime.now(UTC)
    manager = await User.select(User.id).where((User.role == "bank_manager") & (User.bank == bank.id)).first()
    by_user = manager["id"] if manager else None
    written = 0
    for k, uscc in enumerate(borrowers + applicants):
        firm_id = by_uscc[uscc]
        pending = k >= len(borrowers)
        applied = now - timedelta(days=2 if pending else 120 + 7 * k)
        amount = product["min_amount_fen"] * (2 + k % 5)
        term = max(product["min_term_months"], 12)
        app = LoanApplication(
            firm=firm_id, product=product["id"], amount_fen=amount, term_months=term,
            purpose="流动资金周转" if k % 2 else "设备购置", status="pending" if pending else "disbursed",
            grade_at_apply=grades.get(firm_id, ""), created_at=applied, fund_share_pct=0,
            decided_at=None if pending else applied + timedelta(minutes=15 + 7 * (k % 6)),  # within the hour
            decided_by=None if pending else by_user,
            approved_amount_fen=None if pending else amount, rate_bp=None if pending else 380,
            approved_term_months=None if pending else term,
        )
        await app.save()
        events = [("pending", applied, None)]
        if not pending:
            events += [("approved", applied + timedelta(minutes=15 + 7 * (k % 6)), by_user),
                       ("disbursed", applied + timedelta(days=2), by_user)]
        await ApplicationEvent.insert(*[
            ApplicationEvent(application=app.id, status=s, at=at, by_user=u, note="") for s, at, u in events])
        # Granted with the application, for the life of the relationship: in force today.
        await Consent(firm=firm_id, bank=bank.id, scope="evaluation", granted_at=applied,
                      expires_at=now + timedelta(days=CONSENT_DAYS)).save()
        written += 1
    return written


async def seed_demo_watchlist(phone: str, owner_firm: int) -> int:
    """The demo subscriber's watchlist: the demo owner's firm and a spread of the firms tied by
    guarantees, where trouble travels. Written before the first scan, like the bank's book, so
    their warnings are in the subscriber's inbox at first sign-in. Skipped when the subscriber
    already watches something; returns the subscriptions written."""
    from server.tables.notifications import Subscription

    user = await User.select(User.id).where((User.phone == phone) & (User.role == "subscriber")).first()
    if user is None or await Subscription.exists().where(Subscription.user == user["id"]):
        return 0
    tied = sorted(await _guarantee_firms() - {owner_firm})
    firms = [owner_firm, *_spread(tied, WATCHED - 1)]
    now = datetime.now(UTC)
    await Subscription.insert(*[Subscription(user=user["id"], firm=f, created_at=now) for f in firms])
    return len(firms)


def _spread(items: list[T], n: int) -> list[T]:
    """``n`` items picked evenly through the sorted list."""
    step = max(1, len(items) // max(1, n))
    return items[::step][:n]


async def _guarantee_firms() -> set[int]:
    """Firms standing behind another firm's loan, or backed by one."""
    rows = await Guarantee.select(Guarantee.guarantor, Guarantee.guaranteed)
    return {r["guarantor"] for r in rows} | {r["guaranteed"] for r in rows}


async def _latest_loans() -> dict[str, int]:
    """The firms with a bank loan reported in the region's latest loan month: days overdue."""
    from server.tables.ingest import DeptRecord

    last = await DeptRecord.select(DeptRecord.event_date).where(
        (DeptRecord.source == "bank_loan") & DeptRecord.superseded_at.is_null()).order_by(
        DeptRecord.event_date, ascending=False).first()
    if last is None:
        return {}
    rows = await DeptRecord.select(DeptRecord.uscc, DeptRecord.days).where(
        (DeptRecord.source == "bank_loan") & (DeptRecord.event_date == last["event_date"])
        & DeptRecord.superseded_at.is_null())
    out: dict[str, int] = {}
    for r in rows:
        out[r["uscc"]] = max(out.get(r["uscc"], 0), int(r["days"] or 0))
    return out


async def _latest_grades() -> dict[int, str]:
    latest = await ScoreHistory.select(ScoreHistory.as_of).order_by(ScoreHistory.as_of, ascending=False).first()
    if latest is None:
        return {}
    return {r["firm"]: r["grade"] for r in await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade).where(
        ScoreHistory.as_of == latest["as_of"]).order_by(ScoreHistory.id)}
