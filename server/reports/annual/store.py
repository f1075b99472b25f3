"""Making and keeping the annual reports: the data version a report was made from, the stored
PDF handed out while that version is current, and a new one made (off the event loop) when the
data changed. Callable from the route, the CLI and the January job alike."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio.to_thread
import asyncpg
from piccolo.query.functions.aggregate import Max

from server.reports.annual.figures import check_year, gather
from server.tables.ingest import IngestBatch
from server.tables.reports import AnnualReport
from server.tables.scores import ModelVersion, ScoreHistory
from server.texts import Lang

__all__ = ["AnnualPdf", "annual_pdf", "data_version", "stored_reports"]


@dataclass(frozen=True, slots=True)
class AnnualPdf:
    year: int
    lang: Lang
    data_version: str
    generated_at: datetime
    pages: int
    pdf: bytes
    made_now: bool


async def data_version() -> str:
    """What the figures were read from: the newest ingested batch, the active model and the
    newest stored score. Any new batch, model or scoring run changes it."""
    batch = (await IngestBatch.select(Max(IngestBatch.id).as_alias("n")).first() or {}).get("n") or 0
    score = (await ScoreHistory.select(Max(ScoreHistory.id).as_alias("n")).first() or {}).get("n") or 0
    model = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active.eq(True)).first()
    return f"b{batch}-s{score}-m{(model or {}).get('version', 'none')[:40]}"


async def annual_pdf(year: int, lang: Lang, k: int, *, force: bool = False, dask: str | None = None) -> AnnualPdf:
    """The report on ``year``: the stored one while its data version is current, else made now
    (the figures read here, or summed on the Dask cluster at ``dask``; the charts and the PDF
    built in a worker thread) and stored."""
    check_year(year)
    version = await data_version()
    key = f"{year}-{lang}"
    if not force:
        row = await AnnualReport.select().where(AnnualReport.key == key).first()
        if row is not None and row["data_version"] == version:
            return AnnualPdf(year, lang, version, row["generated_at"], row["pages"], bytes(row["pdf"]), False)
    figures = await gather(year, k, dask=dask)
    # matplotlib and fpdf2 take half a second to import: only a process that writes a report pays it.
    from server.reports.annual.document import build_pdf

    pdf, pages = await anyio.to_thread.run_sync(build_pdf, figures, lang, version)
    now = datetime.now(UTC)
    values = {AnnualReport.year: year, AnnualReport.lang: lang, AnnualReport.data_version: version,
              AnnualReport.generated_at: now, AnnualReport.pages: pages, AnnualReport.size_bytes: len(pdf),
              AnnualReport.pdf: pdf}
    if await AnnualReport.exists().where(AnnualReport.key == key):
        await AnnualReport.update(values).where(AnnualReport.key == key)
    else:
        try:
            await AnnualReport.insert(AnnualReport(key=key, **{c._meta.name: v for c, v in values.items()}))
        except (sqlite3.IntegrityError, asyncpg.UniqueViolationError):
            # made at the same time by another request: the unique key keeps one row; ours wins
            await AnnualReport.update(values).where(AnnualReport.key == key)
    return AnnualPdf(year, lang, version, now, pages, pdf, True)


async def stored_reports() -> list[dict[str, object]]:
    """The reports kept, newest year first (without their bytes)."""
    return await AnnualReport.select(
        AnnualReport.year, AnnualReport.lang, AnnualReport.generated_at, AnnualReport.data_version,
        AnnualReport.pages, AnnualReport.size_bytes,
    ).order_by(AnnualReport.year, ascending=False).order_by(AnnualReport.lang)
