"""融资 Financing: amount, term, purpose → matched products → apply with consent → timeline."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import Application, ProductMatch
from mobile_app.i18n import Translator
from mobile_app.state.financing import FinancingState
from mobile_app.views.common import (
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    error_banner,
    icon_button,
    pill,
    screen,
    section,
    status_chip,
)

__all__ = ["build", "product_card", "timeline"]


def _form(state: FinancingState, t: Translator, run: Run) -> ft.Control:
    def on_amount(e: ft.Event[ft.TextField]) -> None:
        state.set_form(amount=e.control.value or "")

    def on_term(e: ft.Event[ft.TextField]) -> None:
        state.set_form(term=e.control.value or "")

    def on_purpose(e: ft.Event[ft.TextField]) -> None:
        state.set_form(purpose=e.control.value or "")

    submit = lambda _=None: run(state.match(t("fin.purpose_default")))  # noqa: E731
    items: list[ft.Control] = [
        section(t("fin.title")),
        ft.Row([
            ft.TextField(key="fin.amount", label=t("fin.amount"), value=state.amount_text, expand=3,
                         keyboard_type=ft.KeyboardType.NUMBER, on_change=on_amount, on_submit=submit,
                         prefix_icon=ft.Icons.CURRENCY_YUAN, border_radius=10),
            ft.TextField(key="fin.term", label=t("fin.term"), value=state.term_text, expand=2,
                         keyboard_type=ft.KeyboardType.NUMBER, on_change=on_term, on_submit=submit,
                         border_radius=10),
        ], spacing=8),
        ft.TextField(key="fin.purpose", label=t("fin.purpose"), value=state.purpose,
                     hint_text=t("fin.purpose_default"), on_change=on_purpose, on_submit=submit,
                     border_radius=10),
    ]
    if state.invalid:
        items.append(ft.Text(t(state.invalid), key="fin.invalid", color="#B3261E", size=13))
    items.append(ft.FilledButton(
        content=ft.ProgressRing(width=18, height=18, color=ft.Colors.WHITE) if state.matching else t("fin.match"),
        key="fin.match", icon=None if state.matching else ft.Icons.SEARCH, on_click=submit,
        disabled=state.matching, height=44,
        style=ft.ButtonStyle(bgcolor=PRIMARY, shape=ft.RoundedRectangleBorder(radius=10))))
    return card(*items, key="fin.form", spacing=12)


def product_card(t: Translator, m: ProductMatch, run_apply: object, *, key: str) -> ft.Control:
    p = m.product
    chips = [
        pill(t("fin.collateral_free") if m.collateral_free else t("fin.needs_collateral"),
             "#1B9E5A" if m.collateral_free else MUTED),
        pill(t("fin.fund_share", pct=m.fund_share_pct) if m.fund_share_pct else t("fin.no_fund"),
             PRIMARY if m.fund_share_pct else MUTED),
    ]
    return card(
        ft.Row([
            ft.Column([ft.Text(p.name, size=16, weight=ft.FontWeight.W_600),
                       ft.Text(p.bank_name, size=13, color=MUTED)], spacing=2, tight=True, expand=True),
            ft.FilledButton(t("fin.apply"), key=f"{key}.apply", on_click=run_apply,  # type: ignore[arg-type]
                            style=ft.ButtonStyle(bgcolor=PRIMARY)),
        ]),
        ft.Text(t("fin.rate", lo=f"{m.expected_min_rate_pct:.2f}", hi=f"{m.expected_max_rate_pct:.2f}"),
                size=15, color="#D93025", weight=ft.FontWeight.W_600),
        ft.Row(chips, spacing=6, wrap=True),
        key=key,
    )


def timeline(t: Translator, app: Application) -> ft.Control:
    rows: list[ft.Control] = []
    for i, ev in enumerate(app.events):
        last = i == len(app.events) - 1
        rows.append(ft.Row([
            ft.Column([
                ft.Container(width=12, height=12, border_radius=6, bgcolor=PRIMARY if last else "#A7B4C8"),
                ft.Container(width=2, height=30, bgcolor="#DDE3EC", visible=not last),
            ], spacing=2, horizontal_alignment=ft.CrossAxisAlignment.CENTER, tight=True),
            ft.Column([
                ft.Text(t.status(ev.status), size=14, weight=ft.FontWeight.W_600 if last else None),
                ft.Text(t.datetime(ev.at) + (f" · {said}" if (said := t.pick(ev.text_zh, ev.text_en) or ev.note)
                                             else ""), size=12, color=MUTED),
            ], spacing=0, tight=True, expand=True),
        ], vertical_alignment=ft.CrossAxisAlignment.START, key=f"fin.timeline.{i}"))
    header = [
        ft.Row([ft.Text(app.product_name, size=16, weight=ft.FontWeight.W_600, expand=True),
                status_chip(t, app.status, key="fin.detail.status")]),
        ft.Text(f"{app.bank_name} · {t('common.yuan', amount=t.money(app.amount_yuan))} · "
                f"{t('common.months', n=app.term_months)}", size=13, color=MUTED),
    ]
    if app.purpose:
        header.append(ft.Text(t("fin.purpose_line", purpose=app.purpose), size=13, key="fin.detail.purpose"))
    if app.status == "approved" and app.approved_amount_yuan is not None:
        header.append(ft.Text(t("fin.approved_terms", amount=t.money(app.approved_amount_yuan),
                                rate=f"{app.rate_pct or 0:.2f}", term=app.approved_term_months),
                              color="#1B9E5A", key="fin.detail.terms"))
    if app.decline_text:
        header.append(ft.Text(app.decline_text, color="#D93025", key="fin.detail.decline"))
    return card(*header, ft.Divider(height=8), section(t("fin.timeline")), *rows, key="fin.timeline")


def _confirm(state: FinancingState, t: Translator, run: Run) -> ft.Control:
    m, r = state.pending, state.result
    assert m is not None and r is not None
    body = t("fin.confirm_body", bank=m.product.bank_name, product=m.product.name,
             amount=t.money(r.amount_yuan), term=r.term_months)
    return card(
        section(t("fin.confirm_title")),
        ft.Text(body, size=14, key="fin.confirm.body"),
        ft.Checkbox(key="fin.confirm.consent", label=t("fin.confirm_consent"), value=state.consent_ok,
                    on_change=lambda e: state.set_consent(bool(e.control.value))),
        ft.Row([
            ft.TextButton(t("common.cancel"), key="fin.confirm.cancel", on_click=lambda _: state.cancel_apply()),
            ft.FilledButton(t("common.confirm"), key="fin.confirm.submit",
                            disabled=not state.consent_ok or state.submitting,
                            on_click=lambda _: run(state.confirm_apply())),
        ], alignment=ft.MainAxisAlignment.END),
        key="fin.confirm",
    )


def build(state: FinancingState, t: Translator, run: Run) -> ft.Control:
    banner = error_banner(t, state)
    if state.detail is not None:
        return screen(
            ft.Row([icon_button(ft.Icons.ARROW_BACK, t("common.back"), key="fin.detail.back", on_click=lambda _: state.close_detail()),
                    ft.Text(t("fin.timeline"), size=18, weight=ft.FontWeight.W_600)]),
            banner,
            ft.Text(t("fin.submitted"), color="#1B9E5A", key="fin.submitted") if state.just_created else None,
            timeline(t, state.detail),
            key="screen.financing.detail",
        )
    if state.pending is not None:
        return screen(banner, _confirm(state, t, run), key="screen.financing.confirm")

    parts: list[ft.Control | None] = [_form(state, t, run), banner]
    result = state.result
    if result is not None:
        fitting = result.fitting
        parts.append(ft.Row([
            ft.Text(t("fin.matched", n=len(fitting)) if fitting else t("fin.none_fit"), key="fin.matched",
                    size=16, weight=ft.FontWeight.W_600, expand=True),
            ft.Text(t("fin.cap", cap=t.money(result.collateral_free_cap_yuan)), size=12, color=MUTED),
        ]))
        for i, m in enumerate(fitting):
            parts.append(product_card(t, m, lambda _, m=m: state.ask_apply(m), key=f"fin.product.{i}"))
        if result.not_fitting:
            lines: list[ft.Control] = [section(t("fin.not_fit_title"))]
            for i, m in enumerate(result.not_fitting):
                why = "；".join(t.pick(r.text_zh, r.text_en) for r in m.reasons if not r.code.endswith("_ok"))
                lines.append(ft.Column([
                    ft.Text(f"{m.product.name} · {m.product.bank_name}", size=14, weight=ft.FontWeight.W_500),
                    ft.Text(why or t.pick(m.reasons[0].text_zh, m.reasons[0].text_en) if m.reasons else "",
                            size=12, color=MUTED),
                ], spacing=2, tight=True, key=f"fin.unfit.{i}"))
            parts.append(card(*lines, key="fin.not_fit"))

    apps: list[ft.Control] = [section(t("fin.my_applications"))]
    if state.status in ("idle", "loading"):
        apps.append(ft.ProgressBar(key="fin.apps_loading"))
    elif not state.applications:
        apps.append(empty(t("fin.no_applications"), key="fin.no_applications"))
    for i, a in enumerate(state.applications):
        apps.append(ft.ListTile(
            key=f"fin.app.{i}", content_padding=0, on_click=lambda _, a=a: run(state.open_application(a.id)),
            title=ft.Text(f"{a.product_name} · {a.bank_name}", size=14),
            subtitle=ft.Text(f"{t('common.yuan', amount=t.money(a.amount_yuan))} · {t.date(a.created_at)}", size=12),
            trailing=status_chip(t, a.status)))
    parts.append(card(*apps, key="fin.applications"))
    return screen(*parts, key="screen.financing")
