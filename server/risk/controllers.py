"""Risk routes: the rule catalogue, a firm's warnings, a bank's or admin's warning list,
guarantee circles, the macro index and an admin's scan."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.openapi.spec import Example
from litestar.params import FromPath, JSONBody, QueryParameter

from server.risk import services
from server.risk.schemas import (
    Circles,
    FirmWarnings,
    MacroOut,
    RuleOut,
    ScanOut,
    ScanRequest,
    WarningOut,
)
from server.users.security import AuthUser, requires

Level = Literal["red", "yellow", "blue"]
Status = Literal["open", "closed", "all"]
SIGNED_IN = ("owner", "bank_manager", "subscriber", "dept_operator", "admin")


class RiskController(Controller):
    path = "/api"
    tags = ["risk"]

    @get("/risk/rules", guards=[requires(*SIGNED_IN)],
         summary="The warning rules: level, kind, texts and thresholds")
    async def rules(self) -> list[RuleOut]:
        return services.rule_catalogue()

    @get(
        "/firms/{uscc:str}/warnings", guards=[requires(*SIGNED_IN)],
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
        return await services.firm_warnings(request.user, uscc.upper(), status, limit)

    @get(
        "/warnings", guards=[requires("bank_manager", "admin")],
        summary="Warnings of the bank's applicants, borrowers and consenting firms (admin: all)",
        description="Detail (message, evidence) only where the firm's consent allows "
                    "(admins: always).",
    )
    async def warnings(
        self, request: Request[AuthUser, Any, Any],
        level: Annotated[Level | None, QueryParameter(examples=[Example(value="red")])] = None,
        status: Annotated[Status, QueryParameter(examples=[Example(value="open")])] = "open",
        kind: Annotated[str | None, QueryParameter(pattern="^[a-z_]{2,20}$",
                                                   examples=[Example(value="contagion")])] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[WarningOut]:
        return await services.list_warnings(request.user, level, status, kind, limit)

    @get("/risk/circles", guards=[requires("bank_manager", "admin")],
         summary="Guarantee circles with their members and amounts; systemically important firms")
    async def circles(
        self,
        min_size: Annotated[int, QueryParameter(ge=2, le=1000)] = 2,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> Circles:
        return await services.circles(min_size, limit)

    @get("/risk/macro", guards=[requires(*SIGNED_IN)],
         summary="The latest monthly macro risk index by industry or town; expected fund draw")
    async def macro(
        self,
        by: Annotated[Literal["industry", "town", "region"],
                      QueryParameter(examples=[Example(value="industry")])] = "industry",
    ) -> MacroOut:
        return await services.latest_macro(by)

    @post("/risk/scan", guards=[requires("admin")], status_code=200,
          summary="Run a warning scan now (whole region, or the firms named)")
    async def scan(
        self, request: Request[AuthUser, Any, Any],
        data: JSONBody[ScanRequest | None] = None,
    ) -> ScanOut:
        app = request.app
        return await services.run_scan(app.state.engine, app.state.settings, data)
