"""The browser tests' fixtures (tests/e2e/app_kit.py): a demo per module, Chromium, pages."""

from tests.e2e.app_kit import browser, chromium, demo, phone

__all__ = ["browser", "chromium", "demo", "phone"]
