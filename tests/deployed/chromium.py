"""Chromium for the deployed tier, in a thread of its own.

Playwright's sync API allows one running instance per thread, and the browser tier
(tests/browser/conftest.py) keeps its session-wide one in the main thread until the
session ends. So this tier starts Playwright in a dedicated thread and runs each of its
test functions there too (see pytest_pyfunc_call in conftest.py): every Playwright object
is then used only by the thread that made it, whatever ran before.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from tests.browser.conftest import CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

T = TypeVar("T")


class ChromiumThread:
    def __init__(self, executable_path: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deployed-chromium")
        self._playwright: Playwright | None = None
        self.browser: Browser = self.run(self._launch, executable_path)

    def _launch(self, executable_path: str) -> Browser:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        return self._playwright.chromium.launch(
            executable_path=executable_path, headless=True, args=CHROMIUM_ARGS
        )

    def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `function` in the Chromium thread and return (or raise) what it did."""
        return self._executor.submit(function, *args, **kwargs).result()

    def stop(self) -> None:
        def close() -> None:
            self.browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self.run(close)
        finally:
            self._executor.shutdown(wait=True)
