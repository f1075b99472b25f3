"""Firm routes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath

from server.firms.schemas import Evaluation
from server.firms.services import get_evaluation
from server.users.security import AuthUser, requires


class FirmController(Controller):
    path = "/api/firms"
    tags = ["firms"]

    @get(
        "/{uscc:str}/evaluation",
        guards=[requires("owner", "bank_manager", "admin")],
        summary="A firm's credit evaluation (owner; bank with active consent; admin)",
        description="403 with the reason when the caller may not see it; views by anyone but the owner are logged.",
    )
    async def evaluation(self, request: Request[AuthUser, Any, Any], uscc: FromPath[str]) -> Evaluation:
        return await get_evaluation(uscc.upper(), request.user)
