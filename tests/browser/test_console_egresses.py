"""The Egresses pages in Chromium against `orchestrator serve` on embedded defaults: search, an egress's history,
a producer stopping one with the keyboard and the confirmation, a viewer with no stop button."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.console import sign_in
from tests.integration.served import Served

STREAM_KEY = "browser-key-0123456789"


@pytest.fixture
def page_as(browser: Any, console: Served) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(name: str, width: int = 1440) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(context)
        page = context.new_page()
        sign_in(page, console.url, name)
        return page

    yield open_page
    for context in contexts:
        context.close()


def start_egress(console: Served, outputs: list[dict[str, str]]) -> str:
    with httpx.Client(base_url=console.url, headers={"Authorization": f"Bearer {console.token}"}, timeout=30) as http:
        made = http.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo", "outputs": outputs})
        assert made.status_code == 201, made.text
        egress_id: str = made.json()["id"]
        deadline = time.monotonic() + 20
        while http.get(f"/v1/egresses/{egress_id}").json()["status"] == "starting":
            assert time.monotonic() < deadline, "the egress never left starting"
            time.sleep(0.1)
    return egress_id


def shoot(page: Any, artifacts_dir: Path, name: str) -> None:
    """The page at 1440 and at 375 px wide (full length), then back to 1440."""
    for width in (1440, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=artifacts_dir / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def test_a_producer_finds_an_egress_and_stops_it_with_the_keyboard(page_as: Any, console: Served,
                                                                  artifacts_dir: Path) -> None:
    egress_id = start_egress(console, [{"type": "file"}, {"type": "rtmp",
                                                          "url": f"rtmp://127.0.0.1:1935/live/{STREAM_KEY}"}])
    page = page_as("producer")
    page.goto(f"{console.url}/egresses")
    page.get_by_label("Egress id or room").fill("demo")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/egresses?q=demo&status=active")
    assert page.locator(f'a[href="/egresses/{egress_id}"]').count() == 1
    shoot(page, artifacts_dir, "console-egresses")
    page.get_by_role("link", name=egress_id).click()
    page.wait_for_url(f"**/egresses/{egress_id}")
    assert STREAM_KEY not in page.content()
    assert page.get_by_role("heading", name="History (newest first)").is_visible()
    shoot(page, artifacts_dir, "console-egress-detail")

    asked: list[str] = []

    def confirm(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    for _ in range(60):  # every action is reachable with Tab
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Stop egress":
            break
    else:
        raise AssertionError("Tab never reached the Stop egress button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused button shows no focus ring"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert asked == [f"Stop egress {egress_id}?"]
    assert "Stop requested" in page.locator("main").inner_text()


def test_a_viewer_sees_the_history_and_no_stop_button(page_as: Any, console: Served, artifacts_dir: Path) -> None:
    egress_id = start_egress(console, [{"type": "file"}])
    page = page_as("viewer", width=375)
    page.goto(f"{console.url}/egresses/{egress_id}")
    assert page.get_by_role("button", name="Stop egress").count() == 0
    assert page.locator("main table tbody tr").count() >= 2  # starting, then active
    page.screenshot(path=artifacts_dir / "console-egress-detail-viewer-375.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px ({width} px wide)"
