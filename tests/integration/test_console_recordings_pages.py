"""The console's Recordings pages over HTTP, signed in as real people, against `orchestrator serve` on embedded
defaults: the sandbox writes a real MP4 and an HLS playlist into the local store."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.console import PEOPLE, add_person, session_cookies
from tests.harness import wait_until
from tests.integration.served import Served, served


@dataclass
class Catalog:
    service: Served
    mp4: dict[str, Any]
    hls: dict[str, Any]
    cookies: dict[str, httpx.Cookies]  # name -> session cookies

    def client(self, who: str | None) -> httpx.Client:
        return httpx.Client(base_url=self.service.url, cookies=self.cookies[who] if who else None, timeout=30)

    @property
    def volume(self) -> Path:
        return self.service.cwd / "data" / "recordings"


def record(service: Served, seconds: float = 1.5, status: str = "ready") -> list[dict[str, Any]]:
    """An egress of room demo with an MP4 and an HLS output, stopped after `seconds`; its recordings once both
    have `status`."""
    folder = f"demo/{uuid.uuid4().hex[:8]}"  # each egress its own files
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {service.token}"}, timeout=30) as api:
        egress = api.post("/v1/egresses", json={
            "kind": "room_composite", "room_name": "demo",
            "outputs": [{"type": "file", "filepath": f"{folder}/talk.mp4"},
                        {"type": "hls", "filename_prefix": f"{folder}/hls/part",
                         "playlist_name": f"{folder}/hls/index.m3u8", "segment_duration_s": 1}]}).json()
        wait_until(lambda: api.get(f"/v1/egresses/{egress['id']}").json()["status"] == "active", timeout=15)
        time.sleep(seconds)
        assert api.post(f"/v1/egresses/{egress['id']}/stop").status_code == 200
        ready: list[dict[str, Any]] = wait_until(
            lambda: (items := [x for x in api.get("/v1/recordings", params={"egress": egress["id"]}).json()["items"]
                               if x["status"] == status]) and len(items) == 2 and items, timeout=30)
        return ready


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    with served(tmp_path_factory.mktemp("recordings-console")) as service:
        for name, role in PEOPLE.items():
            add_person(service, name, role)
        by_kind = {r["kind"]: r for r in record(service)}
        cookies = {name: session_cookies(service.url, name) for name in PEOPLE}
        yield Catalog(service, by_kind["file"], by_kind["hls"], cookies)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no csrf_token field"
    return found.group(1)


def test_the_list_shows_each_recording_with_its_size_duration_and_status(catalog: Catalog) -> None:
    with catalog.client("viewer") as http:
        page = http.get("/recordings")
    assert page.status_code == 200
    body = page.text
    for rec in (catalog.mp4, catalog.hls):
        assert f'href="/recordings/{rec["id"]}"' in body
    assert f'href="/recordings/{catalog.mp4["id"]}/download"' in body
    assert re.search(r'<span class="badge available">ready</span>', body)
    assert re.search(r"\d+(\.\d)? KB|\d+ bytes|\d+(\.\d)? MB", body)  # sizes in human units
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+Z" data-local>\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', body)


@pytest.mark.parametrize(("query", "found"), [
    ({"room_name": "demo"}, True), ({"room_name": "elsewhere"}, False),
    ({"status": "ready"}, True), ({"status": "missing"}, False),
    ({"since": "2000-01-01", "until": "2999-12-31"}, True), ({"until": "2000-01-01"}, False),
    ({"rule_id": "rule_none"}, False), ({"broadcast_id": "bc_none"}, False),
])
def test_filters(catalog: Catalog, query: dict[str, str], found: bool) -> None:
    with catalog.client("viewer") as http:
        html = http.get("/recordings", params=query).text
    assert (f'href="/recordings/{catalog.mp4["id"]}"' in html) is found
    if not found:
        assert "No recording matches these filters." in html


def test_the_rows_alone_for_live_updates_keep_the_filters(catalog: Catalog) -> None:
    with catalog.client("viewer") as http:
        page = http.get("/recordings", params={"room_name": "demo", "status": "ready"}).text
        rows = http.get("/recordings/rows", params={"room_name": "demo", "status": "ready"}).text
        none = http.get("/recordings/rows", params={"room_name": "demo", "status": "deleted"}).text
    assert 'hx-get="/recordings/rows?room_name=demo&amp;status=ready&amp;"' in page
    assert 'sse-connect="/v1/events?kind=recording"' in page and 'hx-trigger="sse:recording"' in page
    assert "<html" not in rows and f'href="/recordings/{catalog.mp4["id"]}"' in rows
    assert f'href="/recordings/{catalog.mp4["id"]}"' not in none


def test_a_filter_in_error_is_shown_next_to_its_field_in_the_apis_words(catalog: Catalog) -> None:
    with catalog.client("viewer") as http:
        bad_date = http.get("/recordings", params={"since": "yesterday", "room_name": "demo"}).text
        backwards = http.get("/recordings", params={"since": "2026-11-29", "until": "2026-11-01"}).text
        bad_status = http.get("/recordings", params={"status": "lost"})
        api = http.get("/v1/recordings", params={"status": "lost"}).json()
    assert '<p class="error" id="e-since">since: Input should be a valid date' in bad_date
    assert 'name="since" value="yesterday" aria-invalid="true"' in bad_date
    assert 'value="demo"' in bad_date  # what was typed stays
    assert '<p class="error" id="e-until">until: must not be before since</p>' in backwards
    # The same words as the API's 422 (which names the first item of its list of statuses).
    assert api["error"]["message"].replace("status.0:", "status:") in unescape(bad_status.text)


def test_an_unknown_recording_is_a_404_page(catalog: Catalog) -> None:
    with catalog.client("viewer") as http:
        for path in ("/recordings/rec_nope", "/recordings/rec_nope/media", "/recordings/rec_nope/download"):
            answer = http.get(path, headers={"Accept": "text/html"})
            assert answer.status_code == 404, path
            assert "recording rec_nope not found" in answer.text, path


def test_pages_need_a_session(catalog: Catalog) -> None:
    with catalog.client(None) as http:
        for path in ("/recordings", f"/recordings/{catalog.mp4['id']}", f"/recordings/{catalog.mp4['id']}/media",
                     f"/recordings/{catalog.hls['id']}/playlist.m3u8", f"/recordings/{catalog.mp4['id']}/download"):
            answer = http.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next="), path


def test_the_mp4_plays_from_a_same_origin_link_with_range_and_downloads_whole(catalog: Catalog) -> None:
    rec = catalog.mp4
    on_disk = (catalog.volume / rec["key"]).read_bytes()
    with catalog.client("viewer") as http:
        html = http.get(f"/recordings/{rec['id']}").text
        assert re.search(rf'<video id="player" [^>]*src="/recordings/{rec["id"]}/media"', html)
        first = http.get(f"/recordings/{rec['id']}/media", headers={"Range": "bytes=0-99"})
        assert first.status_code == 206 and first.content == on_disk[:100]
        assert first.headers["content-disposition"].startswith("inline")
        download = http.get(f"/recordings/{rec['id']}/download")
    assert download.status_code == 200 and download.content == on_disk
    assert download.headers["content-disposition"] == f'attachment; filename="{Path(rec["key"]).name}"'
    assert download.headers["content-type"] == "video/mp4"
    assert catalog.service.token not in html and "sig=" not in html  # no token, no signed link printed


def test_hls_plays_through_same_origin_segment_links_and_nothing_else(catalog: Catalog) -> None:
    rec = catalog.hls
    with catalog.client("viewer") as http:
        html = http.get(f"/recordings/{rec['id']}").text
        assert f'data-hls="/recordings/{rec["id"]}/playlist.m3u8"' in html
        assert "hls.light.min.js" not in html.split("data-hls-lib")[0]  # not loaded by the page, only named
        playlist = http.get(f"/recordings/{rec['id']}/playlist.m3u8")
        assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
        segments = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
        assert segments and all(s.startswith(f"/recordings/{rec['id']}/media?key=demo%2F") for s in segments)
        segment = http.get(segments[0])
        assert segment.status_code == 200 and segment.content[:1] == b"\x47"  # an MPEG-TS packet
        for key in (rec["key"].replace("index.m3u8", "elsewhere.ts"), "../api-token", catalog.mp4["key"]):
            assert http.get(f"/recordings/{rec['id']}/media", params={"key": key}).status_code == 404, key


def test_a_viewer_sees_no_delete_button_and_a_forged_delete_is_refused(catalog: Catalog) -> None:
    rec = catalog.mp4
    with catalog.client("viewer") as http:
        html = http.get(f"/recordings/{rec['id']}").text
        assert "/delete" not in html and "Delete" not in html
        forged = http.post(f"/recordings/{rec['id']}/delete", data={"csrf_token": csrf_of(html)})
    assert forged.status_code == 403
    assert (catalog.volume / rec["key"]).is_file()


def test_a_producer_deletes_and_the_page_says_who_did(catalog: Catalog) -> None:
    extra = {r["kind"]: r for r in record(catalog.service, seconds=1.0)}["file"]
    with catalog.client("producer") as http:
        html = http.get(f"/recordings/{extra['id']}").text
        assert 'data-confirm="Delete this recording' in html
        no_token = http.post(f"/recordings/{extra['id']}/delete", data={})
        assert no_token.status_code == 403
        done = http.post(f"/recordings/{extra['id']}/delete", data={"csrf_token": csrf_of(html)})
        assert done.status_code == 303 and done.headers["location"] == f"/recordings?deleted={extra['id']}"
        listing = http.get(done.headers["location"]).text
        after = http.get(f"/recordings/{extra['id']}").text
    assert f"Recording <code>{extra['id']}</code> was deleted" in listing
    assert not (catalog.volume / extra["key"]).exists()
    assert "Why it was deleted:</strong> Deleted by producer." in after
    assert "/delete" not in after and "<video" not in after and "/download" not in after
    assert re.search(r"ready → <strong>deleted</strong> by producer", after)  # the history row's actor


def test_a_deletion_through_the_api_names_its_key(catalog: Catalog) -> None:
    extra = {r["kind"]: r for r in record(catalog.service, seconds=0.5)}["file"]
    with httpx.Client(base_url=catalog.service.url, timeout=30,
                      headers={"Authorization": f"Bearer {catalog.service.token}"}) as api:
        key = api.post("/v1/keys", json={"name": "cleanup-job", "role": "producer"})
        assert key.status_code == 201, key.text
        secret = next(v for k, v in key.json().items() if isinstance(v, str) and v.startswith("eo_"))
        assert api.delete(f"/v1/recordings/{extra['id']}",
                          headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    with catalog.client("viewer") as http:
        page = http.get(f"/recordings/{extra['id']}").text
    assert "Why it was deleted:</strong> Deleted by cleanup-job through the API." in page


def test_why_a_recording_is_missing_in_words(catalog: Catalog) -> None:
    faults = f"{catalog.service.sandbox_url}/sandbox/faults"
    assert httpx.patch(faults, json={"upload_fail": True}).status_code == 200
    try:
        missing = {r["kind"]: r for r in record(catalog.service, seconds=0.5, status="missing")}["file"]
    finally:
        httpx.patch(faults, json={"upload_fail": False})
    with catalog.client("viewer") as http:
        page = unescape(http.get(f"/recordings/{missing['id']}").text)
        listed = http.get("/recordings", params={"status": "missing"}).text
    assert ("Why it is missing:</strong> The egress failed before writing a whole file: the recording could not "
            "be written to storage (check the bucket and its credentials).") in page
    assert "Reported: <span class=\"detail\">S3 upload failed" in page  # what LiveKit said, as text
    assert "<video" not in page and "/download" not in page
    assert f'href="/recordings/{missing["id"]}"' in listed and '<span class="badge missing">missing</span>' in listed
