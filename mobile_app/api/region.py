"""What the region's routes answer (issue 14): the credit index and the annual reports, for the
analyst's screens. Aggregates only: no model here holds one firm's figures."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AnnualReportInfo", "CreditIndex", "CreditIndexPoint", "CreditIndexSeries"]


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
