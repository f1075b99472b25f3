"""关注 Watchlist (subscriber): watched firms with grade and warning badges."""

from __future__ import annotations

from collections.abc import Callable

import flet as ft

from mobile_app.i18n import Translator
from mobile_app.state.watch import WatchlistState
from mobile_app.views.common import (
    LEVEL_COLORS,
    MUTED,
    OpenFirm,
    Run,
    card,
    empty,
    error_banner,
    grade_chip,
    icon_button,
    open_button,
    pill,
    screen,
    section,
    state_gate,
)

__all__ = ["build"]


def build(state: WatchlistState, t: Translator, run: Run, *, open_firm: OpenFirm | None = None,
          find_firms: Callable[[], None] | None = None) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return gate
    parts: list[ft.Control | None] = [section(t("sub.watchlist")), error_banner(t, state)]
    if not state.items:
        parts.append(card(empty(t("sub.no_watch"), key="watch.empty", icon=ft.Icons.STAR_OUTLINE,
                                action=(t("sub.find_firms"), find_firms) if find_firms else None)))
    for i, s in enumerate(state.items):
        badges: list[ft.Control] = [grade_chip(t, s.grade, key=f"watch.{i}.grade")]
        for level in ("red", "yellow", "blue"):
            n = s.open_warnings.get(level, 0)
            if n:
                badges.append(pill(f"{t(f'warning.{level}')} {n}", LEVEL_COLORS[level], filled=True,
                                   key=f"watch.{i}.{level}"))
        if open_firm is not None:
            badges.append(ft.Container(expand=True))
            badges.append(open_button(t, lambda u=s.uscc: open_firm(u), key=f"watch.{i}.open"))
        box = card(
            ft.Row([ft.Text(s.firm_name or s.uscc, size=15, weight=ft.FontWeight.W_600, expand=True),
                    icon_button(ft.Icons.STAR, t("sub.unwatch"), key=f"watch.{i}.unwatch", icon_color="#E0A800",
                                on_click=lambda _, u=s.uscc: run(state.unwatch(u)))]),
            ft.Text(s.uscc, size=11, color=MUTED),
            ft.Row(badges, spacing=6, vertical_alignment=ft.CrossAxisAlignment.CENTER),
            key=f"watch.{i}", spacing=4)
        if open_firm is not None:
            box.on_click = lambda _, u=s.uscc: open_firm(u)
        parts.append(box)
    return screen(*parts, key="screen.watchlist", on_refresh=lambda: run(state.load()))
