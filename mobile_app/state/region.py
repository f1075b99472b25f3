"""The analyst's screens (issue 14): the region's credit index with its drill (region → industry →
town), and the annual reports. Aggregates only; the API withholds every group under K firms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mobile_app.api import ApiClient
from mobile_app.api.region import (
    AnnualReportInfo,
    Chains,
    ClusterCell,
    Clusters,
    CreditIndex,
    CreditIndexSeries,
    FundFlows,
    GroupFigures,
    Groups,
    Resources,
)
from mobile_app.state.base import Loadable

__all__ = [
    "CHAIN_DIMENSIONS", "FLOW_DIMENSIONS", "GROUP_DIMENSIONS", "INDEX_DIMENSIONS", "LENSES", "RESOURCE_DIMENSIONS", "IndexState", "ReportsState",
    "ThematicState", "last_full_year",
]

#: The dimensions the index screen lists groups by (the region itself is always on top).
INDEX_DIMENSIONS = ("section", "town", "size")
#: The thematic analyses, and the dimensions their groups come in.
LENSES = ("groups", "clusters", "resources", "flows", "chains")
GROUP_DIMENSIONS = ("section", "town", "size")
RESOURCE_DIMENSIONS = ("section", "town")
FLOW_DIMENSIONS = ("grade", "section", "town")
CHAIN_DIMENSIONS = ("town", "section")
ALL_CELLS_LQ = 1e-6  # the clusters route with this floor lists every cell it may show


def last_full_year(today: datetime | None = None) -> int:
    return (today or datetime.now(UTC)).year - 1


def change(series: CreditIndexSeries, months: int = 12) -> float | None:
    """The index's change over the last ``months`` published months of an unbroken chain, in
    points; None when the chain is shorter or restarted inside the window (not comparable)."""
    points = series.points
    if len(points) <= months:
        return None
    window = points[-months - 1:]
    if any(p.restart for p in window[1:]):
        return None
    return window[-1].index - window[0].index


@dataclass(kw_only=True)
class IndexState(Loadable):
    """The region's index on top; below it the groups of one dimension with their latest index;
    ``group`` is the one opened (its own line is drawn against the region's)."""

    client: ApiClient
    by: str = "section"
    region: CreditIndex | None = None
    groups: CreditIndex | None = None
    group: str | None = None

    mix: GroupFigures | None = None  # the region's grade mix (latest scores)

    async def load(self) -> None:
        async def fetch() -> tuple[CreditIndex, CreditIndex, Groups]:
            return (await self.client.credit_index("region"), await self.client.credit_index(self.by),
                    await self.client.region_groups("size"))

        def store(answer: tuple[CreditIndex, CreditIndex, Groups]) -> None:
            self.region, self.groups, sizes = answer
            self.mix = sizes.whole
            if self.group is not None and self.series(self.group) is None:
                self.group = None

        await self._run(fetch, store)

    async def pick_dimension(self, by: str) -> None:
        if by in INDEX_DIMENSIONS and by != self.by:
            self.by, self.group = by, None
            await self.load()

    def open(self, group: str | None) -> None:
        self.group = group if group is None or self.series(group) is not None else None
        self.notify()

    @property
    def region_series(self) -> CreditIndexSeries | None:
        return self.region.series[0] if self.region and self.region.series else None

    def series(self, group: str) -> CreditIndexSeries | None:
        if self.groups is None:
            return None
        return next((s for s in self.groups.series if s.group == group), None)

    def ranked(self) -> list[CreditIndexSeries]:
        """The published groups, highest latest index first."""
        if self.groups is None:
            return []
        return sorted((s for s in self.groups.series if s.points),
                      key=lambda s: (-s.points[-1].index, s.group))


@dataclass(kw_only=True)
class ReportsState(Loadable):
    """The annual credit-index reports kept on the server; any full year can be made on demand."""

    client: ApiClient
    items: list[AnnualReportInfo] = field(default_factory=list)
    busy: tuple[int, str] | None = None  # the (year, lang) being downloaded
    saved: tuple[int, str] | None = None

    async def load(self) -> None:
        def store(items: list[AnnualReportInfo]) -> None:
            self.items = sorted(items, key=lambda r: (-r.year, r.lang))

        await self._run(self.client.annual_reports, store)

    def years(self) -> list[int]:
        """The stored years and the last full year (which can always be asked for)."""
        return sorted({r.year for r in self.items} | {last_full_year()}, reverse=True)

    def stored(self, year: int, lang: str) -> AnnualReportInfo | None:
        return next((r for r in self.items if r.year == year and r.lang == lang), None)

    async def download(self, year: int, lang: str) -> tuple[str, bytes] | None:
        """The report as (file name, PDF bytes); None when it failed (``error`` says why)."""
        if self.busy is not None:
            return None
        self.busy, self.saved = (year, lang), None
        self.notify()
        try:
            data = await self._act(lambda: self.client.annual_report_pdf(year, lang))
        finally:
            self.busy = None
        if data is None:
            return None
        self.saved = (year, lang)
        await self.load()  # the report made just now joins the list
        return f"xinbao-credit-index-{year}-{lang}.pdf", data


@dataclass(kw_only=True)
class ThematicState(Loadable):
    """专题分析: one lens at a time. ``groups``: industries, towns or size classes, and an industry
    drilled into (its divisions, and its firms by division and town); ``clusters``: divisions
    concentrated in a town; ``resources``: electricity, water and gas per unit of tax and per
    head. ``opened`` is the group (or cell) whose figures and trend are shown."""

    client: ApiClient
    lens: str = "groups"
    by: str = "section"
    section: str | None = None
    groups: Groups | None = None
    cells: Clusters | None = None  # the drilled industry's division x town cells
    clusters: Clusters | None = None
    resources: Resources | None = None
    resources_by: str = "section"
    flows: FundFlows | None = None
    flows_by: str = "grade"
    chains: Chains | None = None
    chains_by: str = "town"
    opened: str | None = None

    async def load(self) -> None:
        if self.lens == "clusters":
            async def clusters() -> Clusters:
                return await self.client.clusters()

            await self._run(clusters, lambda c: setattr(self, "clusters", c))
        elif self.lens == "flows":
            async def flows() -> FundFlows:
                return await self.client.fund_flows(self.flows_by)

            await self._run(flows, lambda f: setattr(self, "flows", f))
        elif self.lens == "chains":
            async def chains() -> Chains:
                return await self.client.guarantee_chains(self.chains_by)

            await self._run(chains, lambda c: setattr(self, "chains", c))
        elif self.lens == "resources":
            async def resources() -> Resources:
                return await self.client.resources(self.resources_by)

            await self._run(resources, lambda r: setattr(self, "resources", r))
        else:
            async def groups() -> tuple[Groups, Clusters | None]:
                if self.section is None:
                    return await self.client.region_groups(self.by), None
                return (await self.client.region_groups("division", self.section),
                        await self.client.clusters(min_lq=ALL_CELLS_LQ, section=self.section))

            def store(answer: tuple[Groups, Clusters | None]) -> None:
                self.groups, self.cells = answer

            await self._run(groups, store)

    async def pick_lens(self, lens: str) -> None:
        if lens in LENSES and lens != self.lens:
            self.lens, self.opened = lens, None
            await self.load()

    async def pick_dimension(self, by: str) -> None:
        if self.lens == "flows":
            if by in FLOW_DIMENSIONS and by != self.flows_by:
                self.flows_by = by
                await self.load()
        elif self.lens == "chains":
            if by in CHAIN_DIMENSIONS and by != self.chains_by:
                self.chains_by = by
                await self.load()
        elif self.lens == "resources":
            if by in RESOURCE_DIMENSIONS and by != self.resources_by:
                self.resources_by = by
                await self.load()
        elif by in GROUP_DIMENSIONS and (by != self.by or self.section is not None):
            self.by, self.section, self.opened = by, None, None
            await self.load()

    async def drill(self, section: str | None) -> None:
        """Into an industry (its divisions and towns), or back to the region with None."""
        self.section, self.opened = section, None
        if section is not None:
            self.by = "section"
        await self.load()

    def open(self, code: str | None) -> None:
        self.opened = None if code == self.opened else code
        self.notify()

    def opened_group(self) -> GroupFigures | None:
        if self.opened is None or self.groups is None:
            return None
        if self.opened == "*":
            return self.groups.whole
        return next((g for g in self.groups.groups if g.group == self.opened), None)

    def opened_cell(self) -> ClusterCell | None:
        source = self.cells if self.lens == "groups" else self.clusters
        if self.opened is None or source is None:
            return None
        return next((c for c in source.cells if cell_key(c) == self.opened), None)


def cell_key(cell: ClusterCell) -> str:
    return f"{cell.division}@{cell.town}"
