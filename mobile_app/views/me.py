"""我的 Me: consents, who viewed the evaluation, objections, linking the firm, settings."""

from __future__ import annotations

from collections.abc import Callable

import flet as ft

from mobile_app.api.models import Record
from mobile_app.i18n import Translator
from mobile_app.state.me import MeState
from mobile_app.state.session import SessionState
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
    state_gate,
    status_chip,
)
from mobile_app.views.login import language_switch

__all__ = ["build", "build_settings", "record_line"]


def build_settings(session: SessionState, t: Translator, run: Run) -> ft.Control:
    """Account, language and sign-out (every role has this card)."""
    return screen(settings_card(session, t, run), key="screen.settings")


def settings_card(session: SessionState, t: Translator, run: Run) -> ft.Control:
    who = session.me
    return card(
        section(t("me.settings")),
        ft.Row([ft.CircleAvatar(content=ft.Icon(ft.Icons.PERSON), bgcolor="#DCE6F7", color=PRIMARY),
                ft.Text(t("me.account", name=who.display_name if who else "", phone=who.phone if who else ""),
                        size=14, expand=True)], key="me.account"),
        ft.Row([ft.Text(t("lang.switch"), expand=True), language_switch(session, run, key="me.lang")]),
        ft.OutlinedButton(t("auth.sign_out"), key="me.sign_out", icon=ft.Icons.LOGOUT,
                          on_click=lambda _: run(session.sign_out())),
        key="me.settings",
    )


def record_line(t: Translator, r: Record) -> str:
    """A department record in one line: source, date and its main figures."""
    parts = [t.pick(r.source_name_zh, r.source_name_en), r.event_date]
    if r.category:
        parts.append(r.category)
    if r.amount_fen is not None:
        parts.append(t("common.yuan", amount=t.money(r.amount_fen / 100)))
    if r.arrears_fen:
        parts.append(t("common.yuan", amount=t.money(r.arrears_fen / 100)))
    if r.days is not None:
        parts.append(f"{r.days}d")
    if r.status:
        parts.append(r.status)
    return " · ".join(parts)


def _claim(state: MeState, t: Translator, run: Run, on_linked: Callable[[str], None]) -> ft.Control:
    form = state.draft
    form.setdefault("uscc", state.claim_uscc)

    async def verify() -> None:
        uscc = await state.verify_claim(form.get("code", ""))
        if uscc:
            on_linked(uscc)

    items: list[ft.Control] = [
        section(t("me.claim")),
        ft.TextField(key="me.claim.uscc", label=t("me.claim_uscc"), value=form.get("uscc", ""), border_radius=10,
                     on_change=lambda e: form.__setitem__("uscc", e.control.value or "")),
        ft.FilledButton(t("me.claim_send"), key="me.claim.send", on_click=lambda _: run(state.send_claim(form.get("uscc", "")))),
    ]
    if state.claim_sent:
        items += [
            ft.Text(t("me.claim_sent"), size=12, color=MUTED),
            ft.TextField(key="me.claim.code", label=t("me.claim_code"), border_radius=10,
                         value=form.get("code", ""),
                         on_change=lambda e: form.__setitem__("code", e.control.value or "")),
            ft.FilledButton(t("me.claim_verify"), key="me.claim.verify", on_click=lambda _: run(verify())),
        ]
    return card(*items, key="me.claim")


def _objection_form(state: MeState, t: Translator, run: Run) -> ft.Control:
    record = state.objecting
    assert record is not None
    form = state.draft
    items: list[ft.Control] = [
        section(t("me.file_objection")),
        ft.Text(record_line(t, record), size=13, key="me.objection.record"),
        ft.TextField(key="me.objection.reason", label=t("me.objection_reason"), multiline=True, min_lines=2,
                     value=form.get("reason", ""),
                     border_radius=10, on_change=lambda e: form.__setitem__("reason", e.control.value or "")),
    ]
    if state.invalid:
        items.append(ft.Text(t(state.invalid), color="#B3261E", size=12, key="me.objection.invalid"))
    items.append(ft.Row([
        ft.TextButton(t("common.cancel"), key="me.objection.cancel", on_click=lambda _: state.cancel_objection()),
        ft.FilledButton(t("common.confirm"), key="me.objection.submit",
                        on_click=lambda _: run(state.file_objection(form.get("reason", "")))),
    ], alignment=ft.MainAxisAlignment.END))
    return card(*items, key="me.objection_form")


def _records(state: MeState, t: Translator, run: Run) -> ft.Control:
    rows: list[ft.Control] = [ft.Row([
        icon_button(ft.Icons.ARROW_BACK, t("common.back"), key="me.records.back", on_click=lambda _: state.close_records()),
        ft.Text(t("me.records"), size=16, weight=ft.FontWeight.W_600, expand=True),
        ft.Text(str(state.records_total), color=MUTED)])]
    for i, r in enumerate(state.records or []):
        rows.append(ft.ListTile(
            key=f"me.record.{i}", content_padding=0, dense=True,
            title=ft.Text(record_line(t, r), size=13),
            subtitle=ft.Text(t.pick(r.department_name_zh, r.department_name_en), size=11, color=MUTED),
            trailing=pill(t("status.open"), "#E08A00") if r.has_open_objection else ft.Icon(ft.Icons.CHEVRON_RIGHT),
            disabled=r.has_open_objection, on_click=lambda _, r=r: state.start_objection(r)))
    if state.more_records:
        rows.append(ft.OutlinedButton(
            t("me.more_records", n=len(state.records or []), total=state.records_total), key="me.records.more",
            icon=ft.Icons.EXPAND_MORE, on_click=lambda _: run(state.next_records())))
    return card(*rows, key="me.records", spacing=2)


def _value(v: object) -> str:
    return "—" if v is None or v == "" else str(v)


def _trail(state: MeState, t: Translator) -> ft.Control:
    """An objection's record and its steps, oldest first, with what changed."""
    d = state.trail
    assert d is not None
    o = d.objection
    steps: list[ft.Control] = []
    for i, ev in enumerate(d.trail):
        last = i == len(d.trail) - 1
        lines: list[ft.Control] = [
            ft.Text(t.pick(ev.text_zh, ev.text_en), size=14, weight=ft.FontWeight.W_600 if last else None),
            ft.Text(t.datetime(ev.at) + (f" · {ev.by_name}" if ev.by_name else ""), size=12, color=MUTED)]
        if ev.reason:
            lines.append(ft.Text(ev.reason, size=12, color="#374151"))
        for name, new in (ev.new_values or {}).items():
            old = (ev.old_values or {}).get(name)
            label = t(f"field.{name}") if f"field.{name}" in t else name
            lines.append(ft.Text(f"{label}: {_value(old)} → {_value(new)}", size=12, color="#1B9E5A"))
        steps.append(ft.Row([
            ft.Column([
                ft.Container(width=12, height=12, border_radius=6, bgcolor=PRIMARY if last else "#A7B4C8"),
                ft.Container(width=2, height=30, bgcolor="#DDE3EC", visible=not last),
            ], spacing=2, horizontal_alignment=ft.CrossAxisAlignment.CENTER, tight=True),
            ft.Column(lines, spacing=0, tight=True, expand=True),
        ], vertical_alignment=ft.CrossAxisAlignment.START, key=f"me.trail.{i}"))
    items: list[ft.Control] = [
        ft.Row([icon_button(ft.Icons.ARROW_BACK, t("common.back"), key="me.trail.back",
                            on_click=lambda _: state.close_objection()),
                ft.Text(t("me.objection_trail"), size=16, weight=ft.FontWeight.W_600, expand=True),
                status_chip(t, o.status, key="me.trail.status")]),
        ft.Text(record_line(t, d.record), size=13, key="me.trail.record"),
        ft.Text(t("me.objection_said", reason=o.reason), size=12, color=MUTED),
        ft.Divider(height=8),
        *steps,
    ]
    if d.corrected_record is not None:
        items += [ft.Divider(height=8),
                  ft.Text(t("me.corrected_record", line=record_line(t, d.corrected_record)), size=13,
                          color="#1B9E5A", key="me.trail.corrected")]
    return card(*items, key="me.trail", spacing=6)


def build(state: MeState, session: SessionState, t: Translator, run: Run, *,
          on_linked: Callable[[str], None]) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return gate
    banner = error_banner(t, state)
    if state.objecting is not None:
        return screen(banner, _objection_form(state, t, run), key="screen.me.objection")
    if state.trail is not None:
        return screen(banner, _trail(state, t), key="screen.me.trail")
    if state.records is not None:
        return screen(banner, _records(state, t, run), key="screen.me.records")
    if not state.uscc:
        return screen(banner, _claim(state, t, run, on_linked), settings_card(session, t, run), key="screen.me")

    consents: list[ft.Control] = [section(t("me.consents"))]
    if not state.consents:
        consents.append(ft.Text(t("me.no_consents"), color=MUTED, key="me.no_consents"))
    for i, c in enumerate(state.consents):
        consents.append(ft.Row([
            ft.Column([ft.Text(c.bank_name, size=14),
                       ft.Text(t("me.consent_active", date=t.date(c.expires_at)) if c.active
                               else t("me.consent_inactive"), size=12, color=MUTED)],
                      spacing=0, tight=True, expand=True),
            ft.OutlinedButton(t("me.revoke"), key=f"me.consent.{i}.revoke",
                              on_click=lambda _, cid=c.id: run(state.revoke(cid))) if c.active
            else pill(t("me.consent_inactive"), MUTED),
        ], key=f"me.consent.{i}"))

    viewers: list[ft.Control] = [section(t("me.access_log"))]
    if not state.access_log:
        viewers.append(ft.Text(t("me.no_access"), color=MUTED, key="me.no_access"))
    for i, a in enumerate(state.access_log[:20]):
        who = a.bank_name or a.viewer_role
        viewers.append(ft.Row([
            ft.Icon(ft.Icons.VISIBILITY_OUTLINED, size=16, color=MUTED),
            ft.Text(t("me.viewer", who=who, what=t(f"access.{a.what}") if f"access.{a.what}" in t else a.what),
                    size=13, expand=True),
            ft.Text(t.datetime(a.at), size=11, color=MUTED)], key=f"me.access.{i}"))

    objections: list[ft.Control] = [section(t("me.objections"), trailing=ft.TextButton(
        t("me.file_objection"), key="me.objection.new", icon=ft.Icons.ADD, on_click=lambda _: run(state.open_records())))]
    if state.notice:
        objections.append(ft.Text(t(state.notice), color="#1B9E5A", size=13, key="me.notice"))
    if not state.objections:
        objections.append(empty(t("me.no_objections"), key="me.no_objections", icon=ft.Icons.GAVEL))
    for i, o in enumerate(state.objections):
        objections.append(ft.Container(key=f"me.objection.{i}", on_click=lambda _, oid=o.id: run(state.open_objection(oid)),
                                       content=ft.Row([
            ft.Column([ft.Text(t.pick(o.source_name_zh or o.source, o.source_name_en or o.source), size=14),
                       ft.Text(o.reason, size=12, color=MUTED, max_lines=2, overflow=ft.TextOverflow.ELLIPSIS),
                       *([ft.Text(o.resolution, size=12, color="#374151")] if o.resolution else [])],
                      spacing=0, tight=True, expand=True),
            status_chip(t, o.status),
            icon_button(ft.Icons.CHEVRON_RIGHT, t("me.objection_trail"), key=f"me.objection.{i}.open",
                        on_click=lambda _, oid=o.id: run(state.open_objection(oid)))])))

    return screen(banner, card(*consents, key="me.consents"), card(*viewers, key="me.access_log"),
                  card(*objections, key="me.objections"), settings_card(session, t, run), key="screen.me",
                  on_refresh=lambda: run(state.load()))
