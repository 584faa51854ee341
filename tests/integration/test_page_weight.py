"""Every console page's first load stays within 150 KB of JavaScript and CSS (summed from templates/static/).

The pages are rendered by a real `orchestrator serve` for a signed-in admin; each page's `<script src>` and
`<link rel=stylesheet>` under /static/ are summed from the files served. bench/page_weight.py measures the same in
Chromium from the bytes actually transferred.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser.console import PASSWORD, add_person, session_cookies
from tests.integration.served import VENV, Served, served

STATIC = Path(__file__).resolve().parents[2] / "templates" / "static"
BUDGET = 150 * 1024
PAGES = ["/", "/broadcasts", "/broadcasts/new", "/broadcasts/{broadcast}", "/broadcasts/{broadcast}/edit",
         "/recordings", "/recordings/{recording}", "/rooms", "/rooms/demo", "/rules", "/rules/new", "/rules/{rule}",
         "/egresses", "/egresses/{egress}", "/settings", "/sign-in"]


class Assets(HTMLParser):
    """The /static/ scripts and stylesheets a page loads at first."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") if tag == "script" else a.get("href") if tag == "link" and a.get("rel") == "stylesheet" \
            else None
        if url:
            self.found.append(urlsplit(url).path)


def first_load(html: str) -> dict[str, int]:
    """Each asset the page loads at first, with its size in bytes (an asset outside /static/ fails)."""
    parser = Assets()
    parser.feed(html)
    sizes = {}
    for path in parser.found:
        assert path.startswith("/static/"), f"{path}: the console loads only its own static files"
        sizes[path] = (STATIC / path.removeprefix("/static/")).stat().st_size
    return sizes


def test_first_load_counts_scripts_and_stylesheets_only() -> None:
    html = ('<link rel="stylesheet" href="/static/console.css?v=1"><link rel="icon" href="/static/console.css">'
            '<script src="/static/vendor/htmx.min.js" defer></script>'
            '<video data-hls-lib="/static/vendor/hls.light.min.js">')
    assert first_load(html) == {"/static/console.css": (STATIC / "console.css").stat().st_size,
                                "/static/vendor/htmx.min.js": (STATIC / "vendor/htmx.min.js").stat().st_size}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("page-weight")) as handle:
        yield handle


def make_examples(service: Served) -> dict[str, str]:
    """A broadcast, a rule, an egress and its recording, made as a person would."""
    env = {**os.environ, "ORCHESTRATOR_URL": service.url, "ORCHESTRATOR_API_TOKEN": service.token}

    def cli(*args: str) -> str:
        done = subprocess.run([str(VENV / "bin" / "orchestrator"), *args], env=env, check=True, capture_output=True,
                              text=True, timeout=60)
        return done.stdout

    api = httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {service.token}"}, timeout=30)
    cli("rules", "add", "classes", "--glob", "class-*", "--s3", "classes/{room_name}-{time}.mp4")
    broadcast = api.post("/v1/broadcasts", json={
        "room_name": "demo", "layout": "active-speaker", "title": "Weekly",
        "destinations": [{"type": "mux", "stream_key": "sandbox-stream-key"}],
        "start_at": "2030-01-01T18:00:00+01:00", "max_duration_s": 3600})
    broadcast.raise_for_status()
    cli("egress", "start", "--room", "demo", "--s3", "demo/{time}.mp4")
    egress = api.get("/v1/egresses").json()["items"][0]["id"]
    deadline = time.monotonic() + 30
    while api.get(f"/v1/egresses/{egress}").json()["status"] != "active":
        assert time.monotonic() < deadline, "the egress did not become active"
        time.sleep(0.2)
    cli("egress", "stop", egress)
    while not (recordings := api.get("/v1/recordings").json()["items"]):
        assert time.monotonic() < deadline + 30, "no recording was catalogued"
        time.sleep(0.2)
    return {"broadcast": broadcast.json()["id"], "rule": api.get("/v1/rules").json()["items"][0]["id"],
            "egress": egress, "recording": recordings[0]["id"]}


def test_every_console_page_loads_at_most_150_kb_of_js_and_css(service: Served) -> None:
    add_person(service, "weigher", "admin", PASSWORD)
    ids = make_examples(service)
    cookies = session_cookies(service.url, "weigher", PASSWORD)
    over, weights = {}, {}
    with httpx.Client(base_url=service.url, cookies=cookies, timeout=30) as http:
        for page in PAGES:
            path = page.format(**ids)
            response = http.get(path) if path != "/sign-in" else httpx.get(f"{service.url}{path}", timeout=30)
            assert response.status_code == 200, f"{path}: {response.status_code}"
            assets = first_load(response.text)
            weights[path] = sum(assets.values())
            if weights[path] > BUDGET:
                over[path] = assets
    assert over == {}, f"over {BUDGET // 1024} KB of JS and CSS at first load: {over}"
    assert min(weights.values()) > 50 * 1024, weights  # htmx alone is 50 KB: the pages' assets were counted
