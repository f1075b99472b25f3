"""Risk routes: the rule catalogue, a firm's warnings, a bank's or admin's warning list,
guarantee circles, a firm's ties (the circle picture), the macro index and an admin's scan."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.openapi.spec import Example
from litestar.params import FromPath, JSONBody, QueryParameter

from scoring.risk.rules import KINDS
from server.deps import AppSettings, DbEngine
from server.risk import circles, macro, scan, ties, warnings
from server.risk.schemas import (
    Circles,
    FirmTies,
    FirmWarnings,
    MacroOut,
    RuleOut,
    ScanOut,
    ScanRequest,
    WarningOut,
)
from server.tables.users import ROLES
from server.users.security import AuthUser, requires

Level = Literal["red", "yellow", "blue"]
Status = Literal["open", "closed", "all"]
SIGNED_IN = ROLES


class RiskController(Controller):
    path = "/api"
    tags = ["risk"]

    @get("/risk/rules", roles=requires(*SIGNED_IN),
         summary="The warning rules: level, kind, texts and thresholds")
    async def rules(self) -> list[RuleOut]:
        return warnings.rule_catalogue()

    @get(
        "/firms/{uscc:str}/warnings", roles=requires(*SIGNED_IN),
        summary="A firm's warnings: public signals; detail for owner, admin, banks with consent",
        description=(
            "Everyone signed in sees level, rule, titles and dates. The firm's owner, admins and "
            "bank managers whose bank has the firm's active consent also get the message, "
            "evidence and clear condition (`detail: true`); such views by anyone but the owner "
            "are in the firm's access log."),
    )
    async def firm_warnings(
        self, request: Request[AuthUser, Any, Any], uscc: FromPath[str],
        status: Annotated[Status, QueryParameter(examples=[Example(value="open")])] = "open",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> FirmWarnings:
        return await warnings.firm_warnings(request.user, uscc.upper(), status, limit)

    @get(
        "/warnings", roles=requires("bank_manager", "admin"),
        summary="Warnings of the bank's applicants, borrowers and consenting firms (admin: all)",
        description="Detail (message, evidence) only where the firm's consent allows "
                    "(admins: always).",
    )
    async def warnings(
        self, request: Request[AuthUser, Any, Any],
        level: Annotated[Level | None, QueryParameter(examples=[Example(value="red")])] = None,
        status: Annotated[Status, QueryParameter(examples=[Example(value="open")])] = "open",
        kind: Annotated[Literal[tuple(KINDS)] | None,  # type: ignore[valid-type]
                        QueryParameter(examples=[Example(value="contagion")])] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[WarningOut]:
        return await warnings.list_warnings(request.user, level, status, kind, limit)

    @get("/risk/circles", roles=requires("bank_manager", "admin"),
         summary="Guarantee circles with their members and amounts; systemically important firms",
         description=(
             "Admins see every member. A bank manager sees members, and systemic firms, only "
             "where the firm consented to the bank or applied to or borrows from it; other "
             "members are counted in `hidden_members`, and a circle's amounts are null unless "
             "the hidden members are at least K firms. Members shown are logged in each firm's "
             "access log."))
    async def circles(
        self, request: Request[AuthUser, Any, Any], settings: AppSettings,
        min_size: Annotated[int, QueryParameter(ge=2, le=1000)] = 2,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> Circles:
        return await circles.circles(request.user, min_size, limit, settings.min_group_size)

    @get(
        "/firms/{uscc:str}/ties", roles=requires("owner", "bank_manager", "admin"),
        summary="A firm's guarantee circle picture: tied firms and people, guarantees in force, "
                "contagion path (owner; bank with active consent; admin)",
        description=(
            "The firm (mother cell), the firms tied to it by guarantees in force (one and two "
            "links) or through a person with a role in both (at most 24; `hidden` counts the "
            "rest), each with its worst open warning level, the guarantees among them summed "
            "by pair, people masked (张*), and the path of the latest open DebtRank warning "
            "through the firm. Access as for the evaluation; 403 with the reason otherwise. "
            "Views by anyone but the owner are in the firm's access log (`ties`)."),
        # Consent is checked on every request: nothing cached that could outlive a revoke.
        cache=False,
        cache_control=CacheControlHeader(no_store=True, private=True),
    )
    async def firm_ties(self, request: Request[AuthUser, Any, Any], uscc: FromPath[str]) -> FirmTies:
        return await ties.firm_ties(uscc.upper(), request.user)

    @get("/risk/macro", roles=requires(*SIGNED_IN),
         summary="The latest monthly macro risk index by industry or town; expected fund draw",
         description=(
             "Only groups of at least K firms besides one reader are shown; smaller ones are "
             "pooled into the group `other`, so that no group under K can be derived from the "
             "region and the groups shown."))
    async def macro(
        self, settings: AppSettings,
        by: Annotated[Literal["industry", "town", "region"],
                      QueryParameter(examples=[Example(value="industry")])] = "industry",
    ) -> MacroOut:
        return await macro.latest_macro(by, settings.min_group_size)

    @post("/risk/scan", roles=requires("admin"), status_code=200,
          summary="Run a warning scan now (whole region, or the firms named)")
    async def scan(
        self, request: Request[AuthUser, Any, Any], engine: DbEngine, settings: AppSettings,
        data: JSONBody[ScanRequest | None] = None,
    ) -> ScanOut:
        return await scan.run_scan(engine, settings, data, request.user)
