"""Structs of the guarantee-fund routes and the loan lifecycle steps a bank reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

__all__ = [
    "ClaimCreate", "ClaimOut", "FundBankLine", "FundOverview", "FundShares", "FundUpdate", "LedgerEntry",
    "LedgerPage",
    "LoanDefault", "LoanState", "MAX_ID",
]

MAX_ID = 2**31 - 1  # ids are 32-bit serials: a larger one is bad input, not a database error

# ¥10 billion: far above any loan here, and yuan × 100 × 100 stays well inside a BigInt.
_MAX_YUAN = 10_000_000_000


class LoanDefault(msgspec.Struct):
    """The bank reports a loan in default, with the principal still outstanding."""

    outstanding_yuan: Annotated[int, msgspec.Meta(ge=1, le=_MAX_YUAN, examples=[800_000],
                                                  description="principal outstanding, yuan")]
    note: Annotated[str, msgspec.Meta(max_length=500, examples=["90 days past due"])] = ""


class ClaimCreate(msgspec.Struct):
    """The bank claims the fund's share of its loss on a defaulted, fund-covered loan."""

    application_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, examples=[42])]
    loss_yuan: Annotated[int, msgspec.Meta(ge=1, le=_MAX_YUAN, examples=[750_000],
                                           description="the bank's loss, yuan; at most the "
                                                       "outstanding principal reported at default")]


class LoanState(msgspec.Struct):
    """A loan after a lifecycle step, with what it did to the fund and the bank's standing."""

    application_id: int
    status: str
    changed_at: datetime
    covered: bool  # the fund booked a cover for this loan
    released_fen: int  # covered exposure released by this step (repayment), else 0
    outstanding_fen: int | None  # principal outstanding reported at default
    bank_npl_bp: int  # the bank's non-performing ratio after this step, basis points
    bank_suspended: bool  # the bank is suspended from new fund-covered loans


class ClaimOut(msgspec.Struct):
    id: int
    application_id: int
    bank_id: int
    loss_fen: int
    share_pct: int  # the fund's share recorded on the application
    paid_fen: int  # loss_fen × share_pct / 100, rounded half up to the fen
    at: datetime
    exposure_fen: int  # the fund's outstanding covered exposure after the claim


class FundBankLine(msgspec.Struct):
    """One bank's covered book at the fund."""

    bank_id: int
    bank_code: str
    bank_name: str
    covered_loans: int  # every cover ever booked for the bank
    covered_principal_fen: int
    defaulted_loans: int
    defaulted_principal_fen: int
    npl_bp: int  # defaulted_principal / covered_principal, basis points, rounded down
    exposure_fen: int  # the bank's open covers
    claims_paid_fen: int
    suspended: bool
    suspended_at: datetime | None


class FundOverview(msgspec.Struct):
    name: str
    capital_fen: int
    claims_paid_fen: int
    claims_count: int
    balance_fen: int  # capital + recoveries - claims paid: what the fund can still pay out
    exposure_fen: int  # outstanding covered exposure (open covers' principal)
    limit_total_fen: int
    limit_per_firm_fen: int
    available_capacity_fen: int  # limit_total - exposure, not below 0
    npl_limit_bp: int
    share_pct: dict[str, int]  # the fund's share of a loss by grade
    banks: list[FundBankLine]  # every bank for an admin; a bank manager's own bank


class LedgerEntry(msgspec.Struct):
    id: int
    kind: str  # capital | cover | release | default | claim | recovery
    amount_fen: int
    application_id: int | None
    bank_id: int | None
    at: datetime
    note: str


class LedgerPage(msgspec.Struct):
    total: int
    limit: int
    offset: int
    entries: list[LedgerEntry]  # newest first


SharePct = Annotated[int, msgspec.Meta(ge=0, le=100, examples=[80])]
LimitYuan = Annotated[int, msgspec.Meta(ge=0, le=_MAX_YUAN, examples=[200_000_000])]


class FundShares(msgspec.Struct):
    """The fund's share of a loss by the borrower's grade, percent (absent: unchanged)."""

    A: SharePct | None = None
    B: SharePct | None = None
    C: SharePct | None = None


class FundUpdate(msgspec.Struct):
    """New limits of the guarantee fund (absent: unchanged), and why."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500, examples=["理事会决议调整额度"],
                                        description="why: kept in the audit log")]
    limit_total_yuan: Annotated[LimitYuan | None, msgspec.Meta(
        description="the fund's total cover; below the exposure it only stops new covers")] = None
    limit_per_firm_yuan: Annotated[LimitYuan | None, msgspec.Meta(
        description="cover per firm; at most the total")] = None
    npl_limit_bp: Annotated[int, msgspec.Meta(ge=0, le=10_000, examples=[300], description=(
        "a bank's NPL ratio on covered loans above this suspends it, basis points"))] | None = None
    share_pct: Annotated[FundShares | None, msgspec.Meta(
        examples=[{"A": 80, "B": 60, "C": 40}], description="A >= B >= C")] = None
