"""Structs of the risk routes: the rule catalogue, warnings (public signals and detail),
guarantee circles, a firm's ties (the guarantee circle picture), the macro index and scans."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec

__all__ = [
    "CircleMember",
    "CircleOut",
    "Circles",
    "ContagionPath",
    "FirmTies",
    "FirmWarnings",
    "MacroGroup",
    "MacroOut",
    "RuleOut",
    "ScanOut",
    "ScanRequest",
    "ScanSummary",
    "SystemicFirm",
    "TieEdge",
    "TieFirm",
    "TiePerson",
    "WarningOut",
]


class RuleOut(msgspec.Struct):
    """One warning rule: level, kind, texts and thresholds."""

    code: str
    level: str  # red / yellow / blue
    level_zh: str
    level_en: str
    kind: str
    kind_zh: str
    kind_en: str
    dimension: str | None
    sources: list[str]
    title_zh: str
    title_en: str
    message_zh: str
    message_en: str
    clear_zh: str
    clear_en: str
    params: dict[str, Any]


class WarningOut(msgspec.Struct):
    """A warning. Everyone signed in sees the public signals (level, rule, titles, dates);
    ``detail`` says whether the message, evidence and clear condition are filled in (the
    firm's owner, admins, banks with the firm's active consent)."""

    id: int
    uscc: str
    firm_name: str
    rule_code: str
    level: str
    kind: str
    title_zh: str
    title_en: str
    opened_at: datetime
    closed_at: datetime | None
    status: str  # open / closed
    detail: bool
    message_zh: str | None = None
    message_en: str | None = None
    evidence: dict[str, Any] | None = None
    first_seen: date | None = None
    updated_at: datetime | None = None
    clear_zh: str | None = None
    clear_en: str | None = None


class FirmWarnings(msgspec.Struct):
    uscc: str
    name: str
    detail: bool
    open_red: int
    open_yellow: int
    open_blue: int
    warnings: list[WarningOut]


class CircleMember(msgspec.Struct):
    uscc: str
    name: str
    worst_open_level: str | None  # the member's most severe open warning, if any


class CircleOut(msgspec.Struct):
    """A guarantee circle: firms that, through chains of guarantees, all stand behind one
    another (a strongly connected component of the guarantee graph).

    A bank sees ``members`` only for firms that consented to it or are its applicants or
    borrowers; the others are counted in ``hidden_members``. The amounts are totals over all
    members, withheld (null) when hidden members are fewer than K firms."""

    circle_id: int
    size: int
    guarantees: int
    amount_yuan: int | None  # guaranteed inside the circle
    outside_amount_yuan: int | None  # members guarantee for firms outside it
    members: list[CircleMember]
    hidden_members: int = 0


class SystemicFirm(msgspec.Struct):
    """A firm whose failure alone would hit the others most (DebtRank of its failure)."""

    uscc: str
    name: str
    debtrank: float
    firms_hit: int
    failed: int
    calls_yuan: int


class Circles(msgspec.Struct):
    as_of: date
    circles_total: int
    firms_in_circles: int
    circles: list[CircleOut]
    systemic: list[SystemicFirm]  # from the latest full scan (empty before one)
    systemic_as_of: date | None
    systemic_hidden: int = 0  # systemic firms the viewer may not see
    # "all" (admin) or "consented_or_own_borrowers" (a bank: whose members it may see)
    members_scope: str = "all"
    min_group_size: int = 5  # K


class TieFirm(msgspec.Struct):
    """A cell of the guarantee circle picture: the firm itself (the mother cell, ``hops`` 0) or
    a firm tied to it. ``level`` is the public signal only (its worst open warning's level)."""

    uscc: str
    name: str
    level: str | None  # red / yellow / blue, None without open warnings
    hops: int  # 0 the firm itself, 1 a guarantee partner or a firm sharing a person, 2 beyond
    relation: str  # self / guarantor / guaranteed / both / chain / person
    gives_yuan: int = 0  # guarantees in force this firm gives for the mother firm
    receives_yuan: int = 0  # guarantees in force the mother firm gives for this firm


class TiePerson(msgspec.Struct):
    """A person with a role in the firm and in other firms shown: the name masked (张*), the
    key opaque and stable only within one answer (never the stored identity hash)."""

    key: str
    name: str
    roles: list[str]  # roles in the mother firm: legal_rep, shareholder, ...
    firms: list[str]  # USCCs of the other firms shown where the person has a role


class TieEdge(msgspec.Struct):
    """Guarantees in force from one firm shown for another, summed over the pair."""

    guarantor: str
    guaranteed: str
    amount_yuan: int


class ContagionPath(msgspec.Struct):
    """The chain of guarantees an open DebtRank warning travelled, red source first: link k
    (``amounts_yuan[k]``) is ``usccs[k+1]`` standing behind ``usccs[k]``."""

    warning_id: int
    level: str
    source_uscc: str
    source_name: str
    usccs: list[str]
    names: list[str]
    amounts_yuan: list[int]
    raised_at: datetime


class FirmTies(msgspec.Struct):
    """The guarantee circle picture of one firm: the firm, the firms tied to it by guarantees in
    force (one and two links away) or through a shared person, the guarantees between them, and
    the path of the latest open contagion warning through the firm."""

    as_of: date  # the day guarantees and roles are taken in force (Asia/Shanghai)
    firm: TieFirm
    firms: list[TieFirm]  # nearest and largest first, at most 24
    people: list[TiePerson]
    edges: list[TieEdge]
    path: ContagionPath | None
    hidden: int = 0  # tied firms left out by the cap


class MacroGroup(msgspec.Struct):
    group: str
    name_zh: str
    name_en: str
    firms: int
    graded: int
    share_cd: float | None
    mean_pd: float | None
    red_per_100: float | None
    yellow_per_100: float | None
    defaults: int
    default_rate: float | None
    index: float | None  # 0..100


class ScanSummary(msgspec.Struct):
    as_of: date
    scope: str
    finished_at: datetime
    red_firms: int
    contagion_firms: int
    debtrank: float
    # null when the draw comes from fewer than K firms besides one (it would be their loans)
    expected_fund_draw_yuan: int | None


class MacroOut(msgspec.Struct):
    by: str
    month: date | None  # None before the first monthly computation
    computed_at: datetime | None
    region: MacroGroup | None  # None too when the region itself is under K firms
    # Groups of at least K firms besides one reader; smaller ones pooled into "other" (itself
    # at least K besides one), or withheld with enough others that none can be derived.
    groups: list[MacroGroup]
    latest_scan: ScanSummary | None
    min_group_size: int = 5  # K


class ScanRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Scan the whole region (no ``usccs``) or some firms, as of today (a scan as of another
    day would close today's warnings)."""

    usccs: Annotated[list[Annotated[str, msgspec.Meta(min_length=18, max_length=18)]],
                     msgspec.Meta(min_length=1, max_length=5000,
                                  examples=[["91331004MA2D0XXXXX"]])] | None = None


class ScanOut(msgspec.Struct):
    as_of: date
    scope: str
    firms: int
    raised: int
    updated: int
    escalated: int
    closed: int
    notified: int
    red_firms: int
    contagion_firms: int
    lost_cover: int
    debtrank: float
    expected_fund_draw_yuan: int
    seconds: float
