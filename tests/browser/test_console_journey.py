"""A producer's whole journey through the console in Chromium, against `orchestrator serve` on embedded defaults
(the session's `console`): sign in, schedule a recurring broadcast of room demo a few seconds ahead with a
recording to storage (the next five occurrences the form shows equal the scheduler's own computation), watch it
go live on the Now page without a reload, change its layout live, stop it, find its recording, play it in the
page and download it. Then what a viewer may not do, and a forged cross-site form."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from orchestrator.domain.broadcasts import BroadcastSpec, Recurrence
from orchestrator.domain.recurrence_preview import next_occurrences
from tests.browser.console import sign_in
from tests.browser.pages import Dialogs, api, change_controls, console_pages, poll, seed, until
from tests.integration.served import Served

ZONE = "Europe/Paris"  # the broadcast's and the browser's: the form's local times are Paris's
TITLE = "Journey show"
STREAM_KEY = "sk-journey-never-shown-0123456789"
LEAD_S = 12  # the run starts at least this long after the form is sent: time to open the Now page first


@pytest.fixture(scope="module")
def journey(console: Served) -> dict[str, Any]:
    """What the producer's journey made (filled in by the first test, read by the later ones)."""
    return {}


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id=ZONE, accept_downloads=True)
    yield made
    made.close()


@pytest.mark.timeout(240)  # the series' first run waits for the next whole minute (up to 72 s)
def test_a_producer_schedules_watches_changes_stops_finds_plays_and_downloads(
        context: Any, console: Served, journey: dict[str, Any], artifacts_dir: Path) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, console.url, "producer")

    # Schedule: the form, a few seconds ahead, recurring on weekday mornings, recorded.
    page.get_by_role("link", name="Broadcasts", exact=True).click()
    page.get_by_role("link", name="New broadcast").click()
    page.get_by_label("Room").fill("demo")
    page.get_by_label("Title").first.fill(TITLE)
    page.get_by_label("Destination 1").select_option("mux")
    page.get_by_label("Mux stream key").first.fill(STREAM_KEY)
    page.locator("#timezone").select_option(ZONE)
    page.get_by_label("at", exact=True).first.check()
    page.get_by_label("Duration (minutes)").fill("20")
    page.get_by_label("Record to storage").check()
    # A series' first run is the cron's first time at or after the start: daily, from the next whole minute.
    soon = datetime.now(ZoneInfo(ZONE)) + timedelta(seconds=LEAD_S)
    start = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
    cron = f"{start.minute} {start.hour} * * *"
    page.get_by_label("cron expression").check()
    page.get_by_role("textbox", name="Cron").fill(cron)
    page.get_by_label("Number of runs").fill("8")
    page.get_by_label("Start date and time").fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
    spec = BroadcastSpec(room_name="demo", destinations=(), start_at=start.astimezone(UTC), max_duration_s=1200,
                         recurrence=Recurrence(cron, ZONE, count=8))
    expected = [s.astimezone(UTC).isoformat().replace("+00:00", "Z") for s, _ in next_occurrences(spec)]
    assert len(expected) == 5 and expected[0] == start.astimezone(UTC).isoformat().replace("+00:00", "Z")
    shown = "[...document.querySelectorAll('#occurrence-list time')].map(t => t.getAttribute('datetime'))"
    try:  # the preview, as typed (its requests are debounced), is the scheduler's chain of occurrences
        want = json.dumps(json.dumps(expected, separators=(",", ":")))  # a JS string of JSON.stringify's text
        poll(page, f"JSON.stringify({shown}) === {want}", timeout_s=10)
    except AssertionError:
        assert page.evaluate(shown) == expected  # says how they differ
        raise
    with page.expect_navigation():
        page.get_by_role("button", name="Create broadcast").click()
    broadcast = page.url.split("/broadcasts/", 1)[1].split("?")[0]
    assert broadcast.startswith("brd_"), page.url
    journey["broadcast"] = broadcast
    assert STREAM_KEY not in page.content()

    # Now: the run is not live yet; it goes live on the open page, which never reloads.
    page.get_by_role("link", name="Now", exact=True).click()
    page.wait_for_load_state()
    mine = f"#now-live a[href='/broadcasts/{broadcast}']"
    live = f"(() => {{ const a = document.querySelector(\"{mine}\"); " \
           "return !!a && !!a.closest('tr').querySelector('.badge.live'); })()"
    assert not page.evaluate(live), "the run was live before the Now page opened: raise LEAD_S"
    assert datetime.now(UTC) < start.astimezone(UTC), "the run's start passed before the Now page opened"
    page.evaluate("window.__sameDocument = 1")
    poll(page, live, timeout_s=(start.astimezone(UTC) - datetime.now(UTC)).total_seconds() + 20)
    assert page.evaluate("window.__sameDocument") == 1, "the Now page reloaded"
    page.screenshot(path=str(artifacts_dir / "journey-now-live-1440.png"), full_page=True)

    # The broadcast's page: the layout changed live, then a stop through the confirm dialog.
    page.locator(mine).first.click()
    page.wait_for_load_state()
    page.locator("#live-layout").select_option("speaker")
    with page.expect_navigation():
        page.get_by_role("button", name="Change layout").click()
    assert "layout changed to speaker" in page.locator("ol.timeline").first.inner_text()
    with api(console) as http:
        assert http.get(f"/v1/broadcasts/{broadcast}").json()["layout"] == "speaker"
    dialogs = Dialogs(page, accept=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Stop", exact=True).click()
    assert dialogs.messages == ["confirm: Stop the live run now?"]
    first_run = page.locator("article.run").last  # runs newest first: run #1 is the last
    until(lambda: "ended" in first_run.locator("h3").inner_text(), timeout_s=20)
    assert "by producer" in first_run.inner_text()
    page.screenshot(path=str(artifacts_dir / "journey-broadcast-stopped-1440.png"), full_page=True)

    # Its recording (the run's egress wrote it), on the Recordings page filtered by room, once verified.
    with api(console) as http:
        egress = http.get(f"/v1/broadcasts/{broadcast}").json()["runs"][0]["egresses"][0]["id"]
        recording = until(lambda: [r for r in http.get("/v1/recordings", params={"egress": egress}).json()["items"]
                                   if r["status"] == "ready"], timeout_s=30)[0]
    assert recording["kind"] == "file" and recording["room_name"] == "demo", recording
    journey["recording"] = recording["id"]
    page.get_by_role("link", name="Recordings", exact=True).click()
    page.get_by_label("Room").fill("demo")
    page.get_by_label("Status").select_option("ready")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    row = page.locator(f"main a[href='/recordings/{recording['id']}']")
    assert row.count() >= 1, "the recording is not on the Recordings page"
    page.locator(f"main a[href='/recordings/{recording['id']}']").first.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/recordings/{recording['id']}")

    # Played in the page: the video's clock advances.
    page.eval_on_selector("#player", "v => { v.muted = true; return v.play(); }")
    poll(page, "document.querySelector('#player').currentTime > 0.5", timeout_s=15)
    state = page.eval_on_selector("#player", "v => ({error: v.error && v.error.code, ready: v.readyState})")
    assert state["error"] is None and state["ready"] >= 2, state
    page.screenshot(path=str(artifacts_dir / "journey-recording-1440.png"), full_page=True)

    # Downloaded: the same bytes as the API's download link gives with the token.
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download").click()
    downloaded = Path(caught.value.path()).read_bytes()
    with api(console) as http:
        served_bytes = http.get(f"/v1/recordings/{recording['id']}/download", follow_redirects=True)
    assert served_bytes.status_code == 200 and len(downloaded) == recording["size_bytes"] > 0
    assert downloaded == served_bytes.content
    assert not errors, errors


def test_a_viewer_has_nothing_to_press_anywhere_and_a_forged_post_is_refused(
        browser: Any, console: Served, journey: dict[str, Any]) -> None:
    made = seed(console, title="Viewer's view")
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, console.url, "viewer")
        pages = {k: v for k, v in console_pages(made).items() if k not in ("broadcast-new", "broadcast-edit",
                                                                         "rule-new", "settings")}
        found = {}
        for name, path in pages.items():
            answer = page.goto(f"{console.url}{path}")
            assert answer is not None and answer.status == 200, f"{path}: {answer and answer.status}"
            page.get_by_role("button", name="Sign out").wait_for()
            if controls := change_controls(page):
                found[name] = controls
        assert found == {}, f"a viewer sees controls it may not use: {found}"
        for path in ("/broadcasts/new", f"/broadcasts/{made.broadcast}/edit", "/rules/new", "/settings"):
            assert page.request.get(f"{console.url}{path}", max_redirects=0).status == 403, path

        page.goto(f"{console.url}/broadcasts/{made.broadcast}")
        token = page.locator("form[action='/sign-out'] input[name=csrf_token]").input_value()  # valid, its own
        forged = {f"/broadcasts/{made.broadcast}/cancel": {}, f"/broadcasts/{made.broadcast}/stop": {},
                  f"/broadcasts/{made.broadcast}/layout": {"layout": "grid"},
                  f"/recordings/{made.recording_mp4}/delete": {}, f"/egresses/{made.egress}/stop": {},
                  f"/rules/{made.rule}/enable": {}, "/settings/people": {"name": "eve", "role": "admin",
                                                                         "password": "x" * 20}}
        for path, fields in forged.items():
            answer = page.request.post(f"{console.url}{path}", form={"csrf_token": token, **fields},
                                       max_redirects=0)
            assert answer.status == 403, f"{path}: {answer.status}"
        with api(console) as http:
            shown = http.get(f"/v1/broadcasts/{made.broadcast}").json()
            assert shown["state"] == "active" and shown["runs"][0]["status"] == "live"
            assert shown["layout"] == "gallery"
            assert http.get(f"/v1/recordings/{made.recording_mp4}").json()["status"] == "ready"
            assert http.get(f"/v1/rules/{made.rule}").json()["enabled"] is False
            assert http.get("/v1/users/eve").status_code == 404
            http.post(f"/v1/broadcasts/{made.broadcast}/stop")
    finally:
        context.close()


class _Attacker(BaseHTTPRequestHandler):
    """Another origin's page whose form posts itself to the console as soon as it loads."""

    action = ""
    fields: dict[str, str] = {}

    def do_GET(self) -> None:
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in self.fields.items())
        body = (f'<!doctype html><title>Win a prize</title><form id="f" method="post" action="{self.action}">'
                f'{inputs}</form><script>document.getElementById("f").submit()</script>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[tuple[str, type[_Attacker]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", _Attacker
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "guessed-token"])
def test_a_forged_cross_site_form_changes_nothing(browser: Any, console: Served, attacker: tuple[str, Any],
                                                  with_token: bool) -> None:
    """A signed-in producer visits another origin's page that posts a form to cancel a live broadcast."""
    with api(console) as http:
        made = http.post("/v1/broadcasts", json={"room_name": "demo", "title": "Target", "max_duration_s": 600,
                                                 "destinations": [{"type": "mux", "stream_key": "sk-target-0000"}]})
        assert made.status_code == 201, made.text
        target = made.json()["id"]
    origin, handler = attacker
    handler.action = f"{console.url}/broadcasts/{target}/cancel"
    handler.fields = {"csrf_token": "eyJ-guessed-token"} if with_token else {}
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, console.url, "producer")
        with page.expect_response(lambda r: r.url == handler.action) as answer:
            page.goto(origin)
        assert answer.value.status == 403
        with api(console) as http:
            assert http.get(f"/v1/broadcasts/{target}").json()["state"] == "active"  # not cancelled
            page.goto(f"{console.url}/broadcasts/{target}")  # still signed in, and the page says so too
            assert page.locator("#broadcast-state").inner_text() == "active"
            assert http.delete(f"/v1/broadcasts/{target}").status_code == 200
    finally:
        context.close()


def test_the_recordings_page_finds_a_broadcasts_recording_by_its_broadcast(
        browser: Any, console: Served, journey: dict[str, Any]) -> None:
    if "recording" not in journey:
        pytest.skip("the journey did not get as far as its recording")
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, console.url, "viewer", next_path="/recordings")
        page.get_by_label("Broadcast id").fill(journey["broadcast"])
        with page.expect_navigation():
            page.get_by_role("button", name="Filter").click()
        assert page.locator(f"main a[href='/recordings/{journey['recording']}']").count() >= 1
    finally:
        context.close()


def test_the_downloaded_bytes_are_the_stored_file(console: Served, journey: dict[str, Any]) -> None:
    """The recording the journey found is a real file in the local store (not a page or an error body)."""
    if "recording" not in journey:
        pytest.skip("the journey did not get as far as its recording")
    with api(console) as http:
        shown = http.get(f"/v1/recordings/{journey['recording']}").json()
        with httpx.Client(timeout=30) as plain:
            link = http.get(f"/v1/recordings/{journey['recording']}/download", params={"redirect": "false"}).json()
            body = plain.get(link["url"] if link["url"].startswith("http") else f"{console.url}{link['url']}")
    on_disk = (console.cwd / "data" / "recordings" / shown["key"]).read_bytes()
    assert body.content == on_disk and on_disk[4:8] == b"ftyp"  # an MP4
