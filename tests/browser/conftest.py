"""Browser tests: Debian's Chromium driven by Playwright against the live server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# The fake Webex server, for journeys that create meetings on it.
from tests.conferences.fake_webex import fake_webex, webex_openapi  # noqa: F401

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="Europe/Lisbon")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
