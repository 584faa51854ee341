"""Shared by the cross-page console tests: data made through the API, every console page by name, pages opened
as a signed-in person, dialogs recorded, and polling from outside the page (the CSP forbids evaluated strings,
so `wait_for_function` cannot be used)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from tests.browser.console import sign_in
from tests.harness import wait_until
from tests.integration.served import Served

MUX = {"type": "mux", "stream_key": "sk-cross-page-secret-0123456789"}


def api(served: Served) -> httpx.Client:
    """An API client with the service's bootstrap token (an admin)."""
    return httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.token}"}, timeout=30)


@dataclass
class Seed:
    """One of everything a console page can show, made through the API."""

    broadcast: str  # a live broadcast of room demo
    egress: str
    recording_mp4: str
    recording_hls: str
    rule: str
    room: str = "demo"


def seed(served: Served, title: str = "Seeded show") -> Seed:
    """A rule, a recorded egress (MP4 + HLS, ready), and a broadcast of room demo, live."""
    from tests.integration.test_console_recordings_pages import record

    with api(served) as http:
        rule = http.post("/v1/rules", json={"name": f"rule of {title}", "enabled": False,
                                            "match": {"room_name_glob": "seeded-*", "metadata": {"show": "yes"}},
                                            "actions": {"composite": {}}})
        assert rule.status_code == 201, rule.text
        recordings = {r["kind"]: r for r in record(served, seconds=1.0)}
        made = http.post("/v1/broadcasts", json={"room_name": "demo", "title": title, "max_duration_s": 3600,
                                                 "destinations": [MUX]})
        assert made.status_code == 201, made.text
        broadcast = made.json()["id"]
        wait_until(lambda: http.get(f"/v1/broadcasts/{broadcast}").json()["runs"][0]["status"] == "live",
                   timeout=20)
    return Seed(broadcast=broadcast, egress=recordings["file"]["egress_id"],
                recording_mp4=recordings["file"]["id"], recording_hls=recordings["hls"]["id"],
                rule=rule.json()["id"])


def console_pages(s: Seed) -> dict[str, str]:
    """Every console page a signed-in admin can open (name -> path), one of each kind."""
    return {
        "now": "/",
        "broadcasts": "/broadcasts",
        "broadcast-new": "/broadcasts/new",
        "broadcast-detail": f"/broadcasts/{s.broadcast}",
        "broadcast-edit": f"/broadcasts/{s.broadcast}/edit",
        "recordings": "/recordings",
        "recording-detail": f"/recordings/{s.recording_mp4}",
        "recording-hls": f"/recordings/{s.recording_hls}",
        "rooms": "/rooms",
        "room-detail": f"/rooms/{quote(s.room, safe='')}",
        "rules": "/rules",
        "rule-new": "/rules/new",
        "rule-detail": f"/rules/{s.rule}",
        "egresses": "/egresses",
        "egress-detail": f"/egresses/{s.egress}",
        "settings": "/settings",
    }


PAGE_NAMES = ["sign-in", "now", "broadcasts", "broadcast-new", "broadcast-detail", "broadcast-edit", "recordings",
              "recording-detail", "recording-hls", "rooms", "room-detail", "rules", "rule-new", "rule-detail",
              "egresses", "egress-detail", "settings"]


def signed_in_state(browser: Any, served: Served, name: str) -> dict[str, Any]:
    """`name`'s browser storage state (the session cookie), signed in once through the sign-in page."""
    context = browser.new_context()
    try:
        sign_in(context.new_page(), served.url, name)
        state: dict[str, Any] = context.storage_state()
        return state
    finally:
        context.close()


class Dialogs:
    """Every dialog a page opens (alert, confirm), answered by `accept`."""

    def __init__(self, page: Any, accept: bool = False) -> None:
        self.messages: list[str] = []
        self.accept = accept
        page.on("dialog", self._answer)

    def _answer(self, dialog: Any) -> None:
        self.messages.append(f"{dialog.type}: {dialog.message}")
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()


def poll(page: Any, expression: str, timeout_s: float = 15, every_ms: int = 50) -> float:
    """Seconds until the JavaScript `expression` is truthy in `page`; fails after `timeout_s`."""
    start = time.monotonic()
    while not page.evaluate(expression):
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(every_ms)
    return time.monotonic() - start


def until(check: Callable[[], Any], timeout_s: float = 20, every_s: float = 0.1) -> Any:
    """The first truthy value of `check()`; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{check} still false after {timeout_s} s")
        time.sleep(every_s)
    return value


def change_controls(page: Any) -> list[str]:
    """What on the page could change something: forms posting (other than sign-out), their submit buttons,
    htmx attributes that send an unsafe method. Each as a short description."""
    found: list[str] = page.evaluate("""() => {
      const out = [];
      for (const f of document.querySelectorAll('form')) {
        const method = (f.getAttribute('method') || 'get').toLowerCase();
        const action = f.getAttribute('action') || '';
        if (method !== 'get' && action !== '/sign-out') out.push(`form ${method} ${action}`);
      }
      for (const b of document.querySelectorAll('button, input[type=submit], input[type=button]')) {
        const form = b.form;
        const type = (b.getAttribute('type') || 'submit').toLowerCase();
        const safe = type === 'button' || (form && ((form.getAttribute('method') || 'get').toLowerCase() === 'get'
                       || form.getAttribute('action') === '/sign-out'));
        if (!safe) out.push(`button ${b.textContent.trim()}`);
      }
      for (const el of document.querySelectorAll('[hx-post],[hx-put],[hx-patch],[hx-delete],[data-hx-post]'))
        out.push(`htmx ${el.outerHTML.slice(0, 80)}`);
      return out;
    }""")
    return found
