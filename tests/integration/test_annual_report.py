"""The annual credit-index report (issue 14): a PDF of at least 12 pages with its CJK font
embedded, figures that match a recomputation from the stored rows, small groups withheld,
analysts and admins only, a bad year refused naming ``year``, the kept copy reused while the
data version holds and made again after new data; the CLI writes the same report."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from server.privacy import min_firms

pytestmark = pytest.mark.anyio

YEAR = datetime.now(UTC).year - 1


def _text(pdf: bytes) -> str:
    """The words of every page, as PDFium reads them (what a reader copies out of the file)."""
    import pypdfium2

    doc = pypdfium2.PdfDocument(pdf)
    try:
        return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def _fonts(reader: PdfReader) -> set[str]:
    """The font-file kinds embedded in the PDF (FontFile2 TrueType, FontFile3 CFF)."""
    found: set[str] = set()
    for page in reader.pages:
        fonts = (page.get("/Resources") or {}).get("/Font") or {}
        for ref in fonts.values():
            font = ref.get_object()
            for d in [font] + [f.get_object() for f in font.get("/DescendantFonts", [])]:
                desc = d.get("/FontDescriptor")
                if desc is not None:
                    found |= {k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in desc.get_object()}
    return found


async def test_the_report_is_a_full_pdf_with_the_years_figures(client, tokens, settings, demo):
    from server.tables.risk import Warning
    from server.tables.scores import ScoreHistory

    r = await client.get(f"/api/reports/annual/{YEAR}", headers=tokens["analyst"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="xinbao-credit-index-{YEAR}-zh.pdf"' in r.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) >= 12 and int(r.headers["x-pages"]) == len(reader.pages)
    assert _fonts(reader) & {"/FontFile2", "/FontFile3"}  # the CJK font travels with the file
    text = _text(r.content)
    assert f"{YEAR}年度企业信用指数分析报告" in text and "编制方法" in text

    # two figures of the summary, recomputed from the stored rows
    rows = [h for h in await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.as_of, ScoreHistory.run)
            if h["as_of"].year == YEAR and h["as_of"].month == 12 and h["as_of"].day == 31]
    scored = len({h["firm"] for h in rows})
    assert f"有{scored:,}家获得信用评分" in text
    from server.reports.annual.figures import gather

    figures = await gather(YEAR, settings.min_group_size)
    red = 0
    for w in await Warning.select(Warning.level, Warning.first_seen, Warning.opened_at):
        seen = w["first_seen"] or w["opened_at"].date()
        red += w["level"] == "red" and seen.year == YEAR
    assert figures.warnings_by_level["red"] == red and figures.scored_end == scored
    assert f"红色{red}条" in text


async def test_small_groups_are_withheld(client, tokens, settings, demo):
    from server.reports.annual.figures import gather

    need = min_firms(settings.min_group_size)
    f = await gather(YEAR, settings.min_group_size)
    assert all(r.firms >= need for r in f.sections + f.towns)
    assert f.sections_withheld > 0  # the demo has industries too small to show
    for (a, b), n in f.migration.items():
        assert n is None or n >= need, (a, b, n)
    assert all(r.code in f.heat_sections for r in f.sections)
    assert f.upgrades is None or min(f.upgrades, f.downgrades or 0) >= need


async def test_analysts_and_admins_only_and_a_bad_year_names_the_field(client, tokens):
    for role, headers in tokens.items():
        r = await client.get("/api/reports/annual", headers=headers)
        assert r.status_code == (200 if role in ("analyst", "admin") else 403), (role, r.text)
        if role not in ("analyst", "admin"):
            r = await client.get(f"/api/reports/annual/{YEAR}", headers=headers)
            assert r.status_code == 403
    assert (await client.get(f"/api/reports/annual/{YEAR}")).status_code == 401
    for year in (YEAR + 1, YEAR + 5, 1999, YEAR - 10):
        r = await client.get(f"/api/reports/annual/{year}", headers=tokens["analyst"])
        assert r.status_code == 400 and "year" in r.text, (year, r.text)
    r = await client.get(f"/api/reports/annual/{YEAR}", params={"lang": "fr"}, headers=tokens["analyst"])
    assert r.status_code == 400 and "lang" in r.text


async def test_the_kept_copy_serves_until_the_data_changes(client, tokens, demo):
    from server.tables.ingest import IngestBatch

    first = await client.get(f"/api/reports/annual/{YEAR}", params={"lang": "en"}, headers=tokens["admin"])
    again = await client.get(f"/api/reports/annual/{YEAR}", params={"lang": "en"}, headers=tokens["admin"])
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["x-data-version"] == first.headers["x-data-version"]
    listed = (await client.get("/api/reports/annual", headers=tokens["analyst"])).json()
    assert {"year": YEAR, "lang": "en"}.items() <= next(r for r in listed if r["lang"] == "en").items()
    text = _text(first.content)
    assert f"Enterprise credit index report {YEAR}" in text

    batch = await IngestBatch.select(IngestBatch.department, IngestBatch.source).first()
    await IngestBatch.insert(IngestBatch(department=batch["department"], source=batch["source"], filename="new.csv",
                                         received_at=datetime.now(UTC)))
    made = await client.get(f"/api/reports/annual/{YEAR}", params={"lang": "en"}, headers=tokens["admin"])
    assert made.status_code == 200 and made.headers["x-data-version"] != first.headers["x-data-version"]
    listed = (await client.get("/api/reports/annual", headers=tokens["analyst"])).json()
    assert [r["data_version"] for r in listed if r["lang"] == "en"] == [made.headers["x-data-version"]]


def test_the_cli_writes_the_report(tmp_path, settings, demo, monkeypatch):
    from click.testing import CliRunner

    from server.cli import main

    monkeypatch.setenv("XINBAO_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("XINBAO_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(main, ["report", "annual", "--year", str(YEAR), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(PdfReader(out).pages) >= 12 and "pages" in result.output
    result = CliRunner().invoke(main, ["report", "annual", "--year", str(YEAR + 1), "--out", str(out)])
    assert result.exit_code != 0 and "year" in result.output


async def test_the_coverage_counted_from_the_store_equals_counting_every_record(demo, engine):
    """The report's data coverage (per kind: firms, records and months of the year's current
    records) reads the monthly feeds from the feature store's cells and the other kinds from
    their rows: the same figures as counting every current record, for every year the data
    spans, with fourteen months of a firm's VAT re-declared (replaced rows across two years)."""
    from collections import Counter

    from server.reports.annual.figures import coverage_counts
    from server.tables.ingest import DeptRecord
    from tests.integration.test_score_from_store import _redeclare

    await _redeclare(engine, months=14)
    rows = await DeptRecord.select(DeptRecord.source, DeptRecord.uscc, DeptRecord.event_date).where(
        DeptRecord.superseded_at.is_null() & DeptRecord.event_date.is_not_null())
    days = [(r["source"], r["uscc"], r["event_date"] if not isinstance(r["event_date"], str)
             else datetime.fromisoformat(r["event_date"]).date()) for r in rows]
    years = sorted({d.year for _, _, d in days})
    assert len(years) >= 3
    for year in years:
        mine = [(s, u, d) for s, u, d in days if d.year == year]
        firms = Counter(s for s, _ in {(s, u) for s, u, _ in mine})
        records = Counter(s for s, _, _ in mine)
        months: dict[str, set[int]] = {}
        for s, _, d in mine:
            months.setdefault(s, set()).add(d.month)
        assert await coverage_counts(year) == (firms, records, months), year
    assert {"tax_monthly", "utility", "court_case"} <= set(records)
