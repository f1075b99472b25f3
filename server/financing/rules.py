"""The matching rules: who may borrow what, as a frozen config (Weihai's rules by default).

Weihai's 信易贷 rules name an A-grade firm's collateral-free ceiling (¥5,000,000) and the
guarantee fund's share of a loss by grade (A 80%, B 60%, C 40%, D none). They do not name
ceilings for B and C; we set them to fall with the fund's share, so a bank's unsecured exposure
to a weaker firm shrinks: B ¥2,000,000 (40% of A's), C ¥1,000,000 (20%), D nothing (D firms
borrow only against collateral). The fund's shares themselves are the fund's configuration
(``server.fund.services.share_pct``); here we only say which grades the fund may cover at all.

A region with other rules builds its own ``MatchingRules`` (``dataclasses.replace`` on
``WEIHAI_RULES``) and puts it in ``app.state.financing_rules``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from server.texts import Text, t

__all__ = [
    "DECLINE_CODES",
    "GRADES",
    "FUND_LIMITS",
    "REASONS",
    "WEIHAI_RULES",
    "MatchingRules",
    "reason_text",
]

GRADES = ("A", "B", "C", "D")


def _frozen(d: dict) -> Mapping:
    return MappingProxyType(d)


@dataclass(frozen=True, slots=True)
class MatchingRules:
    """Region-wide lending rules applied on top of each product's own limits."""

    # Largest collateral-free loan (yuan) by grade; a collateral-free product above it does not fit.
    collateral_free_cap_yuan: Mapping[str, int] = field(default_factory=lambda: _frozen(
        {"A": 5_000_000, "B": 2_000_000, "C": 1_000_000, "D": 0}))
    # Grades the guarantee fund may cover; a fund-covered product is closed to the others.
    fund_grades: str = "ABC"
    # A firm with an active dishonest-debtor (失信被执行人) listing gets no product at all.
    exclude_dishonest: bool = True
    # Where in a product's rate range a grade is expected to land, as fractions of the range.
    rate_band: Mapping[str, tuple[float, float]] = field(default_factory=lambda: _frozen(
        {"A": (0.0, 0.4), "B": (0.2, 0.6), "C": (0.5, 0.9), "D": (0.7, 1.0)}))
    # Applying grants the product's bank a consent to the evaluation for this many days.
    consent_days: int = 90
    # The platforms promise a decision within this many minutes of the application.
    decision_promise_minutes: int = 60

    def cap_fen(self, grade: str) -> int:
        return self.collateral_free_cap_yuan.get(grade, 0) * 100

    def expected_rate_bp(self, grade: str | None, lo: int, hi: int) -> tuple[int, int]:
        """The part of a product's rate range [lo, hi] a firm of this grade can expect."""
        if grade is None:
            return lo, hi
        f0, f1 = self.rate_band.get(grade, (0.0, 1.0))
        return round(lo + f0 * (hi - lo)), round(lo + f1 * (hi - lo))


WEIHAI_RULES = MatchingRules()

# Why a product fits or not: code -> its text from the catalogue (money fields in fen).
REASONS: Mapping[str, Callable[..., Text]] = _frozen({
    # refusals
    "not_scored": lambda: t("The firm has not been scored yet"),
    "dishonest_listed": lambda: t("The firm is listed as a dishonest judgment debtor and cannot borrow"),
    "grade_too_low": lambda grade, eligible: t(
        "Grade {grade} is not among the product's eligible grades {eligible}", grade=grade, eligible=eligible),
    "amount_above_cap": lambda amount, limit: t(
        "{amount:fen} is above the product's maximum of {limit:fen}", amount=amount, limit=limit),
    "amount_below_min": lambda amount, limit: t(
        "{amount:fen} is below the product's minimum of {limit:fen}", amount=amount, limit=limit),
    "term_out_of_range": lambda term, lo, hi: t(
        "{term} months is outside the product's {lo}–{hi} months", term=term, lo=lo, hi=hi),
    "industry_excluded": lambda industry, industries: t(
        "Industry {industry} is not among the product's industries {industries}", industry=industry,
        industries=industries),
    "collateral_free_cap": lambda grade, limit, amount: t(
        "A grade {grade} firm borrows at most {limit:fen} without collateral; {amount:fen} is above it",
        grade=grade, limit=limit, amount=amount),
    "fund_grade_excluded": lambda grade: t(
        "The guarantee fund does not cover grade {grade} firms, and this product needs its cover", grade=grade),
    "bank_suspended": lambda: t(
        "The bank is suspended from new fund-covered loans (non-performing ratio over the limit)"),
    "fund_capacity": lambda which: t("The guarantee fund has no room left ({which})", which=which),
    # why it fits
    "grade_ok": lambda grade, eligible: t("Grade {grade} is eligible ({eligible})", grade=grade,
                                          eligible=eligible),
    "amount_ok": lambda lo, hi: t("The amount is within {lo:fen}–{hi:fen}", lo=lo, hi=hi),
    "term_ok": lambda lo, hi: t("The term is within {lo}–{hi} months", lo=lo, hi=hi),
    "collateral_free_ok": lambda grade, limit: t(
        "No collateral needed: up to {limit:fen} for grade {grade}", grade=grade, limit=limit),
    "fund_cover": lambda share: t("The guarantee fund bears {share}% of a loss", share=share),
})
# What the fund has no room left in (``fund_capacity``).
FUND_LIMITS: Mapping[str, Text] = _frozen({
    "fund_capacity_total": t("total limit"),
    "fund_capacity_firm": t("per-firm limit"),
})

# A bank's reasons for declining, each with a default text the owner reads.
DECLINE_CODES: Mapping[str, tuple[str, str]] = _frozen({
    "insufficient_cash_flow": ("经营现金流不足以覆盖还款", "Cash flow does not cover the repayments"),
    "high_leverage": ("负债率偏高", "Liabilities are too high"),
    "credit_history": ("存在逾期或不良信用记录", "Overdue or adverse credit records"),
    "incomplete_documents": ("申请材料不完整", "The application is incomplete"),
    "industry_policy": ("不符合本行行业授信政策", "Outside the bank's industry policy"),
    "amount_unsupported": ("申请金额超出本行可授信额度", "The amount exceeds what the bank can lend"),
    "other": ("其他原因", "Other reason"),
})


def reason_text(code: str, **values: object) -> Text:
    """The text of a reason code, filled with its values (amounts in fen)."""
    return REASONS[code](**values)
