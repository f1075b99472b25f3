"""申请 Applications: the bank's queue → the applicant's evaluation → approve or decline."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import Application
from mobile_app.i18n import Translator
from mobile_app.state.bank import QueueState
from mobile_app.views.common import (
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    error_banner,
    grade_chip,
    icon_button,
    screen,
    section,
    state_gate,
    status_chip,
)
from mobile_app.views.credit import grade_card, radar
from mobile_app.views.financing import timeline
from mobile_app.views.firm import facts, warnings_card
from mobile_app.views.ties import ties_card

__all__ = ["build"]


def _decision(state: QueueState, t: Translator, run: Run) -> ft.Control:
    d = state.draft

    def setter(name: str):  # noqa: ANN202
        return lambda e: d.__setitem__(name, e.control.value or "")

    items: list[ft.Control] = [
        ft.Row([
            ft.TextField(key="queue.amount", label=t("bank.amount"), value=d.get("amount", ""), expand=3,
                         keyboard_type=ft.KeyboardType.NUMBER, on_change=setter("amount"), border_radius=10),
            ft.TextField(key="queue.term", label=t("bank.term"), value=d.get("term", ""), expand=2,
                         keyboard_type=ft.KeyboardType.NUMBER, on_change=setter("term"), border_radius=10),
        ], spacing=8),
        ft.TextField(key="queue.rate", label=t("bank.rate"), value=d.get("rate", ""), hint_text="4.35",
                     keyboard_type=ft.KeyboardType.NUMBER, on_change=setter("rate"), border_radius=10),
        ft.FilledButton(t("bank.approve"), key="queue.approve", icon=ft.Icons.CHECK, disabled=state.deciding,
                        style=ft.ButtonStyle(bgcolor="#1B9E5A"),
                        on_click=lambda _: run(state.approve(d.get("amount", ""), d.get("rate", ""),
                                                             d.get("term", "")))),
        ft.Divider(height=8),
        ft.TextField(key="queue.reason", label=t("bank.reason"), value=d.get("reason", ""),
                     on_change=setter("reason"), border_radius=10),
        ft.OutlinedButton(t("bank.decline"), key="queue.decline", icon=ft.Icons.CLOSE, disabled=state.deciding,
                          on_click=lambda _: run(state.decline(d.get("reason", "")))),
    ]
    if state.invalid:
        items.insert(0, ft.Text(t(state.invalid), color="#B3261E", size=12, key="queue.invalid"))
    return card(*items, key="queue.decision", spacing=10)


def _exposure(t: Translator, app: Application) -> ft.Control | None:
    x = app.exposure
    if x is None:
        return None

    def money(yuan: int) -> str:
        return t("common.yuan", amount=t.money(yuan))

    debt = (t("bank.exposure.bank_debt_value", amount=money(x.bank_debt_yuan), month=x.bank_debt_month[:7])
            if x.bank_debt_month else t("bank.exposure.none_reported"))
    rows = [
        ("bank.exposure.bank_debt", debt, "bank_debt", None),
        ("bank.exposure.overdue", t("bank.exposure.days", n=x.bank_days_overdue), "overdue",
         "#D93025" if x.bank_days_overdue else None),
        ("bank.exposure.outstanding", t("bank.exposure.loans", n=x.loans_outstanding, amount=money(x.outstanding_yuan)),
         "outstanding", None),
        ("bank.exposure.this_bank", money(x.with_this_bank_yuan), "this_bank", None),
        ("bank.exposure.cover", money(x.fund_cover_yuan), "cover", None),
        ("bank.exposure.defaulted", t("bank.exposure.defaulted_n", n=x.defaulted_loans), "defaulted",
         "#D93025" if x.defaulted_loans else None),
        ("bank.exposure.given", t("bank.exposure.loans", n=x.guarantees_given, amount=money(x.guarantees_given_yuan)),
         "given", "#B26A00" if x.guarantees_given else None),
        ("bank.exposure.received",
         t("bank.exposure.loans", n=x.guarantees_received, amount=money(x.guarantees_received_yuan)), "received", None),
    ]
    return card(section(t("bank.exposure")), *[
        ft.Row([ft.Text(t(label), size=13, color=MUTED, expand=True),
                ft.Text(value, size=13, color=color, weight=ft.FontWeight.W_600 if color else None,
                        key=f"queue.exposure.{name}")])
        for label, value, name, color in rows], key="queue.exposure", spacing=6)


def _history(t: Translator, app: Application) -> ft.Control | None:
    if app.history is None:
        return None
    rows: list[ft.Control] = [section(t("bank.history"))]
    if not app.history:
        rows.append(ft.Text(t("bank.no_history"), size=13, color=MUTED, key="queue.history.none"))
    for i, h in enumerate(app.history[:10]):
        amount = h.approved_amount_yuan if h.approved_amount_yuan is not None else h.amount_yuan
        rows.append(ft.Row([
            ft.Column([ft.Text(t("bank.history_item", bank=h.bank_name, product=h.product_name), size=13,
                               max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
                       ft.Text(f"{t.date(h.created_at)} · {t('common.yuan', amount=t.money(amount))} · "
                               f"{t('common.months', n=h.term_months)}", size=12, color=MUTED)],
                      spacing=0, tight=True, expand=True),
            status_chip(t, h.status)], key=f"queue.history.{i}"))
    return card(*rows, key="queue.history", spacing=6)


def _detail(state: QueueState, t: Translator, run: Run) -> ft.Control:
    app = state.detail
    assert app is not None
    parts: list[ft.Control | None] = [
        ft.Row([icon_button(ft.Icons.ARROW_BACK, t("common.back"), key="queue.back", on_click=lambda _: state.close()),
                ft.Text(app.firm_name, size=16, weight=ft.FontWeight.W_600, expand=True,
                        max_lines=1, overflow=ft.TextOverflow.ELLIPSIS)]),
        error_banner(t, state),
        timeline(t, app),
        warnings_card(t, state.warnings, key="queue.warnings") if state.warnings is not None else None,
        _exposure(t, app),
        ties_card(t, state.ties, key="queue.ties") if state.ties is not None else None,
    ]
    if app.evaluation is not None:
        ev = app.evaluation
        rows = [(d, float(ev.dimensions.get(d, 0.0)),
                 float(ev.industry.dimensions[d]) if ev.industry and d in ev.industry.dimensions else None)
                for d in ("capital", "operation", "profitability", "solvency", "development", "integrity")]
        parts += [section(t("bank.evaluation")), grade_card(t, ev), radar(t, rows)]
        reasons = [ft.Text(f"• {t.pick(r.text_zh, r.text_en)} ({r.points:+.0f})", size=13)
                   for r in sorted(ev.reasons, key=lambda r: r.points)[:5]]
        if reasons:
            parts.append(card(section(t("credit.reasons")), *reasons, key="queue.reasons"))
    else:
        parts.append(card(ft.Text(t("bank.no_evaluation", note=app.evaluation_note or ""), color=MUTED),
                          key="queue.no_evaluation"))
    parts.append(_history(t, app))
    if state.profile is not None:
        parts.append(facts(t, state.profile, key="queue.firm"))
    if app.status == "pending":
        parts.append(_decision(state, t, run))
    return screen(*parts, key="screen.queue.detail")


def build(state: QueueState, t: Translator, run: Run) -> ft.Control:
    if state.detail is not None:
        return _detail(state, t, run)
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return gate
    rows: list[ft.Control | None] = [
        section(t("bank.queue"), trailing=icon_button(ft.Icons.REFRESH, t("common.refresh"), key="queue.refresh",
                                                      on_click=lambda _: run(state.load()))),
        error_banner(t, state)]
    if not state.items:
        rows.append(card(empty(t("bank.no_queue"), key="queue.empty")))
    for i, a in enumerate(state.items):
        rows.append(card(
            ft.Row([ft.Text(a.firm_name, size=15, weight=ft.FontWeight.W_600, expand=True,
                            max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
                    grade_chip(t, a.grade_at_apply)]),
            ft.Text(f"{a.product_name} · {t('common.yuan', amount=t.money(a.amount_yuan))} · "
                    f"{t('common.months', n=a.term_months)}", size=13, color=MUTED),
            ft.Row([ft.Text(t.datetime(a.created_at), size=12, color=MUTED, expand=True),
                    status_chip(t, a.status),
                    ft.FilledButton(t("common.details"), key=f"queue.item.{i}.open",
                                    style=ft.ButtonStyle(bgcolor=PRIMARY),
                                    on_click=lambda _, aid=a.id: run(state.open(aid)))]),
            key=f"queue.item.{i}"))
    return screen(*rows, key="screen.queue", on_refresh=lambda: run(state.load()))
