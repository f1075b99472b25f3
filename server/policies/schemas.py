"""Structs of the policy-supermarket routes: policies, eligibility rules, matches, applications."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET
from msgspec import UnsetType as Unset

from server.projects.schemas import ProjectTerms

__all__ = [
    "CatalogueEntry",
    "CatalogueIndicator",
    "CriteriaCatalogue",
    "Criterion",
    "Eligibility",
    "EvaluationSummary",
    "IndicatorRule",
    "PolicyApplicationOut",
    "PolicyCreate",
    "PolicyDecision",
    "PolicyMatch",
    "PolicyMatches",
    "PolicyOut",
    "PolicyUpdate",
]

SizeClass = Literal["micro", "small", "medium", "large"]
Grade = Literal["A", "B", "C", "D"]
Op = Literal[">=", "<=", ">", "<", "=="]


# Exact lengths as well as patterns: msgspec matches with re.search, where "$" also matches
# before a trailing newline ("C\n" would pass the pattern alone).
_Section = Annotated[str, msgspec.Meta(min_length=1, max_length=1, pattern="^[A-Z]$")]
_Division = Annotated[str, msgspec.Meta(min_length=2, max_length=2, pattern="^[0-9]{2}$")]
_Town = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class IndicatorRule(msgspec.Struct, forbid_unknown_fields=True):
    """The firm's value of one catalogue indicator compared with a threshold."""

    indicator: Annotated[str, msgspec.Meta(
        min_length=1, max_length=60, examples=["social_arrears_months_12m"],
        description="an indicator code from GET /api/policies/criteria")]
    op: Annotated[Op, msgspec.Meta(examples=["<="])]
    value: Annotated[float, msgspec.Meta(examples=[0])]


class Eligibility(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Machine-readable eligibility: every field optional, all given fields must hold.

    Industry: a firm matches when its section is in ``industry_sections`` *or* its division is
    in ``industry_divisions`` (one criterion). Headcount is the latest insured (pension)
    headcount, as the ``insured_headcount`` indicator reads it. Firm age in years (365.25 days).
    """

    industry_sections: Annotated[list[_Section], msgspec.Meta(
        min_length=1, max_length=20, examples=[["C", "I", "M"]],
        description="GB/T 4754 section letters")] | None = None
    industry_divisions: Annotated[list[_Division], msgspec.Meta(
        min_length=1, max_length=100, examples=[["34", "35"]],
        description="GB/T 4754 two-digit divisions")] | None = None
    size_classes: Annotated[list[SizeClass], msgspec.Meta(
        min_length=1, max_length=4, examples=[["micro", "small"]])] | None = None
    towns: Annotated[list[_Town], msgspec.Meta(
        min_length=1, max_length=50, examples=[["城关镇", "东城街道"]],
        description="towns or streets of the region")] | None = None
    min_firm_age_years: Annotated[float, msgspec.Meta(ge=0, le=200, examples=[2])] | None = None
    max_firm_age_years: Annotated[float, msgspec.Meta(ge=0, le=200, examples=[5])] | None = None
    min_grade: Annotated[Grade, msgspec.Meta(examples=["B"])] | None = None
    min_headcount: Annotated[int, msgspec.Meta(ge=0, le=1_000_000, examples=[10])] | None = None
    max_headcount: Annotated[int, msgspec.Meta(ge=0, le=1_000_000, examples=[300])] | None = None
    indicators: Annotated[list[IndicatorRule], msgspec.Meta(max_length=30)] = msgspec.field(
        default_factory=list)


_ELIGIBILITY_EXAMPLE = {
    "size_classes": ["micro", "small"], "min_firm_age_years": 2, "min_grade": "B",
    "indicators": [{"indicator": "tax_arrears_months_12m", "op": "<=", "value": 0}],
}


_Title = Annotated[str, msgspec.Meta(min_length=2, max_length=200, examples=["稳岗返还"])]
_Summary = Annotated[str, msgspec.Meta(max_length=4000, examples=[
    "参保企业上年度未裁员或裁员率低于5%，返还部分失业保险费"])]
_Benefit = Annotated[str, msgspec.Meta(max_length=2000, examples=["返还上年度实际缴纳失业保险费的60%"])]
_Rules = Annotated[Eligibility, msgspec.Meta(examples=[_ELIGIBILITY_EXAMPLE])]
_Status = Annotated[Literal["published", "closed"], msgspec.Meta(examples=["closed"])]


class PolicyCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: _Title
    summary: _Summary = ""
    benefit: _Benefit = ""
    eligibility: _Rules = msgspec.field(default_factory=Eligibility)
    valid_from: Annotated[date, msgspec.Meta(
        examples=["2026-01-01"], description="default: today (Asia/Shanghai)")] | None = None
    valid_to: Annotated[date, msgspec.Meta(examples=["2026-12-31"])] | None = None


class PolicyUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; ``status: closed`` withdraws the policy."""

    title: _Title | Unset = UNSET
    summary: _Summary | Unset = UNSET
    benefit: _Benefit | Unset = UNSET
    eligibility: _Rules | Unset = UNSET
    valid_from: Annotated[date, msgspec.Meta(examples=["2026-01-01"])] | Unset = UNSET
    valid_to: Annotated[date, msgspec.Meta(examples=["2026-12-31"])] | None | Unset = UNSET
    status: _Status | Unset = UNSET


class PolicyOut(msgspec.Struct):
    id: int
    department_code: str
    department_name_zh: str
    department_name_en: str
    title: str
    summary: str
    benefit: str
    eligibility: Eligibility
    valid_from: date
    valid_to: date | None
    status: str
    open: bool  # published and within its validity today: firms may apply
    created_at: datetime


class Criterion(msgspec.Struct):
    """One eligibility condition and whether the firm meets it, explained."""

    code: str
    met: bool
    text_zh: str
    text_en: str
    value: float | str | None = None  # the firm's value (None: no data)


class PolicyMatch(msgspec.Struct):
    policy: PolicyOut
    eligible: bool
    criteria: list[Criterion]
    missing: list[Criterion]  # the criteria not met
    application_id: int | None = None  # the firm's pending or approved application, if any
    application_status: str | None = None


class PolicyMatches(msgspec.Struct):
    firm_uscc: str
    data_as_of: date  # indicators read the records known by this date
    eligible: list[PolicyMatch]
    not_eligible: list[PolicyMatch]


class EvaluationSummary(msgspec.Struct):
    """The latest score of the firm, for the department deciding an application."""

    as_of: date
    score: int
    grade: str
    pd: float
    dimensions: dict[str, float]
    model_version: str


class PolicyApplicationOut(msgspec.Struct):
    id: int
    policy_id: int
    policy_title: str
    department_code: str
    firm_uscc: str
    firm_name: str
    status: str
    reason: str
    created_at: datetime
    decided_at: datetime | None
    project_id: int | None = None  # the supported project an approval opened
    evaluation: EvaluationSummary | None = None  # attached in the department's queue
    criteria: list[Criterion] = msgspec.field(default_factory=list)  # on apply: why it qualified


class PolicyDecision(msgspec.Struct, forbid_unknown_fields=True):
    """An approval opens the supported project with ``project``'s terms (money, period, promised
    outcomes, milestones; defaults: 12 months from this month, milestones at mid-term and end)."""

    decision: Annotated[Literal["approve", "reject"], msgspec.Meta(examples=["reject"])]
    reason: Annotated[str, msgspec.Meta(max_length=1000, examples=["近12个月存在欠缴社保，不予支持"],
                                        description="required when rejecting")] = ""
    project: ProjectTerms | None = None


class CatalogueEntry(msgspec.Struct):
    code: str
    name_zh: str
    name_en: str


class CatalogueIndicator(msgspec.Struct):
    code: str
    name_zh: str
    name_en: str
    dimension: str
    unit: str
    computation: str


class CriteriaCatalogue(msgspec.Struct):
    """What an eligibility rule may name, for the department's policy editor."""

    industry_sections: list[CatalogueEntry]
    size_classes: list[CatalogueEntry]
    grades: list[str]
    towns: list[str]
    indicators: list[CatalogueIndicator]
