"""The Rooms pages in Chromium against `orchestrator serve`: a room named with markup and a rule that records
it; the markup shows as text and runs nothing, the session shows the rule that matched, why, and its recording."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.browser.console import sign_in
from tests.integration.served import Served

XSS_ROOM = "<img src=x onerror=alert(1)>"
XSS_METADATA = '{"title": "<script>alert(2)</script>"}'


@pytest.fixture
def page_as(browser: Any, console: Served) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(name: str) -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        page = context.new_page()
        sign_in(page, console.url, name)
        return page

    yield open_page
    for context in contexts:
        context.close()


def shoot(page: Any, artifacts_dir: Path, name: str) -> None:
    for width in (1440, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=artifacts_dir / f"{name}-{width}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


@pytest.fixture(scope="module")
def xss_room(console: Served) -> str:
    """The room, recorded by a rule that matches every room named like it, with a publisher."""
    with httpx.Client(base_url=console.url, headers={"Authorization": f"Bearer {console.token}"}, timeout=30) as api:
        made = api.post("/v1/rules", json={"name": "markup rooms", "match": {"room_name_glob": "<img*"},
                                           "actions": {"composite": {}}})
        assert made.status_code == 201, made.text
        with httpx.Client(base_url=console.sandbox_url, timeout=30) as sandbox:
            assert sandbox.post("/sandbox/rooms", json={"name": XSS_ROOM, "metadata": XSS_METADATA}).status_code == 201
            assert sandbox.post(f"/sandbox/rooms/{quote(XSS_ROOM, safe='')}/participants",
                                json={"identity": "<b>host</b>"}).status_code == 201
        deadline = time.monotonic() + 20
        while True:
            items = api.get("/v1/sessions", params={"room_name": XSS_ROOM}).json()["items"]
            if items and items[0]["recordings"] and items[0]["recordings"][0]["egress"]:
                break
            assert time.monotonic() < deadline, "the rule never recorded the room"
            time.sleep(0.2)
    return XSS_ROOM


def test_a_room_named_with_markup_shows_as_text_with_its_rule_and_recording(
        page_as: Any, console: Served, xss_room: str, artifacts_dir: Path) -> None:
    dialogs: list[str] = []
    page = page_as("viewer")

    def refuse(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(f"{console.url}/rooms")
    assert page.get_by_role("link", name=xss_room).count() >= 1
    shoot(page, artifacts_dir, "console-rooms")
    page.get_by_role("link", name=xss_room).first.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == f"Room {xss_room}"
    main = page.locator("main").inner_text()
    assert "markup rooms: room name matches '<img*'" in main
    assert '<script>alert(2)</script>' in main  # the metadata, as text
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert page.locator("main a[href^='/egresses/egr_']").count() >= 1
    shoot(page, artifacts_dir, "console-room-detail")
    page.goto(f"{console.url}/")  # the Now page lists it among the open sessions
    assert page.get_by_role("link", name=xss_room).count() >= 1
    page.wait_for_timeout(300)
    assert dialogs == [], f"markup ran: {dialogs}"
