"""What the credit-index route answers (written by hand, see docs/credit-index.md)."""

from __future__ import annotations

from datetime import date, datetime

import msgspec


class CreditIndexPoint(msgspec.Struct):
    """One published month of a group: the index, the firms it holds, the firms the link to
    the month before was computed on (0 where the chain starts), whether the chain restarted
    here after a month under K, and the components' means over the group's firms."""

    month: str
    index: float
    firms: int
    matched: int
    restart: bool
    components: dict[str, float]


class CreditIndexSeries(msgspec.Struct):
    group: str
    firms_last: int
    points: list[CreditIndexPoint]


class CreditIndexOut(msgspec.Struct):
    base_month: str | None
    k: int
    min_firms: int
    by: str
    weights: dict[str, float]
    series: list[CreditIndexSeries]


# -- thematic analysis (issue 14): groups, clusters, resource use ------------------------------

class TrendPoint(msgspec.Struct):
    """A month of a group: tax paid (yuan) and insured headcount (summed over its firms)."""

    month: str
    tax_yuan: float
    headcount: float


class GroupFigures(msgspec.Struct):
    """A group of at least ``min_firms`` firms: its grade mix (latest scores), mean score, open
    warnings by level, tax and mean insured headcount over twelve months, loans (count, amount
    lent, outstanding) and the guarantee fund's open cover; with its monthly trend."""

    group: str
    name_zh: str
    name_en: str
    firms: int
    grades: dict[str, int]
    mean_score: float | None
    warnings: dict[str, int]
    tax_yuan: float
    headcount: float
    loans: int
    loan_amount_yuan: float | None  # None: fewer than min_firms firms make the sum up
    outstanding_yuan: float | None
    fund_exposure_yuan: float | None
    trend: list[TrendPoint]


class GroupsOut(msgspec.Struct):
    """The groups of ``by`` inside the whole (the region, or the industry ``section``); ``whole``
    is None when the whole itself is under the minimum. ``suppressed``: groups withheld."""

    by: str
    section: str | None
    month: str | None
    k: int
    min_firms: int
    whole: GroupFigures | None
    groups: list[GroupFigures]
    suppressed: int


class ClusterCell(msgspec.Struct):
    """An industry division concentrated in a town: location quotients by firms, tax and
    headcount (1 = as in the region), and the cell's figures."""

    division: str
    section: str
    town: str
    lq_firms: float
    lq_tax: float | None
    lq_headcount: float | None
    figures: GroupFigures


class ClustersOut(msgspec.Struct):
    month: str | None
    k: int
    min_firms: int
    min_lq: float
    cells: list[ClusterCell]
    suppressed: int


class ResourceRow(msgspec.Struct):
    """A group's use of electricity (kWh), water and gas (m³) over twelve months, per 10,000
    yuan of tax and per insured head (``intensity``: ``electricity_per_10k_tax`` ...), and which
    of those intensities are outliers among the groups shown."""

    group: str
    name_zh: str
    name_en: str
    firms: int
    use: dict[str, float]
    tax_yuan: float
    headcount: float
    intensity: dict[str, float | None]
    outliers: list[str]


class ResourcesOut(msgspec.Struct):
    by: str
    k: int
    min_firms: int
    start: str | None
    end: str | None
    rows: list[ResourceRow]
    suppressed: int


class AnnualReportInfo(msgspec.Struct):
    """A kept annual credit-index report: its year and language, when it was made, from which
    data version, and its size."""

    year: int
    lang: str
    generated_at: datetime
    data_version: str
    pages: int
    bytes: int


# -- special fund flows and guarantee chains (issue 14) ------------------------------------------

class FlowGroup(msgspec.Struct):
    """Firms supported by the guarantee fund or a support policy in one group: loans covered and
    the cover (yuan), claims paid, policy grants; since their first support, how many moved to a
    better grade, kept it or fell (latest score), and how many defaulted."""

    group: str
    firms: int
    covered_loans: int
    cover_yuan: float | None  # None: fewer than min_firms firms covered (claimed) in the group
    claims: int
    claim_yuan: float | None
    policy_grants: int
    policy_firms: int
    up: int
    same: int
    down: int
    defaulted: int
    #: the supported projects the policy grants opened: the money granted (None: fewer than
    #: min_firms firms granted money in the group) and how many are on track, behind, failed
    #: or completed (issue 15)
    grant_yuan: float | None = None
    projects: dict[str, int] = msgspec.field(default_factory=dict)


class FundFlowsOut(msgspec.Struct):
    by: str
    k: int
    min_firms: int
    region: FlowGroup | None  # None: fewer supported firms than the minimum
    groups: list[FlowGroup]
    suppressed: int
    recipients: int | None


class ChainGroup(msgspec.Struct):
    """Guarantee circles touching a group: its firms in them, the circles' count and sizes, the
    amounts guaranteed inside those circles, members with an open red or yellow warning, the
    fund's open cover on members and its expected draw (latest PD × cover)."""

    group: str
    firms_in_circles: int
    circles: int
    mean_size: float
    max_size: int
    exposure_yuan: float
    warned_firms: int
    covered_yuan: float | None  # None: fewer than min_firms members with open cover
    expected_draw_yuan: float | None


class ChainsOut(msgspec.Struct):
    by: str
    as_of: date
    k: int
    min_firms: int
    region: ChainGroup | None
    groups: list[ChainGroup]
    suppressed: int
