"""The catalogue of risk-warning rules (the 49 warning points of the Weihai and Shangyu
platforms, and more).

A rule is data: a code, a level (red = act now, yellow = attention, blue = notice), the warning
kind subscribers filter on, the record kinds it reads, bilingual title / message / clear
texts and its thresholds (``params``), plus the check (:mod:`.checks`) that reads a
:class:`~.context.Context` and the params and answers for every firm at once. Message
templates are ``str.format`` strings over the params and the figures of the firm; the
``yuan`` format spec turns fen into yuan ("{arrears_fen:yuan}"). Clear texts are filled from
the params (thresholds) first.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from . import checks as c
from .checks import Check
from .context import Context, Hits

__all__ = ["KINDS", "LEVELS", "RULES", "Rule", "fields", "render"]

#: Warning levels: name and what they ask of the reader.
LEVELS: dict[str, tuple[str, str]] = {
    "red": ("红色预警：立即处置", "Red: act now"),
    "yellow": ("黄色预警：重点关注", "Yellow: attention"),
    "blue": ("蓝色提示：留意", "Blue: notice"),
}

#: Warning kinds (what subscribers filter on): Chinese and English names.
KINDS: dict[str, tuple[str, str]] = {
    "credit": ("银行信贷", "Bank credit"),
    "tax": ("税务", "Tax"),
    "social_insurance": ("社保", "Social insurance"),
    "utility": ("水电气", "Utilities"),
    "trade": ("进出口", "Foreign trade"),
    "judicial": ("司法", "Judicial"),
    "regulatory": ("行政监管", "Regulatory"),
    "collateral": ("资产与抵押", "Assets and collateral"),
    "registry": ("工商登记", "Registry"),
    "people": ("关键人员", "Key people"),
    "finance": ("财务报表", "Financial statements"),
    "operation": ("生产经营", "Operations"),
    "rating": ("信用评级", "Credit rating"),
    "contagion": ("关联传导", "Contagion"),
}

@functools.lru_cache(maxsize=1024)
def _parsed(template: str) -> tuple[tuple[str, str | None, str], ...]:
    """(literal, field, spec) parts of a template, parsed once."""
    return tuple((lit, name, spec or "") for lit, name, spec, _conv in
                 string.Formatter().parse(template))


def _field(value: Any, spec: str) -> str:
    if value is None:
        return "—"
    if spec == "yuan":
        return f"{float(value) / 100:,.0f}"
    return format(value, spec)


def render(template: str, values: Mapping[str, Any], partial: bool = False) -> str:
    """Fill a message template from params and figures: ``str.format`` plus the ``yuan``
    spec (fen shown as whole yuan with separators); a missing figure shows as a dash. With
    ``partial``, fields without a value stay as ``{name}``."""
    out = []
    for lit, name, spec in _parsed(template):
        out.append(lit)
        if name is None:
            continue
        if partial and name not in values:
            out.append("{" + name + (":" + spec if spec else "") + "}")
        else:
            out.append(_field(values[name], spec))
    return "".join(out)


def fields(template: str) -> set[str]:
    """The names a template fills in."""
    return {name for _lit, name, _spec in _parsed(template) if name is not None}


@dataclass(frozen=True, slots=True)
class Rule:
    """One warning rule. ``params`` are its thresholds; ``with_params`` makes a variant."""

    code: str
    level: str
    kind: str
    dimension: str | None
    sources: tuple[str, ...]
    title_zh: str
    title_en: str
    message_zh: str
    message_en: str
    clear_zh: str
    clear_en: str
    check: Check = field(repr=False, compare=False)
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"{self.code}: level must be one of {sorted(LEVELS)}")
        if self.kind not in KINDS:
            raise ValueError(f"{self.code}: unknown kind {self.kind!r}")
        if len(self.code) > 30:
            raise ValueError(f"{self.code}: codes are at most 30 characters")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def evaluate(self, ctx: Context) -> Hits:
        """The firms of the context this rule fires for."""
        return self.check(ctx, self.params)

    def with_params(self, **changes: Any) -> Rule:
        """The same rule with some thresholds changed."""
        unknown = set(changes) - set(self.params)
        if unknown:
            raise ValueError(f"{self.code}: unknown params {sorted(unknown)}")
        return replace(self, params={**self.params, **changes})

    def clear_texts(self, figures: Mapping[str, Any] | None = None) -> tuple[str, str]:
        """The clear condition, Chinese and English, with the thresholds (and a finding's
        figures, when given) filled in; fields without a value stay as ``{name}``."""
        values = {**self.params, **(figures or {})}
        return (render(self.clear_zh, values, partial=True),
                render(self.clear_en, values, partial=True))


# ---------------------------------------------------------------------------------------------
# the catalogue


def _r(code: str, level: str, kind: str, dimension: str | None, sources: str,
       title: tuple[str, str], message: tuple[str, str], clear: tuple[str, str],
       check: Check, **params: Any) -> Rule:
    return Rule(code, level, kind, dimension, tuple(sources.split()), title[0], title[1],
                message[0], message[1], clear[0], clear[1], check, params)


_LOAN = "bank_loan"
_TAX = "tax_monthly"
_SI = "social_insurance"
_STATEMENT = "financial_statement"

_CATALOGUE: tuple[Rule, ...] = (
    # --- bank credit ---------------------------------------------------------------------------
    _r("R01_INTEREST_OVERDUE_30", "red", "credit", "solvency", _LOAN,
       ("贷款欠息逾期超过30天", "Loan interest overdue over 30 days"),
       ("截至{month}，银行贷款逾期{overdue_days}天，欠息{interest_fen:yuan}元",
        "As of {month}, a bank loan is {overdue_days} days overdue with "
        "{interest_fen:yuan} yuan of interest unpaid"),
       ("逾期天数不超过{days}天或欠息结清",
        "Overdue no more than {days} days, or the interest paid"),
       c.interest_overdue, days=30, within_months=3),
    _r("R02_LOAN_OVERDUE_90", "red", "credit", "solvency", _LOAN,
       ("贷款逾期90天以上（不良）", "Loan overdue 90 days or more (non-performing)"),
       ("截至{month}，银行贷款逾期{overdue_days}天，贷款余额{balance_fen:yuan}元",
        "As of {month}, a bank loan is {overdue_days} days overdue; balance "
        "{balance_fen:yuan} yuan"),
       ("逾期天数降至{days}天以下", "Overdue days fall below {days}"),
       c.loan_default, days=90, within_months=3),
    _r("R03_LOAN_OVERDUE", "yellow", "credit", "solvency", _LOAN,
       ("贷款逾期", "Loan overdue"),
       ("截至{month}，银行贷款逾期{overdue_days}天", "As of {month}, a bank loan is "
        "{overdue_days} days overdue"),
       ("逾期本息全部归还", "All overdue principal and interest repaid"),
       c.loan_overdue, min_days=1, interest_days=30, red_days=90, within_months=3),
    _r("R04_OVERDUE_REPEATED", "yellow", "credit", "solvency", _LOAN,
       ("贷款反复逾期", "Repeated loan arrears"),
       ("近{window_months}个月中有{overdue_months}个月贷款逾期，最长{max_overdue_days}天",
        "Loans overdue in {overdue_months} of the last {window_months} months, up to "
        "{max_overdue_days} days"),
       ("近{window_months}个月逾期月数少于{min_months}个",
        "Fewer than {min_months} overdue months in the last {window_months}"),
       c.overdue_repeated, window_months=12, min_months=3),
    _r("R05_LOAN_SURGE", "yellow", "credit", "solvency", _LOAN,
       ("贷款余额激增", "Bank borrowing surge"),
       ("贷款余额{span_months}个月内由{prior_balance_fen:yuan}元增至{balance_fen:yuan}元"
        "（增长{growth:.0%}）", "Loan balance up from {prior_balance_fen:yuan} to "
        "{balance_fen:yuan} yuan in {span_months} months ({growth:+.0%})"),
       ("贷款余额{span_months}个月增幅回落至{growth:.0%}以内",
        "Loan growth over {span_months} months back within {growth:.0%}"),
       c.loan_surge, growth=1.0, span_months=12, min_base_fen=10_000_000, within_months=3),
    _r("R06_LOAN_TO_ASSETS_HIGH", "yellow", "credit", "solvency", f"{_LOAN} {_STATEMENT}",
       ("贷款占资产比重过高", "Bank loans high for the assets"),
       ("贷款余额{balance_fen:yuan}元，占{statement_year}年末资产总额的{ratio:.0%}",
        "Loan balance of {balance_fen:yuan} yuan is {ratio:.0%} of total assets at the end of "
        "{statement_year}"),
       ("贷款余额不超过资产总额的{ratio:.0%}", "Loans at most {ratio:.0%} of total assets"),
       c.loan_to_assets, ratio=0.7, within_months=3),
    # --- tax -----------------------------------------------------------------------------------
    _r("R07_TAX_ARREARS", "yellow", "tax", "integrity", _TAX,
       ("欠缴税款", "Tax arrears"),
       ("截至{month}，欠缴税款{arrears_fen:yuan}元", "As of {month}, {arrears_fen:yuan} yuan "
        "of tax is overdue"),
       ("最近一个月无欠税", "No tax overdue in the latest month"),
       c.monthly_arrears(_TAX), min_arrears_fen=0, within_months=3),
    _r("R08_TAX_ARREARS_3M", "red", "tax", "integrity", _TAX,
       ("连续欠税", "Tax arrears month after month"),
       ("自{first_month}起连续{run_months}个月欠税，截至{month}欠税{arrears_fen:yuan}元",
        "Tax overdue for {run_months} months in a row since {first_month}; "
        "{arrears_fen:yuan} yuan overdue as of {month}"),
       ("最近{months}个月中至少一个月无欠税",
        "At least one of the latest {months} months without tax arrears"),
       c.arrears_run(_TAX), months=3, within_months=3),
    _r("R09_VAT_ZERO_MONTHS", "yellow", "tax", "development", _TAX,
       ("增值税零申报", "Zero VAT declarations"),
       ("近{window_months}个月中有{zero_months}个月增值税零申报（此前一年缴纳"
        "{vat_year_before_fen:yuan}元）", "Zero VAT declared in {zero_months} of the last "
        "{window_months} months (after {vat_year_before_fen:yuan} yuan the year before)"),
       ("近{window_months}个月零申报少于{min_zero_months}个月",
        "Fewer than {min_zero_months} zero declarations in the last {window_months} months"),
       c.vat_zero, window_months=6, min_zero_months=3),
    _r("R10_VAT_DROP_YOY", "yellow", "tax", "development", _TAX,
       ("增值税同比大幅下降", "VAT down sharply year on year"),
       ("截至{month}的{months}个月增值税{now:yuan}元，同比下降{fall:.0%}",
        "VAT of {now:yuan} yuan in the {months} months to {month}, down {fall:.0%} on a year "
        "earlier"),
       ("同比降幅收窄至{drop:.0%}以内", "The fall on a year earlier narrows to within {drop:.0%}"),
       c.yoy_drop(_TAX, "amount_fen", "vat"), drop=0.5, months=3, min_base=1_000_000),
    _r("R11_VAT_DECLINE_STREAK", "blue", "tax", "development", _TAX,
       ("增值税连续下降", "VAT falling month after month"),
       ("增值税连续{falling_months}个月下降，由{vat_start_fen:yuan}元降至{vat_fen:yuan}元",
        "VAT fell {falling_months} months in a row, from {vat_start_fen:yuan} to "
        "{vat_fen:yuan} yuan"),
       ("增值税止跌回升", "VAT stops falling"),
       c.vat_decline, months=6),
    _r("R12_TAX_FILING_STOPPED", "yellow", "tax", "integrity", _TAX,
       ("停止纳税申报", "Tax filings stopped"),
       ("最近{gap_months}个月无纳税记录，最后记录于{last_record}",
        "No tax record in the last {gap_months} months; the last was on {last_record}"),
       ("恢复纳税申报", "Tax filings resume"),
       c.feed_stopped(_TAX), gap_months=3, min_months_before=6),
    # --- social insurance ----------------------------------------------------------------------
    _r("R13_SOCIAL_ARREARS", "yellow", "social_insurance", "operation", _SI,
       ("欠缴社保费", "Social-insurance arrears"),
       ("截至{month}，欠缴社保费{arrears_fen:yuan}元",
        "As of {month}, {arrears_fen:yuan} yuan of social-insurance premiums are overdue"),
       ("最近一个月无欠缴", "No premiums overdue in the latest month"),
       c.monthly_arrears(_SI), min_arrears_fen=0, within_months=3),
    _r("R14_SOCIAL_ARREARS_3M", "yellow", "social_insurance", "operation", _SI,
       ("连续欠缴社保费", "Social-insurance arrears month after month"),
       ("自{first_month}起连续{run_months}个月欠缴社保费，截至{month}欠缴{arrears_fen:yuan}元",
        "Premiums overdue {run_months} months in a row since {first_month}; "
        "{arrears_fen:yuan} yuan overdue as of {month}"),
       ("最近{months}个月中至少一个月无欠缴",
        "At least one of the latest {months} months without arrears"),
       c.arrears_run(_SI), months=3, within_months=3),
    _r("R15_HEADCOUNT_DROP_3M", "yellow", "social_insurance", "operation", _SI,
       ("参保人数3个月内骤降", "Insured headcount down sharply in 3 months"),
       ("参保人数由{prior_month}的{prior_headcount}人降至{month}的{headcount}人（下降{fall:.0%}）",
        "Insured headcount fell from {prior_headcount} ({prior_month}) to {headcount} "
        "({month}), down {fall:.0%}"),
       ("{span_months}个月降幅不超过{drop:.0%}", "The fall over {span_months} months is "
        "{drop:.0%} or less"),
       c.headcount_drop, drop=0.3, span_months=3, min_base=5, within_months=3),
    _r("R16_HEADCOUNT_DROP_12M", "blue", "social_insurance", "operation", _SI,
       ("参保人数一年内明显减少", "Insured headcount down over a year"),
       ("参保人数由{prior_month}的{prior_headcount}人降至{month}的{headcount}人（下降{fall:.0%}）",
        "Insured headcount fell from {prior_headcount} ({prior_month}) to {headcount} "
        "({month}), down {fall:.0%}"),
       ("{span_months}个月降幅不超过{drop:.0%}", "The fall over {span_months} months is "
        "{drop:.0%} or less"),
       c.headcount_drop, drop=0.25, span_months=12, min_base=5, within_months=3),
    _r("R17_SOCIAL_STOPPED", "yellow", "social_insurance", "operation", _SI,
       ("停止缴纳社保", "Social insurance stopped"),
       ("最近{gap_months}个月无社保缴纳记录，最后记录于{last_record}",
        "No social-insurance record in the last {gap_months} months; the last was on "
        "{last_record}"),
       ("恢复缴纳社保", "Contributions resume"),
       c.feed_stopped(_SI), gap_months=3, min_months_before=6),
    # --- utilities -----------------------------------------------------------------------------
    _r("R18_POWER_DROP_YOY", "yellow", "utility", "operation", "utility",
       ("用电量同比大幅下降（非季节性）", "Electricity use down sharply year on year "
        "(not seasonal)"),
       ("截至{month}的{months}个月用电{now:.0f}千瓦时，比上年同期下降{fall:.0%}",
        "{now:.0f} kWh used in the {months} months to {month}, down {fall:.0%} on the same "
        "months a year earlier"),
       ("同比降幅收窄至{drop:.0%}以内", "The fall on a year earlier narrows to within {drop:.0%}"),
       c.yoy_drop("utility", "quantity", "electricity"), drop=0.5, months=3, min_base=3000),
    _r("R19_UTILITY_ARREARS", "yellow", "utility", "operation", "utility",
       ("欠缴水电气费", "Utility arrears"),
       ("截至{month}，欠缴水电气费{arrears_fen:yuan}元",
        "As of {month}, {arrears_fen:yuan} yuan of utility bills are overdue"),
       ("最近一个月无欠费", "No bills overdue in the latest month"),
       c.monthly_arrears("utility"), min_arrears_fen=0, within_months=3),
    _r("R20_UTILITY_ARREARS_REPEAT", "blue", "utility", "operation", "utility",
       ("水电气费多次欠缴", "Repeated utility arrears"),
       ("近{window_months}个月中有{arrears_months}个月欠缴水电气费",
        "Utility bills overdue in {arrears_months} of the last {window_months} months"),
       ("近{window_months}个月欠费月数少于{min_months}个",
        "Fewer than {min_months} months of arrears in the last {window_months}"),
       c.months_with_arrears("utility"), window_months=12, min_months=3),
    _r("R21_POWER_NEAR_ZERO", "red", "utility", "operation", "utility",
       ("用电量接近于零（疑似停产）", "Electricity use near zero (production halted?)"),
       ("最近{months}个月用电量不足此前月均（{mean_kwh:.0f}千瓦时）的{share:.0%}",
        "Electricity use in the last {months} months below {share:.0%} of the earlier monthly "
        "mean ({mean_kwh:.0f} kWh)"),
       ("用电量恢复到此前月均的{share:.0%}以上", "Use back above {share:.0%} of the earlier mean"),
       c.power_near_zero, months=2, share=0.05, min_months_before=6),
    # --- operations ----------------------------------------------------------------------------
    _r("R22_OPERATIONS_HALTED", "red", "operation", "operation", f"{_TAX} {_SI} utility",
       ("纳税、社保、用电记录同时中断", "Tax, social insurance and utility records all stopped"),
       ("最近{gap_months}个月无纳税、社保和水电气记录，最后记录于{last_record}",
        "No tax, social-insurance or utility record in the last {gap_months} months; the last "
        "was on {last_record}"),
       ("任一部门恢复记录", "Records from any of these departments resume"),
       c.operations_halted, gap_months=3, min_months_before=6, min_feeds=2),
    _r("R23_TAX_POWER_DIVERGE", "blue", "operation", "operation", f"{_TAX} utility",
       ("税电背离", "Tax up while power use falls"),
       ("增值税同比{vat_change:+.0%}，而用电量同比下降{power_fall:.0%}",
        "VAT {vat_change:+.0%} on a year earlier while electricity use fell {power_fall:.0%}"),
       ("税电走势恢复一致", "Tax and power use move together again"),
       c.tax_power_diverge, months=3, vat_rise=0.3, power_fall=0.3, min_vat_fen=1_000_000,
       min_kwh=3000),
    _r("R64_TAX_UNDER_DECLARED", "yellow", "tax", "integrity", f"{_TAX} utility {_SI}",
       ("纳税与用电、用工不一致（疑似少报）", "Tax out of line with power and staff "
        "(under-declared?)"),
       ("自{since_month}起，增值税同比{tax_change:+.0%}，而用电量同比{power_change:+.0%}、"
        "参保人数同比{headcount_change:+.0%}，纳税比用电用工所示低{gap:.0%}（{gap_months}个月）",
        "Since {since_month}, VAT is {tax_change:+.0%} on a year earlier while electricity use "
        "is {power_change:+.0%} and insured headcount {headcount_change:+.0%}: tax is {gap:.0%} "
        "below what power and staff show ({gap_months} months)"),
       ("纳税与用电用工的同比差距收窄至{min_gap:.0%}以内", "The gap between tax and power or "
        "staff narrows to within {min_gap:.0%}"),
       c.tax_under_declared, window_months=6, min_pairs=4, min_vat_fen=300_000, min_kwh=600.0,
       min_gap=0.3, hold=0.6, min_months=3),
    # --- foreign trade -------------------------------------------------------------------------
    _r("R24_EXPORT_COLLAPSE", "yellow", "trade", "operation", "customs_export",
       ("出口额骤降", "Exports collapse"),
       ("截至{month}的{months}个月出口{now:yuan}元，同比下降{fall:.0%}",
        "Exports of {now:yuan} yuan in the {months} months to {month}, down {fall:.0%} on a "
        "year earlier"),
       ("同比降幅收窄至{drop:.0%}以内", "The fall narrows to within {drop:.0%}"),
       c.yoy_drop("customs_export", "amount_fen", None, align="calendar"), drop=0.7, months=3,
       min_base=10_000_000),
    _r("R25_EXPORT_STOPPED", "blue", "trade", "operation", "customs_export",
       ("出口中断", "Exports stopped"),
       ("最近{gap_months}个月无出口记录，最后出口于{last_record}",
        "No exports in the last {gap_months} months; the last on {last_record}"),
       ("恢复出口", "Exports resume"),
       c.feed_stopped("customs_export"), gap_months=6, min_months_before=3),
    # --- judicial ------------------------------------------------------------------------------
    _r("R26_DISHONEST_DEBTOR", "red", "judicial", "integrity", "dishonest_debtor",
       ("列入失信被执行人", "Listed as a dishonest judgment debtor"),
       ("{latest}被列为失信被执行人（在列{active_count}条，涉及{amount_fen:yuan}元）",
        "Listed as a dishonest judgment debtor on {latest} ({active_count} active listing(s), "
        "{amount_fen:yuan} yuan)"),
       ("全部失信记录被移除", "Every listing removed"),
       c.listed("dishonest_debtor"), min_count=1),
    _r("R27_LAWSUIT_LARGE", "yellow", "judicial", "integrity", f"court_case {_STATEMENT}",
       ("新增大额被诉案件", "New large lawsuit as defendant"),
       ("{filed}作为被告被诉，涉案{amount_fen:yuan}元，占年营业收入的{share:.0%}",
        "Sued as defendant on {filed} for {amount_fen:yuan} yuan, {share:.0%} of annual "
        "revenue"),
       ("案件审结或立案已超过{days}天", "The case closes or is more than {days} days old"),
       c.lawsuit_large, share=0.1, days=180),
    _r("R28_LAWSUITS_FREQUENT", "blue", "judicial", "integrity", "court_case",
       ("频繁被诉", "Frequently sued"),
       ("近{days}天作为被告被诉{event_count}起", "Sued {event_count} times as defendant in the "
        "last {days} days"),
       ("近{days}天被诉少于{min_count}起", "Fewer than {min_count} suits in the last {days} days"),
       c.recent("court_case", "defendant"), days=365, min_count=3),
    _r("R29_OPEN_SUITS_HEAVY", "red", "judicial", "integrity", f"court_case {_STATEMENT}",
       ("未结被诉金额过大", "Open lawsuits heavy for the revenue"),
       ("未结被诉案件{case_count}起，合计{open_amount_fen:yuan}元，占年营业收入的{share:.0%}",
        "{case_count} open suit(s) as defendant for {open_amount_fen:yuan} yuan, {share:.0%} "
        "of annual revenue"),
       ("未结被诉金额不超过年营收的{share:.0%}", "Open suits at most {share:.0%} of revenue"),
       c.open_suits_heavy, share=0.5),
    _r("R30_ASSET_SEIZURE", "yellow", "judicial", "capital", "seizure_mortgage",
       ("资产被查封", "Assets under seizure"),
       ("有{active_count}项资产被查封，涉及{amount_fen:yuan}元（最近一次{latest}）",
        "{active_count} asset(s) under seizure for {amount_fen:yuan} yuan (latest on {latest})"),
       ("全部查封解除", "Every seizure lifted"),
       c.listed("seizure_mortgage", "seizure"), min_count=1),
    _r("R31_COURT_ENFORCEMENT", "red", "judicial", "integrity", "court_case seizure_mortgage",
       ("涉诉后被法院强制执行", "Court enforcement after a lawsuit"),
       ("{sued_on}被诉后，{seized_on}起资产被查封（{seizure_count}项，{seized_amount_fen:yuan}元）",
        "Sued on {sued_on}, then assets seized from {seized_on} ({seizure_count} item(s), "
        "{seized_amount_fen:yuan} yuan)"),
       ("相关查封全部解除", "The related seizures are lifted"),
       c.court_enforcement, days=365),
    # --- regulatory ----------------------------------------------------------------------------
    _r("R32_MAJOR_PENALTY", "yellow", "regulatory", "integrity", "penalty",
       ("重大行政处罚", "Major administrative penalty"),
       ("{latest}受到重大行政处罚，罚款{amount_fen:yuan}元", "Major penalty on {latest}, "
        "fined {amount_fen:yuan} yuan"),
       ("处罚已满{days}天", "The penalty is more than {days} days old"),
       c.recent("penalty", "major"), days=365, min_count=1),
    _r("R33_PENALTIES_REPEATED", "yellow", "regulatory", "integrity", "penalty",
       ("多次行政处罚", "Repeated penalties"),
       ("近{days}天受到{event_count}次行政处罚", "{event_count} penalties in the last {days} days"),
       ("近{days}天处罚少于{min_count}次", "Fewer than {min_count} penalties in {days} days"),
       c.recent("penalty"), days=365, min_count=2),
    _r("R34_PENALTY_NEW", "blue", "regulatory", "integrity", "penalty",
       ("新增行政处罚", "New administrative penalty"),
       ("{latest}受到行政处罚，罚款{amount_fen:yuan}元", "Penalised on {latest}, fined "
        "{amount_fen:yuan} yuan"),
       ("处罚已满{days}天", "The penalty is more than {days} days old"),
       c.recent("penalty", "minor"), days=90, min_count=1),
    _r("R35_BLACK_LIST", "red", "regulatory", "integrity", "credit_list",
       ("列入黑名单", "On a black list"),
       ("{latest}被列入黑名单（在列{active_count}条）", "Put on a black list on {latest} "
        "({active_count} active)"),
       ("移出全部黑名单", "Removed from every black list"),
       c.listed("credit_list", "black"), min_count=1),
    _r("R36_RED_LIST_LOST", "blue", "regulatory", "integrity", "credit_list",
       ("失去守信红名单", "Red (honour) list status lost"),
       ("{ended_on}移出守信红名单", "Removed from the red list on {ended_on}"),
       ("重新列入红名单或移出已满{days}天", "Back on a red list, or removed more than {days} "
        "days ago"),
       c.ended_recently("credit_list", "red", none_left=True), days=180),
    # --- assets and collateral -----------------------------------------------------------------
    _r("R37_ALL_ESTATE_MORTGAGED", "yellow", "collateral", "capital",
       "seizure_mortgage real_estate",
       ("不动产已全部抵押", "All real estate mortgaged"),
       ("抵押金额{mortgaged_fen:yuan}元，达到自有不动产价值{estate_value_fen:yuan}元的{ratio:.0%}",
        "Mortgages of {mortgaged_fen:yuan} yuan are {ratio:.0%} of the real estate owned "
        "({estate_value_fen:yuan} yuan)"),
       ("抵押金额低于不动产价值的{ratio:.0%}", "Mortgages below {ratio:.0%} of the value"),
       c.all_estate_mortgaged, ratio=1.0),
    _r("R38_ESTATE_DISPOSED", "blue", "collateral", "capital", "real_estate",
       ("处置不动产", "Real estate disposed of"),
       ("{ended_on}处置不动产{ended_count}处，价值{amount_fen:yuan}元",
        "{ended_count} property(ies) worth {amount_fen:yuan} yuan disposed of on {ended_on}"),
       ("处置已满{days}天", "More than {days} days since the disposal"),
       c.ended_recently("real_estate"), days=180),
    # --- registry ------------------------------------------------------------------------------
    _r("R39_LEGAL_REP_CHANGED", "blue", "registry", "integrity", "registry_change",
       ("法定代表人变更", "Legal representative changed"),
       ("{latest}变更法定代表人", "Legal representative changed on {latest}"),
       ("变更已满{days}天", "More than {days} days since the change"),
       c.recent("registry_change", "legal_rep"), days=90, min_count=1),
    _r("R40_LEGAL_REP_CHURN", "yellow", "registry", "integrity", "registry_change",
       ("法定代表人频繁变更", "Legal representative changed repeatedly"),
       ("近{days}天法定代表人变更{event_count}次", "Legal representative changed {event_count} "
        "times in the last {days} days"),
       ("近{days}天变更少于{min_count}次", "Fewer than {min_count} changes in {days} days"),
       c.recent("registry_change", "legal_rep"), days=730, min_count=2),
    _r("R41_SHAREHOLDER_CHURN", "blue", "registry", "integrity", "registry_change",
       ("股东频繁变更", "Shareholders changed repeatedly"),
       ("近{days}天股东变更{event_count}次", "Shareholders changed {event_count} times in the "
        "last {days} days"),
       ("近{days}天变更少于{min_count}次", "Fewer than {min_count} changes in {days} days"),
       c.recent("registry_change", "shareholder"), days=730, min_count=2),
    _r("R42_ADDRESS_CHANGES", "blue", "registry", "integrity", "registry_change",
       ("经营地址频繁变更", "Address changed repeatedly"),
       ("近{days}天地址变更{event_count}次", "Address changed {event_count} times in the last "
        "{days} days"),
       ("近{days}天变更少于{min_count}次", "Fewer than {min_count} changes in {days} days"),
       c.recent("registry_change", "address"), days=730, min_count=2),
    _r("R43_CAPITAL_REDUCED", "yellow", "registry", "capital", "registry_change",
       ("减少注册资本", "Registered capital reduced"),
       ("{changed_on}减少注册资本{reduction_fen:yuan}元", "Registered capital cut by "
        "{reduction_fen:yuan} yuan on {changed_on}"),
       ("减资已满{days}天", "More than {days} days since the reduction"),
       c.capital_reduced, days=180),
    _r("R44_NAME_CHANGED", "blue", "registry", "integrity", "registry_change",
       ("企业更名", "Firm renamed"),
       ("{latest}变更企业名称", "Name changed on {latest}"),
       ("更名已满{days}天", "More than {days} days since the change"),
       c.recent("registry_change", "name"), days=180, min_count=1),
    _r("R45_REGISTRY_CHURN", "yellow", "registry", "integrity", "registry_change",
       ("工商登记频繁变更", "Frequent registry changes"),
       ("近{days}天工商变更{event_count}次", "{event_count} registry changes in the last "
        "{days} days"),
       ("近{days}天变更少于{min_count}次", "Fewer than {min_count} changes in {days} days"),
       c.recent("registry_change"), days=365, min_count=3),
    _r("R46_FIRM_STATUS_ABNORMAL", "red", "registry", "integrity", "firm",
       ("经营状态异常（停业、吊销或注销）", "Registry status abnormal (suspended, revoked, "
        "cancelled)"),
       ("登记状态为{status}", "Registry status is {status}"),
       ("登记状态恢复为存续", "Status back to active"),
       c.firm_status, statuses=("suspended", "revoked", "cancelled")),
    # --- key people ----------------------------------------------------------------------------
    _r("R47_REP_CREDIT_LOW", "yellow", "people", "integrity", "personal_credit",
       ("法定代表人个人信用差", "Legal representative's personal credit poor"),
       ("法定代表人个人信用分{credit_score:.0f}（{scored_on}），低于{min_score}",
        "Legal representative's credit score {credit_score:.0f} ({scored_on}) is below "
        "{min_score}"),
       ("信用分回升到{min_score}以上", "The score back to {min_score} or more"),
       c.rep_credit_low, min_score=550, max_age_days=540),
    _r("R48_REP_CREDIT_DROP", "blue", "people", "integrity", "personal_credit",
       ("法定代表人信用分下滑", "Legal representative's credit score falling"),
       ("法定代表人个人信用分由{prior_best:.0f}降至{credit_score:.0f}（{scored_on}）",
        "Legal representative's credit score fell from {prior_best:.0f} to "
        "{credit_score:.0f} ({scored_on})"),
       ("较前{window_days}天最高分下降少于{drop}分",
        "Less than {drop} points below the best of the previous {window_days} days"),
       c.rep_credit_drop, drop=80, window_days=365, max_age_days=540),
    # --- financial statements ------------------------------------------------------------------
    _r("R49_NEGATIVE_EQUITY", "red", "finance", "capital", _STATEMENT,
       ("资不抵债", "Negative equity (insolvent balance sheet)"),
       ("{statement_year}年末所有者权益为{equity_fen:yuan}元",
        "Owners' equity of {equity_fen:yuan} yuan at the end of {statement_year}"),
       ("最新年报所有者权益为正", "Positive equity in the latest statement"),
       c.statement(c.t_negative_equity), max_equity_fen=0),
    _r("R50_CURRENT_RATIO_LOW", "yellow", "finance", "solvency", _STATEMENT,
       ("流动比率低于1", "Current ratio below 1"),
       ("{statement_year}年末流动比率{current_ratio:.2f}", "Current ratio of "
        "{current_ratio:.2f} at the end of {statement_year}"),
       ("流动比率回到{ratio}以上", "Current ratio back to {ratio} or more"),
       c.statement(c.t_current_ratio), ratio=1.0),
    _r("R51_LOSSES_TWO_YEARS", "yellow", "finance", "profitability", _STATEMENT,
       ("连续两年亏损", "Losses two years running"),
       ("{statement_year}年亏损{net_profit_fen:yuan}元，上一年亏损{prior_net_profit_fen:yuan}元",
        "Net loss of {net_profit_fen:yuan} yuan in {statement_year} after "
        "{prior_net_profit_fen:yuan} yuan the year before"),
       ("最新年度扭亏为盈", "A profit in the latest year"),
       c.statement(c.t_losses, with_prev=True)),
    _r("R52_DEBT_RATIO_HIGH", "yellow", "finance", "solvency", _STATEMENT,
       ("资产负债率过高", "Debt ratio very high"),
       ("{statement_year}年末资产负债率{debt_ratio:.0%}", "Debt ratio of {debt_ratio:.0%} at "
        "the end of {statement_year}"),
       ("资产负债率降至{ratio:.0%}以下", "Debt ratio down to {ratio:.0%} or less"),
       c.statement(c.t_debt_ratio), ratio=0.85),
    _r("R53_REVENUE_DROP", "yellow", "finance", "development", _STATEMENT,
       ("营业收入大幅下降", "Revenue down sharply"),
       ("{statement_year}年营业收入{revenue_fen:yuan}元，比上年下降{fall:.0%}",
        "Revenue of {revenue_fen:yuan} yuan in {statement_year}, down {fall:.0%} on the year "
        "before"),
       ("年度营收降幅不超过{drop:.0%}", "Annual revenue down {drop:.0%} or less"),
       c.statement(c.t_revenue_drop, with_prev=True), drop=0.3),
    _r("R54_LOSS_ERODES_EQUITY", "yellow", "finance", "profitability", _STATEMENT,
       ("当年亏损侵蚀净资产", "Loss eating into equity"),
       ("{statement_year}年亏损{net_loss_fen:yuan}元，相当于净资产的{share:.0%}",
        "Net loss of {net_loss_fen:yuan} yuan in {statement_year}, {share:.0%} of equity"),
       ("最新年度亏损不超过净资产的{share:.0%}", "The latest loss at most {share:.0%} of "
        "equity"),
       c.statement(c.t_loss_erodes_equity), share=0.3),
    _r("R55_CASH_BURN_TWO_YEARS", "blue", "finance", "profitability", _STATEMENT,
       ("经营现金流连续两年为负", "Operating cash outflow two years running"),
       ("{statement_year}年经营活动现金流{operating_cash_flow_fen:yuan}元，上一年"
        "{prior_operating_cash_flow_fen:yuan}元", "Operating cash flow of "
        "{operating_cash_flow_fen:yuan} yuan in {statement_year} after "
        "{prior_operating_cash_flow_fen:yuan} yuan the year before"),
       ("最新年度经营现金流转正", "Operating cash flow positive in the latest year"),
       c.statement(c.t_cash_burn, with_prev=True)),
    _r("R56_STATEMENT_OVERDUE", "blue", "finance", "integrity", _STATEMENT,
       ("年度财务报表逾期未报", "Annual statement overdue"),
       ("{due_year}年度财务报表逾期未报，最近一份为{latest_year}年度",
        "The {due_year} statement is overdue; the latest filed is for {latest_year}"),
       ("报送{due_year}年度报表", "The overdue statement filed"),
       c.statement_overdue, deadline="06-30", grace_days=30),
    # --- rating --------------------------------------------------------------------------------
    _r("R57_GRADE_DOWN_ONE", "yellow", "rating", None, "scores",
       ("信用等级下调一级", "Credit grade down one band"),
       ("信用等级由{prior_grade}（{prior_rated_on}）降至{grade}（{rated_on}）",
        "Credit grade down from {prior_grade} ({prior_rated_on}) to {grade} ({rated_on})"),
       ("等级恢复或下调已超过{lookback_days}天", "The grade recovers, or the fall is more than "
        "{lookback_days} days old"),
       c.grade_check(1, 1), lookback_days=90, grades=("A", "B", "C", "D")),
    _r("R58_GRADE_DOWN_TWO", "red", "rating", None, "scores",
       ("信用等级下调两级及以上", "Credit grade down two bands or more"),
       ("信用等级由{prior_grade}（{prior_rated_on}）降至{grade}（{rated_on}），下调{bands:.0f}级",
        "Credit grade down {bands:.0f} bands from {prior_grade} ({prior_rated_on}) to {grade} "
        "({rated_on})"),
       ("等级恢复或下调已超过{lookback_days}天", "The grade recovers, or the fall is more than "
        "{lookback_days} days old"),
       c.grade_check(2, None), lookback_days=90, grades=("A", "B", "C", "D")),
    _r("R59_SCORE_DROP", "blue", "rating", None, "scores",
       ("信用分大幅下降", "Credit score down sharply"),
       ("信用分由{prior_score:.0f}降至{score:.0f}（下降{points_lost:.0f}分），等级仍为{grade}",
        "Credit score down {points_lost:.0f} points from {prior_score:.0f} to {score:.0f}; "
        "grade still {grade}"),
       ("{lookback_days}天内降幅少于{points}分", "Less than {points} points lost within "
        "{lookback_days} days"),
       c.score_drop, points=60, lookback_days=90, grades=("A", "B", "C", "D")),
    # --- contagion -----------------------------------------------------------------------------
    _r("R60_GUARANTEED_PARTNER_RED", "yellow", "contagion", None, "guarantee",
       ("被担保企业出现红色预警", "A firm it guarantees turned red"),
       ("为{partner_count}家红色预警企业提供担保（如{partner}），担保金额{exposure_fen:yuan}元",
        "Guarantees {partner_count} firm(s) under red warning (e.g. {partner}) for "
        "{exposure_fen:yuan} yuan"),
       ("被担保企业红色预警解除或担保到期", "The partner's red warning clears or the guarantee "
        "ends"),
       c.contagion_check("guarantor", "guaranteed", "guarantor"), min_amount_fen=0),
    _r("R61_GUARANTEE_LOSS_BIG", "red", "contagion", "solvency", f"guarantee {_STATEMENT}",
       ("代偿风险超过净资产承受能力", "Guarantee exposure to red firms large for its equity"),
       ("为红色预警企业担保{exposure_fen:yuan}元，达到净资产{equity_fen:yuan}元的{share:.0%}",
        "Guarantees {exposure_fen:yuan} yuan for firms under red warning, {share:.0%} of its "
        "equity ({equity_fen:yuan} yuan)"),
       ("对红色预警企业的担保不超过净资产的{share_of_equity:.0%}",
        "Exposure to red firms at most {share_of_equity:.0%} of equity"),
       c.guarantee_loss_big, share_of_equity=0.3),
    _r("R62_GUARANTOR_RED", "blue", "contagion", None, "guarantee",
       ("担保方出现红色预警", "A guarantor of its loans turned red"),
       ("{partner_count}家担保方出现红色预警（如{partner}），涉及担保{exposure_fen:yuan}元",
        "{partner_count} guarantor(s) under red warning (e.g. {partner}) back "
        "{exposure_fen:yuan} yuan of its loans"),
       ("担保方红色预警解除或更换担保", "The guarantor's warning clears or it is replaced"),
       c.contagion_check("guaranteed", "guarantor", "guaranteed"), min_amount_fen=0),
    _r("R63_RELATED_FIRM_RED", "blue", "contagion", None, "relation",
       ("关联企业出现红色预警", "A related firm turned red"),
       ("与{partner_count}家红色预警企业存在法定代表人或股东关联（如{partner}）",
        "Shares a legal representative or shareholder with {partner_count} firm(s) under red "
        "warning (e.g. {partner})"),
       ("关联企业红色预警解除或关联关系结束", "The related firm's warning clears or the tie ends"),
       c.related_red, roles=("legal_rep", "shareholder")),
)

#: Every rule by code, in catalogue order.
RULES: dict[str, Rule] = {r.code: r for r in _CATALOGUE}
if len(RULES) != len(_CATALOGUE):  # pragma: no cover - a typo in the catalogue
    raise RuntimeError("duplicate rule codes")
