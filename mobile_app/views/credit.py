"""信用 Credit: the grade big and clear, PD in words, radar, reasons with tips, history, warnings."""

from __future__ import annotations

from collections.abc import Callable

import flet as ft
import flet_charts as fch

from mobile_app.api.models import Evaluation, Warning
from mobile_app.i18n import Translator
from mobile_app.state.credit import CreditState
from mobile_app.views.common import (
    GRADE_COLORS,
    LEVEL_COLORS,
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    level_chip,
    screen,
    section,
    state_gate,
)
from mobile_app.views.ties import ties_card

__all__ = ["build", "grade_card", "radar", "history_chart", "warning_tile"]

INDUSTRY_COLOR = "#E08A00"


def grade_card(t: Translator, ev: Evaluation) -> ft.Container:
    color = GRADE_COLORS.get(ev.grade, PRIMARY)
    letter = ft.Container(
        key="credit.grade_letter", width=104, height=104, border_radius=52, bgcolor=ft.Colors.WHITE,
        alignment=ft.Alignment.CENTER,
        content=ft.Text(ev.grade, size=60, weight=ft.FontWeight.BOLD, color=color),
    )
    facts = ft.Column([
        ft.Text(t("credit.grade", grade=ev.grade), key="credit.grade_label", size=18,
                weight=ft.FontWeight.W_600, color=ft.Colors.WHITE),
        ft.Text(t("credit.score", score=ev.score), key="credit.score", size=26,
                weight=ft.FontWeight.BOLD, color=ft.Colors.WHITE),
        ft.Text(t("credit.as_of", date=t.date(ev.as_of)), size=12, color="#E3ECFA"),
    ], spacing=2, tight=True, expand=True)
    return ft.Container(
        key="credit.grade_card", border_radius=16, padding=18,
        gradient=ft.LinearGradient(begin=ft.Alignment.TOP_LEFT, end=ft.Alignment.BOTTOM_RIGHT,
                                   colors=[color, ft.Colors.with_opacity(0.75, color)]),
        content=ft.Column([
            ft.Text(ev.name, size=15, color=ft.Colors.WHITE, weight=ft.FontWeight.W_500,
                    max_lines=2, overflow=ft.TextOverflow.ELLIPSIS),
            ft.Row([letter, facts], spacing=16, vertical_alignment=ft.CrossAxisAlignment.CENTER),
            ft.Container(
                bgcolor=ft.Colors.with_opacity(0.18, ft.Colors.WHITE), border_radius=10, padding=10,
                content=ft.Column([
                    ft.Text(t.pd_words(ev.pd, ev.grade_band), key="credit.pd", size=13, color=ft.Colors.WHITE),
                    *_coverage(t, ev),
                ], spacing=4, tight=True),
            ),
        ], spacing=12, tight=True),
    )


def _coverage(t: Translator, ev: Evaluation) -> list[ft.Control]:
    """How much of the firm the platform sees, and which department feeds are missing."""
    if ev.data_confidence is None:
        return []
    line, missing = t.data_confidence(ev.data_confidence)
    out: list[ft.Control] = [ft.Text(line, key="credit.data_confidence", size=12, color="#E3ECFA")]
    if missing:
        out.append(ft.Text(missing, key="credit.data_missing", size=12, color="#FFE8A3"))
    trust, findings = t.data_trust(ev.data_confidence)
    if trust:
        out.append(ft.Text(trust, key="credit.data_trust", size=12, color="#E3ECFA"))
    for finding, text in zip(ev.data_confidence.findings, findings, strict=True):
        out.append(ft.Text(text, key=f"credit.data_finding.{finding.check}", size=12,
                           color="#FFE8A3" if finding.check == "under_declaration" else "#E3ECFA"))
    return out


def radar(t: Translator, rows: list[tuple[str, float, float | None]]) -> ft.Control:
    """The six dimensions 0..100 with the industry average; the scale is pinned by 0/100 sets."""
    firm = [v for _, v, _ in rows]
    industry = [a for _, _, a in rows]
    clear = ft.Colors.TRANSPARENT
    sets = [
        fch.RadarDataSet(entries=[fch.RadarDataSetEntry(0) for _ in rows], fill_color=clear,
                         border_color=clear, border_width=0, entry_radius=0),
        fch.RadarDataSet(entries=[fch.RadarDataSetEntry(100) for _ in rows], fill_color=clear,
                         border_color=clear, border_width=0, entry_radius=0),
    ]
    if all(a is not None for a in industry):
        sets.append(fch.RadarDataSet(
            entries=[fch.RadarDataSetEntry(a or 0.0) for a in industry],
            fill_color=ft.Colors.with_opacity(0.12, INDUSTRY_COLOR), border_color=INDUSTRY_COLOR,
            border_width=2, entry_radius=2))
    sets.append(fch.RadarDataSet(
        entries=[fch.RadarDataSetEntry(v) for v in firm],
        fill_color=ft.Colors.with_opacity(0.25, PRIMARY), border_color=PRIMARY, border_width=2.5,
        entry_radius=3))
    chart = fch.RadarChart(
        key="credit.radar", height=250, expand=True, data_sets=sets, tick_count=4,
        # An unset angle (0 is the default, never sent) rotates a title along its spoke; 360
        # degrees is sent and keeps every title upright.
        titles=[fch.RadarChartTitle(text=t(f"credit.dim.{d}"), angle=360) for d, _, _ in rows],
        title_text_style=ft.TextStyle(size=12, color="#374151"), title_position_percentage_offset=0.12,
        ticks_text_style=ft.TextStyle(size=9, color=ft.Colors.TRANSPARENT),
        radar_border_side=ft.BorderSide(1, "#C9D3E3"), grid_border_side=ft.BorderSide(1, "#DDE3EC"),
        tick_border_side=ft.BorderSide(1, "#E6EAF0"), radar_shape=fch.RadarShape.POLYGON,
    )
    legend = ft.Row([
        _legend(PRIMARY, t("credit.firm")), _legend(INDUSTRY_COLOR, t("credit.industry_avg")),
    ], spacing=16, alignment=ft.MainAxisAlignment.CENTER)
    values = ft.Row(
        [ft.Text(f"{t(f'credit.dim.{d}')} {v:.0f}", size=11, color=MUTED) for d, v, _ in rows],
        wrap=True, spacing=10, run_spacing=2, key="credit.dimension_values")
    return card(section(t("credit.dimensions")), ft.Row([chart]), legend, values, key="credit.radar_card")


def _legend(color: str, label: str) -> ft.Row:
    return ft.Row([ft.Container(width=12, height=12, bgcolor=color, border_radius=3),
                   ft.Text(label, size=12, color=MUTED)], spacing=6, tight=True)


def history_chart(t: Translator, ev: Evaluation) -> ft.Control:
    points = ev.history or []
    if len(points) < 2:
        return card(section(t("credit.history")), empty(t("common.none"), key="credit.history_empty"))
    scores = [p.score for p in points]
    lo = max(0, (min(scores) - 40) // 50 * 50)
    hi = min(1000, (max(scores) + 40) // 50 * 50 + 50)
    step = max(1, len(points) // 4)
    labels = [fch.ChartAxisLabel(value=i, label=ft.Text(p.as_of[2:7].replace("-", "/"), size=10, color=MUTED))
              for i, p in enumerate(points) if i % step == 0 or i == len(points) - 1]
    chart = fch.LineChart(
        key="credit.history", height=170, expand=True, min_y=lo, max_y=hi, min_x=0, max_x=len(points) - 1,
        data_series=[fch.LineChartData(
            points=[fch.LineChartDataPoint(i, p.score) for i, p in enumerate(points)],
            color=PRIMARY, stroke_width=3, curved=True, prevent_curve_over_shooting=True,
            below_line_bgcolor=ft.Colors.with_opacity(0.10, PRIMARY), point=True)],
        bottom_axis=fch.ChartAxis(labels=labels, label_size=22),
        left_axis=fch.ChartAxis(label_size=36, label_spacing=50),
        horizontal_grid_lines=fch.ChartGridLines(interval=50, color="#E6EAF0", width=1),
        interactive=False,
    )
    return card(section(t("credit.history")), ft.Row([chart]), key="credit.history_card")


def warning_tile(t: Translator, w: Warning, *, key: str | None = None,
                 dispute: Callable[[int], None] | None = None) -> ft.Control:
    """A warning: level, title, and (with detail) the message and the contagion path."""
    color = LEVEL_COLORS.get(w.level, MUTED)
    lines: list[ft.Control] = [
        ft.Row([level_chip(t, w.level), ft.Text(t.date(w.opened_at), size=12, color=MUTED)],
               alignment=ft.MainAxisAlignment.SPACE_BETWEEN),
        ft.Text(t.pick(w.title_zh, w.title_en) or w.rule_code, size=14, weight=ft.FontWeight.W_500),
    ]
    message = t.pick(w.message_zh, w.message_en)
    if message:
        lines.append(ft.Text(message, size=12, color="#4B5563"))
    if w.closed_at:
        color = MUTED  # a cleared warning keeps its level chip but no longer marks the edge
        lines.append(ft.Text(t("warning.cleared_on", date=t.date(w.closed_at)), size=12, color="#1B9E5A"))
    if w.path_names:
        lines.append(ft.Text(t("warning.path", path=" → ".join(w.path_names)), size=12, color=MUTED))
    if dispute is not None and not w.closed_at:  # the owner: each record behind it can be disputed
        for j, r in enumerate(w.evidence_records[:4]):
            kind = str(r.get("kind", ""))
            name = t(f"source.{kind}") if f"source.{kind}" in t else kind
            lines.append(ft.Row([
                ft.Text(t("warning.record", source=name, date=str(r.get("event_date", ""))[:10]), size=12,
                        color=MUTED, expand=True),
                ft.TextButton(t("warning.dispute"), key=f"{key}.dispute.{j}",
                              on_click=lambda _, rid=int(r["record_id"]): dispute(rid)),
            ], spacing=4))
    return ft.Container(key=key, border=ft.Border.only(left=ft.BorderSide(4, color)),
                        padding=ft.Padding.only(left=10, top=4, bottom=4),
                        content=ft.Column(lines, spacing=4, tight=True))


def build(state: CreditState, t: Translator, run: Run, *, open_me: object = None,
          dispute: Callable[[int], None] | None = None) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return gate
    if not state.uscc:
        return screen(card(empty(t("credit.not_linked"), key="credit.not_linked", icon=ft.Icons.LINK_OFF,
                                 hint=t("credit.not_linked_hint"))), key="screen.credit")
    ev = state.evaluation
    if ev is None:
        return screen(card(empty(t("credit.no_score"), key="credit.no_score")), key="screen.credit")

    reasons: list[ft.Control] = [section(t("credit.reasons"))]
    if not state.top_reasons:
        reasons.append(ft.Text(t("credit.no_reasons"), color=MUTED, key="credit.no_reasons"))
    for i, r in enumerate(state.top_reasons):
        tip = t.pick(r.tip_zh, r.tip_en)
        reasons.append(ft.Container(
            key=f"credit.reason.{i}", bgcolor="#F7F9FC", border_radius=10, padding=10,
            content=ft.Column([
                ft.Row([ft.Text(t.pick(r.text_zh, r.text_en), size=14, weight=ft.FontWeight.W_500, expand=True),
                        ft.Text(t("credit.points", points=f"{r.points:+.0f}"), size=13,
                                color="#D93025" if r.points < 0 else "#1B9E5A")]),
                *([ft.Row([ft.Icon(ft.Icons.LIGHTBULB_OUTLINE, size=16, color="#E08A00"),
                           ft.Text(t("credit.tip", tip=tip), size=13, color="#4B5563", expand=True)],
                          vertical_alignment=ft.CrossAxisAlignment.START)] if tip else []),
            ], spacing=4, tight=True)))

    percentile = None
    if ev.industry is not None:
        ind = ev.industry
        percentile = card(ft.Row([
            ft.Icon(ft.Icons.LEADERBOARD_OUTLINED, color=PRIMARY),
            ft.Text(t("credit.percentile", industry=t.pick(ind.name_zh, ind.name_en), pct=f"{ind.percentile:.0f}",
                      firms=ind.firms, mean=f"{ind.mean_score:.0f}"), size=13, expand=True),
        ]), key="credit.percentile")

    warn_items: list[ft.Control] = [section(t("credit.warnings"))]
    if state.warnings:
        warn_items += [warning_tile(t, w, key=f"credit.warning.{i}", dispute=dispute)
                       for i, w in enumerate(state.warnings)]
    elif state.warnings_error:
        warn_items.append(ft.Text(t("common.error", detail=state.warnings_error), size=12, color=MUTED,
                                  key="credit.warnings_error"))
    else:
        warn_items.append(ft.Row([ft.Icon(ft.Icons.CHECK_CIRCLE_OUTLINE, color="#1B9E5A", size=18),
                                  ft.Text(t("credit.no_warnings"), color=MUTED)], key="credit.no_warnings"))

    disputed = None
    if ev.disputed:
        disputed = card(section(t("credit.disputed")), *[
            ft.Text(t("credit.disputed_item", source=d.source, record_id=d.record_id, date=t.date(d.filed_at)),
                    size=13, key=f"credit.disputed.{i}") for i, d in enumerate(ev.disputed)],
            key="credit.disputed")

    return screen(
        grade_card(t, ev),
        radar(t, state.radar),
        card(*reasons, key="credit.reasons"),
        percentile,
        history_chart(t, ev),
        card(*warn_items, key="credit.warnings"),
        ties_card(t, state.ties, key="credit.ties") if state.ties is not None else None,
        disputed,
        key="screen.credit", on_refresh=lambda: run(state.load()),
    )
