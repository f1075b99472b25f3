"""企业概况 Firm overview: registration facts, grade letter and warnings, opened from any list."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import FirmProfile, FirmWarnings
from mobile_app.i18n import Translator
from mobile_app.state.firm import FirmOverviewState
from mobile_app.views.common import (
    MUTED,
    Run,
    card,
    empty,
    error_banner,
    grade_chip,
    icon_button,
    screen,
    section,
    state_gate,
)
from mobile_app.views.credit import warning_tile

__all__ = ["build", "facts", "warnings_card"]

_STATUSES = ("active", "suspended", "revoked", "cancelled")


def _row(label: str, value: str, key: str) -> ft.Control:
    return ft.Row([ft.Text(label, size=13, color=MUTED, width=96),
                   ft.Text(value, size=13, expand=True, key=key)], spacing=8,
                  vertical_alignment=ft.CrossAxisAlignment.START)


def facts(t: Translator, p: FirmProfile, *, key: str = "firm.facts") -> ft.Control:
    """The public registration facts: legal representative, capital, founding, industry, town, size."""
    industry = t(f"industry.{p.industry_section}") if p.industry_section else "—"
    if p.industry_division:
        industry = f"{industry}（{p.industry_division}）" if t.zh else f"{industry} ({p.industry_division})"
    capital = (t("common.yuan", amount=t.money(p.registered_capital_yuan))
               if p.registered_capital_yuan is not None else "—")
    rows = [
        ("firm.legal_rep", p.legal_representative or "—", "legal_rep"),
        ("firm.capital", capital, "capital"),
        ("firm.founded", t.date(p.founded_on), "founded"),
        ("firm.industry", industry, "industry"),
        ("firm.town", p.town or "—", "town"),
        ("firm.size", t(f"size.{p.size_class}") if p.size_class else "—", "size"),
        ("firm.uscc", p.uscc, "uscc"),
    ]
    return card(section(t("firm.overview")),
                *[_row(t(label), value, f"{key}.{name}") for label, value, name in rows], key=key, spacing=6)


def warnings_card(t: Translator, w: FirmWarnings | None, *, key: str = "firm.warnings",
                  limit: int = 8) -> ft.Control:
    """Open warnings first (red before yellow before blue), then the cleared ones with their date."""
    title = section(t("firm.warnings"), trailing=ft.Text(
        t("firm.open_warnings", red=w.open_red, yellow=w.open_yellow, blue=w.open_blue) if w else "",
        size=12, color=MUTED))
    items = list(w.warnings[:limit]) if w else []
    if not items:
        return card(title, ft.Text(t("firm.no_warnings"), color=MUTED, size=13, key=f"{key}.none"), key=key)
    return card(title, *[warning_tile(t, x, key=f"{key}.{i}") for i, x in enumerate(items)], key=key)


def build(state: FirmOverviewState, t: Translator, run: Run) -> ft.Control:
    p = state.profile
    name = p.name if p else (state.uscc or "")
    head = ft.Row([
        icon_button(ft.Icons.ARROW_BACK, t("common.back"), key="firm.back", on_click=lambda _: state.close()),
        ft.Text(name, size=16, weight=ft.FontWeight.W_600, expand=True, max_lines=2,
                overflow=ft.TextOverflow.ELLIPSIS, key="firm.name"),
    ])
    gate = state_gate(t, state, lambda: run(state.load())) if p is None else None
    if gate is not None:
        return screen(head, gate, key="screen.firm")
    if p is None:
        return screen(head, card(empty(t("firm.not_found"), key="firm.empty")), key="screen.firm")
    standing = card(ft.Row([grade_chip(t, p.grade, key="firm.grade"),
                            ft.Text(t(f"firm.status.{p.status}") if p.status in _STATUSES else p.status, size=13, color=MUTED, expand=True,
                                    text_align=ft.TextAlign.RIGHT, key="firm.status")]),
                    ft.Text(t("firm.public_note"), size=11, color=MUTED), key="firm.standing")
    return screen(head, error_banner(t, state), standing, facts(t, p), warnings_card(t, state.warnings),
                  key="screen.firm")
