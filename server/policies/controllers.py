"""Policy-supermarket routes: departments publish and decide, firms match and apply."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import JSONBody, PathParameter, QueryParameter

from server.deps import DbEngine
from server.policies import services
from server.policies.schemas import (
    CriteriaCatalogue,
    PolicyApplicationOut,
    PolicyCreate,
    PolicyDecision,
    PolicyMatches,
    PolicyOut,
    PolicyUpdate,
)
from server.tables.users import ROLES
from server.users.security import AuthUser, requires

#: A row id in a path: out of the integer column's range is a 400, not a database error.
RowId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]


class PolicyController(Controller):
    path = "/api/policies"
    tags = ["policies"]

    @post("/", roles=requires("dept_operator"),
          summary="Publish a support policy of the operator's department",
          description="Eligibility codes are checked against GET /api/policies/criteria; "
                      "an unknown one is a 400 naming the field.")
    async def publish(self, request: Request[AuthUser, Any, Any],
                      data: JSONBody[PolicyCreate]) -> PolicyOut:
        return await services.publish(request.user, data)

    @get("/", roles=requires(*ROLES),
         summary="Open policies, newest first (an operator also sees all of their department's)")
    async def list_all(self, request: Request[AuthUser, Any, Any]) -> list[PolicyOut]:
        return await services.list_policies(request.user)

    @get("/criteria", roles=requires(*ROLES),
         summary="What eligibility rules may name: sections, sizes, grades, towns, indicators")
    async def criteria(self) -> CriteriaCatalogue:
        return await services.criteria_catalogue()

    @get("/matches", roles=requires("owner"),
         summary="Open policies the firm qualifies for, with why; the others, with what is missing")
    async def matches(self, request: Request[AuthUser, Any, Any], engine: DbEngine) -> PolicyMatches:
        return await services.matches(request.user, engine)

    @get("/{policy_id:int}", roles=requires(*ROLES), summary="One policy")
    async def one(self, request: Request[AuthUser, Any, Any],
                  policy_id: RowId) -> PolicyOut:
        return await services.get_policy(request.user, policy_id)

    @patch("/{policy_id:int}", roles=requires("dept_operator"),
           summary="Update or close one of the department's own policies")
    async def update(self, request: Request[AuthUser, Any, Any], policy_id: RowId,
                     data: JSONBody[PolicyUpdate]) -> PolicyOut:
        return await services.update(request.user, policy_id, data)

    @post("/{policy_id:int}/applications", roles=requires("owner"),
          summary="Apply for a policy the firm qualifies for",
          description="422 with the criteria not met when the firm does not qualify; 409 when "
                      "the policy is not open or the firm already has a pending or approved "
                      "application.")
    async def apply(self, request: Request[AuthUser, Any, Any], policy_id: RowId,
                    engine: DbEngine) -> PolicyApplicationOut:
        return await services.apply(request.user, engine, policy_id)

    @get("/applications", roles=requires("owner", "dept_operator"),
         summary="Owner: the firm's applications; operator: the department's queue, evaluated")
    async def applications(
        self, request: Request[AuthUser, Any, Any],
        status: Annotated[Literal["pending", "approved", "rejected"] | None,
                          QueryParameter(examples=[Example(value="pending")])] = None,
    ) -> list[PolicyApplicationOut]:
        return await services.list_applications(request.user, status)

    @post("/applications/{application_id:int}/decision", roles=requires("dept_operator"),
          status_code=200, summary="Approve or reject (reason required) a pending application")
    async def decide(self, request: Request[AuthUser, Any, Any], application_id: RowId,
                     data: JSONBody[PolicyDecision]) -> PolicyApplicationOut:
        return await services.decide(request.user, application_id, data)
