"""筛选 Prospects: firms by name, grade, industry and town (public fields only)."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import FirmProfile
from mobile_app.i18n import Translator
from mobile_app.state.bank import GRADES, PROSPECT_SORTS, ProspectsState
from mobile_app.views.common import (
    MUTED,
    OpenFirm,
    Run,
    card,
    choice_menu,
    empty,
    error_banner,
    grade_chip,
    open_button,
    screen,
    state_gate,
)

__all__ = ["build", "firm_row"]


def firm_row(t: Translator, f: FirmProfile, *, key: str, trailing: ft.Control | None = None,
             open_firm: OpenFirm | None = None) -> ft.Control:
    industry = t(f"industry.{f.industry_section}") if f.industry_section else ""
    size = t(f"size.{f.size_class}") if f.size_class else ""
    actions = [trailing] if trailing else []
    if open_firm is not None:
        actions.insert(0, open_button(t, lambda: open_firm(f.uscc), key=f"{key}.open"))
    box = card(
        ft.Row([ft.Text(f.name, size=15, weight=ft.FontWeight.W_600, expand=True, max_lines=2),
                grade_chip(t, f.grade)]),
        ft.Text(" · ".join(x for x in (f.town, industry, size) if x), size=12, color=MUTED),
        ft.Text(f.uscc, size=11, color=MUTED),
        *([ft.Row(actions, alignment=ft.MainAxisAlignment.END, spacing=4)] if actions else []),
        key=key, spacing=4)
    if open_firm is not None:
        box.on_click = lambda _: open_firm(f.uscc)
    return box


def build(state: ProspectsState, t: Translator, run: Run, *, open_firm: OpenFirm | None = None) -> ft.Control:
    kw = {"q": state.keyword}

    def changed(e: ft.Event[ft.TextField]) -> None:
        kw["q"] = e.control.value or ""
        state.keyword = kw["q"]

    all_ = ("", t("common.all"))
    filters = card(
        ft.TextField(key="prospects.keyword", label=t("bank.keyword"), value=state.keyword, border_radius=10,
                     prefix_icon=ft.Icons.SEARCH, on_submit=lambda _: run(state.search()), on_change=changed),
        ft.Row([
            choice_menu("prospects.grade", t("bank.grade"), state.grade, [all_, *[(g, g) for g in GRADES]],
                      lambda v: run(state.set_filter(grade=v))),
            choice_menu("prospects.industry", t("bank.industry"), state.industry,
                      [all_, *[(c, t(f"industry.{c}")) for c in state.industries]],
                      lambda v: run(state.set_filter(industry=v))),
        ], spacing=8),
        ft.Row([
            choice_menu("prospects.town", t("bank.town"), state.town, [all_, *[(x, x) for x in state.towns]],
                      lambda v: run(state.set_filter(town=v))),
            choice_menu("prospects.sort", t("bank.sort"), state.sort,
                      [(s, t(f"bank.sort.{s}")) for s in PROSPECT_SORTS],
                      lambda v: run(state.set_filter(sort=v or "name"))),
        ], spacing=8),
        ft.FilledButton(t("common.search"), key="prospects.search", icon=ft.Icons.SEARCH,
                        on_click=lambda _: run(state.search())),
        ft.Text(t("bank.public_only"), size=11, color=MUTED),
        key="prospects.filters", spacing=10)
    parts: list[ft.Control | None] = [filters]
    gate = state_gate(t, state, lambda: run(state.search()))
    if gate is not None:
        parts.append(gate)
    else:
        parts.append(error_banner(t, state))
        results = state.results
        if not results:
            parts.append(card(empty(t("bank.no_prospects"), key="prospects.empty")))
        parts += [firm_row(t, f, key=f"prospects.item.{i}", open_firm=open_firm) for i, f in enumerate(results)]
        if state.has_more:
            parts.append(ft.OutlinedButton(t("bank.more", n=len(results)), key="prospects.more",
                                           icon=ft.Icons.EXPAND_MORE, on_click=lambda _: run(state.more())))
    return screen(*parts, key="screen.prospects", on_refresh=lambda: run(state.load()))
