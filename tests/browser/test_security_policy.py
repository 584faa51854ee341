"""Each kind of page under its Content-Security-Policy in Chromium: no `securitypolicyviolation`, and still working."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.console import sign_in
from tests.integration.served import Served

pytestmark = pytest.mark.browser

# Recorded before any page script runs (Playwright's init scripts are not subject to the page's policy).
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # ReDoc's "API docs by Redocly" badge: refused, as meant
CONSOLE_PAGES = ["/", "/broadcasts", "/broadcasts/new", "/recordings", "/rooms", "/rules", "/egresses", "/settings"]


class Tab:
    """A Chromium tab that records policy violations (events and console lines)."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.add_init_script(WATCH)
        self.refused: list[str] = []
        self.page.on("console", lambda m: self.refused.append(m.text) if "Content Security Policy" in m.text else None)

    def visit(self, url: str, ready: str) -> list[str]:
        self.refused.clear()
        self.page.goto(url)
        self.page.wait_for_selector(ready, state="attached", timeout=15_000)
        self.page.wait_for_timeout(300)
        violations: list[str] = self.page.evaluate("window.__violations")
        return [v for v in violations + self.refused if REDOC_BADGE not in v]


@pytest.fixture
def tab(browser: Any) -> Any:
    tab = Tab(browser)
    yield tab
    tab.context.close()


@pytest.mark.parametrize(("path", "ready"), [
    ("/docs", ".opblock"),  # Swagger UI ran: its inline script is allowed by hash
    ("/redoc", "h1"),  # ReDoc ran
    ("/layouts/", "iframe"),
    ("/layouts/gallery/preview?participants=4", "#stage .tiles > *"),
    ("/sign-in", "form"),
])
def test_page_runs_without_policy_violations(tab: Tab, console: Served, path: str, ready: str) -> None:
    assert tab.visit(f"{console.url}{path}", ready) == []


def test_console_pages_run_without_policy_violations(tab: Tab, console: Served) -> None:
    sign_in(tab.page, console.url, "admin")
    problems = {path: found for path in CONSOLE_PAGES if (found := tab.visit(f"{console.url}{path}", "main h1"))}
    assert problems == {}
