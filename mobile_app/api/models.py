"""What the API returns, as plain dataclasses (field names as in the API's OpenAPI schema).

Money is in yuan (integers) unless a name says fen; times are ISO strings in UTC as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BookEvent", "BookLoan", "BookWarning", "GradePoint", "LoanBook",
    "OutcomeTotal", "Project", "ProjectDeviation", "ProjectMilestone", "ProjectOutcome", "ProjectPortfolio",
    "ProjectReport", "ProjectTracking",
    "AccessEntry", "Application", "ApplicationEvent", "ApplicationHistoryItem", "ApplicationsCreated", "Consent",
    "ConsentGranted", "Criterion", "DataConfidence", "DisputedRecord", "Evaluation", "Exposure", "Feed", "GradeBand", "FirmProfile", "FirmWarnings",
    "IndustryComparison", "MatchReason", "MatchResult", "Me", "Notification", "Objection",
    "ObjectionDetail", "Policy", "PolicyApplication", "PolicyMatch", "PolicyMatches", "Product",
    "ProductMatch", "Reason", "Record", "RecordPage", "ScorePoint", "Subscription", "TokenPair",
    "TrailEvent", "Warning", "DIMENSIONS", "EvaluationSummary",
    "Account", "Adjustment", "Batch", "FeedSource", "FundBank", "FundOverview", "IngestReport", "LedgerEntry",
    "LedgerPage", "ModelVersionInfo", "MovedFirm", "ProfilePreview", "RejectedRow", "SourceField",
    "TrainingStatus", "WeightProfile", "ContagionPath", "FirmTies", "TieEdge", "TieFirm", "TiePerson",
    "AuditEntry", "AuditPage", "BankAdmin", "ProductAdmin",
]

# The six dimensions of an evaluation, in the order the radar draws them.
DIMENSIONS = ("capital", "operation", "profitability", "solvency", "development", "integrity")


@dataclass
class TokenPair:
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = 3600


@dataclass
class Me:
    id: int
    phone: str
    role: str
    display_name: str
    firm_uscc: str | None = None
    bank_id: int | None = None
    department: str | None = None


@dataclass
class FirmProfile:
    uscc: str
    name: str
    industry_section: str = ""
    industry_division: str = ""
    town: str = ""
    founded_on: str = ""
    size_class: str = ""
    status: str = ""
    grade: str | None = None
    registered_capital_yuan: int | None = None
    legal_representative: str | None = None


@dataclass
class Reason:
    code: str
    text_zh: str
    text_en: str
    tip_zh: str = ""
    tip_en: str = ""
    points: float = 0.0


@dataclass
class ScorePoint:
    as_of: str
    score: int
    grade: str


@dataclass
class IndustryComparison:
    code: str
    name_zh: str
    name_en: str
    firms: int
    percentile: float
    mean_score: float
    dimensions: dict[str, float] = field(default_factory=dict)


@dataclass
class Feed:
    kind: str
    name_zh: str
    name_en: str
    department_zh: str = ""
    department_en: str = ""


@dataclass
class DataFinding:
    """A cross-source check that doubts the firm's data, with its figures."""

    check: str  # under_declaration / shared_meter / agent_exports / property_assets
    text_zh: str = ""
    text_en: str = ""
    plausibility: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfidence:
    share: float
    level: str  # high / medium / low: the lower of coverage and authenticity
    sources: int
    reporting: int
    missing: list[Feed] = field(default_factory=list)
    coverage_level: str | None = None
    departments: list[str] = field(default_factory=list)
    summary_zh: str = ""
    summary_en: str = ""
    findings: list[DataFinding] = field(default_factory=list)


@dataclass
class GradeBand:
    grade: str
    pd_from: float
    pd_to: float | None
    score_from: int
    score_to: int | None


@dataclass
class DisputedRecord:
    record_id: int
    source: str
    objection_id: int
    filed_at: str


@dataclass
class Evaluation:
    uscc: str
    name: str
    as_of: str
    score: int
    grade: str
    pd: float
    model_version: str
    dimensions: dict[str, float]
    reasons: list[Reason]
    history: list[ScorePoint]
    scored_at: str = ""
    weight_profile_version: str | None = None
    industry: IndustryComparison | None = None
    disputed: list[DisputedRecord] = field(default_factory=list)
    data_confidence: DataConfidence | None = None
    grade_band: GradeBand | None = None


@dataclass
class Consent:
    id: int
    bank_id: int
    bank_name: str
    scope: str
    granted_at: str
    expires_at: str
    revoked_at: str | None
    active: bool


@dataclass
class AccessEntry:
    at: str
    viewer_role: str
    bank_id: int | None
    bank_name: str | None
    what: str


@dataclass
class Product:
    id: int
    bank_id: int
    bank_name: str
    name: str
    min_amount_yuan: int
    max_amount_yuan: int
    min_term_months: int
    max_term_months: int
    min_rate_pct: float
    max_rate_pct: float
    eligible_grades: list[str] = field(default_factory=list)
    collateral_free: bool = False
    fund_covered: bool = False


@dataclass
class MatchReason:
    code: str
    text_zh: str
    text_en: str


@dataclass
class ProductMatch:
    product: Product
    fits: bool
    reasons: list[MatchReason]
    expected_min_rate_pct: float
    expected_max_rate_pct: float
    collateral_free: bool
    fund_share_pct: int


@dataclass
class MatchResult:
    firm_uscc: str
    grade: str | None
    amount_yuan: int
    term_months: int
    purpose: str
    matches: list[ProductMatch]
    collateral_free_cap_yuan: int = 0
    dishonest_listed: bool = False
    grade_as_of: str | None = None

    @property
    def fitting(self) -> list[ProductMatch]:
        return [m for m in self.matches if m.fits]

    @property
    def not_fitting(self) -> list[ProductMatch]:
        return [m for m in self.matches if not m.fits]


@dataclass
class ApplicationEvent:
    status: str
    at: str
    by_user: int | None = None
    note: str = ""  # as recorded (English, for the audit trail)
    text_zh: str = ""  # what happened, in the reader's language
    text_en: str = ""


@dataclass
class Exposure:
    """What the firm owes and guarantees (the bank deciding, under consent)."""

    loans_outstanding: int = 0
    outstanding_yuan: int = 0
    with_this_bank_yuan: int = 0
    defaulted_loans: int = 0
    fund_cover_yuan: int = 0
    guarantees_given: int = 0
    guarantees_given_yuan: int = 0
    guarantees_received: int = 0
    guarantees_received_yuan: int = 0
    bank_debt_month: str | None = None  # the banks' own feed, latest month (None: no loan reported)
    bank_debt_yuan: int = 0
    bank_days_overdue: int = 0


@dataclass
class ApplicationHistoryItem:
    id: int
    bank_name: str
    product_name: str
    amount_yuan: int
    term_months: int
    status: str
    created_at: str
    decided_at: str | None = None
    approved_amount_yuan: int | None = None


@dataclass
class Application:
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
    created_at: str
    decided_at: str | None = None
    approved_amount_yuan: int | None = None
    rate_pct: float | None = None
    approved_term_months: int | None = None
    decline_code: str | None = None
    decline_text: str | None = None
    events: list[ApplicationEvent] = field(default_factory=list)
    evaluation: Evaluation | None = None
    evaluation_note: str | None = None
    exposure: Exposure | None = None
    history: list[ApplicationHistoryItem] | None = None


@dataclass
class ConsentGranted:
    bank_id: int
    bank_name: str
    consent_id: int
    expires_at: str
    text_zh: str
    text_en: str


@dataclass
class ApplicationsCreated:
    applications: list[Application]
    consents: list[ConsentGranted]


@dataclass
class Criterion:
    code: str
    met: bool
    text_zh: str
    text_en: str
    value: float | str | None = None


@dataclass
class Policy:
    id: int
    department_code: str
    department_name_zh: str
    department_name_en: str
    title: str
    summary: str
    benefit: str
    valid_from: str
    valid_to: str | None
    status: str
    open: bool
    created_at: str = ""


@dataclass
class PolicyMatch:
    policy: Policy
    eligible: bool
    criteria: list[Criterion]
    missing: list[Criterion]
    application_id: int | None = None
    application_status: str | None = None


@dataclass
class PolicyMatches:
    firm_uscc: str
    data_as_of: str
    eligible: list[PolicyMatch]
    not_eligible: list[PolicyMatch]


@dataclass
class EvaluationSummary:
    """The applicant's latest score, attached for the department deciding a policy application."""

    as_of: str
    score: int
    grade: str
    pd: float
    dimensions: dict[str, float] = field(default_factory=dict)
    model_version: str = ""


@dataclass
class PolicyApplication:
    id: int
    policy_id: int
    policy_title: str
    department_code: str
    firm_uscc: str
    firm_name: str
    status: str
    reason: str
    created_at: str
    decided_at: str | None = None
    evaluation: EvaluationSummary | None = None
    project_id: int | None = None  # the supported project an approval opened


@dataclass
class Record:
    id: int
    source: str
    source_name_zh: str
    source_name_en: str
    department: str
    department_name_zh: str
    department_name_en: str
    record_key: str
    event_date: str
    end_date: str | None = None
    category: str | None = None
    amount_fen: int | None = None
    arrears_fen: int | None = None
    quantity: float | None = None
    days: int | None = None
    status: str | None = None
    correctable: list[str] = field(default_factory=list)
    has_open_objection: bool = False
    open_objection_id: int | None = None


@dataclass
class RecordPage:
    total: int
    limit: int
    offset: int
    items: list[Record]


@dataclass
class Objection:
    id: int
    firm_uscc: str
    firm_name: str
    record_id: int
    source: str
    department: str
    reason: str
    status: str
    resolution: str
    created_at: str
    resolved_at: str | None = None
    corrected_record_id: int | None = None
    source_name_zh: str = ""
    source_name_en: str = ""
    proposed: dict[str, Any] | None = None  # the owner's proposed values, when given


@dataclass
class TrailEvent:
    event: str
    text_zh: str
    text_en: str
    at: str
    reason: str = ""
    by_name: str | None = None
    old_values: dict[str, Any] | None = None
    new_values: dict[str, Any] | None = None


@dataclass
class ObjectionDetail:
    objection: Objection
    record: Record
    trail: list[TrailEvent] = field(default_factory=list)
    corrected_record: Record | None = None


@dataclass
class Warning:
    """A red/yellow/blue risk warning on a firm; message and evidence only with ``detail``."""

    id: int
    uscc: str
    level: str
    firm_name: str = ""
    rule_code: str = ""
    kind: str = ""
    title_zh: str = ""
    title_en: str = ""
    opened_at: str = ""
    closed_at: str | None = None
    status: str = "open"
    detail: bool = False
    message_zh: str | None = None
    message_en: str | None = None
    evidence: dict[str, Any] | None = None
    updated_at: str | None = None

    @property
    def evidence_records(self) -> list[dict[str, Any]]:
        """The department records the warning rests on (with detail), each with its id."""
        records = (self.evidence or {}).get("records")
        return [r for r in records if isinstance(r, dict) and isinstance(r.get("record_id"), int)] \
            if isinstance(records, list) else []

    @property
    def path_names(self) -> list[str]:
        """A contagion warning's chain of firms, from the affected firm to the one that failed."""
        names = (self.evidence or {}).get("path_names")
        return [str(n) for n in names] if isinstance(names, list) else []


@dataclass
class FirmWarnings:
    uscc: str
    name: str
    detail: bool
    open_red: int
    open_yellow: int
    open_blue: int
    warnings: list[Warning]


@dataclass
class Notification:
    """One message for the signed-in user (pushed live and listed); same id = same message."""

    id: int
    kind: str
    level: str = "blue"
    title_zh: str = ""
    title_en: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    firm_uscc: str | None = None
    created_at: str = ""
    updated_at: str = ""
    read_at: str | None = None

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @property
    def firm_name(self) -> str:
        return str(self.body.get("firm_name") or "")


@dataclass
class Subscription:
    """A watched firm; grade and open warnings are filled in by the watchlist from public routes."""

    id: int
    uscc: str
    firm_name: str = ""
    levels: list[str] = field(default_factory=list)
    automatic: bool = False
    detail: bool = False
    grade: str | None = None
    open_warnings: dict[str, int] = field(default_factory=dict)


# -- the back office: department operators and admins (issue 13) ------------------------------

@dataclass
class SourceField:
    name: str
    type: str = "text"
    required: bool = True
    choices: list[str] = field(default_factory=list)


@dataclass
class FeedSource:
    """A feed the operator's department may send, with its columns."""

    code: str
    target: str = "record"
    name_zh: str = ""
    name_en: str = ""
    fields: list[SourceField] = field(default_factory=list)


@dataclass
class RejectedRow:
    row: int
    field: str
    message: str  # in the language the request asked for
    first_row: int | None = None
    message_zh: str = ""  # the same in each language: the screen follows a later switch
    message_en: str = ""


@dataclass
class IngestReport:
    accepted: int
    duplicates: int
    rejected: list[RejectedRow]
    batch_id: int | None = None
    rows: int = 0
    rejected_count: int = 0
    rejected_rows: int = 0
    repeated: list[RejectedRow] = field(default_factory=list)
    repeated_count: int = 0
    report_url: str | None = None


@dataclass
class Batch:
    id: int
    source: str
    received_at: str
    filename: str = ""
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    backfill: bool = False
    report_url: str | None = None


@dataclass
class DepartmentHealth:
    """How a department's feeds serve the platform (``GET /api/ingest/feed-health``)."""

    department: str
    name_zh: str = ""
    name_en: str = ""
    kinds: list[str] = field(default_factory=list)
    month: str | None = None
    firms_reported: int | None = None
    firms_trading: int | None = None
    coverage: float | None = None
    continuity: float | None = None
    lateness_days_median: float | None = None
    lateness_days_p90: float | None = None
    late_share: float | None = None
    disagreement: dict[str, float] = field(default_factory=dict)
    batches_90d: int = 0
    rows_90d: int = 0
    rejected_90d: int = 0
    rejected_rate: float | None = None


@dataclass
class FeedHealth:
    as_of: str | None = None
    departments: list[DepartmentHealth] = field(default_factory=list)


@dataclass
class ModelVersionInfo:
    version: str
    created_at: str
    active: bool
    awaiting_confirmation: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    grade_changes: dict[str, Any] = field(default_factory=dict)
    grade_min_scores: dict[str, int] = field(default_factory=dict)
    promoted_at: str | None = None
    rescoring: bool = False


@dataclass
class TrainingStatus:
    status: str = "idle"  # idle | running | done | failed
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    version: str | None = None


@dataclass
class Adjustment:
    target: str
    factor: float


@dataclass
class WeightProfile:
    version: str
    name: str
    reason: str
    adjustments: list[Adjustment]
    valid_from: str
    created_at: str
    valid_to: str | None = None
    rescoring: bool = False


@dataclass
class MovedFirm:
    uscc: str
    name: str
    grade_from: str
    grade_to: str
    score_from: int
    score_to: int


@dataclass
class ProfilePreview:
    as_of: str
    profile_version: str
    firms: int
    changed: int
    share: float
    up: int
    down: int
    moved_two_or_more: int = 0
    mean_score_change: float = 0.0
    matrix: dict[str, dict[str, int]] = field(default_factory=dict)
    moved: list[MovedFirm] = field(default_factory=list)
    current_profile_version: str | None = None
    in_force_version: str | None = None


@dataclass
class FundBank:
    bank_id: int
    bank_name: str
    covered_loans: int
    covered_principal_fen: int
    defaulted_loans: int
    npl_bp: int
    exposure_fen: int
    claims_paid_fen: int
    suspended: bool = False


@dataclass
class FundOverview:
    name: str
    capital_fen: int
    claims_paid_fen: int
    claims_count: int
    balance_fen: int
    exposure_fen: int
    limit_total_fen: int
    limit_per_firm_fen: int
    available_capacity_fen: int
    npl_limit_bp: int
    share_pct: dict[str, int] = field(default_factory=dict)
    banks: list[FundBank] = field(default_factory=list)


@dataclass
class LedgerEntry:
    id: int
    kind: str
    amount_fen: int
    at: str
    application_id: int | None = None
    bank_id: int | None = None
    note: str = ""


@dataclass
class LedgerPage:
    total: int
    entries: list[LedgerEntry]
    limit: int = 50
    offset: int = 0


@dataclass
class Account:
    id: int
    phone: str
    role: str
    display_name: str
    firm_uscc: str | None = None
    bank_id: int | None = None
    department: str | None = None
    is_active: bool = True


@dataclass
class ProductAdmin:
    """A loan product as the admin manages it (inactive ones too)."""

    id: int
    bank_id: int
    name: str
    min_amount_yuan: int
    max_amount_yuan: int
    min_term_months: int
    max_term_months: int
    min_rate_bp: int
    max_rate_bp: int
    eligible_grades: list[str] = field(default_factory=list)
    industries: list[str] = field(default_factory=list)  # GB/T 4754 sections; empty = every industry
    collateral_free: bool = False
    fund_covered: bool = False
    active: bool = True


@dataclass
class BankAdmin:
    id: int
    code: str
    name: str
    suspended: bool = False
    suspended_at: str | None = None
    managers: int = 0
    products: list[ProductAdmin] = field(default_factory=list)


@dataclass
class AuditEntry:
    """One admin change or one view of a firm's evaluation."""

    at: str
    kind: str  # change | view
    action: str  # bank.create, fund.update, evaluation.view, ...
    target: str
    actor_id: int | None = None
    actor_name: str = ""
    actor_role: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditPage:
    total: int
    entries: list[AuditEntry]
    limit: int = 50
    offset: int = 0


# -- the guarantee circle picture: a firm's ties (issue 13) ------------------------------------

@dataclass
class TieFirm:
    uscc: str
    name: str
    level: str | None = None  # worst open warning level (public signal)
    hops: int = 1
    relation: str = "guarantor"  # self | guarantor | guaranteed | both | chain | person
    gives_yuan: int = 0  # guarantees this firm gives for the mother firm
    receives_yuan: int = 0  # guarantees the mother firm gives for this firm


@dataclass
class TiePerson:
    key: str
    name: str  # masked
    roles: list[str] = field(default_factory=list)
    firms: list[str] = field(default_factory=list)


@dataclass
class TieEdge:
    guarantor: str
    guaranteed: str
    amount_yuan: int


@dataclass
class ContagionPath:
    warning_id: int
    level: str
    source_uscc: str
    source_name: str
    usccs: list[str]
    names: list[str]
    amounts_yuan: list[int]
    raised_at: str = ""


@dataclass
class FirmTies:
    as_of: str
    firm: TieFirm
    firms: list[TieFirm] = field(default_factory=list)
    people: list[TiePerson] = field(default_factory=list)
    edges: list[TieEdge] = field(default_factory=list)
    path: ContagionPath | None = None
    hidden: int = 0


# -- supported projects (a granted policy application followed to its result) ------------------

@dataclass
class ProjectReport:
    kind: str  # self / assessment / result
    milestone: int
    author_role: str
    assessor: str
    score: int | None
    text: str
    created_at: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProjectMilestone:
    seq: int
    title: str
    due_on: str
    self_evaluation: ProjectReport | None = None
    assessment: ProjectReport | None = None


@dataclass
class ProjectOutcome:
    metric: str
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    source: str
    change: float
    baseline: float | None = None
    target: float | None = None
    actual: float | None = None
    achieved: float | None = None  # share of the promised change reached (None: unknown)
    planned: float | None = None  # share planned by the tracked month
    status: str | None = None  # on_track / behind_plan / off_target / no_data


@dataclass
class ProjectDeviation:
    kind: str
    metric: str | None
    text_zh: str
    text_en: str


@dataclass
class ProjectTracking:
    month: str
    planned: float
    status: str
    deviations: list[ProjectDeviation] = field(default_factory=list)


@dataclass
class Project:
    id: int
    title: str
    department_code: str
    department_name_zh: str
    department_name_en: str
    firm_uscc: str
    firm_name: str
    granted_yuan: int
    starts_on: str
    ends_on: str
    status: str  # on_track / behind / failed, then completed / failed
    outcomes: list[ProjectOutcome] = field(default_factory=list)
    milestones: list[ProjectMilestone] = field(default_factory=list)
    tracking: ProjectTracking | None = None
    closed_at: str | None = None
    score: int | None = None
    result: ProjectReport | None = None


@dataclass
class OutcomeTotal:
    metric: str
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    promised: float
    achieved: float


@dataclass
class ProjectPortfolio:
    department_code: str
    projects: int
    by_status: dict[str, int]
    granted_yuan: int
    outcomes: list[OutcomeTotal] = field(default_factory=list)
    items: list[Project] = field(default_factory=list)


# -- the bank's post-loan book ---------------------------------------------------------------------

@dataclass
class GradePoint:
    as_of: str
    grade: str
    score: int


@dataclass
class BookWarning:
    rule_code: str
    level: str
    title_zh: str
    title_en: str
    opened_at: str
    closed_at: str | None = None
    message_zh: str | None = None  # with the firm's consent only
    message_en: str | None = None


@dataclass
class BookEvent:
    status: str
    at: str
    note: str = ""


@dataclass
class BookLoan:
    application_id: int
    firm_uscc: str
    firm_name: str
    product: str
    amount_yuan: int
    status: str
    granted_on: str
    months_on_book: int
    fund_share_pct: int
    cover: str  # none / open / claimed / released
    detail: bool  # the firm's consent is active: grades and messages shown
    grade_at_grant: str
    rate_bp: int | None = None
    term_months: int | None = None
    grade_now: str | None = None
    grade_steps: int | None = None
    grade_path: list[GradePoint] = field(default_factory=list)
    data_confidence: str | None = None
    warnings: list[BookWarning] = field(default_factory=list)
    events: list[BookEvent] = field(default_factory=list)
    act: list[str] = field(default_factory=list)


@dataclass
class LoanBook:
    loans: int
    principal_yuan: int
    covered_yuan: int
    to_act: int
    movement: dict[str, int]
    items: list[BookLoan] = field(default_factory=list)
