"""Pure evaluation of a policy's eligibility rules against one firm's facts.

No I/O: the services gather a firm's facts (registry fields, latest grade, indicator values
computed by ``scoring.features``) and this module says whether each rule holds and why, in
Chinese and English, so the firm sees what qualifies it or what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date

from scoring.grades import GRADES
from scoring.indicators import INDICATORS
from scoring.records import INDUSTRY_SECTIONS, section_of
from server.policies.schemas import Criterion, Eligibility
from server.texts import Text, t

__all__ = ["FEATURE_CODES", "FirmFacts", "Verdict", "evaluate", "needs_features", "problems"]

#: The indicator the headcount rules read (latest month's pension-insured headcount).
HEADCOUNT_INDICATOR = "insured_headcount"
#: Every indicator an eligibility rule may name.
FEATURE_CODES: frozenset[str] = frozenset(INDICATORS)

SIZE_NAMES: dict[str, tuple[str, str]] = {
    "micro": ("微型", "micro"), "small": ("小型", "small"),
    "medium": ("中型", "medium"), "large": ("大型", "large"),
}
STATUS_NAMES: dict[str, tuple[str, str]] = {
    "active": ("存续", "active"), "suspended": ("停业", "suspended"),
    "revoked": ("吊销", "revoked"), "cancelled": ("注销", "cancelled"),
}
_OP_ZH = {">=": "不低于", "<=": "不高于", ">": "高于", "<": "低于", "==": "为"}
_OP_EN = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}
_UNIT_ZH = {"years": "年", "persons": "人", "months": "个月", "days": "天", "count": "项",
            "times": "次", "points": "分"}
_UNIT_EN_SHOWN = {"years", "persons", "months", "days", "points", "log10 yuan", "log10 kWh"}


@dataclass(frozen=True, slots=True)
class FirmFacts:
    """What the rules read about one firm; ``None`` / NaN / an absent code means no data."""

    uscc: str
    industry_section: str | None
    industry_division: str | None
    size_class: str | None
    town: str | None
    founded_on: date | None
    status: str | None
    grade: str | None
    indicators: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    eligible: bool
    criteria: list[Criterion]

    @property
    def missing(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.met]


def needs_features(rules: Eligibility) -> bool:
    """Whether evaluating the rules needs indicator values (computed from records)."""
    return (bool(rules.indicators) or rules.min_headcount is not None
            or rules.max_headcount is not None)


def problems(rules: Eligibility, towns: Collection[str] | None = None) -> list[Text]:
    """What is wrong with rules submitted by a department, each starting with the field path.

    Shapes and ranges are checked by the Struct; this checks codes against the catalogues
    (indicators, GB/T 4754 sections and divisions, the region's towns) and min <= max.
    """
    out: list[Text] = []
    for i, s in enumerate(rules.industry_sections or []):
        if s not in INDUSTRY_SECTIONS:
            out.append(t("eligibility.industry_sections[{i}]: unknown GB/T 4754 section {code!r}", i=i, code=s))
    for i, d in enumerate(rules.industry_divisions or []):
        if section_of(d) is None:
            out.append(t("eligibility.industry_divisions[{i}]: unknown GB/T 4754 division {code!r}", i=i,
                         code=d))
    if towns is not None:
        for i, town in enumerate(rules.towns or []):
            if town not in towns:
                out.append(t("eligibility.towns[{i}]: no firm of the region is in {town!r}", i=i, town=town))
    for i, r in enumerate(rules.indicators):
        if r.indicator not in FEATURE_CODES:
            out.append(t("eligibility.indicators[{i}].indicator: unknown indicator code {code!r}", i=i,
                         code=r.indicator))
        if not math.isfinite(r.value):
            out.append(t("eligibility.indicators[{i}].value: must be a finite number", i=i))
    for lo, hi in (("min_firm_age_years", "max_firm_age_years"),
                   ("min_headcount", "max_headcount")):
        a, b = getattr(rules, lo), getattr(rules, hi)
        if a is not None and b is not None and a > b:
            out.append(t("eligibility.{hi}: must not be below {lo} ({b} < {a})", hi=hi, lo=lo, a=a, b=b))
    return out


def evaluate(rules: Eligibility, facts: FirmFacts, today: date) -> Verdict:
    """Each rule checked against the firm (active status always required); eligible iff all hold."""
    criteria = [_status(facts)]
    if rules.industry_sections or rules.industry_divisions:
        criteria.append(_industry(rules.industry_sections or [], rules.industry_divisions or [],
                                  facts))
    if rules.size_classes:
        criteria.append(_size(rules.size_classes, facts.size_class))
    if rules.towns:
        criteria.append(_town(rules.towns, facts.town))
    age = _age(facts.founded_on, today)
    if rules.min_firm_age_years is not None:
        criteria.append(_firm_age(rules.min_firm_age_years, age, ">="))
    if rules.max_firm_age_years is not None:
        criteria.append(_firm_age(rules.max_firm_age_years, age, "<="))
    if rules.min_grade is not None:
        criteria.append(_grade(rules.min_grade, facts.grade))
    headcount = _value(facts.indicators, HEADCOUNT_INDICATOR)
    if rules.min_headcount is not None:
        criteria.append(_headcount(rules.min_headcount, headcount, ">="))
    if rules.max_headcount is not None:
        criteria.append(_headcount(rules.max_headcount, headcount, "<="))
    for rule in rules.indicators:
        criteria.append(_indicator(rule.indicator, rule.op, rule.value,
                                   _value(facts.indicators, rule.indicator)))
    return Verdict(eligible=all(c.met for c in criteria), criteria=criteria)


# --- one function per kind of criterion ------------------------------------------------------

def _value(values: Mapping[str, float], code: str) -> float | None:
    v = values.get(code)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _age(founded_on: date | None, today: date) -> float | None:
    if founded_on is None:
        return None
    return (today - founded_on).days / 365.25


def _holds(actual: float, op: str, bound: float) -> bool:
    if op == ">=":
        return actual >= bound
    if op == "<=":
        return actual <= bound
    if op == ">":
        return actual > bound
    if op == "<":
        return actual < bound
    return math.isclose(actual, bound, rel_tol=1e-9, abs_tol=1e-9)


def _num(v: float) -> str:
    """A threshold as the department wrote it: 2 not 2.0, 0.05 not 0.050000."""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.6g}"


def _shown(actual: float, op: str, bound: float, decimals: int = 1) -> str:
    """The firm's value rounded for reading, with more digits when rounding would make the
    shown value seem to contradict the verdict (1.98 years shown as 2.0 against a minimum of 2)."""
    met = _holds(actual, op, bound)
    for d in range(decimals, 7):
        s = f"{actual:.{d}f}"
        if _holds(float(s), op, bound) == met:
            return s
    return repr(actual)


def _status(facts: FirmFacts) -> Criterion:
    s = facts.status or ""
    zh, en = STATUS_NAMES.get(s, (s or "不详", s or "unknown"))
    return Criterion("status", s == "active", f"企业处于存续状态（实际：{zh}）",
                     f"firm is active (firm: {en})", s or None)


def _industry(sections: list[str], divisions: list[str], facts: FirmFacts) -> Criterion:
    names = [(f"{s}{INDUSTRY_SECTIONS[s][2]}", f"{s} {INDUSTRY_SECTIONS[s][3]}")
             for s in sections if s in INDUSTRY_SECTIONS]
    names += [(f"大类{d}", f"division {d}") for d in divisions]
    want_zh = "、".join(n for n, _ in names)
    want_en = ", ".join(n for _, n in names)
    sec, div = facts.industry_section or "", facts.industry_division or ""
    if not sec and not div:
        return Criterion("industry", False, f"所属行业为{want_zh}之一（行业不详）",
                         f"industry one of {want_en} (industry unknown)", None)
    met = sec in sections or div in divisions
    sec_zh, sec_en = (INDUSTRY_SECTIONS[sec][2], INDUSTRY_SECTIONS[sec][3]) \
        if sec in INDUSTRY_SECTIONS else ("", "")
    return Criterion("industry", met, f"所属行业为{want_zh}之一（实际{sec}{sec_zh}·大类{div}）",
                     f"industry one of {want_en} (firm: {sec} {sec_en}, division {div})",
                     f"{sec}{div}")


def _size(classes: list[str], actual: str | None) -> Criterion:
    want_zh = "、".join(SIZE_NAMES[c][0] for c in classes)
    want_en = " or ".join(SIZE_NAMES[c][1] for c in classes)
    if not actual:
        return Criterion("size_class", False, f"企业规模为{want_zh}（规模不详）",
                         f"size class {want_en} (size unknown)", None)
    zh, en = SIZE_NAMES.get(actual, (actual, actual))
    return Criterion("size_class", actual in classes, f"企业规模为{want_zh}（实际{zh}）",
                     f"size class {want_en} (firm: {en})", actual)


def _town(towns: list[str], actual: str | None) -> Criterion:
    want_zh, want_en = "、".join(towns), ", ".join(towns)
    if not actual:
        return Criterion("town", False, f"注册地在{want_zh}（注册地不详）",
                         f"registered in {want_en} (location unknown)", None)
    return Criterion("town", actual in towns, f"注册地在{want_zh}（实际{actual}）",
                     f"registered in {want_en} (firm: {actual})", actual)


def _firm_age(bound: float, age: float | None, op: str) -> Criterion:
    code = "min_firm_age_years" if op == ">=" else "max_firm_age_years"
    want_zh = f"成立满{_num(bound)}年" if op == ">=" else f"成立不超过{_num(bound)}年"
    want_en = f"founded {_OP_EN[op]} {_num(bound)} years ago"
    if age is None:
        return Criterion(code, False, f"{want_zh}（成立日期不详）",
                         f"{want_en} (founding date unknown)", None)
    if age < 0:
        return Criterion(code, False, f"{want_zh}（成立日期在未来）",
                         f"{want_en} (founding date in the future)", round(age, 2))
    shown = _shown(age, op, bound)
    return Criterion(code, _holds(age, op, bound), f"{want_zh}（实际{shown}年）",
                     f"{want_en} ({shown} years)", round(age, 2))


def _grade(minimum: str, actual: str | None) -> Criterion:
    want_zh, want_en = f"信用等级不低于{minimum}级", f"credit grade {minimum} or better"
    if actual not in GRADES:
        return Criterion("min_grade", False, f"{want_zh}（暂无评级）",
                         f"{want_en} (not graded yet)", None)
    met = GRADES.index(actual) <= GRADES.index(minimum)
    return Criterion("min_grade", met, f"{want_zh}（实际{actual}级）", f"{want_en} (firm: {actual})",
                     actual)


def _headcount(bound: int, actual: float | None, op: str) -> Criterion:
    code = "min_headcount" if op == ">=" else "max_headcount"
    want_zh = f"参保人数{'不少于' if op == '>=' else '不超过'}{bound}人"
    want_en = f"insured headcount {_OP_EN[op]} {bound}"
    if actual is None:
        return Criterion(code, False, f"{want_zh}（无参保记录）",
                         f"{want_en} (no social-insurance record)", None)
    shown = _shown(actual, op, bound, decimals=0)
    return Criterion(code, _holds(actual, op, bound), f"{want_zh}（实际{shown}人）",
                     f"{want_en} (firm: {shown})", actual)


def _indicator(code: str, op: str, bound: float, actual: float | None) -> Criterion:
    key = f"indicators.{code}"
    ind = INDICATORS.get(code)
    if ind is None:  # stored before the catalogue dropped it: cannot be checked, so not met
        return Criterion(key, False, f"指标{code}已停用，无法核验", f"indicator {code} is retired",
                         None)
    if ind.unit == "flag" and op == "==" and bound in (0.0, 1.0):
        want_zh = f"须为{ind.name_zh}" if bound == 1.0 else f"不得为{ind.name_zh}"
        want_en = f"{ind.name_en}: {'required' if bound == 1.0 else 'must not apply'}"
        if actual is None:
            return Criterion(key, False, f"{want_zh}（无数据）", f"{want_en} (no data)", None)
        return Criterion(key, _holds(actual, op, bound),
                         f"{want_zh}（实际：{'是' if actual >= 0.5 else '否'}）",
                         f"{want_en} (firm: {'yes' if actual >= 0.5 else 'no'})", actual)
    unit_zh = _UNIT_ZH.get(ind.unit, "")
    unit_en = f" {ind.unit}" if ind.unit in _UNIT_EN_SHOWN else ""
    want_zh = f"{ind.name_zh}{_OP_ZH[op]}{_num(bound)}{unit_zh}"
    want_en = f"{ind.name_en} {_OP_EN[op]} {_num(bound)}{unit_en}"
    if actual is None:
        return Criterion(key, False, f"{want_zh}（无数据）", f"{want_en} (no data)", None)
    shown = _shown(actual, op, bound, decimals=0 if float(actual).is_integer() else 2)
    return Criterion(key, _holds(actual, op, bound), f"{want_zh}（实际{shown}{unit_zh}）",
                     f"{want_en} (firm: {shown})", actual)
