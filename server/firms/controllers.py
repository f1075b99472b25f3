"""Firm routes."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from server.firms import services
from server.firms.schemas import Evaluation, FirmProfile
from server.users.security import AuthUser, requires


class FirmController(Controller):
    path = "/api/firms"
    tags = ["firms"]

    @get("/", summary="Search firms by name fragment or USCC prefix (public fields only)")
    async def search(
        self,
        q: Annotated[str, QueryParameter(min_length=1, max_length=50, examples=[Example(value="机械")])],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> list[FirmProfile]:
        return await services.search(q, limit)

    @get("/{uscc:str}", summary="A firm's public profile with its current grade letter")
    async def profile(self, uscc: FromPath[str]) -> FirmProfile:
        return await services.profile(uscc.upper())

    @get(
        "/{uscc:str}/evaluation",
        guards=[requires("owner", "bank_manager", "admin")],
        summary="A firm's credit evaluation (owner; bank with active consent; admin)",
        description="403 with the reason when the caller may not see it; views by anyone but the owner are logged.",
    )
    async def evaluation(self, request: Request[AuthUser, Any, Any], uscc: FromPath[str]) -> Evaluation:
        return await services.get_evaluation(uscc.upper(), request.user)
