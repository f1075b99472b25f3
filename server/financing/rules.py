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

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "DECLINE_CODES",
    "GRADES",
    "REASON_TEXTS",
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

# Why a product fits or not: code -> (Chinese, English) templates filled with str.format(**values).
REASON_TEXTS: Mapping[str, tuple[str, str]] = _frozen({
    # refusals
    "not_scored": ("企业尚未完成信用评价", "The firm has not been scored yet"),
    "dishonest_listed": ("企业被列为失信被执行人，暂不能申请贷款",
                         "The firm is listed as a dishonest judgment debtor and cannot borrow"),
    "grade_too_low": ("信用等级{grade}不在本产品准入等级{eligible}之内",
                      "Grade {grade} is not among the product's eligible grades {eligible}"),
    "amount_above_cap": ("申请金额{amount}元高于产品上限{limit}元",
                         "{amount} yuan is above the product's maximum of {limit} yuan"),
    "amount_below_min": ("申请金额{amount}元低于产品下限{limit}元",
                         "{amount} yuan is below the product's minimum of {limit} yuan"),
    "term_out_of_range": ("期限{term}个月不在产品期限{lo}–{hi}个月之内",
                          "{term} months is outside the product's {lo}–{hi} months"),
    "industry_excluded": ("所属行业{industry}不在本产品支持的行业{industries}之内",
                          "Industry {industry} is not among the product's industries {industries}"),
    "collateral_free_cap": ("{grade}级企业免抵押贷款上限为{limit}元，申请金额{amount}元超出",
                            "A grade {grade} firm borrows at most {limit} yuan without collateral; "
                            "{amount} yuan is above it"),
    "fund_grade_excluded": ("担保基金不为{grade}级企业提供担保，本产品需基金担保",
                            "The guarantee fund does not cover grade {grade} firms, and this "
                            "product needs its cover"),
    "bank_suspended": ("该银行因不良率超限被暂停新增基金担保贷款",
                       "The bank is suspended from new fund-covered loans (non-performing ratio "
                       "over the limit)"),
    "fund_capacity": ("担保基金可用额度不足（{which}）", "The guarantee fund has no room left ({which_en})"),
    # why it fits
    "grade_ok": ("信用等级{grade}符合准入等级{eligible}", "Grade {grade} is eligible ({eligible})"),
    "amount_ok": ("金额在产品范围{lo}–{hi}元之内", "The amount is within {lo}–{hi} yuan"),
    "term_ok": ("期限在产品范围{lo}–{hi}个月之内", "The term is within {lo}–{hi} months"),
    "collateral_free_ok": ("免抵押：{grade}级企业上限{limit}元",
                           "No collateral needed: up to {limit} yuan for grade {grade}"),
    "fund_cover": ("担保基金承担{share}%的损失", "The guarantee fund bears {share}% of a loss"),
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


def reason_text(code: str, **values: object) -> tuple[str, str]:
    """The Chinese and English text of a reason code, filled with its values."""
    zh, en = REASON_TEXTS[code]
    return zh.format(**values), en.format(**values)
