"""What the region's routes answer (issue 14): the credit index and the annual reports, for the
analyst's screens. Aggregates only: no model here holds one firm's figures."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AnnualReportInfo", "ClusterCell", "Clusters", "CreditIndex", "CreditIndexPoint", "CreditIndexSeries",
    "GroupFigures", "Groups", "ResourceRow", "Resources", "TrendPoint", "FlowGroup", "FundFlows", "ChainGroup", "Chains",
]


@dataclass
class CreditIndexPoint:
    """One published month of a group: the index (base 100), the firms it holds, and whether the
    chain restarted here after a month under the minimum group size."""

    month: str
    index: float
    firms: int
    matched: int = 0
    restart: bool = False
    components: dict[str, float] = field(default_factory=dict)


@dataclass
class CreditIndexSeries:
    group: str
    firms_last: int
    points: list[CreditIndexPoint] = field(default_factory=list)


@dataclass
class CreditIndex:
    base_month: str | None
    k: int
    min_firms: int
    by: str
    weights: dict[str, float] = field(default_factory=dict)
    series: list[CreditIndexSeries] = field(default_factory=list)


@dataclass
class AnnualReportInfo:
    """A stored annual credit-index report: its year and language, when it was made and from
    which data version."""

    year: int
    lang: str
    generated_at: str = ""
    data_version: str = ""
    pages: int = 0
    bytes: int = 0


@dataclass
class TrendPoint:
    month: str
    tax_yuan: float = 0.0
    headcount: float = 0.0


@dataclass
class GroupFigures:
    """A group of firms (never fewer than the API's minimum): grade mix, mean score, open
    warnings by level, twelve months of tax and headcount, loans and the fund's open cover."""

    group: str
    name_zh: str
    name_en: str
    firms: int
    grades: dict[str, int] = field(default_factory=dict)
    mean_score: float | None = None
    warnings: dict[str, int] = field(default_factory=dict)
    tax_yuan: float = 0.0
    headcount: float = 0.0
    loans: int = 0
    loan_amount_yuan: float | None = 0.0  # None: too few firms make the sum up to publish it
    outstanding_yuan: float | None = 0.0
    fund_exposure_yuan: float | None = 0.0
    trend: list[TrendPoint] = field(default_factory=list)


@dataclass
class Groups:
    by: str
    k: int
    min_firms: int
    section: str | None = None
    month: str | None = None
    whole: GroupFigures | None = None
    groups: list[GroupFigures] = field(default_factory=list)
    suppressed: int = 0


@dataclass
class ClusterCell:
    division: str
    section: str
    town: str
    lq_firms: float
    figures: GroupFigures
    lq_tax: float | None = None
    lq_headcount: float | None = None


@dataclass
class Clusters:
    k: int
    min_firms: int
    min_lq: float
    month: str | None = None
    cells: list[ClusterCell] = field(default_factory=list)
    suppressed: int = 0


@dataclass
class ResourceRow:
    group: str
    name_zh: str
    name_en: str
    firms: int
    use: dict[str, float] = field(default_factory=dict)
    tax_yuan: float = 0.0
    headcount: float = 0.0
    intensity: dict[str, float | None] = field(default_factory=dict)
    outliers: list[str] = field(default_factory=list)


@dataclass
class Resources:
    by: str
    k: int
    min_firms: int
    start: str | None = None
    end: str | None = None
    rows: list[ResourceRow] = field(default_factory=list)
    suppressed: int = 0


@dataclass
class FlowGroup:
    group: str
    firms: int
    covered_loans: int = 0
    cover_yuan: float | None = 0.0
    claims: int = 0
    claim_yuan: float | None = 0.0
    policy_grants: int = 0
    policy_firms: int = 0
    up: int = 0
    same: int = 0
    down: int = 0
    defaulted: int = 0
    grant_yuan: float | None = 0.0  # the supported projects' money (None: withheld)
    projects: dict[str, int] = field(default_factory=dict)  # on_track / behind / failed / completed


@dataclass
class FundFlows:
    by: str
    k: int
    min_firms: int
    region: FlowGroup | None = None
    groups: list[FlowGroup] = field(default_factory=list)
    suppressed: int = 0
    recipients: int | None = None


@dataclass
class ChainGroup:
    group: str
    firms_in_circles: int
    circles: int = 0
    mean_size: float = 0.0
    max_size: int = 0
    exposure_yuan: float = 0.0
    warned_firms: int = 0
    covered_yuan: float | None = 0.0
    expected_draw_yuan: float | None = 0.0


@dataclass
class Chains:
    by: str
    as_of: str
    k: int
    min_firms: int
    region: ChainGroup | None = None
    groups: list[ChainGroup] = field(default_factory=list)
    suppressed: int = 0
