"""Issue 18 in real Chromium, on a 390 px phone: what changed for the bank and the owner
(tests/e2e/app_kit.py: the demo and the browser)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.app_kit import (
    Browser,
    Demo,
    issue_18_screens,
)


@pytest.mark.slow
def test_what_changed_at_390px(demo: Demo, phone: Browser) -> None:
    """Issue 18 must-show 3, on a 390 px phone in Chinese and English: the bank's decision screen
    with warnings, purpose and exposure; a warning raised then cleared as two entries; the
    owner's records paged to the last one, and an objection's trail; a firm opened from the
    watchlist. Screenshots in tests/e2e/screens/18_*.png."""
    t0 = time.monotonic()
    issue_18_screens(demo, phone)
    print(f"issue 18 screens took {time.monotonic() - t0:.1f} s")
