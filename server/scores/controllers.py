"""Admin routes for weight profiles (dynamic weight adjustment)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from server.scores import services
from server.scores.schemas import WeightProfileCreate, WeightProfileOut
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
