"""客户 Portfolio: the bank's borrowers with their current grade and open warnings."""

from __future__ import annotations

import flet as ft

from mobile_app.i18n import Translator
from mobile_app.state.bank import PortfolioState
from mobile_app.views.common import (
    MUTED,
    OpenFirm,
    Run,
    card,
    empty,
    grade_chip,
    icon_button,
    open_button,
    screen,
    section,
    state_gate,
)
from mobile_app.views.credit import warning_tile

__all__ = ["build"]


def build(state: PortfolioState, t: Translator, run: Run, *, open_firm: OpenFirm | None = None) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return gate
    rows: list[ft.Control] = [section(t("bank.portfolio"), trailing=icon_button(
        ft.Icons.REFRESH, t("common.refresh"), key="portfolio.refresh", on_click=lambda _: run(state.load())))]
    if not state.borrowers:
        rows.append(card(empty(t("bank.no_portfolio"), key="portfolio.empty")))
    for i, b in enumerate(state.borrowers):
        items: list[ft.Control] = [
            ft.Row([ft.Text(b.name, size=15, weight=ft.FontWeight.W_600, expand=True,
                            max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
                    grade_chip(t, b.grade, key=f"portfolio.{i}.grade")]),
            ft.Text(f"{b.uscc} · {t('common.yuan', amount=t.money(b.outstanding_yuan))}", size=12, color=MUTED),
        ]
        items += [warning_tile(t, w, key=f"portfolio.{i}.warning.{j}") for j, w in enumerate(b.warnings[:3])]
        if open_firm is not None:
            items.append(ft.Row([open_button(t, lambda u=b.uscc: open_firm(u), key=f"portfolio.{i}.open")],
                                alignment=ft.MainAxisAlignment.END))
        box = card(*items, key=f"portfolio.{i}")
        if open_firm is not None:
            box.on_click = lambda _, u=b.uscc: open_firm(u)
        rows.append(box)
    return screen(*rows, key="screen.portfolio", on_refresh=lambda: run(state.load()))
