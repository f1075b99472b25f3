"""Admin routes for weight profiles (dynamic weight adjustment) and hard-override rules."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from server.scores import services
from server.scores.schemas import (
    OverrideRuleSetOut,
    OverrideRuleSetRevise,
    WeightProfileCreate,
    WeightProfileOut,
)
from server.users.security import AuthUser, requires


class WeightProfileController(Controller):
    path = "/api/weight-profiles"
    tags = ["model"]
    guards = [requires("admin")]

    @post("/", summary="Create a weight profile, or a new version of one with the same name")
    async def create(self, request: Request[AuthUser, Any, Any],
                     data: JSONBody[WeightProfileCreate]) -> WeightProfileOut:
        return await services.create_or_revise(request.user, data)

    @get("/", summary="Every version of every weight profile, oldest first")
    async def list_all(self) -> list[WeightProfileOut]:
        return await services.list_profiles()


class OverrideRuleController(Controller):
    path = "/api/override-rules"
    tags = ["model"]
    guards = [requires("admin")]

    @post("/", summary="Revise the hard-override rules (enable, disable, thresholds) with a reason")
    async def revise(self, request: Request[AuthUser, Any, Any],
                     data: JSONBody[OverrideRuleSetRevise]) -> OverrideRuleSetOut:
        return await services.revise_override_rules(request.user, data)

    @get("/", summary="Every version of the override rules, oldest first (the last is in force)")
    async def list_all(self) -> list[OverrideRuleSetOut]:
        return await services.list_override_rules()
