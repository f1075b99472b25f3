"""客户 Portfolio: the bank's post-loan book. Each live loan since it was granted: the borrower's
grade path and grade now, warnings since, the fund's cover, the loan's events, and why to act;
the loans to act on first. Without the firm's consent the grades and messages are withheld."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import BookLoan, LoanBook
from mobile_app.i18n import Translator
from mobile_app.state.bank import PortfolioState
from mobile_app.views.common import (
    GRADE_COLORS,
    LEVEL_COLORS,
    MUTED,
    OpenFirm,
    Run,
    card,
    empty,
    grade_chip,
    icon_button,
    open_button,
    pill,
    screen,
    section,
    state_gate,
)

__all__ = ["build"]

MOVES = {"better": "#1B9E5A", "same": MUTED, "worse": "#D93025", "withheld": "#9AA4B2"}
ACT_COLOR = "#D93025"


def _summary(t: Translator, book: LoanBook) -> ft.Control:
    chips = ft.Row([pill(f"{t(f'book.move.{k}')} {book.movement.get(k, 0)}", MOVES[k], key=f"book.move.{k}")
                    for k in MOVES], wrap=True, spacing=6, run_spacing=6)
    return card(
        ft.Text(t("book.summary", n=book.loans, money=t.money(book.principal_yuan)), size=14,
                weight=ft.FontWeight.W_600, key="book.summary"),
        ft.Text(t("book.covered", money=t.money(book.covered_yuan)), size=12, color=MUTED),
        ft.Text(t("book.to_act", n=book.to_act), size=13, color=ACT_COLOR if book.to_act else "#1B9E5A",
                key="book.to_act"),
        chips, key="book.head")


def _path(t: Translator, b: BookLoan, key: str) -> ft.Control:
    """The grade at the grant, then the path since (the latest six scores), then the grade now."""
    points = b.grade_path[-6:]
    steps: list[ft.Control] = [ft.Text(t("book.at_grant"), size=12, color=MUTED), grade_chip(t, b.grade_at_grant or None)]
    for p in points:
        steps += [ft.Text("→", size=12, color=MUTED),
                  ft.Container(content=ft.Text(f"{p.as_of[2:7]} {p.grade}", size=11,
                                               color=GRADE_COLORS.get(p.grade, MUTED)))]
    return ft.Row(steps, spacing=4, wrap=True, run_spacing=4, key=key)


def _loan(t: Translator, b: BookLoan, i: int, open_firm: OpenFirm | None) -> ft.Control:
    key = f"portfolio.{i}"
    head: list[ft.Control] = [ft.Text(b.firm_name, size=15, weight=ft.FontWeight.W_600, expand=True, max_lines=1,
                                      overflow=ft.TextOverflow.ELLIPSIS)]
    head.append(grade_chip(t, b.grade_now, key=f"{key}.grade") if b.detail else
                pill(t("book.withheld"), MOVES["withheld"], key=f"{key}.grade"))
    items: list[ft.Control] = [
        ft.Row(head),
        ft.Text(t("book.loan", product=b.product, money=t.money(b.amount_yuan), date=t.date(b.granted_on),
                  months=b.months_on_book), size=12, color=MUTED),
    ]
    if b.act:
        items.append(ft.Row([pill(t(f"book.act.{a}"), ACT_COLOR, key=f"{key}.act.{a}") for a in b.act],
                            wrap=True, spacing=6, run_spacing=6))
    if b.detail:
        items.append(_path(t, b, f"{key}.path"))
        if b.grade_steps is not None:
            move = "worse" if b.grade_steps > 0 else "better" if b.grade_steps < 0 else "same"
            items.append(ft.Text(t(f"book.moved.{move}", n=abs(b.grade_steps)), size=12, color=MOVES[move],
                                 key=f"{key}.moved"))
        if b.data_confidence:
            items.append(ft.Text(t("book.confidence", level=t(f"credit.confidence.{b.data_confidence}")), size=12,
                                 color=ACT_COLOR if b.data_confidence == "low" else MUTED))
    else:
        items.append(ft.Text(t("book.no_consent"), size=12, color=MUTED, key=f"{key}.no_consent"))
    cover = t(f"book.cover.{b.cover}", share=b.fund_share_pct)
    items.append(ft.Text(cover, size=12, color=MUTED, key=f"{key}.cover"))
    for j, w in enumerate(b.warnings[:3]):
        text = t.pick(w.message_zh, w.message_en) or t.pick(w.title_zh, w.title_en)
        when = t.date(w.opened_at) + (t("book.cleared", date=t.date(w.closed_at)) if w.closed_at else "")
        items.append(ft.Row([
            ft.Container(width=4, height=32, bgcolor=LEVEL_COLORS.get(w.level, MUTED) if not w.closed_at else MUTED,
                         border_radius=2),
            ft.Column([ft.Text(text, size=12, color="#374151", max_lines=2, overflow=ft.TextOverflow.ELLIPSIS),
                       ft.Text(when, size=11, color=MUTED)], spacing=0, tight=True, expand=True),
        ], spacing=8, key=f"{key}.warning.{j}"))
    if b.events:
        last = b.events[-1]
        items.append(ft.Text(t("book.event", status=t.status(last.status), date=t.date(last.at)), size=12,
                             color=MUTED, key=f"{key}.event"))
    if open_firm is not None:
        items.append(ft.Row([open_button(t, lambda u=b.firm_uscc: open_firm(u), key=f"{key}.open")],
                            alignment=ft.MainAxisAlignment.END))
    return card(*items, key=key, spacing=6)


def build(state: PortfolioState, t: Translator, run: Run, *, open_firm: OpenFirm | None = None) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return gate
    rows: list[ft.Control] = [section(t("bank.portfolio"), trailing=icon_button(
        ft.Icons.REFRESH, t("common.refresh"), key="portfolio.refresh", on_click=lambda _: run(state.load())))]
    if state.book is None or not state.book.items:
        rows.append(card(empty(t("bank.no_portfolio"), key="portfolio.empty")))
    else:
        rows.append(_summary(t, state.book))
        rows += [_loan(t, b, i, open_firm) for i, b in enumerate(state.book.items)]
    return screen(*rows, key="screen.portfolio", on_refresh=lambda: run(state.load()))
