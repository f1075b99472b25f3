"""Eligibility rules against one firm's facts: each criterion, its boundaries, missing data."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.policies.eligibility import FirmFacts, evaluate, needs_features, problems
from server.policies.schemas import Eligibility, IndicatorRule

TODAY = date(2026, 11, 22)

FACTS = FirmFacts(
    uscc="913310047R0B1N82WN", industry_section="C", industry_division="34", size_class="small",
    town="城关镇", founded_on=TODAY - timedelta(days=round(5.3 * 365.25)), status="active",
    grade="B",
    indicators={"insured_headcount": 43.0, "social_arrears_months_12m": 0.0,
                "headcount_change_12m": -0.0444, "invention_patents": 2.0, "dishonest_active": 0.0,
                "high_tech": 0.0, "vat_12m": 6.031175, "debt_ratio": float("nan")},
)


def founded(days_ago: int) -> FirmFacts:
    return replace(FACTS, founded_on=TODAY - timedelta(days=days_ago))


def rules(**kw: object) -> Eligibility:
    """Rules as a department would send them (decoded and validated like the API does)."""
    return msgspec.convert(kw, Eligibility)


def only(r: Eligibility, facts: FirmFacts = FACTS):
    """The verdict and the single criterion the rules add to the always-on status check."""
    verdict = evaluate(r, facts, TODAY)
    assert verdict.criteria[0].code == "status"
    assert len(verdict.criteria) == 2, verdict.criteria
    return verdict, verdict.criteria[1]


def test_no_rules_an_active_firm_qualifies():
    verdict = evaluate(Eligibility(), FACTS, TODAY)
    assert verdict.eligible
    assert [c.code for c in verdict.criteria] == ["status"]
    assert verdict.missing == []


@pytest.mark.parametrize("status", ["cancelled", "revoked", "suspended", None])
def test_a_firm_not_active_never_qualifies(status):
    verdict = evaluate(Eligibility(), replace(FACTS, status=status), TODAY)
    assert not verdict.eligible
    assert verdict.missing[0].code == "status"
    assert verdict.missing[0].text_en.startswith("firm is active")


def test_the_briefs_example_text_for_firm_age():
    verdict, c = only(rules(min_firm_age_years=2))
    assert verdict.eligible and c.met
    assert c.text_zh == "成立满2年（实际5.3年）"
    assert c.text_en == "founded ≥ 2 years ago (5.3 years)"


def test_industry_by_section_division_or_either():
    assert only(rules(industry_sections=["C"]))[1].met
    verdict, c = only(rules(industry_sections=["I", "M"]))
    assert not verdict.eligible and not c.met
    assert "C制造业" in c.text_zh and "I信息传输" in c.text_zh
    assert c.text_en.startswith("industry one of I Information technology, M Research")
    assert only(rules(industry_divisions=["34"]))[1].met
    assert not only(rules(industry_divisions=["35"]))[1].met
    # a section or a division matches: software (I) or machinery (division 34)
    assert only(rules(industry_sections=["I"], industry_divisions=["34"]))[1].met
    verdict, c = only(rules(industry_sections=["C"]), replace(FACTS, industry_section=None,
                                                              industry_division=None))
    assert not c.met and "行业不详" in c.text_zh and "industry unknown" in c.text_en


def test_size_class():
    c = only(rules(size_classes=["micro", "small"]))[1]
    assert c.met and c.text_zh == "企业规模为微型、小型（实际小型）"
    c = only(rules(size_classes=["medium", "large"]))[1]
    assert not c.met and c.text_en == "size class medium or large (firm: small)"
    c = only(rules(size_classes=["small"]), replace(FACTS, size_class=None))[1]
    assert not c.met and c.value is None and "size unknown" in c.text_en


def test_town():
    assert only(rules(towns=["城关镇", "东城街道"]))[1].met
    c = only(rules(towns=["青山镇"]))[1]
    assert not c.met and c.text_zh == "注册地在青山镇（实际城关镇）"
    assert not only(rules(towns=["城关镇"]), replace(FACTS, town=None))[1].met


@pytest.mark.parametrize(("days", "met", "shown"), [
    (731, True, "2.0"),    # 2.0014 years
    (730, False, "1.999"),  # 1.9986 years: not "2.0", which would read as qualifying
])
def test_minimum_age_boundary(days, met, shown):
    c = only(rules(min_firm_age_years=2), founded(days))[1]
    assert c.met is met
    assert c.text_zh == f"成立满2年（实际{shown}年）"


@pytest.mark.parametrize(("days", "met"), [(1095, True), (1096, False)])
def test_maximum_age_boundary(days, met):
    c = only(rules(max_firm_age_years=3), founded(days))[1]
    assert c.code == "max_firm_age_years"
    assert c.met is met
    assert c.text_zh.startswith("成立不超过3年（实际")
    assert c.text_en.startswith("founded ≤ 3 years ago (")


def test_age_with_no_or_a_future_founding_date():
    c = only(rules(min_firm_age_years=0), replace(FACTS, founded_on=None))[1]
    assert not c.met and "成立日期不详" in c.text_zh
    c = only(rules(max_firm_age_years=5), replace(FACTS, founded_on=TODAY + timedelta(days=3)))[1]
    assert not c.met and "future" in c.text_en


@pytest.mark.parametrize(("minimum", "grade", "met"), [
    ("B", "A", True), ("B", "B", True), ("B", "C", False), ("A", "B", False), ("D", "D", True),
])
def test_minimum_grade(minimum, grade, met):
    c = only(rules(min_grade=minimum), replace(FACTS, grade=grade))[1]
    assert c.met is met
    assert c.text_zh == f"信用等级不低于{minimum}级（实际{grade}级）"


def test_an_ungraded_firm_does_not_meet_a_grade_rule():
    verdict, c = only(rules(min_grade="D"), replace(FACTS, grade=None))
    assert not verdict.eligible and not c.met
    assert c.text_zh == "信用等级不低于D级（暂无评级）"
    assert c.text_en == "credit grade D or better (not graded yet)"


@pytest.mark.parametrize(("field", "bound", "met"), [
    ("min_headcount", 43, True), ("min_headcount", 44, False),
    ("max_headcount", 43, True), ("max_headcount", 42, False),
])
def test_headcount_boundaries(field, bound, met):
    c = only(rules(**{field: bound}))[1]
    assert c.code == field and c.met is met and c.value == 43.0
    assert "（实际43人）" in c.text_zh


def test_headcount_without_social_insurance_records():
    facts = replace(FACTS, indicators={})
    verdict, c = only(rules(min_headcount=1), facts)
    assert not verdict.eligible
    assert c.text_zh == "参保人数不少于1人（无参保记录）"
    assert c.text_en == "insured headcount ≥ 1 (no social-insurance record)"


@pytest.mark.parametrize(("op", "value", "met"), [
    (">=", 2, True), (">", 2, False), ("<=", 2, True), ("<", 2, False), ("==", 2, True),
    (">=", 2.5, False), ("<", 2.5, True), ("==", 1, False),
])
def test_indicator_operators_at_the_boundary(op, value, met):
    r = rules(indicators=[{"indicator": "invention_patents", "op": op, "value": value}])
    verdict, c = only(r)
    assert c.code == "indicators.invention_patents"
    assert c.met is met and verdict.eligible is met
    assert c.text_zh.startswith("发明专利") and c.text_zh.endswith("（实际2项）")
    assert c.text_en.startswith("Invention patents") and c.text_en.endswith("(firm: 2)")


def test_equality_tolerates_float_rounding():
    facts = replace(FACTS, indicators={"equity_ratio": 0.1 + 0.2})
    r = rules(indicators=[{"indicator": "equity_ratio", "op": "==", "value": 0.3}])
    assert only(r, facts)[1].met


def test_indicator_texts_name_the_indicator_threshold_and_value():
    r = rules(indicators=[{"indicator": "headcount_change_12m", "op": ">=", "value": -0.05}])
    c = only(r)[1]
    assert c.met
    assert c.text_zh == "参保人数变化不低于-0.05（实际-0.04）"
    assert c.text_en == "Headcount change ≥ -0.05 (firm: -0.04)"


@pytest.mark.parametrize("code", ["debt_ratio", "roe"])  # NaN, and absent from the facts
def test_missing_indicator_value_is_not_eligible_with_a_reason(code):
    verdict, c = only(rules(indicators=[{"indicator": code, "op": "<=", "value": 0.7}]))
    assert not verdict.eligible and not c.met and c.value is None
    assert c.text_zh.endswith("（无数据）") and c.text_en.endswith("(no data)")


def test_a_retired_indicator_code_is_not_met_rather_than_an_error():
    r = Eligibility(indicators=[IndicatorRule("retired_code", ">=", 1)])
    verdict, c = only(r)
    assert not verdict.eligible and c.code == "indicators.retired_code" and "retired" in c.text_en


def test_flags_read_as_yes_or_no():
    r = rules(indicators=[{"indicator": "dishonest_active", "op": "==", "value": 0}])
    c = only(r)[1]
    assert c.met and c.text_zh == "不得为失信被执行人（实际：否）"
    listed = replace(FACTS, indicators={**FACTS.indicators, "dishonest_active": 1.0})
    c = only(r, listed)[1]
    assert not c.met and c.text_en == "Dishonest-debtor listing: must not apply (firm: yes)"
    c = only(rules(indicators=[{"indicator": "high_tech", "op": "==", "value": 1}]))[1]
    assert not c.met and c.text_zh == "须为高新技术企业（实际：否）"


def test_every_rule_together_lists_what_is_missing():
    r = rules(industry_sections=["C"], size_classes=["micro"], towns=["城关镇"],
              min_firm_age_years=2, max_firm_age_years=5, min_grade="A", min_headcount=10,
              max_headcount=300,
              indicators=[{"indicator": "social_arrears_months_12m", "op": "<=", "value": 0}])
    verdict = evaluate(r, FACTS, TODAY)
    assert not verdict.eligible
    assert [c.code for c in verdict.missing] == ["size_class", "max_firm_age_years", "min_grade"]
    assert len(verdict.criteria) == 10


def test_problems_name_the_field():
    assert problems(rules(industry_sections=["C"], industry_divisions=["34"],
                          indicators=[{"indicator": "vat_12m", "op": ">", "value": 5}])) == []
    assert problems(rules(industry_sections=["C", "Z"])) == [
        "eligibility.industry_sections[1]: unknown GB/T 4754 section 'Z'"]
    assert problems(rules(industry_divisions=["99"])) == [
        "eligibility.industry_divisions[0]: unknown GB/T 4754 division '99'"]
    assert problems(rules(indicators=[{"indicator": "vat_12m", "op": ">", "value": 1},
                                      {"indicator": "vat_13m", "op": ">", "value": 1}])) == [
        "eligibility.indicators[1].indicator: unknown indicator code 'vat_13m'"]
    assert problems(rules(min_firm_age_years=5, max_firm_age_years=2)) == [
        "eligibility.max_firm_age_years: must not be below min_firm_age_years (2.0 < 5.0)"]
    assert problems(rules(towns=["城关镇", "火星镇"]), towns={"城关镇"}) == [
        "eligibility.towns[1]: no firm of the region is in '火星镇'"]
    bad_value = Eligibility(indicators=[IndicatorRule("vat_12m", ">", math.inf)])
    assert problems(bad_value) == ["eligibility.indicators[0].value: must be a finite number"]


@pytest.mark.parametrize("raw", [
    {"indicators": [{"indicator": "vat_12m", "op": "=>", "value": 1}]},
    {"min_grade": "E"},
    {"size_classes": ["tiny"]},
    {"industry_sections": ["c"]},
    {"min_headcount": -1},
    {"no_such_rule": 1},
])
def test_the_struct_refuses_malformed_rules(raw):
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, Eligibility)


def test_needs_features_only_for_indicators_and_headcount():
    assert not needs_features(rules(min_grade="B", size_classes=["small"], min_firm_age_years=1))
    assert needs_features(rules(min_headcount=1))
    assert needs_features(rules(max_headcount=1))
    assert needs_features(rules(indicators=[{"indicator": "vat_12m", "op": ">", "value": 1}]))


# --- properties ------------------------------------------------------------------------------

_ops = st.sampled_from([">=", "<=", ">", "<", "=="])
_codes = st.sampled_from(["vat_12m", "invention_patents", "headcount_change_12m", "debt_ratio",
                          "insured_headcount", "dishonest_active"])
_rules = st.builds(
    Eligibility,
    industry_sections=st.none() | st.lists(st.sampled_from("ACFIM"), min_size=1, max_size=3),
    industry_divisions=st.none() | st.lists(st.sampled_from(["13", "34", "35", "65"]), min_size=1,
                                            max_size=2),
    size_classes=st.none() | st.lists(st.sampled_from(["micro", "small", "medium", "large"]),
                                      min_size=1, max_size=4),
    towns=st.none() | st.lists(st.sampled_from(["城关镇", "青山镇"]), min_size=1, max_size=2),
    min_firm_age_years=st.none() | st.floats(0, 30),
    max_firm_age_years=st.none() | st.floats(0, 30),
    min_grade=st.none() | st.sampled_from("ABCD"),
    min_headcount=st.none() | st.integers(0, 100),
    max_headcount=st.none() | st.integers(0, 100),
    indicators=st.lists(st.builds(IndicatorRule, _codes, _ops, st.floats(-2, 10)), max_size=3),
)
_facts = st.builds(
    FirmFacts,
    uscc=st.just("X"),
    industry_section=st.none() | st.sampled_from("CFI"),
    industry_division=st.none() | st.sampled_from(["34", "51", "65"]),
    size_class=st.none() | st.sampled_from(["micro", "small", "medium", "large"]),
    town=st.none() | st.sampled_from(["城关镇", "青山镇"]),
    founded_on=st.none() | st.dates(date(1990, 1, 1), TODAY),
    status=st.sampled_from(["active", "active", "cancelled"]),
    grade=st.none() | st.sampled_from("ABCD"),
    indicators=st.dictionaries(_codes, st.floats(-5, 50) | st.just(float("nan")), max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(_rules, _facts)
def test_eligible_exactly_when_every_criterion_is_met_and_each_is_explained(r, facts):
    verdict = evaluate(r, facts, TODAY)
    assert verdict.eligible == all(c.met for c in verdict.criteria)
    expected = 1 + sum(x is not None for x in (
        r.size_classes, r.towns, r.min_firm_age_years, r.max_firm_age_years, r.min_grade,
        r.min_headcount, r.max_headcount)) + bool(r.industry_sections or r.industry_divisions) \
        + len(r.indicators)
    assert len(verdict.criteria) == expected
    for c in verdict.criteria:
        assert c.text_zh and c.text_en and c.text_zh != c.text_en
        assert re.search(r"[\u4e00-\u9fff]", c.text_zh)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 20 * 366), st.floats(0, 20).map(lambda x: round(x, 2)))
def test_the_age_shown_never_contradicts_the_verdict(days, bound):
    c = only(rules(min_firm_age_years=bound), founded(days))[1]
    assert c.met == (days / 365.25 >= bound)
    shown = float(re.search(r"实际([0-9.]+)年", c.text_zh).group(1))
    assert (shown >= bound) == c.met


@settings(max_examples=200, deadline=None)
@given(_rules, _facts, st.builds(IndicatorRule, _codes, _ops, st.floats(-2, 10)))
def test_a_further_rule_never_makes_a_firm_eligible(r, facts, extra):
    looser = msgspec.structs.replace(r, min_grade=None)
    stricter = msgspec.structs.replace(r, min_grade="B", indicators=[*r.indicators, extra])
    if evaluate(stricter, facts, TODAY).eligible:
        assert evaluate(looser, facts, TODAY).eligible
