"""查询 Search (subscriber): find a firm by name or code and watch it."""

from __future__ import annotations

import flet as ft

from mobile_app.i18n import Translator
from mobile_app.state.watch import SearchState, WatchlistState
from mobile_app.views.common import OpenFirm, Run, card, empty, error_banner, screen, state_gate
from mobile_app.views.prospects import firm_row

__all__ = ["build"]


def build(state: SearchState, watch: WatchlistState, t: Translator, run: Run, *,
          open_firm: OpenFirm | None = None) -> ft.Control:
    typed = {"q": state.query}

    def changed(e: ft.Event[ft.TextField]) -> None:
        typed["q"] = e.control.value or ""

    box = ft.TextField(key="search.query", label=t("sub.search"), hint_text=t("sub.search_hint"),
                       value=state.query, border_radius=10, prefix_icon=ft.Icons.SEARCH,
                       on_change=changed, on_submit=lambda _: run(state.search(typed["q"])))
    parts: list[ft.Control | None] = [
        card(box, ft.FilledButton(t("common.search"), key="search.go",
                                  on_click=lambda _: run(state.search(typed["q"]))), key="search.form")]
    if state.status == "idle":
        return screen(*parts, key="screen.search")
    gate = state_gate(t, state, lambda: run(state.search(state.query)))
    if gate is not None:
        return screen(*parts, gate, key="screen.search")
    parts.append(error_banner(t, watch))
    if not state.results:
        parts.append(card(empty(t("sub.no_results"), key="search.empty")))
    watched = watch.watched
    for i, f in enumerate(state.results):
        if f.uscc in watched:
            action = ft.OutlinedButton(t("sub.unwatch"), key=f"search.item.{i}.unwatch",
                                       on_click=lambda _, u=f.uscc: run(watch.unwatch(u)))
        else:
            action = ft.FilledButton(t("sub.watch"), key=f"search.item.{i}.watch", icon=ft.Icons.STAR_OUTLINE,
                                     on_click=lambda _, u=f.uscc: run(watch.watch(u)))
        parts.append(firm_row(t, f, key=f"search.item.{i}", trailing=action, open_firm=open_firm))
    return screen(*parts, key="screen.search")
