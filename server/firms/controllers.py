"""Firm routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from server.deps import EvaluationReader
from server.firms import services
from server.firms.schemas import Evaluation, FirmProfile
from server.users.security import AuthUser, requires


class FirmController(Controller):
    path = "/api/firms"
    tags = ["firms"]

    @get("/", summary="Search and screen firms by name or USCC, grade, industry, town (public fields only)")
    async def search(
        self,
        q: Annotated[str | None, QueryParameter(min_length=1, max_length=50, examples=[Example(value="机械")])] = None,
        grade: Annotated[Literal["A", "B", "C", "D"] | None, QueryParameter(examples=[Example(value="A")])] = None,
        industry: Annotated[str | None, QueryParameter(
            min_length=1, max_length=1, pattern="^[A-T]$", description="GB/T 4754 section letter", examples=[Example(value="C")])] = None,
        town: Annotated[str | None, QueryParameter(max_length=50, examples=[Example(value="百官街道")])] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
        sort: Annotated[Literal["name", "capital", "founded"], QueryParameter(
            description="name (A→Z), capital (registered capital, largest first) or founded (oldest first)",
            examples=[Example(value="capital")])] = "name",
    ) -> list[FirmProfile]:
        return await services.search(q, limit, grade=grade, industry=industry, town=town, offset=offset,
                                     sort=sort)

    @get("/{uscc:str}", summary="A firm's public profile with its current grade letter")
    async def profile(self, uscc: FromPath[str]) -> FirmProfile:
        return await services.profile(uscc.upper())

    @get(
        "/{uscc:str}/evaluation",
        roles=requires("owner", "bank_manager", "admin"),
        summary="A firm's credit evaluation (owner; bank with active consent; admin)",
        description="403 with the reason when the caller may not see it; views by anyone but the owner are logged.",
        # Consent is checked on every request: no server-side response cache (cache=False), and
        # no copy in a browser or proxy that could outlive a revoke.
        cache=False,
        cache_control=CacheControlHeader(no_store=True, private=True),
    )
    async def evaluation(self, request: Request[AuthUser, Any, Any], uscc: FromPath[str],
                         evaluations: EvaluationReader) -> Response[Evaluation]:
        # the JSON as the struct encodes, kept with the evaluation and sent as it was made
        # (services.Evaluations.response; the cache-control above is merged in as for any Response)
        return await evaluations.response(uscc.upper(), request.user, request.scope)
