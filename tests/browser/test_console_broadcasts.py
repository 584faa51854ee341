"""The broadcast pages in Chromium against `orchestrator serve` on embedded defaults: the form with its weekly
recurrence preview (checked against the scheduler's own computation), a scheduled run going live without a
reload, a live layout change, a stop with its confirmation, and what a viewer sees."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from orchestrator.domain.broadcasts import BroadcastSpec, Recurrence
from orchestrator.domain.recurrence_preview import next_occurrences
from tests.browser.console import sign_in

SECRET_KEY = "sk-secret-123"
ZONE = "America/New_York"


@pytest.fixture
def page(browser: Any, console: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id=ZONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def shots(page: Any, artifacts_dir: Path, name: str) -> None:
    for width in (1440, 375):
        page.set_viewport_size({"width": width, "height": 1000})
        page.screenshot(path=str(artifacts_dir / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})


def status_text(page: Any) -> str:
    return str(page.locator("#broadcast-status").inner_text())


def test_weekly_form_preview_matches_the_scheduler(page: Any, console: Any, artifacts_dir: Path) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    sign_in(page, console.url, "producer", next_path="/broadcasts/new")
    assert page.locator("#timezone").input_value() == ZONE  # the viewer's zone, chosen by the page's script
    page.get_by_label("Room").fill("demo")
    page.get_by_label("Title").first.fill("Weekly <b>show</b>")
    page.get_by_label("Destination 1").select_option("mux")
    page.locator("#dest_key_0").fill(SECRET_KEY)
    start = (datetime.now(ZoneInfo(ZONE)) + timedelta(seconds=20)).replace(microsecond=0)
    page.get_by_label("at", exact=True).first.check()
    page.get_by_label("Start date and time").fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("weekly").check()
    days = {start.strftime("%a").lower(), "sat"}
    for day in days:
        page.locator(f"input[name=days][value={day}]").check()
    page.get_by_label("At (HH:MM)").fill("18:45")
    page.get_by_label("Number of runs").fill("12")
    page.get_by_label("Duration (minutes)").fill("30")
    expect(page.locator("#occurrence-list time")).to_have_count(5)
    page.wait_for_timeout(600)  # the last keystroke's request (debounced) has answered
    shown = page.locator("#occurrence-list time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    spec = BroadcastSpec(room_name="demo", destinations=(), start_at=start.astimezone(UTC), max_duration_s=1800,
                         recurrence=Recurrence(f"45 18 * * {','.join(sorted(days))}", ZONE, count=12))
    expected = [s.astimezone(UTC).isoformat().replace("+00:00", "Z") for s, _ in next_occurrences(spec)]
    assert shown == expected
    asked = [u for u in urls if "/broadcasts/occurrences" in u]
    assert asked and not any(SECRET_KEY in u or "dest_" in u for u in asked)  # only the schedule's fields
    page.get_by_label("Layout", exact=True).select_option("crop")
    expect(page.locator("#layout-preview")).to_have_attribute("src", re.compile(r"^/layouts/crop/preview\?"))
    shots(page, artifacts_dir, "broadcast-form")
    with page.expect_navigation():
        page.get_by_role("button", name="Create broadcast").click()
    assert re.search(r"/broadcasts/brd_", page.url)
    assert "Weekly <b>show</b>" in page.locator("h1").inner_text()  # markup shown as text
    assert SECRET_KEY not in page.content()
    assert "Every" in page.locator("dl.facts").inner_text()
    shots(page, artifacts_dir, "broadcast-page-scheduled")
    page.goto(f"{console.url}/broadcasts")
    assert SECRET_KEY not in page.content() and "Weekly <b>show</b>" in page.locator("table").inner_text()
    shots(page, artifacts_dir, "broadcasts-list")


def test_scheduled_run_goes_live_changes_layout_and_stops(page: Any, console: Any, artifacts_dir: Path) -> None:
    sign_in(page, console.url, "producer", next_path="/broadcasts/new")
    page.get_by_label("Room").fill("demo")
    page.get_by_label("Title").first.fill("Live test")
    page.get_by_label("Destination 1").select_option("mux")
    page.locator("#dest_key_0").fill(SECRET_KEY)
    page.locator("#timezone").select_option("UTC")
    start = datetime.now(UTC) + timedelta(seconds=6)
    page.get_by_label("at", exact=True).first.check()
    page.get_by_label("Start date and time").fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("Duration (minutes)").fill("10")
    with page.expect_navigation():
        page.get_by_role("button", name="Create broadcast").click()
    assert "scheduled" in status_text(page)
    listing = page.context.new_page()  # the list, open meanwhile, follows the run too
    listing.goto(f"{console.url}/broadcasts")
    row = listing.locator("tr", has_text="Live test").first
    expect(row.locator(".badge.scheduled")).to_have_count(1)
    listing.evaluate("window.__notReloaded = true")
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("#run-status")).to_have_text("live", timeout=20_000)
    assert page.evaluate("window.__notReloaded") is True  # the status changed without a reload
    expect(row.locator(".badge.live")).to_have_count(1, timeout=10_000)
    assert listing.evaluate("window.__notReloaded") is True
    listing.close()
    page.locator("#live-layout").select_option("grid")
    with page.expect_navigation():
        page.get_by_role("button", name="Change layout").click()
    assert page.locator(".notice").count() == 1, page.locator("main").inner_text()[:600]
    assert "Layout changed" in page.locator(".notice").inner_text()
    assert "layout changed to grid" in page.locator("ol.timeline").first.inner_text()
    shots(page, artifacts_dir, "broadcast-page-live")
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    with page.expect_navigation():
        page.get_by_role("button", name="Stop").click()
    assert dialogs == ["Stop the live run now?"]
    expect(page.locator("#run-status")).to_have_count(0, timeout=15_000)
    expect(page.locator("#layout-form")).to_have_count(0)  # the ended broadcast's controls went too, no reload
    assert "ended" in page.locator("article.run").first.inner_text()
    assert SECRET_KEY not in page.content()
    shots(page, artifacts_dir, "broadcast-page-ended")


def test_viewer_sees_no_buttons_and_a_forged_post_is_refused(page: Any, console: Any) -> None:
    sign_in(page, console.url, "viewer", next_path="/broadcasts")
    assert page.get_by_role("link", name="New broadcast").count() == 0
    link = page.locator("table a").first
    link.click()
    page.wait_for_load_state()
    assert page.locator("main button").count() == 0
    assert page.locator("main form[method=post]").count() == 0
    broadcast = page.url.split("?")[0]
    token = page.locator("header input[name=csrf_token]").input_value()
    forged = page.request.post(f"{broadcast}/stop", form={"csrf_token": token})
    assert forged.status == 403
    assert page.request.get(f"{console.url}/broadcasts/new").status == 403


def test_without_javascript_the_form_and_controls_still_work(browser: Any, console: Any) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, console.url, "producer", next_path="/broadcasts/new")
        assert page.locator("#timezone").input_value() == "UTC"  # no script: UTC, as the page says
        page.get_by_label("Room").fill("")
        with page.expect_navigation():
            page.get_by_role("button", name="Create broadcast").click()
        assert page.locator("#err-room_name").inner_text() == "room_name: is required"
        page.get_by_label("Room").fill("no-js-room")
        page.get_by_label("Destination 1").select_option("rtmp")
        page.locator("#dest_url_0").fill("rtmp://127.0.0.1:1935/live/no-js-secret-key")
        page.get_by_label("at", exact=True).first.check()
        page.get_by_label("Start date and time").fill(
            (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
        with page.expect_navigation():
            page.get_by_role("button", name="Create broadcast").click()
        assert "Broadcast created." in page.locator(".notice").inner_text()
        assert "no-js-secret-key" not in page.content()
        with page.expect_navigation():
            page.get_by_role("button", name="Cancel broadcast").click()
        assert "Broadcast cancelled" in page.locator(".notice").inner_text()
        assert page.locator("#broadcast-state").inner_text() == "cancelled"
    finally:
        context.close()
