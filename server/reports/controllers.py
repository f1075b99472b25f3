"""Report routes for the region's view (issue 14): the monthly credit index, the thematic analyses
and the annual credit-index report."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from server.deps import AppSettings
from server.reports import flows, services, thematic
from server.reports.annual import store
from server.reports.schemas import (
    AnnualReportInfo,
    ChainsOut,
    ClustersOut,
    CreditIndexOut,
    FundFlowsOut,
    GroupsOut,
    ResourcesOut,
)
from server.users.security import requires

By = Literal["region", "section", "division", "town", "size"]
Dimension = Literal["section", "division", "town", "size"]
ResourceDimension = Literal["section", "division", "town"]


class CreditIndexController(Controller):
    path = "/api/reports"
    tags = ["reports"]

    @get("/credit-index", roles=requires("analyst", "admin"),
         summary="The monthly credit index (base 100) of the region or of each group of a dimension",
         description=(
             "Chain-linked month on month over the firms present in both months, from scores, "
             "grades A/B, open red/yellow warnings and defaults; method in docs/credit-index.md. "
             "A group's month is published only with at least K firms besides one reader "
             "(`min_firms`); a month under it breaks the chain, which restarts at 100 "
             "(`restart`). `from`/`to` (YYYY-MM) only window the answer."))
    async def credit_index(
        self, settings: AppSettings,
        by: Annotated[By, QueryParameter(examples=[Example(value="section")])] = "region",
        group: Annotated[str | None, QueryParameter(max_length=50,
                                                    examples=[Example(value="C")])] = None,
        start: Annotated[str | None, QueryParameter(name="from", max_length=20,
                                                    examples=[Example(value="2024-01")])] = None,
        end: Annotated[str | None, QueryParameter(name="to", max_length=20,
                                                  examples=[Example(value="2025-12")])] = None,
    ) -> CreditIndexOut:
        return await services.credit_index_report(by, group, start, end, settings.min_group_size)


class ThematicController(Controller):
    """Thematic analysis (专题分析) for analysts and admins: aggregates of groups of at least K
    firms besides one reader; see docs/thematic-analysis.md."""

    path = "/api/reports"
    tags = ["reports"]
    opt = {"roles": requires("analyst", "admin")}

    @get("/groups", summary="Industries, towns or size classes with their figures and trend",
         description=(
             "Grade mix, mean score, open warnings, tax and headcount (twelve months, and the "
             "monthly trend), loans and the guarantee fund's open cover per group of `by`, inside "
             "the region or, with `section`, inside one industry (its divisions). Groups under K "
             "firms besides one, or that would let one be derived from the whole, are withheld."))
    async def groups(
        self, settings: AppSettings,
        by: Annotated[Dimension, QueryParameter(examples=[Example(value="town")])] = "section",
        section: Annotated[str | None, QueryParameter(max_length=1, examples=[Example(value="C")])] = None,
    ) -> GroupsOut:
        return await thematic.groups_report(by, section, settings.min_group_size)

    @get("/clusters", summary="Industry clusters (块状经济): divisions concentrated in a town",
         description=(
             "Each (industry division, town) cell whose location quotient by firms is at least "
             "`min_lq` (the cell's share of the town over the division's share of the region), "
             "with the LQ by tax and by headcount and the cell's figures. The division × town "
             "table is suppressed so that no withheld cell follows from a total."))
    async def clusters(
        self, settings: AppSettings,
        min_lq: Annotated[float, QueryParameter(gt=0, le=1000, examples=[Example(value=1.5)])] = 1.5,
        section: Annotated[str | None, QueryParameter(max_length=1)] = None,
        town: Annotated[str | None, QueryParameter(max_length=50)] = None,
    ) -> ClustersOut:
        return await thematic.clusters_report(min_lq, section, town, settings.min_group_size)

    @get("/resources", summary="Electricity, water and gas per unit of tax and per head, by group",
         description=(
             "Use over the last twelve months per 10,000 yuan of tax and per insured head, by "
             "industry section or division or by town; outliers (modified z-score > 3.5 among "
             "the groups shown) are named as groups, never as firms."))
    async def resources(
        self, settings: AppSettings,
        by: Annotated[ResourceDimension, QueryParameter(examples=[Example(value="section")])] = "section",
    ) -> ResourcesOut:
        return await thematic.resources_report(by, settings.min_group_size)


class AnnualReportController(Controller):
    """The annual credit-index report (年度信用指数分析报告) as a PDF, for analysts and admins."""

    path = "/api/reports/annual"
    tags = ["reports"]
    opt = {"roles": requires("analyst", "admin")}

    @get("/", summary="The annual reports kept, with the data version each was made from")
    async def list_reports(self) -> list[AnnualReportInfo]:
        return [AnnualReportInfo(year=r["year"], lang=r["lang"], generated_at=r["generated_at"],
                                 data_version=r["data_version"], pages=r["pages"], bytes=r["size_bytes"])
                for r in await store.stored_reports()]

    @get("/{year:int}", summary="One full year's report as a PDF (Chinese, or English with lang=en)",
         media_type="application/pdf",
         description=(
             "Answered from the kept copy while the data version it was made from is current; "
             "else made now (about a minute at most for a region of thousands of firms) and kept. "
             "A year that is not a full year before this one, or that has no scores, is a 400 "
             "naming `year`."))
    async def annual(
        self, settings: AppSettings, year: FromPath[int],
        lang: Annotated[Literal["zh", "en"], QueryParameter(examples=[Example(value="zh")])] = "zh",
    ) -> Response[bytes]:
        report = await store.annual_pdf(year, lang, settings.min_group_size, dask=settings.dask_scheduler)
        return Response(report.pdf, media_type="application/pdf", headers={
            "content-disposition": f'attachment; filename="xinbao-credit-index-{year}-{lang}.pdf"',
            "x-data-version": report.data_version, "x-pages": str(report.pages)})


class FlowsController(Controller):
    """Special fund flows and guarantee-chain risk (专项资金流向, 担保链风险) for analysts and admins."""

    path = "/api/reports"
    tags = ["reports"]
    opt = {"roles": requires("analyst", "admin")}

    @get("/fund-flows", summary="Where the guarantee fund's cover and support policies went, and what followed",
         description=(
             "Per grade at support, industry section or town: covered loans and the cover, claims "
             "paid, policy grants; the supported firms' grade movement since to their latest score "
             "and their defaults. Groups of fewer than K firms besides one are withheld."))
    async def fund_flows(
        self, settings: AppSettings,
        by: Annotated[Literal["grade", "section", "town"], QueryParameter(examples=[Example(value="grade")])] = "grade",
    ) -> FundFlowsOut:
        return await flows.fund_flows_report(by, settings.min_group_size)

    @get("/guarantee-chains", summary="Guarantee circles by town or industry: size, exposure, expected fund draw",
         description=(
             "Circles among the guarantees in force today touching each town or industry: firms in "
             "them, their sizes, amounts guaranteed inside, members with open red or yellow "
             "warnings, the fund's open cover on members and its expected draw (latest PD × cover)."))
    async def guarantee_chains(
        self, settings: AppSettings,
        by: Annotated[Literal["town", "section"], QueryParameter(examples=[Example(value="town")])] = "town",
    ) -> ChainsOut:
        return await flows.chains_report(by, settings.min_group_size)
