"""Pull-to-refresh (issue 13, point 5): Flet 1.0 has no RefreshIndicator, so the screens read
Flet's scroll notifications; these are the notifications Flutter sends for each gesture."""

from __future__ import annotations

from types import SimpleNamespace

import flet as ft

from mobile_app.views.common import PULL_TO_REFRESH_PX, PullToRefresh, screen


def _event(kind: ft.ScrollType, *, pixels: float = 0.0, overscroll: float | None = None,
           delta: float | None = None) -> ft.OnScrollEvent:
    # The handler reads only these fields of ft.OnScrollEvent.
    return SimpleNamespace(event_type=kind, pixels=pixels, min_scroll_extent=0.0, max_scroll_extent=900.0,
                           overscroll=overscroll, scroll_delta=delta)  # type: ignore[return-value]


def _gesture(handler: PullToRefresh, *steps: ft.OnScrollEvent) -> None:
    handler(_event(ft.ScrollType.START))
    for step in steps:
        handler(step)
    handler(_event(ft.ScrollType.END))


def test_a_pull_past_the_top_reloads_once_when_the_finger_lifts() -> None:
    calls: list[int] = []
    pull = PullToRefresh(lambda: calls.append(1))
    pull(_event(ft.ScrollType.START))
    for _ in range(10):  # 10 × 10 px past the top
        pull(_event(ft.ScrollType.OVERSCROLL, overscroll=-10.0))
    assert calls == []  # not while still dragging
    pull(_event(ft.ScrollType.END))
    assert calls == [1]
    pull(_event(ft.ScrollType.END))  # a stray end does not reload again
    assert calls == [1]


def test_short_pulls_scrolls_and_the_bottom_edge_do_not_reload() -> None:
    calls: list[int] = []
    pull = PullToRefresh(lambda: calls.append(1))
    _gesture(pull, _event(ft.ScrollType.OVERSCROLL, overscroll=-(PULL_TO_REFRESH_PX - 1)))  # not far enough
    _gesture(pull, _event(ft.ScrollType.UPDATE, pixels=120.0, delta=-40.0),  # scrolling back up the list
             _event(ft.ScrollType.UPDATE, pixels=0.0, delta=-120.0))
    _gesture(pull, _event(ft.ScrollType.OVERSCROLL, pixels=900.0, overscroll=200.0))  # past the bottom
    # pulled down, then pushed back into the list before letting go: cancelled
    _gesture(pull, _event(ft.ScrollType.OVERSCROLL, overscroll=-100.0),
             _event(ft.ScrollType.UPDATE, pixels=30.0, delta=30.0))
    assert calls == []
    _gesture(pull, *[_event(ft.ScrollType.OVERSCROLL, overscroll=-20.0) for _ in range(4)])
    assert calls == [1]


def test_screens_with_a_reload_listen_to_scrolling() -> None:
    assert screen(ft.Text("a"), key="s").on_scroll is None
    calls: list[int] = []
    page = screen(ft.Text("a"), key="s", on_refresh=lambda: calls.append(1))
    assert isinstance(page.on_scroll, PullToRefresh)
    _gesture(page.on_scroll, _event(ft.ScrollType.OVERSCROLL, overscroll=-(PULL_TO_REFRESH_PX + 1)))
    assert calls == [1]
