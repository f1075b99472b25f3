"""Financing routes: products, matching, applications and decisions, time-to-decision report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from server.deps import AppSettings, Matcher, Rules
from server.financing import catalogue, services
from server.financing.book import loan_book
from server.financing.book_schemas import BookOut
from server.financing.schemas import (
    ApplicationCreate,
    ApplicationDetail,
    ApplicationOut,
    ApplicationsCreated,
    BankAdminOut,
    BankCreate,
    BankDecisionTimes,
    BankUpdate,
    DecisionCreate,
    MatchRequest,
    MatchResult,
    ProductAdminOut,
    ProductCreate,
    ProductOut,
    ProductUpdate,
)
from server.risk.frames import region_day
from server.tables.users import ROLES
from server.users.security import AuthUser, requires

__all__ = ["ApplicationController", "BankController", "DecisionTimesController", "MatchController",
           "ProductController"]

BankCodePath = Annotated[str, PathParameter(min_length=1, max_length=20, examples=[Example(value="WHCB")])]
ProductId = Annotated[int, PathParameter(ge=1, le=2**31 - 1, examples=[Example(value=1)])]


class BankController(Controller):
    path = "/api/banks"
    tags = ["admin"]
    opt = {"roles": requires("admin")}

    @get("/", summary="Every bank by code: suspension, active managers and every product (admin)")
    async def list_all(self) -> list[BankAdminOut]:
        return await catalogue.list_banks()

    @post("/", summary="Open a bank on the platform (admin); a taken code is 409")
    async def create(self, request: Request[AuthUser, Any, Any], data: JSONBody[BankCreate]) -> BankAdminOut:
        return await catalogue.create_bank(request.user, data)

    @patch("/{code:str}", summary="Rename a bank, or suspend it from fund-covered loans or lift that (admin)",
           description="`suspended: false` lifts a suspension, the fund's NPL one included; the reason is "
                       "kept in the audit log.")
    async def update(self, request: Request[AuthUser, Any, Any], code: BankCodePath,
                     data: JSONBody[BankUpdate]) -> BankAdminOut:
        return await catalogue.update_bank(request.user, code, data)


class ProductController(Controller):
    path = "/api/products"
    tags = ["financing"]
    opt = {"roles": requires(*ROLES)}

    @get("/", summary="Active loan products with their bank, limits and who is eligible")
    async def list_all(self) -> list[ProductOut]:
        return await services.list_products()

    @post("/", roles=requires("admin"), summary="Add a loan product to a bank (admin)",
          description="Amounts in yuan; each minimum at most its maximum; `industries` empty = every industry.")
    async def create(self, request: Request[AuthUser, Any, Any], data: JSONBody[ProductCreate]) -> ProductAdminOut:
        return await catalogue.create_product(request.user, data)

    @patch("/{product_id:int}", roles=requires("admin"),
           summary="Revise a product's terms, or withdraw it (active: false) (admin)",
           description="Only the fields sent change; the merged terms are checked as a whole. A withdrawn "
                       "product leaves the product list and matching.")
    async def update(self, request: Request[AuthUser, Any, Any], product_id: ProductId,
                     data: JSONBody[ProductUpdate]) -> ProductAdminOut:
        return await catalogue.update_product(request.user, product_id, data)


class MatchController(Controller):
    path = "/api/financing"
    tags = ["financing"]
    opt = {"roles": requires("owner")}

    @post("/match", status_code=200,
          summary="Rank every product for the firm's need, saying why each fits or not",
          description="Fitting products first, then by the rate expected for the firm's grade. "
                      "`fund_share_pct` is the guarantee fund's share of a loss on a covered product.")
    async def match(self, request: Request[AuthUser, Any, Any], data: JSONBody[MatchRequest],
                    matching: Matcher) -> MatchResult:
        return await services.match(request.user, data, matching.rules, cache=matching.cache, scope=request.scope)


class ApplicationController(Controller):
    path = "/api/applications"
    tags = ["financing"]

    @post("/", roles=requires("owner"),
          summary="Apply to one or more fitting products (grants each bank consent to the evaluation)",
          description="`confirm_consent` must be true. A product that does not fit is refused with "
                      "422 and its reasons; nothing is stored then.")
    async def create(self, request: Request[AuthUser, Any, Any], data: JSONBody[ApplicationCreate],
                     matching_rules: Rules) -> ApplicationsCreated:
        return await services.apply(request.user, data, matching_rules)

    @get("/", roles=requires("owner", "bank_manager", "admin"),
         summary="Applications: the owner's firm's, the bank's queue (oldest first), or all (admin)")
    async def list_all(
        self,
        request: Request[AuthUser, Any, Any],
        status: Annotated[Literal[services.STATUSES] | None, QueryParameter(  # type: ignore[valid-type]
            required=False,
            examples=[Example(value="pending")])] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> list[ApplicationOut]:
        return await services.list_applications(request.user, status, limit)

    @get("/{application_id:int}", roles=requires("owner", "bank_manager", "admin"),
         summary="One application with its timeline; the bank also gets the firm's evaluation")
    async def detail(self, request: Request[AuthUser, Any, Any],
                     application_id: FromPath[int], settings: AppSettings) -> ApplicationDetail:
        return await services.get_application(request.user, application_id, min_group_size=settings.min_group_size)

    @post("/{application_id:int}/decision", status_code=200, roles=requires("bank_manager"),
          summary="Approve (amount, rate, term) or decline (reason) a pending application",
          description="Only the product's bank; only pending applications (409 otherwise). Approving "
                      "a fund-covered product books the fund's cover; a refused cover is 409.")
    async def decide(self, request: Request[AuthUser, Any, Any], application_id: FromPath[int],
                     data: JSONBody[DecisionCreate], settings: AppSettings) -> ApplicationDetail:
        return await services.decide(request.user, application_id, data, min_group_size=settings.min_group_size)


class DecisionTimesController(Controller):
    path = "/api/reports"
    tags = ["financing"]

    @get("/decision-times", roles=requires("admin", "bank_manager"),
         summary="Per bank: minutes from application to decision (median, p90, share within the hour)")
    async def decision_times(self, request: Request[AuthUser, Any, Any],
                             matching_rules: Rules) -> list[BankDecisionTimes]:
        return await services.decision_times(request.user, matching_rules)


class LoanBookController(Controller):
    """The bank's post-loan book (issue 15): its live loans followed since they were granted."""

    path = "/api/loans"
    tags = ["loans"]

    @get("/book", roles=requires("bank_manager"),
         summary="The bank's live loans since each was granted: grade path, warnings, cover, what to act on",
         description="The grade path, the current grade, the data confidence and the warnings' messages need "
                     "the firm's active consent (each firm shown is logged in its access log); without it the "
                     "bank still sees its loan, the loan's events, the fund cover and the warnings' public signals.")
    async def book(self, request: Request[AuthUser, Any, Any]) -> BookOut:
        return await loan_book(request.user, region_day(None))
