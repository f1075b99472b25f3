"""What the credit-index route answers (written by hand, see docs/credit-index.md)."""

from __future__ import annotations

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
