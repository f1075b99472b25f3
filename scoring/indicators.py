"""The catalogue of Xinbao's 66 credit indicators.

Each indicator is computed by :mod:`scoring.features` from department records (plain data) and
scored by the additive scorecard. The catalogue is the single source of the bilingual names,
the dimension (radar axis), the direction finance prescribes (used as a monotone constraint),
the record kinds read, and the reason / improvement texts shown to firms and loan officers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DIMENSIONS",
    "INDICATORS",
    "Dimension",
    "Indicator",
    "indicator_codes",
]


@dataclass(frozen=True, slots=True)
class Dimension:
    """One axis of the credit radar: the 'five forces' plus integrity and compliance."""

    code: str
    name_zh: str
    name_en: str


DIMENSIONS: dict[str, Dimension] = {
    d.code: d
    for d in (
        Dimension("capital", "资本实力", "Capital strength"),
        Dimension("operation", "经营能力", "Operating capability"),
        Dimension("profitability", "盈利能力", "Profitability"),
        Dimension("solvency", "偿债能力", "Solvency"),
        Dimension("development", "发展潜力", "Development potential"),
        Dimension("integrity", "诚信合规", "Integrity and compliance"),
    )
}


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator: what it means, how it is computed and how it is explained.

    ``direction`` is +1 when a higher value is better for credit, -1 when worse, 0 when finance
    prescribes no direction (the model then learns a free shape). Reason and improvement texts
    are ``str.format`` templates that may use ``{value}`` (the firm's value of the indicator).
    """

    code: str
    dimension: str
    direction: int
    kinds: tuple[str, ...]
    name_zh: str
    name_en: str
    computation: str
    reason_zh: str
    reason_en: str
    improve_zh: str
    improve_en: str
    unit: str = ""


def _i(code: str, dimension: str, direction: int, kinds: str, name_zh: str, name_en: str,
       computation: str, reason_zh: str, reason_en: str, improve_zh: str, improve_en: str,
       unit: str = "") -> Indicator:
    return Indicator(code, dimension, direction, tuple(kinds.split()), name_zh, name_en,
                     computation, reason_zh, reason_en, improve_zh, improve_en, unit)


_FS = "financial_statement"
_TAX = "tax_monthly"

_CATALOGUE: tuple[Indicator, ...] = (
    # --- capital strength -------------------------------------------------------------------
    _i("registered_capital", "capital", 1, "firm", "注册资本", "Registered capital",
       "log10(1 + registered capital in yuan)",
       "注册资本较少", "Registered capital is small",
       "按章程足额实缴资本", "Pay in the subscribed capital in full", "log10 yuan"),
    _i("firm_age", "capital", 1, "firm", "成立年限", "Years in business",
       "years from founding to the scoring date",
       "成立时间较短（{value:.1f}年）", "Young firm ({value:.1f} years)",
       "保持稳定经营，积累经营记录", "Keep operating steadily to build a track record", "years"),
    _i("real_estate_value", "capital", 1, "real_estate", "不动产价值", "Real estate value",
       "log10(1 + assessed value in yuan of real estate owned at the scoring date; 0 = none)",
       "自有不动产较少", "Little real estate owned",
       "及时登记自有不动产", "Register owned property with natural resources", "log10 yuan"),
    _i("total_assets", "capital", 1, _FS, "资产总额", "Total assets",
       "log10(1 + total assets in yuan) from the latest annual statement filed",
       "资产规模较小", "Small total assets",
       "按时报送年度财务报表", "File the annual financial statement on time", "log10 yuan"),
    _i("equity", "capital", 1, _FS, "所有者权益", "Owners' equity",
       "sign(equity) * log10(1 + |equity in yuan|) from the latest statement",
       "所有者权益偏低或为负", "Owners' equity is low or negative",
       "以利润留存或增资充实净资产", "Retain profits or add capital to build equity", "log10 yuan"),
    _i("equity_ratio", "capital", 1, _FS, "权益比率", "Equity ratio",
       "equity / total assets from the latest statement",
       "权益比率偏低（{value:.0%}）", "Low equity ratio ({value:.0%})",
       "降低负债、充实资本", "Reduce debt or strengthen capital", "ratio"),
    _i("insured_headcount", "capital", 1, "social_insurance", "参保人数", "Insured headcount",
       "pension-insured headcount in the latest month",
       "参保职工较少（{value:.0f}人）", "Few insured employees ({value:.0f})",
       "为全部职工依法参保", "Insure all employees as the law requires", "persons"),
    _i("mortgage_ratio", "capital", -1, "seizure_mortgage real_estate", "抵押率", "Mortgage ratio",
       "amount secured by active mortgages / assessed value of real estate owned",
       "不动产抵押比例高（{value:.0%}）", "Real estate heavily mortgaged ({value:.0%})",
       "逐步解除抵押，保留融资余地", "Release mortgages to keep borrowing headroom", "ratio"),
    _i("seizures_active", "capital", -1, "seizure_mortgage", "资产查封", "Assets under seizure",
       "number of seizures active at the scoring date",
       "有{value:.0f}项资产被查封", "{value:.0f} asset(s) under seizure",
       "履行判决义务，申请解除查封", "Settle the judgment and apply to lift the seizure", "count"),
    # --- operating capability ---------------------------------------------------------------
    _i("electricity_12m", "operation", 1, "utility", "近12个月用电量", "Electricity use, 12 months",
       "log10(1 + kWh used in the last 12 months)",
       "用电量偏低", "Low electricity use",
       "如实登记生产用电户号", "Register the production electricity account", "log10 kWh"),
    _i("electricity_yoy", "operation", 1, "utility", "用电量同比", "Electricity use, year on year",
       "kWh in the last 3 months / kWh in the same 3 months a year earlier - 1",
       "用电量同比下降{value:.0%}", "Electricity use down {value:.0%} on a year ago",
       "恢复正常生产经营", "Restore normal production", "ratio"),
    _i("electricity_trend_12m", "operation", 1, "utility", "用电趋势", "Electricity trend",
       "least-squares slope of monthly kWh over 12 months / mean monthly kWh",
       "用电量持续走低", "Electricity use trending down",
       "稳定生产，避免长期停工", "Keep production steady", "per month"),
    _i("electricity_active_months", "operation", 1, "utility", "用电月数", "Months with power use",
       "months of the last 12 with electricity use above zero",
       "近12个月仅{value:.0f}个月有用电", "Power used in only {value:.0f} of 12 months",
       "保持连续经营", "Operate continuously", "months"),
    _i("asset_turnover", "operation", 1, _FS, "总资产周转率", "Asset turnover",
       "revenue / total assets from the latest statement",
       "资产周转较慢（{value:.2f}次）", "Slow asset turnover ({value:.2f})",
       "盘活闲置资产，提高销售", "Put idle assets to work and raise sales", "times"),
    _i("receivable_turnover", "operation", 1, _FS, "应收账款周转率", "Receivables turnover",
       "revenue / receivables from the latest statement",
       "应收账款回收慢（{value:.1f}次）", "Receivables collected slowly ({value:.1f})",
       "加强应收账款催收", "Collect receivables faster", "times"),
    _i("inventory_turnover", "operation", 1, _FS, "存货周转率", "Inventory turnover",
       "cost of sales / inventory from the latest statement",
       "存货周转慢（{value:.1f}次）", "Slow inventory turnover ({value:.1f})",
       "清理积压库存", "Clear slow-moving stock", "times"),
    _i("revenue_per_employee", "operation", 1, f"{_FS} social_insurance", "人均营收",
       "Revenue per employee",
       "log10(1 + revenue in yuan / insured headcount)",
       "人均营业收入偏低", "Low revenue per employee",
       "提高劳动生产率", "Raise labour productivity", "log10 yuan"),
    _i("tax_electricity_consistency", "operation", 1, f"{_TAX} utility", "税电一致性",
       "Tax-to-electricity consistency",
       "correlation of monthly VAT and monthly kWh over the last 12 months",
       "纳税与用电走势不一致", "Tax and electricity use move apart",
       "如实申报纳税，确保账实一致", "Declare tax truthfully so it matches real activity",
       "correlation"),
    _i("exports_12m", "operation", 1, "customs_export", "近12个月出口额", "Exports, 12 months",
       "log10(1 + customs export value in yuan over the last 12 months)",
       "出口规模较小", "Small exports",
       "拓展海外市场", "Develop export markets", "log10 yuan"),
    _i("social_arrears_months_12m", "operation", -1, "social_insurance", "社保欠缴月数",
       "Months of social-insurance arrears",
       "months of the last 12 with social or medical premiums overdue",
       "近12个月有{value:.0f}个月欠缴社保", "Social premiums overdue in {value:.0f} of 12 months",
       "及时足额缴纳社保", "Pay social premiums in full and on time", "months"),
    _i("utility_arrears_months_12m", "operation", -1, "utility", "水电气欠费月数",
       "Months of utility arrears",
       "months of the last 12 with utility bills overdue",
       "近12个月有{value:.0f}个月水电气欠费", "Utility bills overdue in {value:.0f} of 12 months",
       "按时缴纳水电气费", "Pay utility bills on time", "months"),
    # --- profitability ----------------------------------------------------------------------
    _i("net_margin", "profitability", 1, _FS, "销售净利率", "Net margin",
       "net profit / revenue from the latest statement",
       "净利率偏低（{value:.1%}）", "Low net margin ({value:.1%})",
       "控制成本费用，提高利润", "Control costs to raise profit", "ratio"),
    _i("gross_margin", "profitability", 1, _FS, "毛利率", "Gross margin",
       "(revenue - cost of sales) / revenue from the latest statement",
       "毛利率偏低（{value:.1%}）", "Low gross margin ({value:.1%})",
       "优化产品结构", "Improve the product mix", "ratio"),
    _i("roa", "profitability", 1, _FS, "总资产收益率", "Return on assets",
       "net profit / total assets from the latest statement",
       "资产收益率偏低（{value:.1%}）", "Low return on assets ({value:.1%})",
       "提高资产使用效益", "Earn more on the assets employed", "ratio"),
    _i("roe", "profitability", 1, _FS, "净资产收益率", "Return on equity",
       "net profit / equity from the latest statement (NaN when equity <= 0)",
       "净资产收益率偏低（{value:.1%}）", "Low return on equity ({value:.1%})",
       "提高盈利能力", "Raise profitability", "ratio"),
    _i("cash_flow_margin", "profitability", 1, _FS, "现金流利润率", "Cash-flow margin",
       "operating cash flow / revenue from the latest statement",
       "经营现金流偏弱（{value:.1%}）", "Weak operating cash flow ({value:.1%})",
       "加快回款，改善经营现金流", "Speed up collections to improve cash flow", "ratio"),
    _i("vat_12m", "profitability", 1, _TAX, "近12个月增值税", "VAT paid, 12 months",
       "log10(1 + VAT paid in yuan over the last 12 months)",
       "纳税规模较小", "Little VAT paid",
       "依法足额纳税", "Pay taxes in full", "log10 yuan"),
    _i("income_tax_12m", "profitability", 1, _TAX, "近12个月所得税", "Income tax paid, 12 months",
       "log10(1 + income tax paid in yuan over the last 12 months)",
       "所得税缴纳较少", "Little income tax paid",
       "依法足额纳税", "Pay taxes in full", "log10 yuan"),
    _i("tax_burden", "profitability", 1, f"{_TAX} {_FS}", "税收负担率", "Tax to revenue",
       "tax paid over the last 12 months / revenue of the latest statement",
       "纳税与收入不匹配（税负{value:.1%}）", "Tax paid is low for the revenue ({value:.1%})",
       "如实申报收入和税款", "Declare revenue and tax truthfully", "ratio"),
    _i("loss_years", "profitability", -1, _FS, "亏损年数", "Loss-making years",
       "years with a net loss among the last three statements",
       "近三年有{value:.0f}年亏损", "Net loss in {value:.0f} of the last 3 years",
       "扭亏为盈", "Return to profit", "years"),
    # --- solvency ---------------------------------------------------------------------------
    _i("debt_ratio", "solvency", -1, _FS, "资产负债率", "Debt ratio",
       "total liabilities / total assets from the latest statement",
       "资产负债率偏高（{value:.0%}）", "High debt ratio ({value:.0%})",
       "降低负债水平", "Reduce borrowing", "ratio"),
    _i("current_ratio", "solvency", 1, _FS, "流动比率", "Current ratio",
       "current assets / current liabilities from the latest statement",
       "流动比率偏低（{value:.2f}）", "Low current ratio ({value:.2f})",
       "增加流动资产或减少短期负债", "Hold more current assets or less short-term debt",
       "ratio"),
    _i("quick_ratio", "solvency", 1, _FS, "速动比率", "Quick ratio",
       "(current assets - inventory) / current liabilities from the latest statement",
       "速动比率偏低（{value:.2f}）", "Low quick ratio ({value:.2f})",
       "保持充足的货币资金", "Keep enough liquid funds", "ratio"),
    _i("interest_cover", "solvency", 1, _FS, "利息保障倍数", "Interest cover",
       "(net profit + interest expense) / interest expense from the latest statement",
       "利息保障倍数偏低（{value:.1f}）", "Low interest cover ({value:.1f})",
       "提高利润或降低融资成本", "Raise profit or cut financing costs", "times"),
    _i("ocf_to_liabilities", "solvency", 1, _FS, "现金流负债比", "Cash flow to liabilities",
       "operating cash flow / total liabilities from the latest statement",
       "经营现金流难以覆盖负债", "Cash flow covers little of the debt",
       "改善经营现金流", "Improve operating cash flow", "ratio"),
    _i("loan_to_assets", "solvency", -1, f"bank_loan {_FS}", "贷款资产比", "Loans to assets",
       "bank loan balance in the latest month / total assets from the latest statement",
       "银行贷款占资产比重高（{value:.0%}）", "Bank loans are large for the assets ({value:.0%})",
       "控制融资规模", "Keep borrowing in line with assets", "ratio"),
    _i("loan_growth_12m", "solvency", -1, "bank_loan", "贷款余额增长", "Loan balance growth",
       "bank loan balance now / balance 12 months earlier - 1",
       "贷款余额一年内增长{value:.0%}", "Loan balance up {value:.0%} in a year",
       "避免过快扩张负债", "Avoid growing debt too fast", "ratio"),
    _i("overdue_days", "solvency", -1, "bank_loan", "当前逾期天数", "Days overdue now",
       "days principal or interest is overdue at the latest month end",
       "银行贷款当前逾期{value:.0f}天", "Bank loan {value:.0f} days overdue",
       "尽快归还逾期本息", "Repay the overdue amount at once", "days"),
    _i("max_overdue_days_12m", "solvency", -1, "bank_loan", "最长逾期天数",
       "Longest overdue, 12 months",
       "largest overdue days at any month end of the last 12 months",
       "近12个月贷款最长逾期{value:.0f}天", "Loan up to {value:.0f} days overdue in 12 months",
       "按期还本付息", "Repay on schedule", "days"),
    _i("overdue_months_12m", "solvency", -1, "bank_loan", "逾期月数", "Months overdue",
       "month ends of the last 12 with any bank loan overdue",
       "近12个月有{value:.0f}个月贷款逾期", "Loans overdue in {value:.0f} of 12 months",
       "按期还本付息", "Repay on schedule", "months"),
    _i("interest_arrears", "solvency", -1, "bank_loan", "欠息金额", "Interest in arrears",
       "log10(1 + overdue interest in yuan at the latest month end)",
       "存在欠息", "Interest in arrears",
       "结清欠息", "Pay the overdue interest", "log10 yuan"),
    # --- development potential --------------------------------------------------------------
    _i("vat_trend_12m", "development", 1, _TAX, "增值税趋势", "VAT trend",
       "least-squares slope of monthly VAT over 12 months / mean monthly VAT",
       "增值税持续走低", "VAT trending down",
       "稳定经营，恢复销售", "Stabilise operations and sales", "per month"),
    _i("vat_decline_streak", "development", -1, _TAX, "增值税连降月数",
       "Months of falling VAT",
       "consecutive months, up to the latest, in which VAT paid fell from the month before",
       "增值税连续{value:.0f}个月下降", "VAT fell {value:.0f} months in a row",
       "扭转销售下滑", "Turn the fall in sales around", "months"),
    _i("vat_yoy", "development", 1, _TAX, "增值税同比", "VAT year on year",
       "VAT of the last 3 months / VAT of the same 3 months a year earlier - 1",
       "增值税同比下降{value:.0%}", "VAT down {value:.0%} on a year ago",
       "扩大销售", "Grow sales", "ratio"),
    _i("revenue_growth", "development", 1, _FS, "营业收入增长率", "Revenue growth",
       "revenue of the latest statement / revenue of the year before - 1",
       "营业收入下降{value:.0%}", "Revenue down {value:.0%}",
       "开拓市场，扩大销售", "Find new customers", "ratio"),
    _i("profit_growth", "development", 1, _FS, "净利润增长率", "Profit growth",
       "(net profit - net profit a year earlier) / |net profit a year earlier|",
       "净利润下降{value:.0%}", "Net profit down {value:.0%}",
       "提高盈利水平", "Raise profits", "ratio"),
    _i("asset_growth", "development", 1, _FS, "总资产增长率", "Asset growth",
       "total assets of the latest statement / a year earlier - 1",
       "资产规模收缩{value:.0%}", "Total assets shrank {value:.0%}",
       "稳健投资扩大规模", "Invest prudently to grow", "ratio"),
    _i("headcount_change_12m", "development", 1, "social_insurance", "参保人数变化",
       "Headcount change",
       "insured headcount now / 12 months earlier - 1",
       "参保人数一年内减少{value:.0%}", "Insured headcount down {value:.0%} in a year",
       "稳定就业岗位", "Keep jobs stable", "ratio"),
    _i("export_growth", "development", 1, "customs_export", "出口增长率", "Export growth",
       "exports of the last 12 months / the 12 months before - 1",
       "出口额下降{value:.0%}", "Exports down {value:.0%}",
       "拓展海外订单", "Win more export orders", "ratio"),
    _i("invention_patents", "development", 1, "patent_honour", "发明专利", "Invention patents",
       "invention patents in force at the scoring date",
       "缺少发明专利", "No invention patents",
       "加大研发投入，申请发明专利", "Invest in R&D and file invention patents", "count"),
    _i("other_patents", "development", 1, "patent_honour", "实用新型与外观专利",
       "Utility-model and design patents",
       "utility-model and design patents in force at the scoring date",
       "专利数量较少", "Few patents",
       "保护技术成果", "Protect your technical results", "count"),
    _i("high_tech", "development", 1, "patent_honour", "高新技术企业", "High-tech enterprise",
       "1 if recognised as a high-tech enterprise at the scoring date, else 0",
       "未获高新技术企业认定", "Not recognised as high-tech",
       "申请高新技术企业认定", "Apply for high-tech recognition", "flag"),
    _i("honours", "development", 1, "patent_honour", "荣誉资质", "Honours",
       "honours in force at the scoring date",
       "荣誉资质较少", "Few honours",
       "参与质量、守信等评选", "Take part in quality and integrity awards", "count"),
    # --- integrity and compliance -----------------------------------------------------------
    _i("tax_arrears", "integrity", -1, _TAX, "欠税金额", "Tax arrears",
       "log10(1 + tax owed and overdue in yuan at the latest month end)",
       "存在欠税", "Tax in arrears",
       "尽快补缴欠税", "Pay the tax owed", "log10 yuan"),
    _i("tax_arrears_months_12m", "integrity", -1, _TAX, "欠税月数", "Months of tax arrears",
       "months of the last 12 ending with tax overdue",
       "近12个月有{value:.0f}个月欠税", "Tax overdue in {value:.0f} of 12 months",
       "按期申报缴税", "File and pay tax on time", "months"),
    _i("penalties_24m", "integrity", -1, "penalty", "行政处罚次数", "Administrative penalties",
       "administrative penalties in the last 24 months",
       "近24个月受到{value:.0f}次行政处罚", "{value:.0f} penalties in 24 months",
       "依法合规经营，申请信用修复", "Comply, and apply for credit repair", "count"),
    _i("major_penalties_24m", "integrity", -1, "penalty", "重大行政处罚", "Major penalties",
       "major administrative penalties in the last 24 months",
       "近24个月受到{value:.0f}次重大处罚", "{value:.0f} major penalties in 24 months",
       "整改到位，申请信用修复", "Put things right and apply for credit repair", "count"),
    _i("defendant_cases_24m", "integrity", -1, "court_case", "被诉案件数", "Lawsuits as defendant",
       "court cases filed against the firm in the last 24 months",
       "近24个月作为被告涉诉{value:.0f}起", "Sued {value:.0f} time(s) in 24 months",
       "妥善化解合同纠纷", "Settle contract disputes", "count"),
    _i("open_defendant_amount", "integrity", -1, "court_case", "未结被诉金额",
       "Open lawsuits, amount",
       "log10(1 + amount in dispute in yuan of open cases as defendant)",
       "有未结诉讼，涉案金额较大", "Large amount in open lawsuits",
       "积极应诉、调解结案", "Defend or settle open cases", "log10 yuan"),
    _i("dishonest_active", "integrity", -1, "dishonest_debtor", "失信被执行人",
       "Dishonest-debtor listing",
       "1 if listed as a dishonest judgment debtor at the scoring date, else 0",
       "被列为失信被执行人", "Listed as a dishonest judgment debtor",
       "履行判决义务，申请移出名单", "Honour the judgment and apply for removal", "flag"),
    _i("dishonest_listings_36m", "integrity", -1, "dishonest_debtor", "失信记录次数",
       "Dishonest listings, 36 months",
       "dishonest-debtor listings that began in the last 36 months",
       "近36个月被列失信{value:.0f}次", "Listed as dishonest {value:.0f} time(s) in 36 months",
       "守信履约", "Honour commitments", "count"),
    _i("black_list", "integrity", -1, "credit_list", "黑名单", "Black list",
       "1 if on a black list at the scoring date, else 0",
       "被列入黑名单", "On a black list",
       "整改并申请信用修复", "Put things right and apply for credit repair", "flag"),
    _i("red_list", "integrity", 1, "credit_list", "红名单", "Red list",
       "1 if on a red (honour) list at the scoring date, else 0",
       "未列入守信红名单", "Not on a red list",
       "争取守信激励", "Earn a place on the red list", "flag"),
    _i("legal_rep_credit", "integrity", 1, "personal_credit", "法人个人信用分",
       "Legal representative's credit score",
       "latest personal credit score (350..950) of the legal representative",
       "法定代表人个人信用分偏低（{value:.0f}）",
       "Legal representative's credit score is low ({value:.0f})",
       "法定代表人按时偿还个人债务", "The legal representative should repay personal debts on time",
       "points"),
    _i("legal_rep_changes_24m", "integrity", -1, "registry_change", "法人变更次数",
       "Changes of legal representative",
       "changes of legal representative registered in the last 24 months",
       "近24个月法定代表人变更{value:.0f}次", "Legal representative changed {value:.0f} time(s)",
       "保持管理层稳定", "Keep management stable", "count"),
    _i("registry_changes_24m", "integrity", -1, "registry_change", "工商变更次数",
       "Registry changes",
       "changes of shareholders, address, capital or name in the last 24 months",
       "近24个月工商变更{value:.0f}次", "{value:.0f} registry changes in 24 months",
       "减少频繁变更", "Avoid frequent changes", "count"),
)

#: The indicators by code, in catalogue order (the order of feature columns).
INDICATORS: dict[str, Indicator] = {ind.code: ind for ind in _CATALOGUE}


def indicator_codes() -> list[str]:
    """Codes of all indicators in catalogue order."""
    return list(INDICATORS)
