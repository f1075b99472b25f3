"""专题分析, the analyst's thematic screens (issue 14): groups of firms with a drill region →
industry → (division, town); industry clusters by location quotient; public-resource use with
its outliers. Charts are Flet's own; every figure is a group's, as the API published it."""

from __future__ import annotations

import math

import flet as ft
import flet_charts as fch

from mobile_app.api.region import ClusterCell, GroupFigures, ResourceRow
from mobile_app.i18n import Translator
from mobile_app.state.region import (
    CHAIN_DIMENSIONS,
    FLOW_DIMENSIONS,
    GROUP_DIMENSIONS,
    LENSES,
    RESOURCE_DIMENSIONS,
    ThematicState,
    cell_key,
)
from mobile_app.views.common import (
    GRADE_COLORS,
    LEVEL_COLORS,
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    error_banner,
    filter_chip,
    icon_button,
    loading,
    pill,
    screen,
    section,
    state_gate,
)

__all__ = ["build_thematic", "figures_card", "grade_mix"]

GRADES = ("A", "B", "C", "D")
OUTLIER_RED = "#D93025"


def _name(t: Translator, g: GroupFigures | ResourceRow, by: str) -> str:
    if by == "section" and f"industry.{g.group}" in t:
        return t(f"industry.{g.group}")
    if by == "size" and f"size.{g.group}" in t:
        return t(f"size.{g.group}")
    if by == "division":
        return t("thematic.division", code=g.group)
    return t.pick(g.name_zh, g.name_en) or g.group


def _wan(t: Translator, yuan: float | None) -> str:
    """Money in 万元 / 10k yuan: the unit a region's figures are read in ("—": withheld, too few
    firms make the sum up)."""
    return "—" if yuan is None else t("thematic.wan", amount=f"{yuan / 10_000:,.1f}")


def grade_mix(t: Translator, grades: dict[str, int], *, key: str) -> ft.Control:
    """The grade mix as a ring (Flet's pie chart) with the counts beside it."""
    total = sum(grades.get(g, 0) for g in GRADES)
    if total == 0:
        return empty(t("thematic.no_grades"), key=f"{key}.empty")
    ring = fch.PieChart(key=key, width=120, height=120, center_space_radius=30, sections_space=1,
                        sections=[fch.PieChartSection(value=grades[g], color=GRADE_COLORS[g], radius=26, title="")
                                  for g in GRADES if grades.get(g)])
    legend = ft.Column([ft.Row([ft.Container(width=12, height=12, bgcolor=GRADE_COLORS[g], border_radius=3),
                                ft.Text(t("thematic.grade_line", grade=g, n=grades.get(g, 0),
                                          share=100 * grades.get(g, 0) / total), size=13)], spacing=8)
                        for g in GRADES], spacing=4, tight=True)
    return ft.Row([ft.Container(ring, width=124, height=124), legend], spacing=16,
                  vertical_alignment=ft.CrossAxisAlignment.CENTER, wrap=True)


def _trend_chart(t: Translator, g: GroupFigures, *, key: str) -> ft.Control:
    points = g.trend
    if len(points) < 2:
        return empty(t("region.index.too_short"), key=f"{key}.empty")
    values = [p.tax_yuan / 10_000 for p in points]
    hi = _nice_top(max(values))
    step = max(1, len(points) // 4)
    labels = [fch.ChartAxisLabel(value=i, label=ft.Text(p.month[2:].replace("-", "/"), size=10, color=MUTED))
              for i, p in enumerate(points) if i % step == 0 or i == len(points) - 1]
    chart = fch.LineChart(
        key=key, height=150, expand=True, min_y=0, max_y=hi, min_x=0, max_x=len(points) - 1,
        data_series=[fch.LineChartData(points=[fch.LineChartDataPoint(i, round(v, 2)) for i, v in enumerate(values)],
                                       color=PRIMARY, stroke_width=2, curved=True, prevent_curve_over_shooting=True,
                                       below_line_bgcolor=ft.Colors.with_opacity(0.10, PRIMARY))],
        bottom_axis=fch.ChartAxis(labels=labels, label_size=22),
        left_axis=fch.ChartAxis(label_size=44, title=ft.Text(t("thematic.tax_axis"), size=10, color=MUTED),
                                title_size=16),
        horizontal_grid_lines=fch.ChartGridLines(color="#E6EAF0", width=1), interactive=False)
    return ft.Column([ft.Text(t("thematic.tax_trend"), size=12, color=MUTED), ft.Row([chart])], spacing=4, tight=True)


def _cd_share(g: GroupFigures) -> float:
    """The share of C and D grades among the group's graded firms, in per cent."""
    graded = sum(g.grades.values())
    return 100 * (g.grades.get("C", 0) + g.grades.get("D", 0)) / graded if graded else 0.0


def _line(label: str, value: str, key: str | None = None) -> ft.Control:
    return ft.Row([ft.Text(label, color=MUTED, size=13, expand=True), ft.Text(value, size=14, key=key)])


def figures_card(t: Translator, g: GroupFigures, title: str, *, key: str, close: ft.Control | None = None,
                 subtitle: str | None = None) -> ft.Control:
    """A group's figures: grade mix, warnings, tax, headcount, loans, the fund's cover, trend."""
    warn = ft.Row([pill(t(f"thematic.level.{lv}", n=g.warnings.get(lv, 0)), LEVEL_COLORS[lv])
                   for lv in ("red", "yellow", "blue")], spacing=6, wrap=True)
    rows: list[ft.Control] = [section(title, trailing=close, key=f"{key}.title")]
    if subtitle:
        rows.append(ft.Text(subtitle, size=12, color=MUTED))
    rows += [
        _line(t("thematic.firms"), f"{g.firms:,}", f"{key}.firms"),
        _line(t("thematic.mean_score"), "—" if g.mean_score is None else f"{g.mean_score:.0f}", f"{key}.score"),
        grade_mix(t, g.grades, key=f"{key}.mix"),
        ft.Text(t("thematic.open_warnings"), size=12, color=MUTED), warn,
        _line(t("thematic.tax_12m"), _wan(t, g.tax_yuan), f"{key}.tax"),
        _line(t("thematic.headcount"), f"{g.headcount:,.0f}", f"{key}.heads"),
        _line(t("thematic.loans"), t("thematic.loans_value", n=g.loans, amount=_wan(t, g.loan_amount_yuan),
                                     outstanding=_wan(t, g.outstanding_yuan)), f"{key}.loans"),
        _line(t("thematic.fund_cover"), _wan(t, g.fund_exposure_yuan), f"{key}.fund"),
        _trend_chart(t, g, key=f"{key}.trend"),
    ]
    return card(*rows, key=key, spacing=8)


def _bar_chart(t: Translator, items: list[tuple[str, float, str]], *, key: str, unit: str) -> ft.Control:
    """Bars of the first items (short labels under them); the list below names them in full."""
    items = items[:7]
    if not items:
        return empty(t("common.none"), key=f"{key}.empty")
    hi = _nice_top(max(v for _, v, _ in items))
    chart = fch.BarChart(
        key=key, height=170, expand=True, min_y=0, max_y=hi, interactive=False,
        groups=[fch.BarChartGroup(x=i, rods=[fch.BarChartRod(from_y=0, to_y=round(v, 3), width=16, color=color,
                                                             border_radius=3)])
                for i, (_, v, color) in enumerate(items)],
        bottom_axis=fch.ChartAxis(label_size=24, labels=[
            fch.ChartAxisLabel(value=i, label=ft.Text(label[:3], size=10, color=MUTED))
            for i, (label, _, _) in enumerate(items)]),
        left_axis=fch.ChartAxis(label_size=44, title=ft.Text(unit, size=10, color=MUTED), title_size=16),
        horizontal_grid_lines=fch.ChartGridLines(interval=hi / 4, color="#E6EAF0", width=1))
    return ft.Row([chart])


def _nice_top(v: float) -> float:
    """The axis' top: the next of 1, 2, 2.5, 5 times a power of ten above ``v`` with room."""
    if v <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(v * 1.1))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= v * 1.1)


def build_thematic(state: ThematicState, t: Translator, run: Run) -> ft.Control:
    lenses = ft.Row([filter_chip(t(f"thematic.lens.{lens}"), selected=state.lens == lens, key=f"thematic.lens.{lens}",
                                 on_select=lambda _, lens=lens: run(state.pick_lens(lens))) for lens in LENSES],
                    wrap=True, spacing=8)
    head = card(section(t("thematic.title"), trailing=icon_button(
        ft.Icons.REFRESH, t("common.refresh"), key="thematic.refresh", on_click=lambda _: run(state.load()))),
        lenses, key="thematic.head")
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(head, gate, key="screen.thematic")
    if state.lens == "clusters":
        parts = _clusters(state, t)
    elif state.lens == "resources":
        parts = _resources(state, t, run)
    elif state.lens == "flows":
        parts = _flows(state, t, run)
    elif state.lens == "chains":
        parts = _chains(state, t, run)
    else:
        parts = _groups(state, t, run)
    return screen(head, error_banner(t, state), *parts, key=f"screen.thematic.{state.lens}",
                  on_refresh=lambda: run(state.load()))


def _close(t: Translator, state: ThematicState, key: str) -> ft.Control:
    return icon_button(ft.Icons.CLOSE, t("common.close"), key=key, on_click=lambda _: state.open(None))


def _withheld(t: Translator, n: int, k: int, key: str) -> ft.Control | None:
    return ft.Text(t("region.index.withheld", n=n, k=k), size=12, color=MUTED, key=key) if n else None


def _groups(state: ThematicState, t: Translator, run: Run) -> list[ft.Control | None]:
    data = state.groups
    if data is None:
        return [loading(t)]
    if data.whole is None:
        return [card(empty(t("region.index.no_groups", k=data.k), key="thematic.none"))]
    drilled = state.section is not None
    by = "division" if drilled else state.by
    crumbs: list[ft.Control] = [ft.TextButton(t("region.whole"), key="thematic.crumb.region",
                                              on_click=lambda _: run(state.drill(None)))]
    if drilled:
        crumbs += [ft.Icon(ft.Icons.CHEVRON_RIGHT, color=MUTED, size=18),
                   ft.Text(t(f"industry.{state.section}"), size=14, weight=ft.FontWeight.W_600)]
    dims = ft.Row([filter_chip(t(f"region.by.{d}"), selected=not drilled and state.by == d, key=f"thematic.by.{d}",
                               on_select=lambda _, d=d: run(state.pick_dimension(d))) for d in GROUP_DIMENSIONS],
                  wrap=True, spacing=8)
    parts: list[ft.Control | None] = [card(ft.Row(crumbs, wrap=True, spacing=2), dims, key="thematic.drill")]
    cell = state.opened_cell()
    opened = state.opened_group()
    if cell is not None:
        parts.append(figures_card(t, cell.figures, t("thematic.cell", division=cell.division, town=cell.town),
                                  key="thematic.opened", close=_close(t, state, "thematic.opened.close")))
    elif opened is not None:
        parts.append(figures_card(t, opened, _name(t, opened, by), key="thematic.opened",
                                  close=_close(t, state, "thematic.opened.close")))
    whole_title = t(f"industry.{state.section}") if drilled else t("region.whole")
    parts.append(figures_card(t, data.whole, whole_title, key="thematic.whole",
                              subtitle=t("thematic.as_of", month=data.month or "—")))
    bars = sorted(((_name(t, g, by), _cd_share(g), GRADE_COLORS["C"]) for g in data.groups if sum(g.grades.values())),
                  key=lambda b: -b[1])
    rows: list[ft.Control] = [section(t(f"thematic.groups.{by}")),
                              ft.Text(t("thematic.cd_chart"), size=12, color=MUTED),
                              _bar_chart(t, bars, key="thematic.groups.chart", unit="%")]
    for g in data.groups:
        drill_in = by == "section"
        rows.append(ft.ListTile(
            key=f"thematic.row.{g.group}", dense=True, content_padding=ft.Padding.symmetric(horizontal=4),
            title=ft.Text(_name(t, g, by), size=14, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
            subtitle=ft.Text(t("thematic.row", firms=g.firms, cd=_cd_share(g), red=g.warnings.get("red", 0)),
                             size=12, color=MUTED),
            trailing=ft.Row([ft.Text("—" if g.mean_score is None else f"{g.mean_score:.0f}", size=15,
                                     weight=ft.FontWeight.W_600),
                             ft.Icon(ft.Icons.CHEVRON_RIGHT, color=MUTED)], tight=True, spacing=6),
            on_click=(lambda _, s=g.group: run(state.drill(s))) if drill_in
            else (lambda _, c=g.group: state.open(c))))
    withheld = _withheld(t, data.suppressed, data.k, "thematic.withheld")
    if withheld is not None:
        rows.append(withheld)
    parts.append(card(*rows, key="thematic.groups", spacing=4))
    if drilled and state.cells is not None:
        parts.append(_cells_card(t, state, state.cells.cells, state.cells.suppressed, state.cells.k,
                                 title=t("thematic.towns_of", industry=t(f"industry.{state.section}")),
                                 key="thematic.cells"))
    return parts


def _cells_card(t: Translator, state: ThematicState, cells: list[ClusterCell], suppressed: int, k: int, *,
                title: str, key: str) -> ft.Control:
    rows: list[ft.Control] = [section(title)]
    if not cells:
        rows.append(empty(t("region.index.no_groups", k=k), key=f"{key}.empty"))
    for c in cells:
        rows.append(ft.ListTile(
            key=f"{key}.{cell_key(c)}", dense=True, content_padding=ft.Padding.symmetric(horizontal=4),
            title=ft.Text(f"{c.town} · {t('thematic.division', code=c.division)}", size=14, max_lines=1,
                          overflow=ft.TextOverflow.ELLIPSIS),
            subtitle=ft.Text(t("thematic.cell_row", firms=c.figures.firms, lq=c.lq_firms,
                               tax=_wan(t, c.figures.tax_yuan)), size=12, color=MUTED),
            trailing=ft.Icon(ft.Icons.CHEVRON_RIGHT, color=MUTED),
            on_click=lambda _, ck=cell_key(c): state.open(ck)))
    withheld = _withheld(t, suppressed, k, f"{key}.withheld")
    if withheld is not None:
        rows.append(withheld)
    return card(*rows, key=key, spacing=4)


def _clusters(state: ThematicState, t: Translator) -> list[ft.Control | None]:
    data = state.clusters
    if data is None:
        return [loading(t)]
    parts: list[ft.Control | None] = []
    cell = state.opened_cell()
    if cell is not None:
        parts.append(figures_card(t, cell.figures, t("thematic.cell", division=cell.division, town=cell.town),
                                  key="thematic.opened", close=_close(t, state, "thematic.opened.close"),
                                  subtitle=t("thematic.lq_line", lq=cell.lq_firms,
                                             tax="—" if cell.lq_tax is None else f"{cell.lq_tax:.2f}",
                                             heads="—" if cell.lq_headcount is None else f"{cell.lq_headcount:.2f}")))
    bars = [(c.town, c.lq_firms, PRIMARY) for c in data.cells]
    intro = ft.Text(t("thematic.clusters_about", lq=data.min_lq), size=12, color=MUTED)
    parts.append(card(section(t("thematic.lens.clusters")), intro,
                      _bar_chart(t, bars, key="thematic.clusters.chart", unit="LQ"), key="thematic.clusters.top"))
    parts.append(_cells_card(t, state, data.cells, data.suppressed, data.k, title=t("thematic.cluster_list"),
                             key="thematic.clusters"))
    return parts


def _resources(state: ThematicState, t: Translator, run: Run) -> list[ft.Control | None]:
    data = state.resources
    if data is None:
        return [loading(t)]
    dims = ft.Row([filter_chip(t(f"region.by.{d}"), selected=state.resources_by == d, key=f"thematic.res.{d}",
                               on_select=lambda _, d=d: run(state.pick_dimension(d))) for d in RESOURCE_DIMENSIONS],
                  wrap=True, spacing=8)
    metric = "electricity_per_10k_tax"
    bars = [(_name(t, r, data.by), float(r.intensity.get(metric) or 0),
             OUTLIER_RED if metric in r.outliers else PRIMARY) for r in data.rows if r.intensity.get(metric) is not None]
    bars.sort(key=lambda b: -b[1])
    rows: list[ft.Control] = [
        section(t("thematic.lens.resources")), dims,
        ft.Text(t("thematic.resources_about", start=data.start or "—", end=data.end or "—"), size=12, color=MUTED),
        _bar_chart(t, bars, key="thematic.resources.chart", unit=t("thematic.kwh_per_10k")),
    ]
    for i, r in enumerate(data.rows):
        def v(name: str, r: ResourceRow = r) -> str:
            x = r.intensity.get(name)
            return "—" if x is None else f"{x:,.1f}"

        flags = [pill(t(f"thematic.metric.{m}"), OUTLIER_RED) for m in r.outliers]
        rows.append(ft.Column([
            ft.Row([ft.Text(_name(t, r, data.by), size=14, weight=ft.FontWeight.W_600, expand=True),
                    ft.Text(t("region.index.row_firms", firms=r.firms), size=12, color=MUTED)]),
            ft.Text(t("thematic.res_line", e=v("electricity_per_10k_tax"), w=v("water_per_10k_tax"),
                      g=v("gas_per_10k_tax")), size=12),
            ft.Text(t("thematic.res_head", e=v("electricity_per_head"), w=v("water_per_head"), g=v("gas_per_head")),
                    size=12, color=MUTED),
            *([ft.Row([ft.Text(t("thematic.outlier"), size=12, color=OUTLIER_RED), *flags], wrap=True, spacing=6)]
              if flags else []),
        ], spacing=2, key=f"thematic.res.row.{i}"))
    withheld = _withheld(t, data.suppressed, data.k, "thematic.res.withheld")
    if withheld is not None:
        rows.append(withheld)
    return [card(*rows, key="thematic.resources", spacing=8)]


def _group_name(t: Translator, by: str, code: str) -> str:
    if by == "grade":
        return t("thematic.grade_group", grade=code)
    if by == "section" and f"industry.{code}" in t:
        return t(f"industry.{code}")
    return code


def _dims(state: ThematicState, t: Translator, run: Run, dims: tuple[str, ...], chosen: str, key: str) -> ft.Row:
    return ft.Row([filter_chip(t(f"region.by.{d}"), selected=chosen == d, key=f"{key}.{d}",
                               on_select=lambda _, d=d: run(state.pick_dimension(d))) for d in dims],
                  wrap=True, spacing=8)


def _flows(state: ThematicState, t: Translator, run: Run) -> list[ft.Control | None]:
    data = state.flows
    if data is None:
        return [loading(t)]
    rows: list[ft.Control] = [section(t("thematic.lens.flows")),
                              _dims(state, t, run, FLOW_DIMENSIONS, data.by, "thematic.flows.by"),
                              ft.Text(t("thematic.flows_about"), size=12, color=MUTED)]
    r = data.region
    if r is None:
        rows.append(empty(t("thematic.flows_none", k=data.k), key="thematic.flows.empty"))
        return [card(*rows, key="thematic.flows", spacing=8)]
    rows += [
        _line(t("thematic.flows_firms"), f"{r.firms:,}", "thematic.flows.firms"),
        _line(t("thematic.flows_cover"), t("thematic.flows_cover_value", n=r.covered_loans, amount=_wan(t, r.cover_yuan)),
              "thematic.flows.cover"),
        _line(t("thematic.flows_claims"), t("thematic.flows_cover_value", n=r.claims, amount=_wan(t, r.claim_yuan)),
              "thematic.flows.claims"),
        _line(t("thematic.flows_policies"), t("thematic.flows_policy_value", n=r.policy_grants, firms=r.policy_firms),
              "thematic.flows.policies"),
        _line(t("thematic.flows_projects"), t("thematic.flows_projects_value", amount=_wan(t, r.grant_yuan),
                                              **{s: r.projects.get(s, 0) for s in
                                                 ("on_track", "behind", "failed", "completed")}),
              "thematic.flows.projects"),
        _line(t("thematic.flows_after"), t("thematic.flows_after_value", up=r.up, same=r.same, down=r.down,
                                           defaulted=r.defaulted), "thematic.flows.after"),
        _bar_chart(t, [(_group_name(t, data.by, g.group), (g.cover_yuan or 0) / 10_000, PRIMARY) for g in data.groups],
                   key="thematic.flows.chart", unit=t("thematic.tax_axis")),
    ]
    for g in data.groups:
        rows.append(ft.Column([
            ft.Row([ft.Text(_group_name(t, data.by, g.group), size=14, weight=ft.FontWeight.W_600, expand=True),
                    ft.Text(t("region.index.row_firms", firms=g.firms), size=12, color=MUTED)]),
            ft.Text(t("thematic.flows_row", cover=_wan(t, g.cover_yuan), policies=g.policy_grants, up=g.up,
                      down=g.down, defaulted=g.defaulted), size=12),
        ], spacing=2, key=f"thematic.flows.row.{g.group}"))
    withheld = _withheld(t, data.suppressed, data.k, "thematic.flows.withheld")
    if withheld is not None:
        rows.append(withheld)
    return [card(*rows, key="thematic.flows", spacing=8)]


def _chains(state: ThematicState, t: Translator, run: Run) -> list[ft.Control | None]:
    data = state.chains
    if data is None:
        return [loading(t)]
    rows: list[ft.Control] = [section(t("thematic.lens.chains")),
                              _dims(state, t, run, CHAIN_DIMENSIONS, data.by, "thematic.chains.by"),
                              ft.Text(t("thematic.chains_about", day=data.as_of), size=12, color=MUTED)]
    r = data.region
    if r is None:
        rows.append(empty(t("thematic.chains_none", k=data.k), key="thematic.chains.empty"))
        return [card(*rows, key="thematic.chains", spacing=8)]
    rows += [
        _line(t("thematic.chains_circles"), t("thematic.chains_circles_value", n=r.circles, firms=r.firms_in_circles,
                                              mean=r.mean_size, max=r.max_size), "thematic.chains.circles"),
        _line(t("thematic.chains_exposure"), _wan(t, r.exposure_yuan), "thematic.chains.exposure"),
        _line(t("thematic.chains_warned"), f"{r.warned_firms:,}", "thematic.chains.warned"),
        _line(t("thematic.chains_draw"), t("thematic.chains_draw_value", draw=_wan(t, r.expected_draw_yuan),
                                           cover=_wan(t, r.covered_yuan)), "thematic.chains.draw"),
        _bar_chart(t, [(_group_name(t, data.by, g.group), g.exposure_yuan / 10_000, GRADE_COLORS["C"])
                       for g in data.groups], key="thematic.chains.chart", unit=t("thematic.tax_axis")),
    ]
    for g in data.groups:
        rows.append(ft.Column([
            ft.Row([ft.Text(_group_name(t, data.by, g.group), size=14, weight=ft.FontWeight.W_600, expand=True),
                    ft.Text(t("thematic.chains_row_firms", firms=g.firms_in_circles, n=g.circles), size=12,
                            color=MUTED)]),
            ft.Text(t("thematic.chains_row", exposure=_wan(t, g.exposure_yuan), warned=g.warned_firms,
                      draw=_wan(t, g.expected_draw_yuan), max=g.max_size), size=12),
        ], spacing=2, key=f"thematic.chains.row.{g.group}"))
    withheld = _withheld(t, data.suppressed, data.k, "thematic.chains.withheld")
    if withheld is not None:
        rows.append(withheld)
    return [card(*rows, key="thematic.chains", spacing=8)]
