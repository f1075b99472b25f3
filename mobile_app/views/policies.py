"""政策 Policies: the policies the firm qualifies for and why, apply, and status."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import PolicyMatch
from mobile_app.i18n import Translator
from mobile_app.state.policies import PoliciesState
from mobile_app.state.projects import ProjectsState
from mobile_app.views.common import (
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    error_banner,
    screen,
    section,
    state_gate,
    status_chip,
)
from mobile_app.views.projects import owner_projects

__all__ = ["build", "policy_card"]


def _criteria(t: Translator, items: list, icon: ft.IconData, color: str) -> list[ft.Control]:
    return [ft.Row([ft.Icon(icon, size=16, color=color),
                    ft.Text(t.pick(c.text_zh, c.text_en), size=12, color="#374151", expand=True)],
                   vertical_alignment=ft.CrossAxisAlignment.START, spacing=6) for c in items]


def policy_card(state: PoliciesState, t: Translator, run: Run, m: PolicyMatch, *, key: str) -> ft.Control:
    p = m.policy
    dept = t.pick(p.department_name_zh, p.department_name_en)
    top = ft.Row([
        ft.Column([ft.Text(p.title, size=15, weight=ft.FontWeight.W_600),
                   ft.Text(dept, size=12, color=MUTED)], spacing=2, tight=True, expand=True),
    ])
    if m.eligible:
        if m.application_status:
            top.controls.append(status_chip(t, m.application_status, key=f"{key}.status"))
        else:
            top.controls.append(ft.FilledButton(
                t("pol.apply"), key=f"{key}.apply", disabled=state.applying == p.id,
                style=ft.ButtonStyle(bgcolor=PRIMARY), on_click=lambda _, pid=p.id: run(state.apply(pid))))
    items: list[ft.Control] = [top]
    if p.summary:
        items.append(ft.Text(p.summary, size=13, color="#374151"))
    if p.benefit:
        items.append(ft.Text(t("pol.benefit", benefit=p.benefit), size=13, color="#1B9E5A"))
    if m.eligible:
        met = [c for c in m.criteria if c.met]
        if met:
            items.append(ft.Text(t("pol.why"), size=12, weight=ft.FontWeight.W_600))
            items += _criteria(t, met, ft.Icons.CHECK_CIRCLE, "#1B9E5A")
    elif m.missing:
        items.append(ft.Text(t("pol.missing"), size=12, weight=ft.FontWeight.W_600))
        items += _criteria(t, m.missing, ft.Icons.CANCEL_OUTLINED, "#D93025")
    return card(*items, key=key, spacing=6)


def build(state: PoliciesState, t: Translator, run: Run, projects: ProjectsState | None = None) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return gate
    matches = state.matches
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if projects is not None:  # my projects first: what the firm was granted and owes a report on
        parts += [error_banner(t, projects), *owner_projects(projects, t, run)]
    parts.append(section(t("pol.eligible")))
    if matches is None or not matches.eligible:
        parts.append(card(empty(t("pol.none"), key="pol.none")))
    else:
        parts += [policy_card(state, t, run, m, key=f"pol.eligible.{i}") for i, m in enumerate(matches.eligible)]
    if state.applications:
        rows: list[ft.Control] = [section(t("pol.my_applications"))]
        for i, a in enumerate(state.applications):
            rows.append(ft.Row([
                ft.Column([ft.Text(a.policy_title, size=14),
                           ft.Text(t.date(a.created_at) + (f" · {a.reason}" if a.reason else ""), size=12,
                                   color=MUTED)], spacing=0, tight=True, expand=True),
                status_chip(t, a.status)], key=f"pol.app.{i}"))
        parts.append(card(*rows, key="pol.applications"))
    if matches is not None and matches.not_eligible:
        parts.append(section(t("pol.not_eligible")))
        parts += [policy_card(state, t, run, m, key=f"pol.not_eligible.{i}")
                  for i, m in enumerate(matches.not_eligible)]
    def refresh() -> None:
        run(state.load())
        if projects is not None:
            run(projects.load())

    return screen(*parts, key="screen.policies", on_refresh=refresh)
