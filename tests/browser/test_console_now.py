"""The Now page in Chromium against `orchestrator serve`: what changes elsewhere (an egress started and stopped
through the API, a broadcast going live) shows on the open page within 2 s, without reloading it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.browser.console import sign_in
from tests.integration.served import Served

LIVE_WITHIN_S = 2.0
MUX = {"type": "mux", "stream_key": "now-page-key-0123456789"}


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


def api(console: Served) -> httpx.Client:
    return httpx.Client(base_url=console.url, headers={"Authorization": f"Bearer {console.token}"}, timeout=30)


def seconds_until(page: Any, expression: str, timeout_s: float = 10) -> float:
    """How long until `expression` holds in the page (polled from outside: the CSP forbids evaluated strings)."""
    start = time.monotonic()
    while not page.evaluate(expression):
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(25)
    return time.monotonic() - start


def shows(selector: str, text: str = "") -> str:
    check = f" && el.textContent.includes({text!r})" if text else ""
    return f"(() => {{ const el = document.querySelector({selector!r}); return !!el{check}; }})()"


def test_changes_made_elsewhere_show_without_a_reload_within_two_seconds(
        page_as: Any, console: Served, artifacts_dir: Path) -> None:
    page = page_as("producer")
    page.goto(f"{console.url}/")
    assert page.get_by_role("heading", name="Now", level=1).is_visible()
    page.wait_for_timeout(500)  # the event stream connects
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    with api(console) as http:
        made = http.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo",
                                               "outputs": [{"type": "file"}]})
        assert made.status_code == 201, made.text
        egress_id = made.json()["id"]
        link = shows(f'#now-live a[href="/egresses/{egress_id}"]')
        appeared = seconds_until(page, link)
        assert appeared <= LIVE_WITHIN_S, f"the new egress showed after {appeared:.2f} s"

        title = "Now page live test"
        broadcast = http.post("/v1/broadcasts", json={"room_name": "demo", "title": title, "max_duration_s": 120,
                                                      "destinations": [MUX]})
        assert broadcast.status_code == 201, broadcast.text
        started = seconds_until(page, shows("#now-runs", title))
        assert started <= LIVE_WITHIN_S, f"the broadcast's run showed after {started:.2f} s"
        deadline = time.monotonic() + 20
        while http.get(f"/v1/broadcasts/{broadcast.json()['id']}").json()["runs"][0]["status"] != "live":
            assert time.monotonic() < deadline, "the broadcast never went live"
            time.sleep(0.05)
        live = seconds_until(page, shows("#now-runs .badge.live"))
        assert live <= LIVE_WITHIN_S, f"'live' showed after {live:.2f} s"
        for width in (1440, 375):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=artifacts_dir / f"console-now-{width}.png", full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.set_viewport_size({"width": 1440, "height": 900})

        assert http.post(f"/v1/egresses/{egress_id}/stop").status_code == 200
        deadline = time.monotonic() + 20
        while http.get(f"/v1/egresses/{egress_id}").json()["status"] != "complete":  # ending first
            assert time.monotonic() < deadline, "the egress never completed"
            time.sleep(0.05)
        gone = seconds_until(page, f"!{link}")
        assert gone <= LIVE_WITHIN_S, f"the completed egress left the page {gone:.2f} s later"
        http.post(f"/v1/broadcasts/{broadcast.json()['id']}/stop")
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_the_next_day_lists_recurring_occurrences_in_their_zone(page_as: Any, console: Served) -> None:
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    with api(console) as http:
        made = http.post("/v1/broadcasts", json={
            "room_name": "demo", "title": "Every six hours", "start_at": start.isoformat(), "max_duration_s": 600,
            "destinations": [MUX], "recurrence": {"cron": "0 */6 * * *", "timezone": "Asia/Kolkata",
                                                          "count": 10}})
        assert made.status_code == 201, made.text
    page = page_as("viewer")
    page.goto(f"{console.url}/")
    rows = page.locator("#now-upcoming tbody tr", has_text="Every six hours")
    now, zone = datetime.now(UTC), ZoneInfo("Asia/Kolkata")
    marks = [t for t in (start + timedelta(minutes=30 * i) for i in range(50))
             if t <= now + timedelta(hours=24) and t.astimezone(zone).minute == 0
             and t.astimezone(zone).hour % 6 == 0]  # every sixth hour on Kolkata's clock
    assert rows.count() == len(marks) >= 3  # the stored run, then the occurrences computed ahead
    assert "IST" in rows.first.inner_text()
    assert "next occurrence" in rows.nth(1).inner_text()
    page.get_by_role("button", name="Sign out").wait_for()
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]  # a viewer: nothing to press
