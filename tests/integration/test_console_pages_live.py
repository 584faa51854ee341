"""The Now, Egresses and Rooms console pages over plain HTTP (no JavaScript), against `orchestrator serve` and its
sandbox LiveKit: what they show, secrets masked, markup in names shown as text, stop with CSRF, viewers refused."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.console import PEOPLE, add_person, session_cookies
from tests.integration.served import Served, served

STREAM_KEY = "sk-live-0123456789abcdef"
XSS_ROOM = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("console-live")) as s:
        for name, role in PEOPLE.items():
            add_person(s, name, role)
        yield s


def api(s: Served) -> httpx.Client:
    return httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {s.token}"}, timeout=30)


def as_person(s: Served, name: str) -> httpx.Client:
    return httpx.Client(base_url=s.url, cookies=session_cookies(s.url, name), timeout=30)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def wait_for(fn: Any, what: str, timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def egress_status(s: Served, egress_id: str) -> str:
    with api(s) as http:
        status: str = http.get(f"/v1/egresses/{egress_id}").json()["status"]
        return status


@pytest.fixture(scope="module")
def recording(service: Served) -> str:
    """An egress of `demo` to the embedded storage, active."""
    with api(service) as http:
        made = http.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo",
                                               "outputs": [{"type": "file"}]})
    assert made.status_code == 201, made.text
    egress_id: str = made.json()["id"]
    wait_for(lambda: egress_status(service, egress_id) == "active", "the egress to go active")
    return egress_id


@pytest.fixture(scope="module")
def refused(service: Served) -> str:
    """An egress to an RTMP destination the sandbox refuses: it fails with LiveKit's 'stream failed'."""
    with httpx.Client(base_url=service.sandbox_url, timeout=30) as sandbox:
        assert sandbox.patch("/sandbox/faults", json={"rtmp_refuse": ["refused.example"]}).status_code == 200
    with api(service) as http:
        made = http.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo", "outputs": [
            {"type": "rtmp", "url": f"rtmp://refused.example/live/{STREAM_KEY}"}]})
    assert made.status_code == 201, made.text
    egress_id: str = made.json()["id"]
    wait_for(lambda: egress_status(service, egress_id) == "failed", "the egress to fail")
    return egress_id


def test_signed_out_pages_send_people_to_sign_in(service: Served) -> None:
    for path in ("/", "/egresses", "/rooms", "/rooms/demo", "/now/fragment"):
        answer = httpx.get(service.url + path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next="), path


def test_now_shows_active_egresses_open_sessions_and_failures_explained(
        service: Served, recording: str, refused: str) -> None:
    with as_person(service, "viewer") as http:
        page = http.get("/")
        fragment = http.get("/now/fragment")
    assert page.status_code == 200 and fragment.status_code == 200
    assert 'sse-connect="/v1/events?kind=run&amp;kind=egress' in page.text
    assert 'hx-get="/now/fragment"' in page.text and "sse:run" in page.text
    for text in (page.text, fragment.text):
        assert f'href="/egresses/{recording}"' in text  # active
        assert 'href="/rooms/demo"' in text  # open session
        assert f'href="/egresses/{refused}"' in text  # failed in the last day, and why in plain words
        assert "The destination refused the stream (check the stream key and the RTMP URL)." in text
        assert STREAM_KEY not in text
    assert "<html" not in fragment.text  # the fragment alone, for htmx to swap in


def test_egress_list_searches_by_id_and_room_filters_status_and_pages(
        service: Served, recording: str, refused: str) -> None:
    with as_person(service, "viewer") as http:
        by_id = http.get("/egresses", params={"q": recording}, follow_redirects=False)
        assert by_id.status_code == 303 and by_id.headers["location"] == f"/egresses/{recording}"
        livekit_id = http.get(f"/v1/egresses/{recording}").json()["egress_id"]
        by_livekit_id = http.get("/egresses", params={"q": livekit_id}, follow_redirects=False)
        assert by_livekit_id.headers["location"] == f"/egresses/{recording}"
        failed = http.get("/egresses", params={"q": "demo", "status": "failed"}).text
        assert refused in failed and recording not in failed
        assert "No egress matches." in http.get("/egresses", params={"q": "no-such-room"}).text
        every = http.get("/egresses").text
        assert every.index(refused) < every.index(recording)  # newest first
        assert "Next page" not in every  # fewer than a page
        bad = http.get("/egresses", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 200 and "is not a cursor this API returned" in bad.text


def test_egress_detail_shows_history_and_masked_outputs(service: Served, refused: str) -> None:
    with as_person(service, "viewer") as http:
        page = http.get(f"/egresses/{refused}").text
        missing = http.get("/egresses/egr_nothing")
    assert STREAM_KEY not in page
    assert "rtmp://refused.example/live/{sk-...def}" in html.unescape(page)
    assert "starting → failed" in html.unescape(page) or "active → failed" in html.unescape(page)
    assert "The destination refused the stream" in page
    assert "Stop egress" not in page  # ended, and a viewer anyway
    assert missing.status_code == 404 and "No such egress" in missing.text


def test_a_producer_stops_an_egress_with_the_form_and_a_viewer_cannot(service: Served) -> None:
    with api(service) as http:
        made = http.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo",
                                               "outputs": [{"type": "file"}]}).json()["id"]
    wait_for(lambda: egress_status(service, made) == "active", "the egress to go active")
    with as_person(service, "viewer") as viewer:
        page = viewer.get(f"/egresses/{made}").text
        assert "Stop egress" not in page
        forged = viewer.post(f"/egresses/{made}/stop", data={"csrf_token": csrf(page)}, follow_redirects=False)
        assert forged.status_code == 403
    assert egress_status(service, made) == "active"
    with as_person(service, "producer") as producer:
        page = producer.get(f"/egresses/{made}").text
        assert "Stop egress" in page and 'data-confirm="Stop egress' in page
        no_token = producer.post(f"/egresses/{made}/stop", data={}, follow_redirects=False)
        assert no_token.status_code == 403
        stopped = producer.post(f"/egresses/{made}/stop", data={"csrf_token": csrf(page)}, follow_redirects=False)
        assert stopped.status_code == 303 and stopped.headers["location"] == f"/egresses/{made}?stopped=1"
        after = producer.get(stopped.headers["location"]).text
        assert "Stop requested" in after
        assert '<span class="actor">by producer</span>' in after  # the stop's history row names who asked
        assert '<span class="actor">by api-token</span>' in after  # started through the API with the token
        assert after.count('class="actor"') == 2  # LiveKit's reports are the service's own: no name
    wait_for(lambda: egress_status(service, made) == "complete", "the egress to complete")


def test_rooms_show_sessions_matches_and_markup_in_names_as_text(service: Served, tmp_path: Path) -> None:
    with httpx.Client(base_url=service.sandbox_url, timeout=30) as sandbox:
        assert sandbox.post("/sandbox/rooms", json={"name": XSS_ROOM, "metadata": '{"x": "<b>bold</b>"}'}
                            ).status_code == 201
        sandbox.post(f"/sandbox/rooms/{XSS_ROOM}/participants", json={"identity": "alice"})
    with as_person(service, "viewer") as http:
        wait_for(lambda: XSS_ROOM in http.get("/v1/sessions", params={"room_name": XSS_ROOM}).text
                 or http.get("/v1/sessions", params={"room_name": XSS_ROOM}).json()["items"], "the session")
        listing = http.get("/rooms").text
        detail = http.get(f"/rooms/{XSS_ROOM}").text
        only_open = http.get("/rooms", params={"open": "1", "room": "demo"}).text
    for page in (listing, detail):
        assert XSS_ROOM not in page and html.escape(XSS_ROOM) in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in detail
    assert 'href="/rooms/demo"' in only_open and html.escape(XSS_ROOM) not in only_open
    assert "No rule matched this room." in detail


def test_a_rooms_page_shows_each_part_and_the_gap_between_parts() -> None:
    """Rendered from a session view as the service makes it (two composite parts 3.5 s apart, a failed track)."""
    from datetime import UTC, datetime, timedelta

    from fastapi import Request

    from orchestrator.api.pages import rooms
    from orchestrator.api.pages.base import render
    from orchestrator.domain.egress import EgressRecord, EgressStatus, FileResult, Origin, Results
    from orchestrator.domain.parts import Gap
    from orchestrator.domain.rules import ActionKind, RuleMatch
    from orchestrator.domain.sessions import ClaimState, RecordingClaim, RoomSession, SessionSource
    from orchestrator.services.autorecord import SessionView

    t0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    session = RoomSession("RM_1", "class-1", t0, SessionSource.ROOM_STARTED, metadata='{"a": 1}',
                          matches=(RuleMatch("rul_1", "classes", "room name matches 'class-*'"),))

    def part(n: int, start: datetime, end: datetime) -> tuple[RecordingClaim, EgressRecord]:
        egress = EgressRecord(f"egr_{n}", f"EG_{n}", None, "class-1", EgressStatus.LIMIT_REACHED, Origin.API, start,
                              end, started_at=start, ended_at=end,
                              results=Results(files=(FileResult(f"class-1/part{n}.mp4", duration_s=600.0),)))
        claim = RecordingClaim(f"k{n}", "RM_1", "class-1", "rul_1", ActionKind.COMPOSITE, "", n,
                               ClaimState.STARTED, {}, start, end, egress_pk=egress.id)
        return claim, egress

    (c1, e1), (c2, e2) = part(1, t0, t0 + timedelta(minutes=10)), part(2, t0 + timedelta(seconds=603.5),
                                                                       t0 + timedelta(minutes=20))
    track = RecordingClaim("k3", "RM_1", "class-1", "rul_1", ActionKind.TRACK, "TR_cam", 1, ClaimState.FAILED, {},
                           t0, t0, error="LiveKit refused the start: track TR_cam not found")
    view = SessionView(session, [c2, track, c1], {e1.id: e1, e2.id: e2}, {"rul_1": [Gap(after_part=1, seconds=3.5)]})
    request = Request({"type": "http", "method": "GET", "path": "/rooms/class-1", "query_string": b"",
                       "headers": [], "app": None})
    body = render(request, "rooms_detail.html.j2", None, name="class-1",  # no one signed in: no nav, no token
                  sessions=[rooms._session(view)]).body
    page = bytes(body).decode()
    assert "classes: 3.5 s not recorded between part 1 and part 2" in page
    assert page.index("class-1/part1.mp4") < page.index("class-1/part2.mp4")  # parts in order
    assert "LiveKit refused to start the egress." in page and "track TR_cam not found" in page
    assert "classes</a>: room name matches &#39;class-*&#39;" in page
