"""The annual credit-index report as a PDF (fpdf2), in Chinese or English, from
:class:`AnnualFigures`. The CJK font is embedded (subset); the charts come from
:mod:`server.reports.annual.charts`. Every word is a catalogue text (server/texts/zh_reports.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from scoring.thematic import GRADES
from server.reports.annual import charts
from server.reports.annual.figures import AnnualFigures, GroupRow, section_name
from server.texts import Lang, t

__all__ = ["build_pdf"]

FONT = "NotoSansSC"
PRIMARY = (31, 95, 191)
MUTED = (107, 114, 128)
LEVELS = ("red", "yellow", "blue")


class _Report(FPDF):
    def __init__(self, lang: Lang, title: str) -> None:
        super().__init__(format="A4")
        self.lang, self.title_text = lang, title
        self.add_font(FONT, fname=str(charts.cjk_font()))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)
        self.set_title(title)
        self.set_author("Xinbao 信宝")
        self.set_creator("xinbao report annual")

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 6, self.title_text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(230, 234, 240)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(3)

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 6, str(self.page_no()), align="C")

    # -- building blocks ------------------------------------------------------------------
    def heading(self, text: str) -> None:
        self.set_font(FONT, size=15)
        self.set_text_color(*PRIMARY)
        self.cell(0, 10, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.ln(1)

    def paragraph(self, text: str, size: float = 10.5) -> None:
        self.set_font(FONT, size=size)
        self.set_text_color(0, 0, 0)
        self.multi_cell(0, size * 0.62, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def note(self, text: str) -> None:
        self.set_font(FONT, size=8.5)
        self.set_text_color(*MUTED)
        self.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.ln(1)

    def image_png(self, png: bytes, width: float | None = None) -> None:
        w = width or (self.w - self.l_margin - self.r_margin)
        self.image(io.BytesIO(png), x=self.l_margin + (self.w - self.l_margin - self.r_margin - w) / 2, w=w)
        self.ln(3)

    def grid(self, head: list[str], rows: list[list[str]], widths: list[float] | None = None) -> None:
        self.set_font(FONT, size=8.5)
        self.set_text_color(0, 0, 0)
        self.set_draw_color(200, 206, 214)
        self.set_fill_color(244, 246, 250)
        with self.table(col_widths=widths, text_align="CENTER", line_height=6, cell_fill_color=(244, 246, 250),
                        cell_fill_mode="ROWS", headings_style=_heading_style()) as table:
            for line in (head, *rows):
                row = table.row()
                for cell in line:
                    row.cell(cell)
        self.ln(3)


def _heading_style() -> Any:
    from fpdf.fonts import FontFace

    return FontFace(color=(255, 255, 255), fill_color=PRIMARY)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def _wan(v: float | None) -> str:
    """Yuan in ten-thousands; "—" for a sum withheld (too few firms make it up)."""
    return "—" if v is None else f"{v / 10_000:,.1f}"


def build_pdf(f: AnnualFigures, lang: Lang, data_version: str) -> tuple[bytes, int]:
    """The report's PDF bytes and its page count."""
    def say(text: Any) -> str:
        return text.render(lang)

    title = say(t("Enterprise credit index report {year}", year=f.year))
    pdf = _Report(lang, title)
    _cover(pdf, f, say, title, data_version)
    _summary(pdf, f, say)
    _index(pdf, f, say, lang)
    _grades(pdf, f, say)
    _groups(pdf, f, say, lang, "industry")
    _groups(pdf, f, say, lang, "town")
    _heatmap(pdf, f, say, lang)
    _warnings(pdf, f, say)
    _lending(pdf, f, say)
    _policies(pdf, f, say)
    _coverage(pdf, f, say, lang)
    _method(pdf, f, say)
    out = bytes(pdf.output())
    return out, pdf.page_no()


def _cover(pdf: _Report, f: AnnualFigures, say: Any, title: str, data_version: str) -> None:
    pdf.add_page()
    pdf.set_fill_color(*PRIMARY)
    pdf.rect(0, 0, pdf.w, 90, style="F")
    pdf.set_xy(18, 32)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(FONT, size=26)
    pdf.multi_cell(0, 13, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 8, say(t("Xinbao enterprise credit information platform")), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(110)
    pdf.paragraph(say(t("Covering {firms} registered firms; scores from {start} to {end}.",
                        firms=f"{f.registered:,}", start=f.start_month, end=f.end_month)), size=12)
    pdf.paragraph(say(t("Minimum group size: no figure describes fewer than {n} firms.", n=f.min_firms)), size=12)
    pdf.set_y(-50)
    pdf.note(say(t("Made {when} from data version {version}.",
                   when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), version=data_version)))
    pdf.note(say(t("For the district's finance and credit offices. Aggregates only: no firm can be identified.")))


def _summary(pdf: _Report, f: AnnualFigures, say: Any) -> None:
    pdf.add_page()
    pdf.heading(say(t("Executive summary")))
    change = None if f.index_start is None or f.index_end is None else f.index_end - f.index_start
    pdf.paragraph(say(t(
        "At the end of {year}, {scored} of the region's {registered} registered firms held a credit score; "
        "their mean score was {mean}.", year=f.year, scored=f"{f.scored_end:,}", registered=f"{f.registered:,}",
        mean=_num(f.mean_score_end))))
    if change is not None:
        direction = t("rose") if change > 0.05 else t("fell") if change < -0.05 else t("held steady")
        pdf.paragraph(say(t("The regional credit index {direction} from {start} to {end} over the year ({change} points).",
                            direction=direction, start=_num(f.index_start, 2), end=_num(f.index_end, 2),
                            change=f"{change:+.2f}")))
    end_total = sum(f.grades_end.values()) or 1
    pdf.paragraph(say(t("Grades at year end: A {a}, B {b}, C {c}, D {d} (C and D together {cd} of the scored firms).",
                        a=f.grades_end["A"], b=f.grades_end["B"], c=f.grades_end["C"], d=f.grades_end["D"],
                        cd=_pct((f.grades_end["C"] + f.grades_end["D"]) / end_total))))
    if f.upgrades is not None and f.downgrades is not None:
        pdf.paragraph(say(t("Of {n} firms scored at both ends of the year, {up} moved to a better grade and {down} to a worse one.",
                            n=f.migrated_firms, up=f.upgrades, down=f.downgrades)))
    else:
        pdf.paragraph(say(t("Of {n} firms scored at both ends of the year, too few changed grade to publish how many moved up or down.",
                            n=f.migrated_firms)))
    w = f.warnings_by_level
    pdf.paragraph(say(t("Risk warnings first seen in the year: {red} red, {yellow} yellow and {blue} blue; {defaults} firms defaulted on a loan.",
                        red=w["red"], yellow=w["yellow"], blue=w["blue"], defaults=f.defaults_in_year)))
    loans = f.loans
    pdf.paragraph(say(t("Banks received {apps} loan applications through the platform and approved {approved}; {lent} ten-thousand yuan was lent, with a non-performing ratio of {npl}.",
                        apps=loans["applications"], approved=loans["approved"], lent=_wan(loans["lent_yuan"]),
                        npl=_pct(loans["npl_ratio"]))))
    pdf.paragraph(say(t("The guarantee fund covered {covers} loans ({cover} ten-thousand yuan) and paid {claims} claims ({claim} ten-thousand yuan).",
                        covers=f.fund["covers"], cover=_wan(f.fund["cover_yuan"]), claims=f.fund["claims"],
                        claim=_wan(f.fund["claim_yuan"]))))
    if f.sections:
        best = max(f.sections, key=lambda r: r.mean_score)
        worst = max(f.sections, key=lambda r: r.share_cd)
        pdf.paragraph(say(t("Among industries, {best} had the highest mean score ({score}); {worst} had the largest share of C and D grades ({cd}).",
                            best=section_name(best.code, pdf.lang), score=_num(best.mean_score),
                            worst=section_name(worst.code, pdf.lang), cd=_pct(worst.share_cd))))
    pdf.ln(2)
    rows = [[say(t("Registered firms")), f"{f.registered:,}"], [say(t("Scored at year end")), f"{f.scored_end:,}"],
            [say(t("Mean score")), _num(f.mean_score_end)], [say(t("Credit index at year end")), _num(f.index_end, 2)],
            [say(t("Red warnings")), str(w["red"])], [say(t("Loans approved")), str(loans["approved"])],
            [say(t("Guarantee fund cover (10k yuan)")), _wan(f.fund["cover_yuan"])],
            [say(t("Policy applications approved")), str(f.policies["approved"])]]
    pdf.grid([say(t("Key figure")), say(t("Value"))], rows, widths=[70, 40])


def _index(pdf: _Report, f: AnnualFigures, say: Any, lang: Lang) -> None:
    pdf.add_page()
    pdf.heading(say(t("The credit index")))
    pdf.paragraph(say(t("Base month {base} = 100, chain-linked month on month over the firms present in both months.",
                        base=f.index_series[0][0] if f.index_series else "—")))
    region = say(t("Whole region"))
    pdf.image_png(charts.lines({region: f.index_series}, title=say(t("Regional credit index")),
                               xlabel=say(t("Month")), ylabel=say(t("Index (base = 100)")), highlight=region))
    shown = {section_name(r.code, lang): f.section_series.get(r.code, []) for r in f.sections[:8]}
    pdf.image_png(charts.lines(shown, title=say(t("Credit index by industry")), xlabel=say(t("Month")),
                               ylabel=say(t("Index (base = 100)"))))
    pdf.note(say(t("Industries with fewer than {n} firms in a month are not shown for that month.", n=f.min_firms)))


def _grades(pdf: _Report, f: AnnualFigures, say: Any) -> None:
    pdf.add_page()
    pdf.heading(say(t("Grade distribution")))
    start, end = say(t("First scored month ({month})", month=f.start_month)), say(t("Year end ({month})", month=f.end_month))
    pdf.image_png(charts.grouped_bars(list(GRADES), {start: [f.grades_start[g] for g in GRADES],
                                                     end: [f.grades_end[g] for g in GRADES]},
                                      title=say(t("Firms by grade")), xlabel=say(t("Grade")), ylabel=say(t("Firms")),
                                      colors=["#9AA4B2", "#1F5FBF"]))
    pdf.add_page()
    pdf.heading(say(t("Grade migration")))
    pdf.image_png(charts.matrix(list(GRADES), f.migration, title=say(t("Grade migration matrix")),
                                xlabel=say(t("Grade at year end")), ylabel=say(t("Grade at the first scored month"))),
                  width=130)
    pdf.note(say(t("A dash marks a cell withheld: it holds fewer than {n} firms, or it would follow from the row and column totals and the cells shown.",
                   n=f.min_firms)))


def _group_table(rows: list[GroupRow], name: Any) -> list[list[str]]:
    return [[name(r.code), f"{r.firms:,}", _num(r.mean_score), _pct(r.share_ab), _pct(r.share_cd), str(r.warned),
             _num(r.index_end, 2), "—" if r.index_change is None else f"{r.index_change:+.2f}"] for r in rows]


def _groups(pdf: _Report, f: AnnualFigures, say: Any, lang: Lang, kind: str) -> None:
    pdf.add_page()
    rows, withheld = (f.sections, f.sections_withheld) if kind == "industry" else (f.towns, f.towns_withheld)
    name = (lambda c: section_name(c, lang)) if kind == "industry" else (lambda c: c)
    pdf.heading(say(t("Industries")) if kind == "industry" else say(t("Towns")))
    head = [say(t("Industry")) if kind == "industry" else say(t("Town")), say(t("Firms")), say(t("Mean score")),
            say(t("A/B share")), say(t("C/D share")), say(t("Warned")), say(t("Index")), say(t("Change"))]
    pdf.grid(head, _group_table(rows, name), widths=[46, 16, 18, 18, 18, 16, 18, 18])
    if withheld:
        pdf.note(say(t("{n} more groups are withheld (fewer than {k} firms, or derivable from the rest).",
                       n=withheld, k=f.min_firms)))
    if rows:
        pdf.image_png(charts.bar([name(r.code) for r in rows], [100 * r.share_cd for r in rows],
                                 title=say(t("Share of C and D grades")), xlabel=say(t("Per cent of scored firms")),
                                 ylabel=say(t("Industry")) if kind == "industry" else say(t("Town")),
                                 color="#E08A00", horizontal=True), width=150)


def _heatmap(pdf: _Report, f: AnnualFigures, say: Any, lang: Lang) -> None:
    pdf.add_page()
    pdf.heading(say(t("Industries by town")))
    if not f.heat_sections or not f.heat_towns:
        pdf.paragraph(say(t("Too few firms to show industries by town.")))
        return
    pdf.image_png(charts.heatmap(f.heat_sections, f.heat_towns, f.heatmap, title=say(t("Mean score by industry and town")),
                                 xlabel=say(t("Town")), ylabel=say(t("Industry")),
                                 row_labels=[section_name(s, lang)[:10] for s in f.heat_sections],
                                 withheld=say(t("mean score; grey: withheld"))))
    pdf.note(say(t("Grey cells are withheld: fewer than {n} firms, or derivable from an industry's or a town's total.",
                   n=f.min_firms)))


def _warnings(pdf: _Report, f: AnnualFigures, say: Any) -> None:
    pdf.add_page()
    pdf.heading(say(t("Risk warnings")))
    months = list(f.warnings_by_month)
    names = {"red": say(t("Red")), "yellow": say(t("Yellow")), "blue": say(t("Blue"))}
    pdf.image_png(charts.stacked_months([m[5:] for m in months],
                                        {lv: [f.warnings_by_month[m][lv] for m in months] for lv in LEVELS},
                                        title=say(t("Warnings first seen, by month and level")), xlabel=say(t("Month")),
                                        ylabel=say(t("Warnings")), labels=names))
    pdf.grid([say(t("Level")), say(t("First seen in the year")), say(t("Open at year end"))],
              [[names[lv], str(f.warnings_by_level[lv]), str(f.open_end[lv])] for lv in LEVELS], widths=[40, 50, 50])
    pdf.heading(say(t("The rules that fired most")))
    rows = [[title.split("|")[0 if pdf.lang == "zh" else -1], names.get(level, level), str(n)]
            for _code, level, title, n in f.top_rules]
    if rows:
        pdf.grid([say(t("Rule")), say(t("Level")), say(t("Warnings"))], rows, widths=[100, 30, 30])
    else:
        pdf.paragraph(say(t("No warning was first seen in the year.")))


def _lending(pdf: _Report, f: AnnualFigures, say: Any) -> None:
    pdf.add_page()
    pdf.heading(say(t("Lending and the guarantee fund")))
    months = list(f.loans_by_month)
    pdf.image_png(charts.bar([m[5:] for m in months], [f.loans_by_month[m] / 10_000 for m in months],
                             title=say(t("Amount lent by month of application")), xlabel=say(t("Month")),
                             ylabel=say(t("10k yuan"))))
    pdf.note(say(t("Months and totals made up by fewer than {n} loans or firms are not shown.", n=f.min_firms)))
    loans, fund = f.loans, f.fund
    rows = [[say(t("Loan applications")), str(loans["applications"])], [say(t("Approved")), str(loans["approved"])],
            [say(t("Declined")), str(loans["declined"])], [say(t("Lent (10k yuan)")), _wan(loans["lent_yuan"])],
            [say(t("Defaulted loans")), str(loans["defaulted"])], [say(t("Non-performing ratio")), _pct(loans["npl_ratio"])],
            [say(t("Fund covers")), str(fund["covers"])], [say(t("Covered (10k yuan)")), _wan(fund["cover_yuan"])],
            [say(t("Claims paid")), str(fund["claims"])], [say(t("Claims (10k yuan)")), _wan(fund["claim_yuan"])],
            [say(t("Recovered (10k yuan)")), _wan(fund["recoveries_yuan"])]]
    pdf.grid([say(t("Item")), say(t("Value"))], rows, widths=[80, 40])


def _policies(pdf: _Report, f: AnnualFigures, say: Any) -> None:
    pdf.add_page()
    pdf.heading(say(t("Support policies")))
    p = f.policies
    pdf.grid([say(t("Item")), say(t("Value"))],
              [[say(t("Applications")), str(p["applications"])], [say(t("Approved")), str(p["approved"])],
               [say(t("Rejected")), str(p["rejected"])], [say(t("Pending")), str(p["pending"])],
               [say(t("Firms supported")), str(p["recipients"])]], widths=[80, 40])
    if p["up"] is None:
        pdf.paragraph(say(t("Fewer than {n} supported firms were scored at both ends of the year: what became of them is not published.",
                            n=f.min_firms)))
    else:
        pdf.paragraph(say(t("Of the supported firms scored at both ends of the year, {up} improved their grade, {same} kept it and {down} fell.",
                            up=p["up"], same=p["same"], down=p["down"])))


def _coverage(pdf: _Report, f: AnnualFigures, say: Any, lang: Lang) -> None:
    pdf.add_page()
    pdf.heading(say(t("Data coverage by department")))
    names = [zh if lang == "zh" else en for _s, zh, en, _share, _m, _n in f.coverage]
    if names:
        pdf.image_png(charts.bar(names, [100 * share for *_x, share, _m, _n in f.coverage],
                                 title=say(t("Share of registered firms with records in the year")),
                                 xlabel=say(t("Per cent of firms")), ylabel=say(t("Feed")), horizontal=True), width=150)
    pdf.grid([say(t("Feed")), say(t("Firms covered")), say(t("Months with data")), say(t("Records"))],
              [[n, _pct(share), str(m), f"{rows:,}"] for n, (_s, _zh, _en, share, m, rows) in zip(names, f.coverage, strict=True)],
              widths=[70, 30, 30, 30])


def _method(pdf: _Report, f: AnnualFigures, say: Any) -> None:
    pdf.add_page()
    pdf.heading(say(t("Method")))
    w = f.weights
    for text in (
        t("Each month, four components are averaged over a group's firms: the mean credit score, the share graded A or B, the share without an open red or yellow warning, and the share that did not default."),
        t("A month is linked to the one before on the firms present in both: the index moves by the weighted mean of the components' ratios (score {score}, A/B share {ab}, no warning {nw}, no default {nd}), so a firm entering or leaving never moves it.",
          score=w.get("score"), ab=w.get("grade_ab"), nw=w.get("no_warning"), nd=w.get("no_default")),
        t("The base month is 100. A group's month is published only with at least {n} firms (and {n} matched firms for a link); after a gap the series restarts at 100.", n=f.min_firms),
        t("Every table and chart in this report describes groups of at least {n} firms, and withholds a group that could be recovered as a total minus the groups shown. The full method is in docs/credit-index.md.", n=f.min_firms),
    ):
        pdf.paragraph(say(text))
