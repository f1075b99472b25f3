"""消息 Messages / 预警 Alerts: notifications, newest first, arriving live."""

from __future__ import annotations

from typing import Any

import flet as ft

from mobile_app.api.models import Notification
from mobile_app.i18n import Translator
from mobile_app.state.inbox import InboxState
from mobile_app.views.common import (
    LEVEL_COLORS,
    MUTED,
    OpenFirm,
    Run,
    card,
    empty,
    error_banner,
    filter_chip,
    level_chip,
    open_button,
    screen,
    state_gate,
)

__all__ = ["build", "notification_card"]


def _body_lines(t: Translator, body: dict[str, Any]) -> list[str]:
    """The readable parts of a notification's body: message and contagion path (with detail)."""
    lines: list[str] = []
    message = t.pick(body.get("message_zh"), body.get("message_en")) or body.get("text") or ""
    if message:
        lines.append(str(message))
    evidence = body.get("evidence")
    names = evidence.get("path_names") if isinstance(evidence, dict) else None
    if isinstance(names, list) and names:
        lines.append(t("warning.path", path=" → ".join(str(n) for n in names)))
    items = body.get("items")
    if isinstance(items, list):  # a daily digest
        lines += [str(t.pick(i.get("title_zh") or i.get("title"), i.get("title_en"))) for i in items[:5]
                  if isinstance(i, dict)]
    return lines


def notification_card(t: Translator, n: Notification, run: Run, state: InboxState, *, key: str,
                      open_firm: OpenFirm | None = None) -> ft.Control:
    color = LEVEL_COLORS.get(n.level, MUTED)
    head = ft.Row([
        level_chip(t, n.level) if n.level in LEVEL_COLORS else ft.Container(),
        ft.Text(t.datetime(n.updated_at or n.created_at), size=11, color=MUTED, expand=True,
                text_align=ft.TextAlign.RIGHT),
    ])
    title = t.pick(n.title_zh, n.title_en)
    items: list[ft.Control] = [head, ft.Text(title, size=15, weight=ft.FontWeight.W_600 if n.unread else None)]
    if n.firm_name:
        grade = n.body.get("grade")
        items.append(ft.Text(n.firm_name + (f" · {t('firm.grade_badge', grade=grade)}" if grade else ""),
                             size=13, color="#374151"))
    items += [ft.Text(line, size=12, color=MUTED) for line in _body_lines(t, n.body)]
    actions: list[ft.Control] = []
    if open_firm is not None and n.firm_uscc:
        actions.append(open_button(t, lambda u=n.firm_uscc: open_firm(u), key=f"{key}.open"))
    if n.unread:
        actions.append(ft.TextButton(t("msg.mark_read"), key=f"{key}.read",
                                     on_click=lambda _, i=n.id: run(state.mark_read(i))))
    if actions:
        items.append(ft.Row(actions, alignment=ft.MainAxisAlignment.END, spacing=4))
    box = card(*items, key=key, spacing=4)
    if n.unread:  # a coloured edge marks unread (a one-sided border cannot have round corners)
        box.border, box.border_radius = ft.Border.only(left=ft.BorderSide(4, color)), None
    return box


def build(state: InboxState, t: Translator, run: Run, *, alerts: bool = False,
          open_firm: OpenFirm | None = None) -> ft.Control:
    prefix = "alerts" if alerts else "msg"
    if not state.items:
        gate = state_gate(t, state, lambda: run(state.load()))
        if gate is not None:
            return gate
    status = ft.Row([
        ft.Icon(ft.Icons.CIRCLE, size=10, color="#1B9E5A" if state.connected else "#B0B7C3"),
        ft.Text(t("msg.live") if state.connected else t("common.offline"), size=12, color=MUTED, expand=True),
        ft.Text(t("msg.unread", n=state.unread), size=12, color=MUTED, key=f"{prefix}.unread"),
    ], key=f"{prefix}.connection")
    filters = None
    if alerts:
        filters = ft.Row([
            filter_chip(t("common.all"), selected=state.level is None, key="alerts.filter.all",
                        on_select=lambda _: state.filter(None)),
            *[filter_chip(t(f"warning.{lv}"), selected=state.level == lv, key=f"alerts.filter.{lv}",
                          on_select=lambda _, lv=lv: state.filter(None if state.level == lv else lv))
              for lv in ("red", "yellow", "blue")],
        ], wrap=True, spacing=6)
    shown = state.shown
    body: list[ft.Control] = ([notification_card(t, n, run, state, key=f"{prefix}.item.{i}", open_firm=open_firm)
                               for i, n in enumerate(shown)]
                              or [card(empty(t("bank.no_alerts") if alerts else t("msg.none"),
                                             key=f"{prefix}.empty", icon=ft.Icons.NOTIFICATIONS_NONE))])
    return screen(status, error_banner(t, state) if state.status == "ready" else None, filters, *body,
                  key="screen.alerts" if alerts else "screen.messages", on_refresh=lambda: run(state.load()))
