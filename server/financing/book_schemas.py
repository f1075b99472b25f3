"""Structs of the bank's post-loan book (issue 15, section 2)."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

__all__ = ["BookEvent", "BookLoan", "BookOut", "BookWarning", "GradePoint"]


class GradePoint(msgspec.Struct):
    as_of: date
    grade: str
    score: int


class BookWarning(msgspec.Struct):
    """A warning raised on the borrower since the loan was granted: the rule, its level and
    dates for every manager of the bank; the message only while the firm's consent is active."""

    rule_code: str
    level: str
    title_zh: str
    title_en: str
    opened_at: datetime
    closed_at: datetime | None
    message_zh: str | None = None
    message_en: str | None = None


class BookEvent(msgspec.Struct):
    status: str
    at: datetime
    note: str


class BookLoan(msgspec.Struct):
    """One loan of the bank followed since it was granted. ``detail`` says whether the firm's
    consent is active: without it the grade path, the current grade and the data confidence
    are withheld (the bank still sees its own loan, its events, the fund cover and the public
    signals of the warnings)."""

    application_id: int
    firm_uscc: str
    firm_name: str
    product: str
    amount_yuan: int
    rate_bp: int | None
    term_months: int | None
    status: str  # approved / disbursed / defaulted
    granted_on: date
    months_on_book: int
    fund_share_pct: int
    cover: str  # none / open / claimed / released
    detail: bool
    grade_at_grant: str
    grade_now: str | None
    grade_steps: int | None  # grades lost (+) or gained (-) since the grant; None withheld or unknown
    grade_path: list[GradePoint]
    data_confidence: str | None  # high / medium / low (None withheld or unknown)
    warnings: list[BookWarning]
    events: list[BookEvent]
    act: list[str]  # why to act: defaulted, grade_down, red_warning, low_confidence, consent_lapsed


class BookOut(msgspec.Struct):
    """The bank's live loans (granted, not repaid) and what moved since each was granted."""

    loans: int
    principal_yuan: int  # the principal granted on the live loans
    covered_yuan: int
    to_act: int
    movement: dict[str, int]  # better / same / worse / withheld
    items: list[BookLoan]
