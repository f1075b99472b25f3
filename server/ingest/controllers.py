"""Department feeds: ``POST /api/ingest/{source}`` with a CSV or JSON Lines body, and the full
report of a batch's rejected rows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from server.deps import AfterIngestFollowers, AppSettings, DbEngine
from server.ingest.parse import detect_format
from server.ingest.schemas import (
    BatchOut,
    FeedHealth,
    FeedSource,
    IngestReport,
    RejectedRow,
    RepeatedRow,
)
from server.ingest.services import (
    IngestError,
    batch_department,
    department_batches,
    department_sources,
    feed_health,
    get_source,
    ingest,
    rejection_report,
)
from server.ingest.upload import UploadTooLarge, iter_spool, spool
from server.texts import reader_lang, render, t
from server.users.security import AuthUser, requires

MAX_UPLOAD = 1 << 30  # 1 GiB: a month of a county's records fits easily


def _too_large(limit: int) -> IngestError:
    return IngestError("body", t("the upload is larger than {limit:,} bytes; send it as several batches", limit=limit),
                       413)


class IngestController(Controller):
    path = "/api/ingest"
    tags = ["ingest"]
    opt = {"roles": requires("dept_operator")}

    @post(
        "/{source:str}",
        status_code=200,
        request_max_body_size=MAX_UPLOAD,
        summary="Send a department feed (CSV with header, or JSON Lines)",
        description=(
            "Every row is validated; the answer lists the first 100 rejected rows with their 1-based "
            "number (header not counted), the field and why, the total counts, and `report_url`, a CSV "
            "of every rejected row and of every row repeating a key of an earlier row of the batch. "
            "Good rows are stored exactly once: sending the same batch again stores nothing new. The "
            "batch is one transaction. Bodies up to 1 GiB are streamed to disk, never held in memory; "
            "larger ones get 413. Formats are in docs/feeds.md. Use Content-Type text/csv or "
            "application/x-ndjson, or `?format=`. `?backfill=true` marks the file as the "
            "department's archive: its records count as known from their event date when the "
            "model learns from past dates (a live batch's records count from the moment they arrive)."
        ),
    )
    async def post_feed(
        self,
        request: Request[AuthUser, Any, Any],
        source: FromPath[str],
        engine: DbEngine,
        settings: AppSettings,
        followers: AfterIngestFollowers,
        fmt: Annotated[Literal["csv", "jsonl"] | None, QueryParameter(name="format", required=False,
                                                  examples=[Example(value="csv")])] = None,
        backfill: Annotated[bool, QueryParameter(required=False)] = False,
    ) -> Response[IngestReport]:
        src = get_source(source)
        user = request.user
        if user.department_code != src.department:
            raise PermissionDeniedException(t(
                "source {source!r} belongs to the {department!r} department; you operate for {yours!r}",
                source=source, department=src.department, yours=user.department_code))
        limit = MAX_UPLOAD
        try:
            upload = await spool(request.stream(), limit, settings.data_dir / "uploads")
        except (UploadTooLarge, RequestEntityTooLarge):
            raise _too_large(limit) from None
        with upload:
            fmt = fmt or detect_format(None, request.headers.get("content-type"), upload.read(64))
            upload.seek(0)
            result = await ingest(
                engine, source, iter_spool(upload), fmt,
                filename=request.headers.get("x-filename", ""), user_id=user.id,
                person_salt=settings.person_id_salt, backfill=backfill,
                fingerprint=getattr(upload, "sha256", None),
            )
        listed = result.rejected_count or result.repeated_count
        lang = reader_lang()  # each row's message in the operator's language
        report = IngestReport(
            accepted=result.accepted, duplicates=result.duplicates, batch_id=result.batch_id,
            rows=result.rows,
            rejected=[RejectedRow(row=r.row, field=r.field, message=render(r.message, lang),
                                  message_zh=render(r.message, "zh"), message_en=render(r.message, "en"))
                      for r in result.rejected],
            rejected_count=result.rejected_count, rejected_rows=result.rejected_rows,
            repeated=[RepeatedRow(row=r.row, field=r.field, message=render(r.message, lang), first_row=r.first_row,
                                  message_zh=render(r.message, "zh"), message_en=render(r.message, "en"))
                      for r in result.repeated],
            repeated_count=result.repeated_count,
            report_url=f"/api/ingest/batches/{result.batch_id}/rejected" if listed else None,
        )
        # The batch is committed: what follows it (re-score, warning scan, notifications) runs
        # once the answer is sent, one run at a time per process (batches committed meanwhile
        # join the next run); a failure there is logged and never undoes the batch.
        return Response(report, status_code=200, background=BackgroundTask(
            followers.submit, sorted(result.touched_usccs)))

    @get("/sources", summary="The feeds your department sends, with their columns")
    async def sources(self, request: Request[AuthUser, Any, Any]) -> list[FeedSource]:
        return department_sources(request.user.department_code)

    @get("/batches", summary="Your department's batches, newest first, with their counts",
         description="Page with `before_id` (the last id of the previous page). `report_url` is set when "
                     "the batch has rejected or in-batch repeated rows to download.")
    async def batches(
        self, request: Request[AuthUser, Any, Any],
        limit: Annotated[int, QueryParameter(ge=1, le=200, examples=[Example(value=50)])] = 50,
        before_id: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1, required=False)] = None,
    ) -> list[BatchOut]:
        return await department_batches(request.user.department_code, limit, before_id)

    @get(
        "/batches/{batch_id:int}/rejected",
        summary="Download every rejected (and in-batch repeated) row of a batch, as CSV",
        description="Columns: row, kind (rejected / duplicate), field, message, first_row (the row of "
                    "the batch a duplicate repeats, when known). For operators of the batch's department.",
        media_type="text/csv",
    )
    async def rejected_report(self, request: Request[AuthUser, Any, Any], batch_id: FromPath[int]) -> Stream:
        department = await batch_department(batch_id)
        if department is None:
            raise NotFoundException(t("batch_id: no batch {batch_id}", batch_id=batch_id))
        if request.user.department_code != department:
            raise PermissionDeniedException(t(
                "batch_id: batch {batch_id} was sent by the {department!r} department; you operate for {yours!r}",
                batch_id=batch_id, department=department, yours=request.user.department_code))
        return Stream(rejection_report(batch_id, reader_lang()), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="batch-{batch_id}-rejected.csv"'})


class FeedHealthController(Controller):
    """The feed-health screen: operators see their own department, analysts and admins all."""

    path = "/api/ingest/feed-health"
    tags = ["ingest"]
    opt = {"roles": requires("dept_operator", "analyst", "admin")}

    @get("/", summary="How each department's feeds serve the platform: coverage, lateness, rejected rows, "
                      "disagreement with other departments")
    async def feed_health(self, request: Request[AuthUser, Any, Any]) -> FeedHealth:
        user = request.user
        return await feed_health(user.department_code if user.role == "dept_operator" else None)

