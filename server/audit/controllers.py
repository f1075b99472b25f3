"""The audit log route (admins only)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from server.audit import services
from server.audit.schemas import AuditKind, AuditPage
from server.users.security import requires

__all__ = ["AuditController"]

_MAX_ID = 2**31 - 1


class AuditController(Controller):
    path = "/api/audit"
    tags = ["admin"]
    opt = {"roles": requires("admin")}

    @get("/", summary="The audit log: admins' changes and evaluation views, newest first",
         description="`kind` change (an admin's change, with what changed and why) or view (someone "
                     "saw a firm's evaluation); `actor` an account id; `firm` a USCC: views of that "
                     "firm and changes made to it.")
    async def audit_log(
        self,
        kind: Annotated[AuditKind | None, QueryParameter(examples=[Example(value="change")])] = None,
        actor: Annotated[int | None, QueryParameter(ge=1, le=_MAX_ID, examples=[Example(value=1)])] = None,
        firm: Annotated[str | None, QueryParameter(min_length=1, max_length=18, examples=[
            Example(value="91331004MA2RR00017")])] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200, examples=[Example(value=50)])] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=_MAX_ID, examples=[Example(value=0)])] = 0,
    ) -> AuditPage:
        return await services.audit_log(kind, actor, firm, limit, offset)
