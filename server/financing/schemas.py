"""Structs of the financing routes: products, matching, applications, decisions, reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from server.firms.schemas import Evaluation

__all__ = [
    "ApplicationCreate",
    "ApplicationDetail",
    "ApplicationEventOut",
    "ApplicationHistoryItem",
    "ApplicationOut",
    "ApplicationsCreated",
    "BankAdminOut",
    "BankCreate",
    "BankDecisionTimes",
    "BankUpdate",
    "ConsentGranted",
    "DecisionCreate",
    "Exposure",
    "MatchReason",
    "MatchRequest",
    "MatchResult",
    "ProductMatch",
    "ProductAdminOut",
    "ProductCreate",
    "ProductOut",
    "ProductUpdate",
]

AmountYuan = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000, examples=[800_000],
                                         description="loan amount in yuan (元)")]
TermMonths = Annotated[int, msgspec.Meta(ge=1, le=360, examples=[24], description="term in months")]
Purpose = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["采购原材料"],
                                      description="what the money is for")]


class ProductOut(msgspec.Struct):
    id: int
    bank_id: int
    bank_name: str
    name: str
    min_amount_yuan: int
    max_amount_yuan: int
    min_term_months: int
    max_term_months: int
    min_rate_bp: int
    max_rate_bp: int
    min_rate_pct: float
    max_rate_pct: float
    eligible_grades: list[str]
    industries: list[str]  # GB/T 4754 section letters; empty = every industry
    collateral_free: bool
    fund_covered: bool


class ProductAdminOut(ProductOut):
    """A product as an admin keeps it: active or withdrawn."""

    active: bool


class BankAdminOut(msgspec.Struct):
    id: int
    code: str
    name: str
    suspended: bool  # from new fund-covered loans (the fund's NPL rule, or an admin)
    suspended_at: datetime | None
    managers: int  # the bank's active bank-manager accounts
    products: list[ProductAdminOut]  # every product of the bank, withdrawn ones too, by id


Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500, examples=["年度额度调整"],
                                     description="why: kept in the audit log")]
BankCode = Annotated[str, msgspec.Meta(min_length=2, max_length=20, pattern=r"^[A-Z0-9_-]+$",
                                       examples=["WHCB"], description="A-Z, 0-9, _ and -")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["威海市商业银行"])]
RateBp = Annotated[int, msgspec.Meta(ge=1, le=10_000, examples=[420],
                                     description="annual rate in basis points")]
Grade = Literal["A", "B", "C", "D"]
Section = Literal["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P",
                  "Q", "R", "S", "T"]
Grades = Annotated[list[Grade], msgspec.Meta(min_length=1, max_length=4, examples=[["A", "B"]],
                                             description="eligible grades, no duplicates")]
Sections = Annotated[list[Section], msgspec.Meta(max_length=20, examples=[["C", "F"]],
                                                 description="GB/T 4754 sections; empty = every industry")]


class BankCreate(msgspec.Struct):
    code: BankCode
    name: Name


class BankUpdate(msgspec.Struct):
    reason: Reason
    name: Name | None = None
    suspended: Annotated[bool, msgspec.Meta(
        examples=[False], description="true suspends the bank from new fund-covered loans; "
                                      "false lifts a suspension")] | None = None


class ProductCreate(msgspec.Struct):
    bank_code: BankCode
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["科创贷"])]
    min_amount_yuan: AmountYuan
    max_amount_yuan: AmountYuan
    min_term_months: TermMonths
    max_term_months: TermMonths
    min_rate_bp: RateBp
    max_rate_bp: RateBp
    eligible_grades: Grades
    industries: Sections = []
    collateral_free: bool = False
    fund_covered: bool = False


class ProductUpdate(msgspec.Struct):
    """Any of a product's terms (null or absent: unchanged), and why."""

    reason: Reason
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["科创贷"])] | None = None
    min_amount_yuan: AmountYuan | None = None
    max_amount_yuan: AmountYuan | None = None
    min_term_months: TermMonths | None = None
    max_term_months: TermMonths | None = None
    min_rate_bp: RateBp | None = None
    max_rate_bp: RateBp | None = None
    eligible_grades: Grades | None = None
    industries: Sections | None = None
    collateral_free: bool | None = None
    fund_covered: bool | None = None
    active: Annotated[bool, msgspec.Meta(examples=[True],
                                         description="false withdraws the product")] | None = None


class MatchRequest(msgspec.Struct):
    amount_yuan: AmountYuan
    term_months: TermMonths
    purpose: Purpose


class MatchReason(msgspec.Struct, frozen=True):
    code: str
    text_zh: str
    text_en: str


class ProductMatch(msgspec.Struct):
    product: ProductOut
    fits: bool
    reasons: list[MatchReason]  # why it fits, or every reason it does not
    expected_min_rate_bp: int
    expected_max_rate_bp: int
    expected_min_rate_pct: float
    expected_max_rate_pct: float
    collateral_free: bool
    # The fund's share of a loss for this firm's grade on a covered product (shown even when the
    # product does not fit); 0 if not covered, for grade D, or for a dishonest-listed firm.
    fund_share_pct: int


class MatchResult(msgspec.Struct):
    firm_uscc: str
    grade: str | None
    grade_as_of: date | None
    dishonest_listed: bool
    collateral_free_cap_yuan: int
    amount_yuan: int
    term_months: int
    purpose: str
    matches: list[ProductMatch]  # fitting first, then by expected rate


class ApplicationCreate(msgspec.Struct):
    product_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=10, examples=[[1, 3]])]
    amount_yuan: AmountYuan
    term_months: TermMonths
    purpose: Purpose
    confirm_consent: Annotated[bool, msgspec.Meta(
        examples=[True],
        description="must be true: grants each chosen product's bank access to the evaluation",
    )] = False


class ApplicationEventOut(msgspec.Struct):
    status: str
    at: datetime
    by_user: int | None
    note: str  # what happened, in the reader's language (rendered from the recorded note)
    text_zh: str = ""  # what happened, for people: in Chinese, money as 万元
    text_en: str = ""  # and in English (a bank's own words are quoted as written)


class ApplicationOut(msgspec.Struct):
    id: int
    firm_uscc: str
    firm_name: str
    product_id: int
    product_name: str
    bank_id: int
    bank_name: str
    amount_yuan: int
    term_months: int
    purpose: str
    status: str
    grade_at_apply: str
    fund_share_pct: int
    created_at: datetime
    decided_at: datetime | None
    approved_amount_yuan: int | None
    rate_bp: int | None
    rate_pct: float | None
    approved_term_months: int | None
    decline_code: str | None
    decline_text: str | None


class Exposure(msgspec.Struct):
    """What the firm already owes and stands behind, as the platform knows it on the day."""

    loans_outstanding: int  # the firm's loans approved or disbursed on the platform, not closed
    outstanding_yuan: int
    with_this_bank_yuan: int  # the part of it lent by the bank looking
    defaulted_loans: int  # loans on the platform the firm defaulted on
    fund_cover_yuan: int  # the guarantee fund's cover booked on the outstanding loans
    guarantees_given: int  # guarantees in force where the firm stands behind another firm
    guarantees_given_yuan: int
    guarantees_received: int  # guarantees in force where another firm stands behind this one
    guarantees_received_yuan: int
    # What the banks' own feed says (all banks, on the platform or not), its latest month:
    bank_debt_month: date | None = None  # None: no bank loan reported for the firm
    bank_debt_yuan: int = 0  # outstanding balance at that month's end
    bank_days_overdue: int = 0  # the most days any of those loans is overdue


class ApplicationHistoryItem(msgspec.Struct):
    """One of the firm's other applications on the platform (no other bank's price or words)."""

    id: int
    bank_name: str
    product_name: str
    amount_yuan: int
    term_months: int
    status: str
    created_at: datetime
    decided_at: datetime | None
    approved_amount_yuan: int | None


class ApplicationDetail(ApplicationOut):
    events: list[ApplicationEventOut]  # every state change, oldest first
    evaluation: Evaluation | None = None  # attached for the bank manager while consent is active
    evaluation_note: str | None = None  # why no evaluation is attached, if it is not
    # With the evaluation (consent active), for the bank manager deciding: what the firm owes and
    # guarantees, and its other applications, newest first.
    exposure: Exposure | None = None
    history: list[ApplicationHistoryItem] | None = None


class ConsentGranted(msgspec.Struct):
    bank_id: int
    bank_name: str
    consent_id: int
    expires_at: datetime
    text_zh: str
    text_en: str


class ApplicationsCreated(msgspec.Struct):
    applications: list[ApplicationOut]
    consents: list[ConsentGranted]


class DecisionCreate(msgspec.Struct):
    decision: Annotated[Literal["approve", "decline"], msgspec.Meta(examples=["approve"])]
    amount_yuan: Annotated[int, msgspec.Meta(
        ge=1, le=1_000_000_000, examples=[500_000], description="approve: defaults to the amount applied for")] | None = None
    rate_bp: Annotated[int, msgspec.Meta(
        ge=1, le=10_000, examples=[420], description="approve (required): annual rate in basis points")] | None = None
    term_months: Annotated[int, msgspec.Meta(
        ge=1, le=360, examples=[24], description="approve: defaults to the term applied for")] | None = None
    reason_code: Annotated[str, msgspec.Meta(
        max_length=30, examples=["insufficient_cash_flow"], description="decline (required): a decline code")] | None = None
    reason_text: Annotated[str, msgspec.Meta(
        max_length=500, examples=["近12个月经营现金流为负"],
        description="decline (required): the reason in words, for the owner")] | None = None


class BankDecisionTimes(msgspec.Struct):
    bank_id: int
    bank_name: str
    decided: int
    approved: int
    declined: int
    pending: int
    median_minutes: float | None  # created_at -> decided_at, decided applications
    p90_minutes: float | None
    within_promise_share: float | None  # share decided within promise_minutes, 0..1
    promise_minutes: int
    oldest_pending_minutes: float | None
