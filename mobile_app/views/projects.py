"""项目 Supported projects: each promise against what the departments' data shows, the
deviations, the milestones with their reports, and the result. The owner reports on a milestone;
the department assesses and closes, over its portfolio."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import Project, ProjectMilestone, ProjectOutcome, ProjectPortfolio
from mobile_app.i18n import Translator
from mobile_app.state.projects import ProjectPortfolioState, ProjectsState, _Reports
from mobile_app.views.common import (
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    error_banner,
    filter_chip,
    icon_button,
    pill,
    screen,
    section,
    state_gate,
)

__all__ = ["build_portfolio", "owner_projects", "project_card", "switch"]

STATUS_COLORS = {"on_track": "#1B9E5A", "completed": "#1B9E5A", "behind": "#E08A00", "failed": "#D93025"}
OUTCOME_COLORS = {"on_track": "#1B9E5A", "behind_plan": "#E08A00", "off_target": "#D93025", "no_data": MUTED}
STATUSES = ("on_track", "behind", "failed", "completed")


def _figure(t: Translator, value: float | None, o: ProjectOutcome) -> str:
    if value is None:
        return "—"
    return f"{t.money(value)}{t.pick(o.unit_zh, ' ' + o.unit_en)}"


def _outcome(t: Translator, o: ProjectOutcome, key: str) -> ft.Control:
    color = OUTCOME_COLORS.get(o.status or "", MUTED)
    achieved = max(0.0, min(1.0, o.achieved)) if o.achieved is not None else 0.0
    if o.source == "reported":
        line = t("proj.outcome_reported", actual=_figure(t, o.actual, o), target=_figure(t, o.change, o))
    else:
        line = t("proj.outcome", actual=_figure(t, o.actual, o), target=_figure(t, o.target, o),
                 baseline=_figure(t, o.baseline, o))
    share = "—" if o.achieved is None else f"{max(0.0, o.achieved) * 100:.0f}%"
    planned = "" if o.planned is None else t("proj.planned", share=f"{o.planned * 100:.0f}%")
    return ft.Column([
        ft.Row([ft.Text(t.pick(o.name_zh, o.name_en), size=13, weight=ft.FontWeight.W_600, expand=True),
                ft.Text(f"{share} {planned}".strip(), size=12, color=color, key=f"{key}.share")]),
        ft.ProgressBar(value=achieved, color=color, bgcolor="#E5E7EB", height=6, border_radius=3,
                       key=f"{key}.bar"),
        ft.Text(line, size=12, color=MUTED),
    ], spacing=3, tight=True, key=key)


def _milestone(t: Translator, m: ProjectMilestone, key: str) -> list[ft.Control]:
    rows: list[ft.Control] = [ft.Row([
        ft.Icon(ft.Icons.FLAG_OUTLINED, size=16, color=PRIMARY),
        ft.Text(t("proj.milestone", title=m.title, due=t.date(m.due_on)), size=13, expand=True),
    ], spacing=6, key=key)]
    for r, label in ((m.self_evaluation, "proj.self"), (m.assessment, "proj.assessment")):
        if r is not None:
            who = r.assessor if r.kind == "assessment" and r.assessor else ""
            rows.append(ft.Text(t(label, score=r.score, who=who) + (f"：{r.text}" if t.zh else f": {r.text}"),
                                size=12, color="#374151", key=f"{key}.{r.kind}"))
    if m.self_evaluation is None:
        rows.append(ft.Text(t("proj.no_self"), size=12, color=MUTED, key=f"{key}.pending"))
    return rows


def project_card(t: Translator, p: Project, *, key: str, show_firm: bool,
                 actions: list[ft.Control] | None = None) -> ft.Control:
    """One project: status, money and period, each promise's progress, deviations, milestones."""
    who = p.firm_name if show_firm else t.pick(p.department_name_zh, p.department_name_en)
    items: list[ft.Control] = [
        ft.Row([ft.Column([ft.Text(p.title, size=15, weight=ft.FontWeight.W_600),
                           ft.Text(who, size=12, color=MUTED)], spacing=2, tight=True, expand=True),
                pill(t(f"proj.status.{p.status}"), STATUS_COLORS.get(p.status, MUTED), key=f"{key}.status")]),
        ft.Text(t("proj.terms", money=t.money(p.granted_yuan), start=t.date(p.starts_on), end=t.date(p.ends_on)),
                size=12, color=MUTED),
    ]
    if p.result is not None and p.score is not None:
        rating = str(p.result.figures.get("rating", ""))
        items.append(ft.Text(t("proj.result", score=p.score, rating=t(f"proj.rating.{rating}")), size=14,
                             weight=ft.FontWeight.W_600, color=STATUS_COLORS.get(p.status, MUTED),
                             key=f"{key}.result"))
    if p.tracking is not None:
        items.append(ft.Text(t("proj.as_of", month=p.tracking.month[:7], share=f"{p.tracking.planned * 100:.0f}%"),
                             size=12, color=MUTED, key=f"{key}.as_of"))
    items += [_outcome(t, o, f"{key}.outcome.{o.metric}") for o in p.outcomes]
    if p.tracking is not None and p.tracking.deviations and p.closed_at is None:
        items.append(ft.Text(t("proj.deviations"), size=12, weight=ft.FontWeight.W_600, color="#B26A00"))
        items += [ft.Row([ft.Icon(ft.Icons.WARNING_AMBER_ROUNDED, size=16, color="#E08A00"),
                          ft.Text(t.pick(d.text_zh, d.text_en), size=12, color="#374151", expand=True)],
                         spacing=6, vertical_alignment=ft.CrossAxisAlignment.START, key=f"{key}.deviation.{i}")
                  for i, d in enumerate(p.tracking.deviations)]
    for m in p.milestones:
        items += _milestone(t, m, f"{key}.milestone.{m.seq}")
    items += actions or []
    return card(*items, key=key, spacing=6)


def _report_form(state: _Reports, t: Translator, run: Run, key: str, *, assessment: bool) -> list[ft.Control]:
    d = state.draft()

    def setter(name: str):  # noqa: ANN202
        def changed(e: ft.Event[ft.TextField]) -> None:
            setattr(d, name, e.control.value or "")
        return changed

    fields: list[ft.Control] = [
        ft.TextField(key=f"{key}.text", label=t("proj.form_text"), value=d.text, multiline=True, min_lines=2,
                     on_change=setter("text"), border_radius=10, dense=True),
        ft.Row([
            ft.TextField(key=f"{key}.score", label=t("proj.form_score"), value=d.score, expand=True,
                         keyboard_type=ft.KeyboardType.NUMBER, on_change=setter("score"), border_radius=10, dense=True),
            ft.TextField(key=f"{key}.investment", label=t("proj.form_investment"), value=d.investment, expand=True,
                         keyboard_type=ft.KeyboardType.NUMBER, on_change=setter("investment"), border_radius=10,
                         dense=True),
        ], spacing=8),
    ]
    if assessment:
        fields.append(ft.TextField(key=f"{key}.assessor", label=t("proj.form_assessor"), value=d.assessor,
                                   on_change=setter("assessor"), border_radius=10, dense=True))
    if state.invalid:
        fields.append(ft.Text(t(state.invalid), color="#B3261E", size=12, key=f"{key}.invalid"))
    fields.append(ft.Row([
        ft.FilledButton(t("proj.send"), key=f"{key}.send", icon=ft.Icons.SEND, disabled=state.sending, expand=True,
                        style=ft.ButtonStyle(bgcolor=PRIMARY), on_click=lambda _: run(state.submit())),
        ft.OutlinedButton(t("common.cancel"), key=f"{key}.cancel", expand=True, on_click=lambda _: state.cancel()),
    ], spacing=8))
    return fields


def _open_milestones(p: Project, kind: str) -> list[ProjectMilestone]:
    if p.closed_at is not None:
        return []
    if kind == "self":
        return [m for m in p.milestones if m.self_evaluation is None]
    return [m for m in p.milestones if m.assessment is None]


def owner_projects(state: ProjectsState, t: Translator, run: Run) -> list[ft.Control]:
    """我的项目: the owner's projects, with a self-evaluation form for a milestone not yet reported."""
    if not state.items:
        return []
    parts: list[ft.Control] = [section(t("proj.mine"), key="proj.mine")]
    for i, p in enumerate(state.items):
        key = f"proj.{i}"
        actions: list[ft.Control] = []
        open_ms = _open_milestones(p, "self")
        if state.form is not None and state.form[0] == p.id:
            actions += [ft.Text(t("proj.self_form", title=next(
                (m.title for m in p.milestones if m.seq == state.form[1]), "")), size=13, weight=ft.FontWeight.W_600)]
            actions += _report_form(state, t, run, f"{key}.form", assessment=False)
        elif open_ms:
            m = open_ms[0]
            actions.append(ft.OutlinedButton(t("proj.report", title=m.title), key=f"{key}.report",
                                             icon=ft.Icons.EDIT_NOTE,
                                             on_click=lambda _, pid=p.id, seq=m.seq: state.open_form(pid, seq)))
        parts.append(project_card(t, p, key=key, show_firm=False, actions=actions))
    return parts


def _summary(t: Translator, pf: ProjectPortfolio) -> ft.Control:
    chips = ft.Row([pill(f"{t(f'proj.status.{s}')} {pf.by_status.get(s, 0)}", STATUS_COLORS[s], key=f"portfolio.{s}")
                    for s in STATUSES], wrap=True, spacing=6, run_spacing=6)
    lines: list[ft.Control] = [
        section(t("proj.portfolio", n=pf.projects)), chips,
        ft.Text(t("proj.granted", money=t.money(pf.granted_yuan)), size=13, key="portfolio.granted"),
    ]
    for o in pf.outcomes:
        unit = t.pick(o.unit_zh, " " + o.unit_en)
        lines.append(ft.Text(t("proj.total", name=t.pick(o.name_zh, o.name_en), achieved=f"{t.money(o.achieved)}{unit}",
                               promised=f"{t.money(o.promised)}{unit}"), size=13, key=f"portfolio.total.{o.metric}"))
    return card(*lines, key="portfolio.summary")


def switch(state: ProjectPortfolioState, t: Translator, pending: int) -> ft.Control:
    """The operator's policy tab: the applications to decide, or the projects they opened."""
    return ft.Row([
        filter_chip(t("proj.tab_applications", n=pending), selected=not state.shown, key="policy_tab.applications",
                    on_select=lambda _: state.show(False)),
        filter_chip(t("proj.tab_projects", n=len(state.items)), selected=state.shown, key="policy_tab.projects",
                    on_select=lambda _: state.show(True)),
    ], spacing=8, key="policy_tab")


def build_portfolio(state: ProjectPortfolioState, t: Translator, run: Run, *,
                    head: ft.Control | None = None) -> ft.Control:
    """项目: the department's portfolio; assess a milestone, close a project with its result."""
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(head, gate, key="screen.projects")
    pf = state.portfolio
    parts: list[ft.Control | None] = [head, error_banner(t, state)]
    if pf is None or not pf.items:
        parts.append(card(empty(t("proj.none_department"), key="projects.empty", icon=ft.Icons.WORK_OUTLINE)))
        return screen(*parts, key="screen.projects", on_refresh=lambda: run(state.load()))
    parts.append(_summary(t, pf))
    parts.append(section(t("proj.list"), trailing=icon_button(ft.Icons.REFRESH, t("common.refresh"), key="projects.refresh",
                                                             on_click=lambda _: run(state.load()))))
    ordered = sorted(pf.items, key=lambda p: (p.closed_at is not None, STATUSES.index(p.status) * -1, p.id))
    for i, p in enumerate(ordered):
        key = f"projects.{i}"
        actions: list[ft.Control] = []
        if state.form is not None and state.form[0] == p.id:
            actions += [ft.Text(t("proj.assess_form", title=next(
                (m.title for m in p.milestones if m.seq == state.form[1]), "")), size=13, weight=ft.FontWeight.W_600)]
            actions += _report_form(state, t, run, f"{key}.form", assessment=True)
        elif state.closing == p.id:
            def typed(e: ft.Event[ft.TextField]) -> None:
                state.close_text = e.control.value or ""

            actions += [
                ft.Text(t("proj.close_confirm"), size=12, color="#374151"),
                ft.TextField(key=f"{key}.close_text", label=t("proj.close_text"), value=state.close_text,
                             on_change=typed, border_radius=10, dense=True),
                ft.Row([ft.FilledButton(t("proj.close"), key=f"{key}.close_confirm", icon=ft.Icons.TASK_ALT,
                                        disabled=state.sending, expand=True, style=ft.ButtonStyle(bgcolor=PRIMARY),
                                        on_click=lambda _: run(state.close())),
                        ft.OutlinedButton(t("common.cancel"), key=f"{key}.close_cancel", expand=True,
                                          on_click=lambda _: state.cancel_close())], spacing=8),
            ]
        elif p.closed_at is None:
            row: list[ft.Control] = []
            open_ms = [m for m in _open_milestones(p, "assessment") if m.self_evaluation is not None]
            if open_ms:
                m = open_ms[0]
                row.append(ft.OutlinedButton(t("proj.assess", title=m.title), key=f"{key}.assess",
                                             icon=ft.Icons.FACT_CHECK_OUTLINED, expand=True,
                                             on_click=lambda _, pid=p.id, seq=m.seq: state.open_form(pid, seq)))
            row.append(ft.OutlinedButton(t("proj.close"), key=f"{key}.close", icon=ft.Icons.TASK_ALT, expand=True,
                                         on_click=lambda _, pid=p.id: state.start_close(pid)))
            actions.append(ft.Row(row, spacing=8))
        parts.append(project_card(t, p, key=key, show_firm=True, actions=actions))
    return screen(*parts, key="screen.projects", on_refresh=lambda: run(state.load()))
