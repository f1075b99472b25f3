"""The annual figures that read the firm-month panel, as sums over a part of the region's firms
(issue 16: the annual figures on Dask).

Everything the report takes from the panel adds up across disjoint sets of firms: the credit
index's sums (``scoring.credit_index.index_sums``), the grade counts at the year's first and last
month end, the grade migration, each industry's and town's and each industry × town cell's
firms and score sum at year end, the policy recipients' moves and the year's defaults. A part
is cut by a hash of the USCC (``scoring.partitioned``), read from the database by whoever sums
it, and the parts' sums are added: with ``XINBAO_DASK_SCHEDULER`` set each part is read and summed
by a Dask worker, so the process that makes the report never holds the region's panel;
otherwise the one part is the whole region, summed here. Scores are whole numbers, so every sum
is exact and the figures are the same either way (``tests/integration/test_annual_on_dask.py``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from piccolo.engine.base import Engine

from scoring.credit_index import add_sums, index_sums
from scoring.partitioned import split_region
from scoring.thematic import GRADES
from server.cluster import connect, worker_threads
from server.engines import reading
from server.reports.panel import read_panel

__all__ = ["GROUP_COLUMNS", "GROUP_SUMS", "INDEX_BY", "PARTS_PER_WORKER", "YearSums", "add_year_sums", "part_sums",
           "region_sums", "year_sums", "year_sums_on_dask"]

#: The groupings whose credit index the report prints.
INDEX_BY = ("region", "section", "town")
#: The firm attributes of the report's group tables and of its heat map (section × town).
GROUP_COLUMNS = ("industry_section", "town")
#: Per group: firms scored at year end, their score sum, how many graded A/B and C/D, how many
#: with an open red or yellow warning.
GROUP_SUMS = ("firms", "score", "ab", "cd", "warned")
#: Parts per worker thread: a few each, so a slow or lost worker's share is spread.
PARTS_PER_WORKER = 2

_RANK = {g: i for i, g in enumerate(GRADES)}


def _empty_groups(index: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "score" else "int64") for c in GROUP_SUMS},
                        index=pd.MultiIndex.from_tuples([], names=index) if len(index) > 1 else
                        pd.Index([], name=index[0], dtype=object))


@dataclass
class YearSums:
    """A part's (or the region's) sums for the report on one year; see the module docstring."""

    index: dict[str, pd.DataFrame] = field(default_factory=dict)  # INDEX_BY -> index_sums
    grades_start: Counter[str] = field(default_factory=Counter)
    grades_end: Counter[str] = field(default_factory=Counter)
    end_firms: int = 0
    end_score: float = 0.0
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)  # GROUP_COLUMNS -> GROUP_SUMS by code
    heat: pd.DataFrame = field(default_factory=lambda: _empty_groups(list(GROUP_COLUMNS)))
    migration: Counter[tuple[str, str]] = field(default_factory=Counter)
    recipients: Counter[str] = field(default_factory=Counter)  # moved, up, same, down
    defaults: int = 0


def _group_sums(end: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``GROUP_SUMS`` of the year-end rows per value of ``by`` (rows without one left out)."""
    if end.empty:
        return _empty_groups(by)
    frame = pd.DataFrame({**{c: end[c] for c in by}, "firms": 1, "score": end["score"].astype(float),
                          "ab": end["grade"].isin(["A", "B"]).astype("int64"),
                          "cd": end["grade"].isin(["C", "D"]).astype("int64"),
                          "warned": end["warned"].astype("int64")})
    return frame.groupby(by if len(by) > 1 else by[0], sort=True).sum()


def year_sums(panel: pd.DataFrame, firms: pd.DataFrame, year: int, first: pd.Timestamp, last: pd.Timestamp,
              recipients: Collection[int]) -> YearSums:
    """The sums of one part: ``panel`` and ``firms`` as :func:`server.reports.panel.read_panel`
    gives them for the part's firms; ``first`` and ``last``: the region's first and last scored
    month end of ``year``; ``recipients``: the firms granted a policy in the year."""
    attrs = firms.set_index("firm")
    start = panel[panel["month"] == first].join(attrs, on="firm")
    end = panel[panel["month"] == last].join(attrs, on="firm")
    both = start[["firm", "grade"]].merge(end[["firm", "grade"]], on="firm", suffixes=("_from", "_to"))
    moved = both[both["firm"].isin(list(recipients))]
    ranks = (moved["grade_from"].map(_RANK), moved["grade_to"].map(_RANK))
    in_year = panel["month"].dt.year == year
    return YearSums(
        index={by: index_sums(panel, firms, by=by) for by in INDEX_BY},
        grades_start=Counter(start["grade"]), grades_end=Counter(end["grade"]),
        end_firms=len(end), end_score=float(end["score"].sum()),
        groups={c: _group_sums(end, [c]) for c in GROUP_COLUMNS},
        heat=_group_sums(end, list(GROUP_COLUMNS)),
        migration=Counter(zip(both["grade_from"], both["grade_to"], strict=True)),
        recipients=Counter({"moved": len(moved), "up": int((ranks[1] < ranks[0]).sum()),
                            "same": int((ranks[1] == ranks[0]).sum()), "down": int((ranks[1] > ranks[0]).sum())}),
        defaults=int(panel.loc[in_year, "defaulted"].sum()))


def _add_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    kept = [f for f in frames if not f.empty]
    if not kept:
        return frames[0]
    added = pd.concat(kept).groupby(level=list(range(kept[0].index.nlevels)), sort=True).sum()
    added.index.names = kept[0].index.names
    return added


def add_year_sums(parts: list[YearSums]) -> YearSums:
    """The sums of the parts' firms together (the parts hold disjoint firms)."""
    if not parts:
        return YearSums(index={by: add_sums([]) for by in INDEX_BY},
                        groups={c: _empty_groups([c]) for c in GROUP_COLUMNS})
    out = YearSums(index={by: add_sums([p.index[by] for p in parts]) for by in INDEX_BY},
                   groups={c: _add_frames([p.groups[c] for p in parts]) for c in GROUP_COLUMNS},
                   heat=_add_frames([p.heat for p in parts]))
    for p in parts:
        out.grades_start.update(p.grades_start)
        out.grades_end.update(p.grades_end)
        out.migration.update(p.migration)
        out.recipients.update(p.recipients)
        out.end_firms += p.end_firms
        out.end_score += p.end_score
        out.defaults += p.defaults
    return out


async def region_sums(engine: Engine, year: int, first: pd.Timestamp, last: pd.Timestamp,
                      recipients: Collection[int], usccs: Collection[str] | None = None) -> YearSums:
    """:func:`year_sums` of the firms ``usccs`` (all when None), read through ``engine``."""
    panel, firms = await read_panel(engine, usccs)
    # seconds at a region's size: off an API process's event loop
    return await asyncio.to_thread(year_sums, panel, firms, year, first, last, recipients)


def part_sums(database_url: str, usccs: list[str], year: int, first: pd.Timestamp, last: pd.Timestamp,
              recipients: Collection[int]) -> YearSums:
    """:func:`year_sums` of one part, read from the database at ``database_url`` (runs on a
    Dask worker)."""

    async def read() -> YearSums:
        async with reading(database_url) as engine:
            return await region_sums(engine, year, first, last, recipients, usccs)

    return asyncio.run(read())


def year_sums_on_dask(address: str, database_url: str, usccs: list[str], year: int, first: date, last: date,
                      recipients: Collection[int]) -> YearSums:
    """The region's sums, each part of the firms ``usccs`` read and summed by a worker of the
    cluster at ``address`` (blocking: call it in a worker thread)."""
    with connect(address) as client:
        parts = max(1, worker_threads(client) * PARTS_PER_WORKER)
        pieces = split_region(pd.DataFrame({"uscc": usccs}), parts)
        futures = [client.submit(part_sums, database_url, p["firms"]["uscc"].tolist(), year, pd.Timestamp(first),
                                 pd.Timestamp(last), sorted(recipients), pure=False) for p in pieces]
        done: list[YearSums] = client.gather(futures)
    return add_year_sums(done)
