"""Department feeds: ``POST /api/ingest/{source}`` with a CSV or JSON Lines body."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from server.ingest.parse import detect_format, iter_bytes
from server.ingest.schemas import IngestReport, RejectedRow
from server.ingest.services import get_source, ingest
from server.risk.services import scan_after_ingest
from server.users.security import AuthUser, requires

MAX_UPLOAD = 1 << 30  # 1 GiB: a month of a county's records fits easily


class IngestController(Controller):
    path = "/api/ingest"
    tags = ["ingest"]
    guards = [requires("dept_operator")]

    @post(
        "/{source:str}",
        status_code=200,
        request_max_body_size=MAX_UPLOAD,
        summary="Send a department feed (CSV with header, or JSON Lines)",
        description=(
            "Every row is validated; the answer lists each rejected row with its 1-based number "
            "(header not counted), the field and why. Good rows are stored exactly once: sending "
            "the same batch again stores nothing new. The batch is one transaction. Formats are in "
            "docs/feeds.md. Use Content-Type text/csv or application/x-ndjson, or `?format=`."
        ),
    )
    async def post_feed(
        self,
        request: Request[AuthUser, Any, Any],
        source: FromPath[str],
        fmt: Annotated[str | None, QueryParameter(name="format", required=False, pattern="^(csv|jsonl)$",
                                                  examples=[Example(value="csv")])] = None,
    ) -> Response[IngestReport]:
        src = get_source(source)
        user = request.user
        if user.department_code != src.department:
            raise PermissionDeniedException(
                f"source {source!r} belongs to the {src.department!r} department; "
                f"you operate for {user.department_code!r}"
            )
        body = await request.body()
        fmt = fmt or detect_format(None, request.headers.get("content-type"), body[:64])
        result = await ingest(
            request.app.state.engine, source, iter_bytes(body), fmt,
            filename=request.headers.get("x-filename", ""), user_id=user.id,
            person_salt=request.app.state.settings.person_id_salt,
        )
        report = IngestReport(
            accepted=result.accepted, duplicates=result.duplicates, batch_id=result.batch_id,
            rows=result.rows,
            rejected=[RejectedRow(row=r.row, field=r.field, message=r.message) for r in result.rejected],
        )
        # The batch is committed: evaluate the warning rules for the firms it touched once the
        # answer is sent (a failure there is logged and never undoes the batch).
        return Response(report, status_code=200, background=BackgroundTask(
            scan_after_ingest, request.app.state.engine, request.app.state.settings,
            sorted(result.touched_usccs)))
