"""Objection routes: owners dispute records, the owning department corrects or rejects."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.openapi.spec import Example
from litestar.params import FromPath, JSONBody, QueryParameter

from server.deps import AppSettings, DbEngine
from server.objections import services
from server.objections.schemas import (
    ObjectionCreate,
    ObjectionDetail,
    ObjectionOut,
    RecordPage,
    Resolution,
)
from server.users.security import AuthUser, requires

Status = Literal["open", "corrected", "rejected"]


class ObjectionController(Controller):
    path = "/api/objections"
    tags = ["objections"]

    @get("/records", roles=requires("owner"),
         summary="Your firm's current department records, to file an objection from any of them")
    async def records(
        self,
        request: Request[AuthUser, Any, Any],
        source: Annotated[str | None, QueryParameter(
            min_length=1, max_length=30, examples=[Example(value="tax_monthly")],
            description="only records of this source (record kind)")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=2**31 - 1)] = 0,
        record_id: Annotated[int | None, QueryParameter(
            ge=1, le=2**63 - 1, examples=[Example(value=4041)],
            description="only this record (e.g. one a warning's evidence names); none when it has "
                        "been corrected since or is not your firm's")] = None,
    ) -> RecordPage:
        return await services.list_records(request.user, source, limit, offset, record_id=record_id)

    @post("/", roles=requires("owner"),
          summary="Dispute a record of your firm; it goes to the department that feeds it",
          description="404 when the record is not your firm's; 409 when it already has an open objection.")
    async def file(self, request: Request[AuthUser, Any, Any],
                   data: JSONBody[ObjectionCreate]) -> ObjectionDetail:
        return await services.file_objection(request.user, data)

    @get("/", roles=requires("owner", "dept_operator", "admin"),
         summary="Objections: the owner's firm's, the operator's department queue, or all (admin); open first")
    async def list_all(
        self,
        request: Request[AuthUser, Any, Any],
        status: Annotated[Status | None, QueryParameter(examples=[Example(value="open")])] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=2**31 - 1)] = 0,
    ) -> list[ObjectionOut]:
        return await services.list_objections(request.user, status, limit, offset)

    @get("/{objection_id:int}", roles=requires("owner", "dept_operator", "admin"),
         summary="One objection with the record, the corrected record and the trail")
    async def detail(self, request: Request[AuthUser, Any, Any],
                     objection_id: FromPath[int]) -> ObjectionDetail:
        return await services.get_objection(request.user, objection_id)

    @post("/{objection_id:int}/resolution", roles=requires("dept_operator"), status_code=200,
          summary="Correct (re-scores the firm at once) or reject (with a reason) an open objection",
          description="Only the operators of the department that owns the record's source; 409 once resolved.")
    async def resolve(self, request: Request[AuthUser, Any, Any], objection_id: FromPath[int],
                      data: JSONBody[Resolution], engine: DbEngine, settings: AppSettings) -> ObjectionDetail:
        return await services.resolve(engine, settings, request.user, objection_id, data)
