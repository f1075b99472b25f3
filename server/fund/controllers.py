"""Guarantee-fund routes (overview, ledger, claims) and the loan steps a bank reports."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import JSONBody, PathParameter, QueryParameter

from server.fund import services
from server.fund.schemas import (
    MAX_ID,
    ClaimCreate,
    ClaimOut,
    FundOverview,
    FundUpdate,
    LedgerPage,
    LoanDefault,
    LoanState,
)
from server.users.security import AuthUser, requires

ApplicationId = Annotated[int, PathParameter(ge=1, le=MAX_ID, examples=[Example(value=42)])]


class FundController(Controller):
    path = "/api/fund"
    tags = ["fund"]

    @get("/", roles=requires("admin", "bank_manager"),
         summary="The guarantee fund: capital, exposure, capacity, claims, banks' NPL ratios",
         description="A bank manager sees the fund's totals and their own bank's line only.")
    async def overview(self, request: Request[AuthUser, Any, Any]) -> FundOverview:
        return await services.overview(request.user)

    @patch("/", roles=requires("admin"),
           summary="Change the fund's limits: total, per firm, NPL limit, shares by grade (admin)",
           description="Fields absent stay as they are. The per-firm limit at most the total; shares "
                       "A >= B >= C. A total below today's exposure only stops new covers. Answers as "
                       "GET /api/fund.")
    async def update(self, request: Request[AuthUser, Any, Any], data: JSONBody[FundUpdate]) -> FundOverview:
        return await services.update_limits(request.user, data)

    @get("/ledger", roles=requires("admin"), summary="Every fund ledger entry, newest first")
    async def ledger(
        self,
        limit: Annotated[int, QueryParameter(ge=1, le=200, examples=[Example(value=50)])] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_ID, examples=[Example(value=0)])] = 0,
    ) -> LedgerPage:
        return await services.ledger(limit, offset)

    @post("/claims", roles=requires("bank_manager"),
          summary="Claim the fund's share of the loss on a defaulted covered loan of your bank",
          description="Pays loss × the fund share recorded on the application (rounded half up "
                      "to the fen), once per loan; loss_yuan at most the principal outstanding "
                      "at default.")
    async def claim(self, request: Request[AuthUser, Any, Any], data: JSONBody[ClaimCreate]) -> ClaimOut:
        return await services.file_claim(request.user, data)


class LoanLifecycleController(Controller):
    path = "/api/loans"
    tags = ["fund"]
    opt = {"roles": requires("bank_manager")}

    @post("/{application_id:int}/repaid", status_code=200,
          summary="Report a loan of your bank repaid in full (releases its fund cover)")
    async def repaid(self, request: Request[AuthUser, Any, Any],
                     application_id: ApplicationId) -> LoanState:
        return await services.report_repaid(request.user, application_id)

    @post("/{application_id:int}/default", status_code=200,
          summary="Report a loan of your bank in default, with the principal outstanding",
          description="Recomputes the bank's NPL ratio on covered loans; above the fund's limit "
                      "the bank is suspended from new covered loans.")
    async def default(self, request: Request[AuthUser, Any, Any], application_id: ApplicationId,
                      data: JSONBody[LoanDefault]) -> LoanState:
        return await services.report_default(request.user, application_id, data)
