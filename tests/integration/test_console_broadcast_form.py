"""The broadcast console pages over HTTP against `orchestrator serve` on embedded defaults: the form's errors are
the API's 422 messages beside their fields, stream keys never reach a page, a viewer can change nothing, and the
occurrence preview is the scheduler's own computation."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from orchestrator.domain.broadcasts import BroadcastSpec, Recurrence, occurrence
from tests.browser.console import add_person, session_cookies
from tests.harness import wait_until
from tests.integration.served import Served, served

SECRET_KEY = "sk-secret-123"
RTMP_SECRET = "rtmp-path-key-987"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(Path(tmp_path_factory.mktemp("console-broadcasts"))) as s:
        add_person(s, "producer", "producer")
        add_person(s, "viewer", "viewer")
        yield s


def person(s: Served, name: str) -> httpx.Client:
    return httpx.Client(base_url=s.url, cookies=session_cookies(s.url, name), timeout=30)


@pytest.fixture(scope="module")
def producer(service: Served) -> Iterator[httpx.Client]:
    with person(service, "producer") as client:
        yield client


def csrf(client: httpx.Client, path: str = "/broadcasts") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"no form on {path}"
    return match.group(1)


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="err-{re.escape(field.replace(".", "-"))}">([^<]*)</p>', page)
    return match.group(1).replace("&#39;", "'").replace("&#34;", '"') if match else ""


def later(minutes: int, zone: str = "UTC") -> datetime:
    return (datetime.now(ZoneInfo(zone)) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


def local(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


FORM: dict[str, Any] = {"room_name": "studio", "layout": "gallery", "timezone": "UTC", "start_mode": "now",
                        "end_mode": "duration", "duration_min": "30", "repeat": "none",
                        "dest_type_0": "mux", "dest_key_0": "mux-key-0123456789"}
API: dict[str, Any] = {"room_name": "studio", "layout": "gallery", "max_duration_s": 1800,
                       "destinations": [{"type": "mux", "stream_key": "mux-key-0123456789"}]}


def api_422(s: Served, body: dict[str, Any]) -> tuple[str, str]:
    answer = httpx.post(f"{s.url}/v1/broadcasts", json=body, headers={"Authorization": f"Bearer {s.token}"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    return error["field"], error["message"]


def test_form_errors_are_the_apis_422_beside_their_fields(service: Served, producer: httpx.Client) -> None:
    start = later(60)
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"room_name": ""}, {"room_name": ""}, "room_name"),
        ({"start_mode": "at", "start_local": local(start), "repeat": "cron", "cron": "61 25 * * *",
          "count": "3"},
         {"start_at": start.isoformat(), "recurrence": {"cron": "61 25 * * *", "timezone": "UTC", "count": 3}},
         "recurrence.cron"),
        ({"start_mode": "at", "start_local": local(start), "end_mode": "end",
          "end_local": local(start - timedelta(minutes=5))},
         {"start_at": start.isoformat(), "end_at": (start - timedelta(minutes=5)).isoformat(),
          "max_duration_s": None}, "end_at"),
        ({"dest_key_0": "not a key!"}, {"destinations": [{"type": "mux", "stream_key": "not a key!"}]},
         "destinations.0.stream_key"),
        ({"start_mode": "at", "start_local": "tomorrow"}, {"start_at": "tomorrow"}, "start_at"),
        ({"opt_theme": "pink"}, {"layout_options": {"theme": "pink"}}, "layout_options.theme"),
    ]
    for form_change, api_change, field in cases:
        api_field, message = api_422(service, {**API, **api_change})
        assert api_field == field
        page = producer.post("/broadcasts/new", data={**FORM, **form_change, "csrf_token": csrf(producer)})
        assert page.status_code == 422, (field, page.status_code)
        shown_as = "dest.0.stream_key" if field.startswith("destinations.0") else field
        assert field_error(page.text, shown_as) == message, (field, message, page.text[:200])
        assert "not a key!" not in page.text or field != "destinations.0.stream_key"  # keys are not sent back


def test_stream_keys_never_reach_a_page(service: Served, producer: httpx.Client) -> None:
    form = {**FORM, "csrf_token": csrf(producer), "title": "Secret test", "start_mode": "at",
            "start_local": local(later(120)), "dest_type_0": "mux", "dest_key_0": SECRET_KEY,
            "dest_type_1": "rtmp", "dest_url_1": f"rtmp://127.0.0.1:1935/live/{RTMP_SECRET}"}
    created = producer.post("/broadcasts/new", data=form)
    assert created.status_code == 303, created.text
    page = created.headers["location"].split("?")[0]
    broadcast_id = page.rsplit("/", 1)[1]
    # a refused edit (the same key again) re-renders the form with what was typed: still no key
    bad = producer.post(f"{page}/edit", data={"csrf_token": csrf(producer, page), "dest_type_0": "mux",
                                              "dest_key_0": SECRET_KEY, "end_mode": "duration",
                                              "duration_min": "-1", "timezone": "UTC", "start_mode": "at",
                                              "start_local": form["start_local"]})
    assert bad.status_code == 422
    assert field_error(bad.text, "add_destinations") == ("add_destinations: that destination is already part of "
                                                         "the broadcast")
    pages = [page, f"{page}/edit", f"{page}/runs", "/broadcasts", "/broadcasts/rows", f"{page}?notice=created"]
    for path in pages:
        body = producer.get(path).text
        assert broadcast_id in body or path.startswith("/broadcasts/rows") or path == "/broadcasts"
        assert SECRET_KEY not in body and RTMP_SECRET not in body, path
    assert SECRET_KEY not in bad.text and RTMP_SECRET not in bad.text
    edit = producer.get(f"{page}/edit").text
    assert "•••• set" in edit and 'type="password"' in edit
    assert 'value=""' in edit.split('id="dest_key_0"')[1].split(">")[0] or 'value=""' in edit


def test_viewer_sees_no_buttons_and_is_refused(service: Served, producer: httpx.Client) -> None:
    created = producer.post("/broadcasts/new", data={**FORM, "csrf_token": csrf(producer), "start_mode": "at",
                                                     "start_local": local(later(90))})
    assert created.status_code == 303
    page = created.headers["location"].split("?")[0]
    with person(service, "viewer") as viewer:
        body = viewer.get(page).text
        assert "<h1>" in body and "<form" not in body.split('id="main"')[1].replace('class="filters" method="get"', "")
        assert "New broadcast" not in viewer.get("/broadcasts").text
        assert viewer.get("/broadcasts/new").status_code == 403
        token = re.search(r'name="csrf_token" value="([^"]+)"', body)
        assert token  # the sign-out form: a real token of the viewer's session
        for action in ("start", "stop", "cancel", "preflight", "layout", "destinations", "edit"):
            forged = viewer.post(f"{page}/{action}", data={"csrf_token": token.group(1), "layout": "grid"})
            assert forged.status_code == 403, action
    # a cross-site post of a producer's session without the form's token
    assert producer.post(f"{page}/cancel", data={}).status_code == 403
    assert "cancelled" not in producer.get(page).text.split('id="broadcast-state"')[1][:30]


def test_occurrences_are_the_schedulers(producer: httpx.Client) -> None:
    zone = "Europe/Berlin"
    start = later(10, zone)
    query = {"timezone": zone, "start_mode": "at", "start_local": local(start), "repeat": "weekly",
             "days": ["mon", "thu"], "weekly_time": "09:30", "count": "8", "duration_min": "45"}
    body = producer.get("/broadcasts/occurrences", params=query).text
    shown = re.findall(r'<time datetime="([^"]+)"', body)
    spec = BroadcastSpec(room_name="x", destinations=(), start_at=start, max_duration_s=45 * 60,
                         recurrence=Recurrence("30 9 * * mon,thu", zone, count=8))
    expected: list[str] = []
    slot = occurrence(spec, 0)
    while slot is not None and len(expected) < 5:
        expected.append(slot[0].astimezone(UTC).isoformat().replace("+00:00", "Z"))
        slot = occurrence(spec, len(expected), after=slot[0] + timedelta(seconds=1))
    assert shown == expected and len(shown) == 5
    bad = producer.get("/broadcasts/occurrences", params={**query, "repeat": "cron", "cron": "nope"}).text
    assert "recurrence.cron: is not a valid cron expression" in bad


def test_edit_preflight_cancel_and_filters(service: Served, producer: httpx.Client) -> None:
    room = "filters-room"
    created = producer.post("/broadcasts/new", data={**FORM, "csrf_token": csrf(producer), "room_name": room,
                                                     "start_mode": "at", "start_local": local(later(180))})
    page = created.headers["location"].split("?")[0]
    edit = producer.get(f"{page}/edit").text
    start_local = re.search(r'id="start_local" name="start_local" value="([^"]*)"', edit)
    assert start_local and start_local.group(1)
    saved = producer.post(f"{page}/edit", data={"csrf_token": csrf(producer, page), "timezone": "UTC",
                                                "start_mode": "at", "start_local": start_local.group(1),
                                                "end_mode": "duration", "duration_min": "45", "layout": "gallery"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=saved")
    shown = producer.get(saved.headers["location"]).text
    assert "Changes saved." in shown and "after 45.0 min" in shown
    checked = producer.post(f"{page}/preflight", data={"csrf_token": csrf(producer, page)})
    assert checked.status_code == 200 and "Preflight:" in checked.text
    assert re.search(r"<strong>livekit</strong>", checked.text) and "<strong>layout</strong>" in checked.text
    listed = producer.get("/broadcasts", params={"room": room}).text
    assert page.rsplit("/", 1)[1] in listed and "(1 of" not in listed
    assert page.rsplit("/", 1)[1] not in producer.get("/broadcasts", params={"room": "no-such-room"}).text
    assert page.rsplit("/", 1)[1] not in producer.get("/broadcasts", params={"room": room, "state": "cancelled"}).text
    cancelled = producer.post(f"{page}/cancel", data={"csrf_token": csrf(producer, page)})
    assert cancelled.status_code == 303 and cancelled.headers["location"].endswith("?notice=cancelled")
    assert page.rsplit("/", 1)[1] in producer.get("/broadcasts", params={"room": room, "state": "cancelled"}).text
    again = producer.post(f"{page}/start", data={"csrf_token": csrf(producer, page)})
    assert again.status_code == 409 and "is cancelled" in again.text


def test_start_now_and_stop_from_the_page(service: Served, producer: httpx.Client) -> None:
    created = producer.post("/broadcasts/new", data={**FORM, "csrf_token": csrf(producer), "room_name": "demo",
                                                     "start_mode": "at", "start_local": local(later(240))})
    page = created.headers["location"].split("?")[0]
    started = producer.post(f"{page}/start", data={"csrf_token": csrf(producer, page)})
    assert started.status_code == 303 and started.headers["location"].endswith("?notice=started")

    def status() -> str:
        body = producer.get(f"{page}/runs", params={"part": "status"}).text
        found = re.search(r'id="run-status">([a-z]+)<', body)
        return found.group(1) if found else ""

    wait_until(lambda: status() == "live", timeout=15)
    runs = producer.get(f"{page}/runs").text
    assert "Started by hand" in runs and "<strong>Live</strong>" in runs
    stopped = producer.post(f"{page}/stop", data={"csrf_token": csrf(producer, page)})
    assert stopped.status_code == 303 and stopped.headers["location"].endswith("?notice=stopping")
    wait_until(lambda: status() == "", timeout=15)
    assert '<span class="badge ended">ended</span>' in producer.get(f"{page}/runs").text
    runs = producer.get(f"{page}/runs").text
    assert re.search(r"Started by hand</strong> · <time[^>]*>[^<]*</time>\s*<span class=\"step-by\">by producer</span>",
                     runs)
    assert re.search(r"<strong>Stopping</strong>.{0,200}by producer", runs, re.S)
    live_step = re.search(r"<strong>Live</strong> · <time[^>]*>[^<]*</time>\s*(<span class=\"step-by\">)?", runs)
    assert live_step and live_step.group(1) is None  # the service's own step names nobody
    history = producer.get(page).text.split('id="broadcast-history"')[1]
    assert re.search(r"<strong>scheduled</strong>.{0,200}by producer", history, re.S), history[:500]


def test_list_pages_with_a_cursor(service: Served, producer: httpx.Client) -> None:
    start = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {service.token}"}) as api:
        for i in range(27):
            created = api.post("/v1/broadcasts", json={**API, "room_name": "paged", "title": f"paged-{i:02d}",
                                                       "start_at": start})
            assert created.status_code == 201, created.text
    first = producer.get("/broadcasts", params={"room": "paged"}).text
    titles = re.findall(r">(paged-\d\d)</a>", first)
    assert titles == [f"paged-{i:02d}" for i in range(26, 1, -1)]  # newest first, 25 a page
    older = re.search(r'<a href="(/broadcasts\?[^"]*cursor=[^"]+)">Older broadcasts</a>', first)
    assert older
    second = producer.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r">(paged-\d\d)</a>", second) == ["paged-01", "paged-00"]
    assert "Older broadcasts" not in second
    assert "Every" not in second and "Once" in second


def test_live_controls_errors_are_the_apis(service: Served, producer: httpx.Client) -> None:
    created = producer.post("/broadcasts/new", data={**FORM, "csrf_token": csrf(producer), "start_mode": "at",
                                                     "start_local": local(later(300))})
    page = created.headers["location"].split("?")[0]
    broadcast_id = page.rsplit("/", 1)[1]
    bearer = {"Authorization": f"Bearer {service.token}"}
    api = httpx.patch(f"{service.url}/v1/broadcasts/{broadcast_id}", headers=bearer,
                      json={"add_destinations": [{"type": "mux", "stream_key": "bad key"}]})
    assert api.status_code == 422
    added = producer.post(f"{page}/destinations", data={"csrf_token": csrf(producer, page), "dest_type_0": "mux",
                                                        "dest_key_0": "bad key"})
    assert added.status_code == 422 and api.json()["error"]["message"] in html.unescape(added.text)
    layout = producer.post(f"{page}/layout", data={"csrf_token": csrf(producer, page), "layout": "nope"})
    api = httpx.patch(f"{service.url}/v1/broadcasts/{broadcast_id}", headers=bearer, json={"layout": "nope"})
    assert layout.status_code == api.status_code == 422
    assert api.json()["error"]["message"] in html.unescape(layout.text)
    ok = producer.post(f"{page}/destinations", data={"csrf_token": csrf(producer, page), "dest_type_0": "rtmp",
                                                     "dest_url_0": "rtmp://127.0.0.1:1935/live/added-key-555"})
    assert ok.status_code == 303 and ok.headers["location"].endswith("?notice=destination_added")
    shown = producer.get(page).text
    assert "added-key-555" not in shown and shown.count("/remove\"") == 2
    dst = re.search(r'action="/broadcasts/[^/]+/destinations/(dst_[0-9a-f]+)/remove"', shown)
    assert dst
    removed = producer.post(f"{page}/destinations/{dst.group(1)}/remove", data={"csrf_token": csrf(producer, page)})
    assert removed.status_code == 303 and "/remove\"" not in producer.get(page).text  # the last one stays
