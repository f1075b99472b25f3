"""Building blocks shared by the screens: cards, section titles, loading / empty / error states."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from mobile_app.i18n import Translator
from mobile_app.state.base import Loadable

__all__ = [
    "BG", "FONT_FAMILY", "GRADE_COLORS", "choice_menu", "LEVEL_COLORS", "PRIMARY", "Run", "card", "empty", "error_banner",
    "OpenFirm", "PullToRefresh", "failure", "filter_chip", "grade_chip", "icon_button", "level_chip", "loading", "open_button", "pill", "screen", "section", "state_gate",
    "status_chip",
]

Run = Callable[[Awaitable[Any]], None]
OpenFirm = Callable[[str], None]  # opens the firm overview for a USCC
"""Starts an intent of a state (a coroutine) in the background; the app re-renders on change."""

# The app's CJK font (a bundled subset): the theme uses it, and so must text drawn on a canvas,
# which does not inherit the theme (Chinese would show as boxes).
FONT_FAMILY = "NotoSansSC"
PRIMARY = "#1F5FBF"
PRIMARY_DARK = "#174A96"
BG = "#F3F5F9"
MUTED = "#6B7280"
GRADE_COLORS = {"A": "#1B9E5A", "B": "#1F5FBF", "C": "#E08A00", "D": "#D93025"}
LEVEL_COLORS = {"red": "#D93025", "yellow": "#E0A800", "blue": "#1F6FD1"}
STATUS_COLORS = {"approved": "#1B9E5A", "corrected": "#1B9E5A", "repaid": "#1B9E5A",
                 "declined": "#D93025", "rejected": "#D93025", "defaulted": "#D93025"}


def card(*controls: ft.Control, key: str | None = None, padding: int = 16,
         bgcolor: str = ft.Colors.WHITE, spacing: int = 8) -> ft.Container:
    """A white rounded card, the app's basic surface."""
    return ft.Container(
        key=key, bgcolor=bgcolor, border_radius=14, padding=padding,
        shadow=ft.BoxShadow(blur_radius=8, color="#14000000", offset=ft.Offset(0, 2)),
        content=ft.Column(list(controls), spacing=spacing, tight=True,
                          horizontal_alignment=ft.CrossAxisAlignment.STRETCH),
    )


def section(title: str, *, key: str | None = None, trailing: ft.Control | None = None) -> ft.Row:
    bar = ft.Container(width=4, height=16, bgcolor=PRIMARY, border_radius=2)
    items: list[ft.Control] = [bar, ft.Text(title, size=16, weight=ft.FontWeight.W_600, expand=True)]
    if trailing is not None:
        items.append(trailing)
    return ft.Row(items, key=key, spacing=8, vertical_alignment=ft.CrossAxisAlignment.CENTER)


def pill(text: str, color: str, *, key: str | None = None, filled: bool = False) -> ft.Container:
    return ft.Container(
        key=key, padding=ft.Padding.symmetric(horizontal=8, vertical=2), border_radius=10,
        bgcolor=color if filled else ft.Colors.with_opacity(0.12, color),
        content=ft.Text(text, size=12, color=ft.Colors.WHITE if filled else color,
                        weight=ft.FontWeight.W_500),
    )


def grade_chip(t: Translator, grade: str | None, *, key: str | None = None) -> ft.Container:
    if not grade:
        return pill(t("firm.no_grade"), MUTED, key=key)
    return pill(t("firm.grade_badge", grade=grade), GRADE_COLORS.get(grade, MUTED), key=key, filled=True)


def level_chip(t: Translator, level: str, *, key: str | None = None) -> ft.Container:
    return pill(t(f"warning.{level}") if level in LEVEL_COLORS else level,
                LEVEL_COLORS.get(level, MUTED), key=key, filled=True)


def status_chip(t: Translator, status: str, *, key: str | None = None) -> ft.Container:
    return pill(t.status(status), STATUS_COLORS.get(status, "#E08A00"), key=key)


def loading(t: Translator, *, key: str = "state.loading") -> ft.Container:
    return ft.Container(
        key=key, padding=40, alignment=ft.Alignment.CENTER,
        content=ft.Column([ft.ProgressRing(width=32, height=32), ft.Text(t("common.loading"), color=MUTED)],
                          horizontal_alignment=ft.CrossAxisAlignment.CENTER, tight=True),
    )


def empty(text: str, *, key: str = "state.empty", icon: ft.IconData = ft.Icons.INBOX_OUTLINED,
          hint: str | None = None, action: tuple[str, Callable[[], None]] | None = None) -> ft.Container:
    """An empty list, saying why, and (``action``: label and handler) what to do next."""
    items: list[ft.Control] = [ft.Icon(icon, size=40, color="#B0B7C3"),
                               ft.Text(text, color=MUTED, text_align=ft.TextAlign.CENTER)]
    if hint:
        items.append(ft.Text(hint, size=12, color=MUTED, text_align=ft.TextAlign.CENTER))
    if action is not None:
        label, handler = action
        items.append(ft.FilledButton(label, key=f"{key}.action", on_click=lambda _: handler()))
    return ft.Container(key=key, padding=32, alignment=ft.Alignment.CENTER,
                        content=ft.Column(items, horizontal_alignment=ft.CrossAxisAlignment.CENTER,
                                          tight=True))


def _error_text(t: Translator, state: Loadable) -> str:
    if state.error_kind == "offline":
        return t("common.offline")
    if state.error_kind == "auth":
        return t("auth.session_ended")
    return t("common.error", detail=state.error or "")


def failure(t: Translator, state: Loadable, retry: Callable[[], None], *,
            key: str = "state.error") -> ft.Container:
    """A full-screen error with a retry button (the screen has nothing else to show)."""
    icon = ft.Icons.CLOUD_OFF if state.error_kind == "offline" else ft.Icons.ERROR_OUTLINE
    return ft.Container(
        key=key, padding=32, alignment=ft.Alignment.CENTER,
        content=ft.Column(
            [ft.Icon(icon, size=40, color="#D93025"),
             ft.Text(_error_text(t, state), text_align=ft.TextAlign.CENTER),
             ft.OutlinedButton(t("common.retry"), key=f"{key}.retry", on_click=lambda _: retry())],
            horizontal_alignment=ft.CrossAxisAlignment.CENTER, tight=True),
    )


def error_banner(t: Translator, state: Loadable, *, key: str = "state.action_error") -> ft.Control | None:
    """A failed action on a loaded screen, shown above its content."""
    if state.error is None and state.error_kind is None:
        return None
    return ft.Container(
        key=key, bgcolor="#FDECEA", border_radius=10, padding=10,
        content=ft.Row([ft.Icon(ft.Icons.ERROR_OUTLINE, color="#D93025", size=18),
                        ft.Text(_error_text(t, state), color="#B3261E", size=13, expand=True)]),
    )


def state_gate(t: Translator, state: Loadable, retry: Callable[[], None]) -> ft.Control | None:
    """The loading or error screen while there is nothing to show yet, else None."""
    if state.status in ("idle", "loading"):
        return loading(t)
    if state.status == "error":
        return failure(t, state, retry)
    return None


def icon_button(icon: ft.IconData, label: str, *, key: str, on_click: Callable[[Any], None],
                icon_color: str | None = None, **style: Any) -> ft.Control:
    """An icon-only button that says what it does: the icon's semantics label becomes the
    button's accessible name (read by screen readers; the browser tests find it by it), and the
    tooltip shows it on hover."""
    return ft.IconButton(icon=ft.Icon(icon, semantics_label=label, color=icon_color), key=key, tooltip=label,
                         on_click=on_click, **style)


def open_button(t: Translator, on_open: Callable[[], None], *, key: str) -> ft.Control:
    """The explicit way into a row's firm overview (the whole card is tappable too)."""
    return ft.TextButton(t("firm.open"), key=key, icon=ft.Icons.CHEVRON_RIGHT, on_click=lambda _: on_open())


PULL_TO_REFRESH_PX = 72.0  # how far past the top a list is pulled to reload it


class PullToRefresh:
    """Pull-to-refresh for a scrolling screen, from Flet's scroll notifications (Flet 1.0 has no
    RefreshIndicator): a drag that pulls the list down past its top by ``PULL_TO_REFRESH_PX``
    reloads it once, when the finger lifts. Scrolling that merely reaches the top does not.

    Flutter reports the pull as overscroll (negative: past the start) during a drag; a list
    shorter than the screen does not scroll at all, so short screens keep their refresh button."""

    def __init__(self, on_refresh: Callable[[], None], threshold: float = PULL_TO_REFRESH_PX) -> None:
        self.on_refresh, self.threshold = on_refresh, threshold
        self.pulled = 0.0

    def __call__(self, e: ft.OnScrollEvent) -> None:
        kind = e.event_type
        if kind == ft.ScrollType.START:
            self.pulled = 0.0
        elif kind == ft.ScrollType.OVERSCROLL and (e.overscroll or 0) < 0 and e.pixels <= e.min_scroll_extent:
            self.pulled -= e.overscroll or 0
        elif kind == ft.ScrollType.UPDATE and (e.scroll_delta or 0) > 0:
            self.pulled = 0.0  # pushed back down into the list: not a pull any more
        elif kind == ft.ScrollType.END:
            pulled, self.pulled = self.pulled, 0.0
            if pulled >= self.threshold:
                self.on_refresh()


def screen(*controls: ft.Control | None, key: str, on_refresh: Callable[[], None] | None = None) -> ft.Column:
    """A scrolling page of cards (``None`` entries are skipped); with ``on_refresh``, pulling it
    down past its top reloads it."""
    return ft.Column([c for c in controls if c is not None], key=key, spacing=12,
                     scroll=ft.ScrollMode.AUTO, expand=True,
                     horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                     on_scroll=PullToRefresh(on_refresh) if on_refresh is not None else None)


def filter_chip(label: str, *, selected: bool, key: str, on_select: Callable[[Any], None]) -> ft.Chip:
    """A filter as a chip, 44 px tall (a finger's target; Flutter's own is 32 on the web)."""
    return ft.Chip(label=ft.Text(label), selected=selected, key=key, on_select=on_select,
                   padding=ft.Padding.symmetric(horizontal=8, vertical=8),
                   label_padding=ft.Padding.symmetric(horizontal=4, vertical=6))


def choice_menu(key: str, label: str, value: str | None, options: list[tuple[str, str]],
              on_pick: Callable[[str | None], None]) -> ft.Control:
    """A filter as a menu button that reads "label: choice" (its accessible name too: Flutter's
    dropdown menu leaves its button unnamed for screen readers)."""
    chosen = dict(options).get(value or "", value or "")
    return ft.Container(
        expand=True, border=ft.Border.all(1, "#9AA4B2"), border_radius=10,
        content=ft.PopupMenuButton(
            key=key, tooltip=label, menu_position=ft.PopupMenuPosition.UNDER,
            content=ft.Container(ft.Row([  # padded inside the button: 44 px tall, a finger's target
                ft.Column([ft.Text(label, size=11, color=MUTED), ft.Text(chosen, size=14, max_lines=1,
                                                                          overflow=ft.TextOverflow.ELLIPSIS)],
                          spacing=0, tight=True, expand=True),
                ft.Icon(ft.Icons.ARROW_DROP_DOWN, color=MUTED),
            ], spacing=4), padding=ft.Padding.only(left=10, right=2, top=4, bottom=4)),
            items=[ft.PopupMenuItem(content=text, key=f"{key}.{k or 'all'}",
                                    icon=ft.Icons.CHECK if k == (value or "") else None,
                                    on_click=lambda _, k=k: on_pick(k or None))
                   for k, text in options],
        ))
