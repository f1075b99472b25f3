"""Sign in / register, with the language switch."""

from __future__ import annotations

import flet as ft

from mobile_app.state.session import SessionState
from mobile_app.views.common import MUTED, PRIMARY, PRIMARY_DARK, Run, card, icon_button

__all__ = ["build", "language_switch"]


def language_switch(session: SessionState, run: Run, *, key: str = "lang.switch") -> ft.SegmentedButton:
    t = session.t
    return ft.SegmentedButton(
        key=key, selected=[session.lang], show_selected_icon=False,
        segments=[ft.Segment(value="zh", label=ft.Text(t("lang.zh"))),
                  ft.Segment(value="en", label=ft.Text(t("lang.en")))],
        on_change=lambda e: run(session.set_lang(e.control.selected[0])) if e.control.selected else None,
    )


def build(session: SessionState, run: Run) -> ft.Control:
    t, form = session.t, session.form
    registering = session.mode == "register"

    def field(name: str, label: str, **kwargs: object) -> ft.TextField:
        def changed(e: ft.Event[ft.TextField]) -> None:
            form[name] = e.control.value or ""

        return ft.TextField(key=f"login.{name}", label=label, value=form.get(name, ""),
                            on_change=changed, border_radius=10, **kwargs)  # type: ignore[arg-type]

    confirming = registering and session.code_sent_to is not None
    shown = form.get("show_password") == "1"

    def reveal() -> None:  # the eye button: our own, so it has a name (Flet's reveal icon has none)
        form["show_password"] = "" if shown else "1"
        session.notify()

    def submit(_: object = None) -> None:
        if confirming:
            run(session.confirm_code(form.get("code", "")))
        elif registering:
            run(session.register(form.get("phone", ""), form.get("password", ""),
                                 form.get("role", "owner"), form.get("display_name", "")))
        else:
            run(session.sign_in(form.get("phone", ""), form.get("password", "")))

    fields: list[ft.Control]
    if confirming:  # registration, step 2: the code sent to the phone
        fields = [ft.Text(t("auth.code_sent", phone=session.code_sent_to), key="login.code_sent"),
                  field("code", t("auth.code"), keyboard_type=ft.KeyboardType.NUMBER, max_length=6,
                        prefix_icon=ft.Icons.SMS_OUTLINED, on_submit=submit)]
    else:
        fields = [
            field("phone", t("auth.phone"), keyboard_type=ft.KeyboardType.PHONE,
                  prefix_icon=ft.Icons.PHONE_IPHONE),
            field("password", t("auth.password"), password=not shown, prefix_icon=ft.Icons.LOCK_OUTLINE,
                  on_submit=submit, suffix_icon=icon_button(
                      ft.Icons.VISIBILITY_OFF if shown else ft.Icons.VISIBILITY,
                      t("auth.hide_password") if shown else t("auth.show_password"), key="login.reveal",
                      on_click=lambda _: reveal())),
        ]
    if registering and not confirming:
        fields.append(field("display_name", t("auth.display_name"), prefix_icon=ft.Icons.PERSON_OUTLINE))
        fields.append(ft.SegmentedButton(
            key="login.role", selected=[form.get("role", "owner")], show_selected_icon=False,
            segments=[ft.Segment(value="owner", label=ft.Text(t("auth.role.owner"))),
                      ft.Segment(value="subscriber", label=ft.Text(t("auth.role.subscriber")))],
            on_change=lambda e: form.__setitem__("role", e.control.selected[0]),
        ))
    if session.error:
        fields.append(ft.Text(t(session.error), key="login.error", color="#B3261E", size=13))
    title = t("auth.register") if registering else t("auth.sign_in")
    label = t("auth.confirm") if confirming else title
    fields.append(ft.FilledButton(
        content=ft.ProgressRing(width=18, height=18, color=ft.Colors.WHITE) if session.busy else label,
        key="login.submit", disabled=session.busy, on_click=submit, height=46,
        style=ft.ButtonStyle(bgcolor=PRIMARY, shape=ft.RoundedRectangleBorder(radius=10)),
    ))
    fields.append(ft.TextButton(t("auth.have_account") if registering else t("auth.no_account"),
                                key="login.toggle", on_click=lambda _: session.toggle_mode()))

    header = ft.Container(
        gradient=ft.LinearGradient(begin=ft.Alignment.TOP_LEFT, end=ft.Alignment.BOTTOM_RIGHT,
                                   colors=[PRIMARY, PRIMARY_DARK]),
        padding=ft.Padding.only(left=24, right=24, top=48, bottom=28),
        content=ft.Column([
            ft.Row([ft.Icon(ft.Icons.VERIFIED_USER, color=ft.Colors.WHITE, size=36),
                    ft.Text(t("app.name"), size=32, weight=ft.FontWeight.BOLD, color=ft.Colors.WHITE)]),
            ft.Text(t("app.tagline"), color="#DCE6F7", size=14),
        ], tight=True),
    )
    body = ft.Container(
        padding=ft.Padding.only(left=16, right=16, top=16, bottom=16),
        content=ft.Column([
            card(ft.Text(title, size=20, weight=ft.FontWeight.W_600), *fields, padding=20, spacing=14),
            ft.Row([ft.Text(t("lang.switch"), color=MUTED), language_switch(session, run)],
                   alignment=ft.MainAxisAlignment.CENTER),
        ], spacing=16, horizontal_alignment=ft.CrossAxisAlignment.STRETCH),
    )
    return ft.Column([header, body], key="screen.login", spacing=0, scroll=ft.ScrollMode.AUTO, expand=True,
                     horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
