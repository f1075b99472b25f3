"""The analyst's screens (issue 14): the region's credit index with its drill into industries,
towns and size classes, and the annual reports with their download. Aggregates only."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import flet as ft
import flet_charts as fch

from mobile_app.api.region import CreditIndexSeries
from mobile_app.i18n import Translator
from mobile_app.state.region import INDEX_DIMENSIONS, IndexState, ReportsState, change
from mobile_app.views.common import (
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    error_banner,
    filter_chip,
    icon_button,
    loading,
    screen,
    section,
    state_gate,
)

__all__ = ["build_index", "build_reports", "group_label", "index_chart"]

REGION_GREY = "#9AA4B2"
UP_GREEN = "#1B9E5A"
DOWN_RED = "#D93025"
Save = Callable[[str, bytes], Awaitable[None]]


def group_label(t: Translator, by: str, code: str) -> str:
    """A group as people name it: an industry's name, a size class, a town as it is called."""
    if by == "region":
        return t("region.whole")
    key = {"section": f"industry.{code}", "size": f"size.{code}"}.get(by)
    return t(key) if key is not None and key in t else code


def _month(m: str) -> str:
    return m[2:7].replace("-", "/")


def _signed(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f}"


def index_chart(t: Translator, lines: list[tuple[CreditIndexSeries, str, str]], *, key: str,
                height: int = 190) -> ft.Control:
    """Index lines on one month axis: (series, colour, legend label) each; the axis spans the
    months of the first (the widest) series, and a line breaks where its chain restarts."""
    months = [p.month for p in lines[0][0].points]
    at = {m: i for i, m in enumerate(months)}
    values = [p.index for s, _, _ in lines for p in s.points if p.month in at]
    if len(months) < 2 or not values:
        return empty(t("region.index.too_short"), key=f"{key}.empty")
    lo, hi, step_y = _axis(min(values), max(values))
    step = max(1, len(months) // 4)
    labels = [fch.ChartAxisLabel(value=i, label=ft.Text(_month(m), size=10, color=MUTED))
              for i, m in enumerate(months) if i % step == 0 or i == len(months) - 1]
    data: list[fch.LineChartData] = []
    for series, color, _ in lines:
        run: list[fch.LineChartDataPoint] = []
        for p in series.points:
            if p.month not in at:
                continue
            if p.restart and run:  # a chain restarted: a new line, not a jump
                data.append(_line(run, color))
                run = []
            run.append(fch.LineChartDataPoint(at[p.month], round(p.index, 2)))
        if run:
            data.append(_line(run, color))
    chart = fch.LineChart(
        key=key, height=height, expand=True, min_y=lo, max_y=hi, min_x=0, max_x=len(months) - 1,
        data_series=data,
        bottom_axis=fch.ChartAxis(labels=labels, label_size=22),
        left_axis=fch.ChartAxis(label_size=40, label_spacing=step_y),
        horizontal_grid_lines=fch.ChartGridLines(interval=step_y, color="#E6EAF0", width=1),
        interactive=False,
    )
    legend = ft.Row([_legend(color, label) for _, color, label in lines], spacing=14, wrap=True)
    return ft.Column([ft.Row([chart]), legend], spacing=6, tight=True)


def _axis(lo: float, hi: float) -> tuple[float, float, float]:
    """A value axis around [lo, hi] with some room, whole round steps (1, 2, 5, 10, ...) and ends
    on a step, so the chart labels its ends with round numbers too."""
    room = max(hi - lo, 1.0) * 0.15
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if (hi - lo + 2 * room) / s <= 5)
    return math.floor((lo - room) / step) * step, math.ceil((hi + room) / step) * step, float(step)


def _line(points: list[fch.LineChartDataPoint], color: str) -> fch.LineChartData:
    return fch.LineChartData(points=points, color=color, stroke_width=3, curved=True,
                             prevent_curve_over_shooting=True, point=len(points) < 3)


def _legend(color: str, label: str) -> ft.Row:
    return ft.Row([ft.Container(width=14, height=4, bgcolor=color, border_radius=2),
                   ft.Text(label, size=12, color=MUTED)], spacing=6, tight=True)


def _figure(label: str, value: str, *, key: str, color: str | None = None) -> ft.Control:
    return ft.Column([ft.Text(label, size=12, color=MUTED),
                      ft.Text(value, size=22, weight=ft.FontWeight.W_600, color=color, key=key)],
                     spacing=2, tight=True, expand=True)


def _delta_color(v: float | None) -> str | None:
    return None if v is None or abs(v) < 0.05 else UP_GREEN if v > 0 else DOWN_RED


def build_index(state: IndexState, t: Translator, run: Run, *, extra: list[ft.Control | None] | None = None
                ) -> ft.Control:
    """The index screen: the region's trend, then the groups of one dimension; a group opened
    draws its line against the region's. ``extra`` cards (the grade mix) follow the trend."""
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(gate, key="screen.index")
    region = state.region_series
    if state.region is None or state.groups is None:
        return screen(loading(t), key="screen.index")
    refresh = icon_button(ft.Icons.REFRESH, t("common.refresh"), key="index.refresh",
                          on_click=lambda _: run(state.load()))
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if region is None or not region.points:
        parts.append(card(section(t("region.index.title"), trailing=refresh),
                          empty(t("region.index.none", k=state.region.k), key="index.none")))
        return screen(*parts, key="screen.index", on_refresh=lambda: run(state.load()))
    opened = state.series(state.group) if state.group else None
    if opened is not None:  # on top: a redraw shows the screen from its top
        parts.append(card(
            section(group_label(t, state.by, opened.group), key="index.group.title",
                    trailing=icon_button(ft.Icons.CLOSE, t("common.close"), key="index.group.close",
                                         on_click=lambda _: state.open(None))),
            ft.Text(t("region.index.group_line", firms=opened.firms_last, index=opened.points[-1].index,
                      change=_signed(change(opened))), size=13, key="index.group.line"),
            ft.Container(height=4),
            index_chart(t, [(region, REGION_GREY, t("region.whole")),
                            (opened, PRIMARY, group_label(t, state.by, opened.group))], key="index.group.chart"),
            key="index.group", spacing=8))
    last = region.points[-1]
    moved = change(region)
    parts.append(card(
        section(t("region.index.title"), trailing=refresh),
        ft.Row([_figure(t("region.index.latest", month=_month(last.month)), f"{last.index:.1f}", key="index.latest"),
                _figure(t("region.index.change12"), _signed(moved), key="index.change", color=_delta_color(moved)),
                _figure(t("region.index.firms"), f"{last.firms:,}", key="index.firms")]),
        ft.Text(t("region.index.base", month=_month(state.region.base_month or region.points[0].month)),
                size=12, color=MUTED),
        ft.Container(height=4),
        index_chart(t, [(region, PRIMARY, t("region.whole"))], key="index.chart"),
        key="index.region", spacing=10))
    parts += list(extra or [])
    chips = ft.Row([filter_chip(t(f"region.by.{by}"), selected=state.by == by, key=f"index.by.{by}",
                                on_select=lambda _, by=by: run(state.pick_dimension(by)))
                    for by in INDEX_DIMENSIONS], wrap=True, spacing=8)
    rows: list[ft.Control] = [section(t("region.index.groups")), chips]
    ranked = state.ranked()
    if not ranked:
        rows.append(empty(t("region.index.no_groups", k=state.groups.k), key="index.groups.empty"))
    for s in ranked:
        moved = change(s)
        rows.append(ft.ListTile(
            key=f"index.row.{s.group}", dense=True, content_padding=ft.Padding.symmetric(horizontal=4),
            title=ft.Text(group_label(t, state.by, s.group), size=14, max_lines=1,
                          overflow=ft.TextOverflow.ELLIPSIS),
            subtitle=ft.Text(t("region.index.row_firms", firms=s.firms_last), size=12, color=MUTED),
            trailing=ft.Row([ft.Text(f"{s.points[-1].index:.1f}", size=15, weight=ft.FontWeight.W_600),
                             ft.Text(_signed(moved), size=12, color=_delta_color(moved) or MUTED, width=44,
                                     text_align=ft.TextAlign.RIGHT),
                             ft.Icon(ft.Icons.CHEVRON_RIGHT, color=MUTED)], tight=True, spacing=6),
            selected=s.group == state.group,
            on_click=lambda _, g=s.group: state.open(None if g == state.group else g)))
    parts.append(card(*rows, key="index.groups", spacing=4))
    return screen(*parts, key="screen.index", on_refresh=lambda: run(state.load()))


def build_reports(state: ReportsState, t: Translator, run: Run, save: Save) -> ft.Control:
    """The annual credit-index reports: each full year in Chinese and English, made on demand and
    kept by the server with the data version they were made from."""
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(gate, key="screen.reports")

    async def fetch(year: int, lang: str) -> None:
        got = await state.download(year, lang)
        if got is not None:
            await save(*got)

    rows: list[ft.Control] = [section(t("region.reports.title"), trailing=icon_button(
        ft.Icons.REFRESH, t("common.refresh"), key="reports.refresh", on_click=lambda _: run(state.load())))]
    rows.append(ft.Text(t("region.reports.about"), size=12, color=MUTED))
    for year in state.years():
        buttons: list[ft.Control] = []
        for lang in ("zh", "en"):
            stored = state.stored(year, lang)
            busy = state.busy == (year, lang)
            buttons.append(ft.OutlinedButton(
                t(f"region.reports.get.{lang}"), key=f"reports.{year}.{lang}",
                icon=ft.Icons.HOURGLASS_TOP if busy else ft.Icons.DOWNLOAD, disabled=state.busy is not None,
                tooltip=(t("region.reports.stored", pages=stored.pages, when=t.date(stored.generated_at))
                         if stored else t("region.reports.made_on_demand")),
                on_click=lambda _, y=year, lg=lang: run(fetch(y, lg))))
        stored_any = [state.stored(year, lang) for lang in ("zh", "en")]
        info = next((s for s in stored_any if s is not None), None)
        rows.append(ft.Column([
            ft.Text(t("region.reports.year", year=year), size=15, weight=ft.FontWeight.W_600),
            ft.Text(t("region.reports.stored", pages=info.pages, when=t.date(info.generated_at)) if info
                    else t("region.reports.made_on_demand"), size=12, color=MUTED, key=f"reports.{year}.info"),
            ft.Row(buttons, wrap=True, spacing=8),
        ], spacing=4, key=f"reports.{year}"))
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if state.busy is not None:
        parts.append(card(ft.Row([ft.ProgressRing(width=18, height=18, stroke_width=2),
                                  ft.Text(t("region.reports.making", year=state.busy[0]), size=13)], spacing=10),
                          key="reports.busy"))
    elif state.saved is not None:
        parts.append(card(ft.Text(t("region.reports.saved", year=state.saved[0]), color=UP_GREEN),
                          key="reports.saved"))
    parts.append(card(*rows, key="reports.list", spacing=10))
    return screen(*parts, key="screen.reports", on_refresh=lambda: run(state.load()))
