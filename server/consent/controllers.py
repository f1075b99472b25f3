"""Consent routes (owner) and the firm's access log."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from server.consent import services
from server.consent.schemas import AccessEntry, ConsentCreate, ConsentCreated, ConsentOut
from server.users.security import AuthUser, requires


class ConsentController(Controller):
    path = "/api/consents"
    tags = ["consent"]
    opt = {"roles": requires("owner")}

    @post("/", summary="Grant a bank access to the firm's evaluation for some days")
    async def grant(self, request: Request[AuthUser, Any, Any], data: JSONBody[ConsentCreate]) -> ConsentCreated:
        return await services.grant(request.user, data)

    @get("/", summary="The firm's consents, active and past")
    async def list_all(self, request: Request[AuthUser, Any, Any]) -> list[ConsentOut]:
        return await services.list_consents(request.user)

    @delete("/{consent_id:int}", summary="Revoke a consent at once")
    async def revoke(self, request: Request[AuthUser, Any, Any], consent_id: FromPath[int]) -> None:
        await services.revoke(request.user, consent_id)


class AccessLogController(Controller):
    path = "/api/firms"
    tags = ["consent"]

    @get("/{uscc:str}/access-log", roles=requires("owner", "admin"),
         summary="Who viewed the firm's evaluation, newest first")
    async def access_log(self, request: Request[AuthUser, Any, Any], uscc: FromPath[str]) -> list[AccessEntry]:
        return await services.access_log(request.user, uscc.upper())
