"""The Recordings pages in Chromium, signed in as real people, against `orchestrator serve` on embedded defaults:
the sandbox records room demo into a real H.264/AAC MP4 and an HLS playlist, which the pages play, download and
delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.console import sign_in
from tests.integration.served import Served
from tests.integration.test_console_recordings_pages import record

WIDTHS = (1440, 375)
FIRST_LOAD_BUDGET = 150 * 1024  # bytes of JS + CSS a console page may transfer at first load


@pytest.fixture(scope="module")
def recordings(console: Served) -> dict[str, dict[str, Any]]:
    """The MP4 and the HLS recording of one sandbox egress, ready."""
    return {r["kind"]: r for r in record(console, seconds=2.0)}


@pytest.fixture(scope="module")
def signed_in(browser: Any, console: Served) -> dict[str, Any]:
    """Each person's signed-in browser state (cookies), signed in once through the sign-in page."""
    states = {}
    for name in ("viewer", "producer"):
        context = browser.new_context()
        sign_in(context.new_page(), console.url, name)
        states[name] = context.storage_state()
        context.close()
    return states


@pytest.fixture
def page_as(browser: Any, signed_in: dict[str, Any]) -> Iterator[Any]:
    """`page_as(name, width=1440, init_script=None)`: a fresh context's page with `name`'s session."""
    contexts: list[Any] = []

    def open_page(name: str, width: int = 1440, init_script: str | None = None) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True,
                                      storage_state=signed_in[name])
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def wait_for(page: Any, expression: str, timeout_s: float = 15) -> None:
    """Poll `expression` from outside the page (wait_for_function evaluates strings, which the CSP forbids)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(100)


def playing(page: Any, selector: str = "#player", past_s: float = 0.5) -> dict[str, Any]:
    """Start the element (muted, as a person's click would) and wait until its current time passes `past_s`."""
    page.eval_on_selector(selector, "v => { v.muted = true; return v.play(); }")
    wait_for(page, f"document.querySelector('{selector}').currentTime > {past_s}")
    state: dict[str, Any] = page.eval_on_selector(
        selector, "v => ({time: v.currentTime, duration: v.duration, ready: v.readyState,"
                  " error: v.error && v.error.code, player: v.dataset.player || ''})")
    return state


def test_the_mp4_plays_in_the_page_and_downloads_whole(page_as: Any, console: Served,
                                                       recordings: dict[str, dict[str, Any]],
                                                       artifacts_dir: Path) -> None:
    mp4 = recordings["file"]
    page = page_as("viewer")
    page.goto(f"{console.url}/recordings/{mp4['id']}")
    state = playing(page)
    assert state["error"] is None and state["ready"] >= 2
    assert abs(state["duration"] - mp4["duration_s"]) < 1.5 or state["duration"] >= 2.0, state
    page.screenshot(path=artifacts_dir / "recordings-mp4-1440.png", full_page=True)
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download").click()
    download = caught.value
    on_disk = (console.cwd / "data" / "recordings" / mp4["key"]).read_bytes()
    assert Path(download.path()).read_bytes() == on_disk
    assert download.suggested_filename == Path(mp4["key"]).name
    assert page.get_by_role("button", name="Delete").count() == 0  # a viewer


def test_hls_plays_natively_where_the_browser_can_and_hls_js_is_not_loaded(
        page_as: Any, console: Served, recordings: dict[str, dict[str, Any]]) -> None:
    page = page_as("viewer")
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(f"{console.url}/recordings/{recordings['hls']['id']}")
    if not page.evaluate("document.createElement('video').canPlayType('application/vnd.apple.mpegurl')"):
        pytest.skip("this Chromium has no native HLS (the hls.js test covers it)")
    state = playing(page)
    assert state["player"] == "native" and state["error"] is None
    assert not [u for u in scripts if "hls.light" in u]


# As in a browser without native HLS (Chromium before 14x, Firefox): hls.js plays it through Media Source.
NO_NATIVE_HLS = """
(() => {
  const own = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mpegurl/i.test(type) ? "" : own.call(this, type);
  };
})();
"""


def test_hls_plays_through_hls_js_loaded_only_when_play_is_pressed(page_as: Any, console: Served,
                                                                   recordings: dict[str, dict[str, Any]],
                                                                   artifacts_dir: Path) -> None:
    page = page_as("viewer", init_script=NO_NATIVE_HLS)
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(f"{console.url}/recordings/{recordings['hls']['id']}")  # until its load event: scripts ran
    assert not [u for u in scripts if "hls.light" in u], "hls.js was loaded before Play was pressed"
    play = page.get_by_role("button", name="Play", exact=True)
    play.click()
    wait_for(page, "document.querySelector('#player').dataset.player === 'hls.js'")
    state = playing(page)
    assert state["error"] is None and state["player"] == "hls.js"
    assert [u for u in scripts if "hls.light" in u]
    assert play.is_hidden()
    page.screenshot(path=artifacts_dir / "recordings-hls-1440.png", full_page=True)


def test_a_producer_deletes_after_confirming(page_as: Any, console: Served, artifacts_dir: Path) -> None:
    page = page_as("producer")
    page.goto(f"{console.url}/recordings")
    extra = {r["kind"]: r for r in record(console, seconds=1.0)}["file"]
    arrived = page.locator(f"a[href='/recordings/{extra['id']}']")  # live: no reload
    arrived.wait_for(timeout=5_000)
    with page.expect_navigation():
        arrived.click()
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Delete").click()  # dismissed: nothing happens
    assert page.url.endswith(f"/recordings/{extra['id']}")
    assert (console.cwd / "data" / "recordings" / extra["key"]).is_file()
    with page.expect_navigation():
        page.get_by_role("button", name="Delete").click()
    assert asked[0].startswith("Delete this recording")
    assert page.url.endswith(f"/recordings?deleted={extra['id']}")
    assert "was deleted" in page.get_by_role("status").first.inner_text()
    assert not (console.cwd / "data" / "recordings" / extra["key"]).exists()
    page.goto(f"{console.url}/recordings/{extra['id']}")
    assert "Deleted by producer." in page.locator(".why").inner_text()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=artifacts_dir / f"recordings-deleted-{width}.png", full_page=True)


def test_a_viewer_cannot_delete_even_by_forging_the_form(page_as: Any, console: Served,
                                                          recordings: dict[str, dict[str, Any]]) -> None:
    mp4 = recordings["file"]
    page = page_as("viewer")
    page.goto(f"{console.url}/recordings/{mp4['id']}")
    assert page.get_by_role("button", name="Delete").count() == 0
    token = page.locator("input[name=csrf_token]").first.input_value()  # the sign-out form's: a valid token
    forged = page.request.post(f"{console.url}/recordings/{mp4['id']}/delete", form={"csrf_token": token},
                               max_redirects=0)
    assert forged.status == 403
    assert (console.cwd / "data" / "recordings" / mp4["key"]).is_file()


def test_filters_by_form_and_screenshots(page_as: Any, console: Served, recordings: dict[str, dict[str, Any]],
                                         artifacts_dir: Path) -> None:
    mp4 = recordings["file"]
    for width in WIDTHS:
        page = page_as("producer", width=width)
        page.goto(f"{console.url}/recordings")
        page.get_by_label("Room").fill("demo")
        page.get_by_label("Status").select_option("ready")
        with page.expect_navigation():
            page.get_by_role("button", name="Filter").click()
        assert "room_name=demo" in page.url and "status=ready" in page.url
        row = page.locator(f"a[href='/recordings/{mp4['id']}']")
        assert row.count() == 1 and row.is_visible()
        page.screenshot(path=artifacts_dir / f"recordings-list-{width}.png", full_page=True)
        page.goto(f"{console.url}/recordings/{mp4['id']}")
        page.screenshot(path=artifacts_dir / f"recordings-mp4-{width}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sticks out sideways
    page.get_by_role("link", name="All recordings").click()
    page.get_by_label("Room").fill("nowhere")
    with page.expect_navigation():
        page.get_by_label("Room").press("Enter")
    assert "No recording matches these filters." in page.locator("main").inner_text()


@pytest.mark.parametrize("kind", ["list", "file", "hls"])
def test_first_load_transfers_at_most_150_kb_of_js_and_css(page_as: Any, console: Served, kind: str,
                                                           recordings: dict[str, dict[str, Any]]) -> None:
    page = page_as("viewer")
    path = "/recordings" if kind == "list" else f"/recordings/{recordings[kind]['id']}"
    page.goto(f"{console.url}{path}")  # until its load event: every script and style sheet is in
    entries = page.evaluate("performance.getEntriesByType('resource').map(e => [e.name, e.decodedBodySize])")
    sizes = {url: size for url, size in entries if url.split("?")[0].endswith((".js", ".css"))}
    expected = ["htmx.min.js", "console.css", "pages/recordings.css"] + ([] if kind == "list" else ["recordings.js"])
    assert all(any(name in url for url in sizes) for name in expected), sizes
    assert sum(sizes.values()) <= FIRST_LOAD_BUDGET, sizes
    assert not [u for u in sizes if "hls.light" in u]


def test_without_javascript_filter_open_and_delete_an_hls_recording(browser: Any, console: Served,
                                                                     signed_in: dict[str, Any]) -> None:
    hls = {r["kind"]: r for r in record(console, seconds=1.0)}["hls"]
    folder = console.cwd / "data" / "recordings" / Path(hls["key"]).parent
    assert sorted(p.suffix for p in folder.iterdir()) == [".m3u8"] + [".ts"] * (len(list(folder.iterdir())) - 1)
    context = browser.new_context(java_script_enabled=False, storage_state=signed_in["producer"])
    try:
        page = context.new_page()
        page.goto(f"{console.url}/recordings")
        page.get_by_label("Room").fill("demo")
        with page.expect_navigation():
            page.get_by_role("button", name="Filter").click()
        with page.expect_navigation():
            page.locator(f"a[href='/recordings/{hls['id']}']").click()
        assert "needs JavaScript" in page.locator(".player").inner_text()  # <noscript>: use the playlist link
        with page.expect_navigation():
            page.get_by_role("button", name="Delete").click()  # no confirm without JavaScript: a plain post
        assert page.url.endswith(f"/recordings?deleted={hls['id']}")
        assert not folder.exists() or not list(folder.iterdir())  # the playlist and every segment
    finally:
        context.close()
