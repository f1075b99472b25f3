"""What the platform tells a firm's owners, when it happens (issue 18).

A bank's decision on their application, a loan of theirs reported in default or repaid, the
outcome of their objection, and a bank using their consent (once a day per bank) each become a
notification in every active owner account of the
firm: in the inbox and pushed on the live stream, with the Chinese title (the stored title) and
the English one (``body.title_en``), so each owner reads it in the app's language. Warnings on
the firm reach its owners as watchers (``services._watchers``), with the message and evidence.

Each function is awaited inside the caller's transaction, so the notification exists exactly when
the change it reports does.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from server.notifications.fanout import notify_users
from server.tables.financing import Bank, LoanApplication
from server.tables.users import User

__all__ = ["application_decided", "evaluation_viewed", "grade_changed_by_profile", "loan_reported", "money_en",
           "money_zh", "objection_resolved", "owner_ids"]


def money_zh(fen: int | None) -> str:
    """An amount as Chinese readers say it: "60万元", "1.25万元", "8,500元"."""
    yuan = (fen or 0) // 100
    if yuan >= 10_000:
        return f"{yuan / 10_000:,.4f}".rstrip("0").rstrip(".") + "万元"
    return f"{yuan:,}元"


def money_en(fen: int | None) -> str:
    """An amount as English readers say it: "¥600,000"."""
    return f"¥{(fen or 0) // 100:,}"


async def owner_ids(firm_id: int) -> list[int]:
    """The active owner accounts of a firm."""
    rows = await User.select(User.id).where(
        (User.firm == firm_id) & (User.role == "owner") & (User.is_active == True))  # noqa: E712
    return [r["id"] for r in rows]


async def _tell(firm_id: int, kind: str, level: str, title_zh: str, title_en: str,
                body: dict[str, Any], dedup_key: str) -> int:
    users = await owner_ids(firm_id)
    if not users:
        return 0
    return await notify_users(users, kind=kind, level=level, title_zh=title_zh, title_en=title_en,
                              body=body, dedup_key=dedup_key, firm_id=firm_id)


async def _application(application_id: int) -> dict[str, Any]:
    row = await LoanApplication.select(
        LoanApplication.id, LoanApplication.firm, LoanApplication.firm.uscc, LoanApplication.status,
        LoanApplication.amount_fen, LoanApplication.approved_amount_fen, LoanApplication.rate_bp,
        LoanApplication.approved_term_months, LoanApplication.decline_text,
        LoanApplication.product.name, LoanApplication.product.bank.name,
    ).where(LoanApplication.id == application_id).first()
    if row is None:
        raise LookupError(f"no application {application_id}")
    return row


async def application_decided(application_id: int) -> int:
    """The bank approved or declined the application: tell the owners, with the terms or the
    bank's reason."""
    a = await _application(application_id)
    bank, product = a["product.bank.name"], a["product.name"]
    body: dict[str, Any] = {"application_id": a["id"], "uscc": a["firm.uscc"], "status": a["status"],
                            "bank": bank, "product": product}
    if a["status"] == "approved":
        amount = a["approved_amount_fen"]
        rate = (a["rate_bp"] or 0) / 100
        term = a["approved_term_months"]
        body |= {"approved_amount_yuan": (amount or 0) // 100, "rate_bp": a["rate_bp"], "term_months": term}
        return await _tell(
            a["firm"], "application", "blue",
            f"贷款申请已获批：{bank}「{product}」{money_zh(amount)}，年利率{rate:.2f}%，{term}个月",
            f"Loan approved: {bank} {product}, {money_en(amount)} at {rate:.2f}% for {term} months",
            body, f"application:{a['id']}:approved")
    body["reason"] = a["decline_text"]
    return await _tell(
        a["firm"], "application", "yellow",
        f"贷款申请未获批：{bank}「{product}」，原因：{a['decline_text']}",
        f"Loan declined: {bank} {product}; reason: {a['decline_text']}",
        body, f"application:{a['id']}:declined")


async def loan_reported(application_id: int, outstanding_fen: int | None = None) -> int:
    """The bank reported the loan in default (red: it weighs on the firm's credit) or repaid."""
    a = await _application(application_id)
    bank, product = a["product.bank.name"], a["product.name"]
    body = {"application_id": a["id"], "uscc": a["firm.uscc"], "status": a["status"], "bank": bank,
            "product": product, "outstanding_yuan": None if outstanding_fen is None else outstanding_fen // 100}
    if a["status"] == "defaulted":
        return await _tell(
            a["firm"], "loan", "red",
            f"银行已报告贷款违约：{bank}「{product}」，未还本金{money_zh(outstanding_fen)}。请尽快与银行联系",
            f"Loan reported in default: {bank} {product}, {money_en(outstanding_fen)} outstanding. "
            "Contact the bank at once",
            body, f"loan:{a['id']}:defaulted")
    return await _tell(
        a["firm"], "loan", "blue", f"贷款已结清：{bank}「{product}」",
        f"Loan repaid in full: {bank} {product}", body, f"loan:{a['id']}:repaid")


async def objection_resolved(objection: dict[str, Any]) -> int:
    """The department corrected the record or rejected the objection (``objection``: its id,
    firm, status, resolution and the record's source)."""
    corrected = objection["status"] == "corrected"
    body = {"objection_id": objection["id"], "status": objection["status"],
            "resolution": objection["resolution"], "source": objection.get("source")}
    if corrected:
        zh = f"异议已处理：部门已更正记录（{objection['resolution']}），将按更正后的记录重新评分"
        en = f"Objection upheld: the record was corrected ({objection['resolution']}); the firm is re-scored on it"
    else:
        zh = f"异议被驳回：{objection['resolution']}"
        en = f"Objection rejected: {objection['resolution']}"
    return await _tell(objection["firm"], "objection", "blue" if corrected else "yellow", zh, en, body,
                       f"objection:{objection['id']}:{objection['status']}")


async def grade_changed_by_profile(firm_id: int, old: str, new: str, version: str, reason: str) -> int:
    """An admin's weight profile (e.g. crisis relief) changed the firm's grade: say so, and why."""
    worse = new > old  # grades run A (best) to D
    return await _tell(
        firm_id, "grade", "yellow" if worse else "blue",
        f"评分规则调整：您的信用等级由{old}级调整为{new}级（{reason}）",
        f"Scoring rules adjusted: your grade moved from {old} to {new} ({reason})",
        {"grade_from": old, "grade_to": new, "weight_profile_version": version, "reason": reason},
        f"profile:{version}:grade")


async def evaluation_viewed(firm_id: int, viewer_role: str, bank_id: int | None, day: date) -> int:
    """A bank opened the firm's evaluation under the firm's consent (or an admin did): tell the
    owners, once a day per bank (every view is in the access log)."""
    if viewer_role == "bank_manager" and bank_id is not None:
        row = await Bank.select(Bank.name).where(Bank.id == bank_id).first()
        who_zh = who_en = row["name"] if row else f"bank {bank_id}"
        who = f"bank:{bank_id}"
    else:
        who_zh, who_en, who = "平台管理员", "A platform admin", viewer_role
    consented = bank_id is not None  # an admin reads without consent, and is logged all the same
    return await _tell(
        firm_id, "consent", "blue",
        f"{who_zh}查看了您的信用评价" + ("（依据您的授权）" if consented else ""),
        f"{who_en} viewed your credit evaluation" + (" (under your consent)" if consented else ""),
        {"viewer_role": viewer_role, "bank_id": bank_id, "bank": who_zh if bank_id is not None else None,
         "day": day.isoformat()},
        f"viewed:{who}:{day.isoformat()}")
