"""Markup in names shows as text on every page that shows it, and runs nothing, in Chromium against a service of
this module's own (`orchestrator serve` on embedded defaults): a room named `<img src=x onerror=alert(1)>` with
markup in its metadata, a rule whose name and metadata match carry markup, a broadcast titled
`<script>alert(2)</script>`, their egresses and recording.

The browser context bypasses the Content-Security-Policy: the CSP would block an injected handler anyway, and
this test is about the escaping alone. Any dialog is recorded; no element may carry an inline handler and no
inline script may exist."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests.browser.console import PEOPLE, add_person, sign_in
from tests.browser.pages import Dialogs, api, until
from tests.integration.served import Served, served

ROOM = "<img src=x onerror=alert(1)>"
TITLE = "<script>alert(2)</script>"
RULE = "<b>bold</b> rule <img src=x onerror=alert(3)>"
SHOW = "<svg onload=alert(4)>"
METADATA = '{"show": "<svg onload=alert(4)>", "note": "<iframe src=javascript:alert(5)>"}'
PARTICIPANT = "<b>host</b>"  # joins the room (a publisher, so that the rule records it)

INJECTED = """(() => [...document.querySelectorAll('*')].filter(el =>
  [...el.attributes].some(a => a.name.startsWith('on')) || (el.tagName === 'SCRIPT' && !el.src)
  || el.tagName === 'IFRAME' && (el.getAttribute('src') || '').startsWith('javascript:')
  || el.tagName === 'svg' && el.closest('main')).map(el => el.outerHTML.slice(0, 120)))()"""


@dataclass
class Marked:
    served: Served
    rule: str
    broadcast: str
    rule_egress: str
    broadcast_egress: str
    recording: str


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Marked]:
    with served(tmp_path_factory.mktemp("markup")) as service, api(service) as http:
        for name, role in PEOPLE.items():
            add_person(service, name, role)
        rule = http.post("/v1/rules", json={"name": RULE, "match": {"room_name_glob": "<img*",
                                                                    "metadata": {"show": SHOW}},
                                            "actions": {"composite": {}}})
        assert rule.status_code == 201, rule.text
        with httpx.Client(base_url=service.sandbox_url, timeout=30) as sandbox:
            made = sandbox.post("/sandbox/rooms", json={"name": ROOM, "metadata": METADATA})
            assert made.status_code == 201, made.text
            joined = sandbox.post(f"/sandbox/rooms/{quote(ROOM, safe='')}/participants", json={"identity": PARTICIPANT})
            assert joined.status_code == 201, joined.text

        def recorded() -> str:
            items = http.get("/v1/sessions", params={"room_name": ROOM}).json()["items"]
            claims = items[0]["recordings"] if items else []
            return str(claims[0]["egress"]["id"]) if claims and claims[0]["egress"] else ""

        rule_egress = until(recorded, timeout_s=20)
        until(lambda: http.get(f"/v1/egresses/{rule_egress}").json()["status"] == "active", timeout_s=20)
        broadcast = http.post("/v1/broadcasts", json={
            "room_name": ROOM, "title": TITLE, "max_duration_s": 600,
            "destinations": [{"type": "mux", "stream_key": "sk-markup-0123456789"}]})
        assert broadcast.status_code == 201, broadcast.text
        b_id = broadcast.json()["id"]
        run = until(lambda: (r := http.get(f"/v1/broadcasts/{b_id}").json()["runs"][0])["status"] == "live" and r,
                    timeout_s=20)
        assert http.post(f"/v1/egresses/{rule_egress}/stop").status_code == 200
        recording = until(lambda: [r for r in http.get("/v1/recordings", params={"egress": rule_egress}).json()
                                   ["items"] if r["status"] == "ready"], timeout_s=30)[0]
        yield Marked(service, rule.json()["id"], b_id, rule_egress, run["egresses"][0]["id"], recording["id"])


@pytest.fixture
def page_as(browser: Any, marked: Marked) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(name: str) -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, marked.served.url, name)
        return page

    yield open_page
    for context in contexts:
        context.close()


def pages(m: Marked) -> dict[str, tuple[str, ...]]:
    """Each page that shows the markup -> the texts it must show literally."""
    room = quote(ROOM, safe="")
    return {
        "/": (ROOM, TITLE),
        "/rooms": (ROOM,),
        f"/rooms/{room}": (ROOM, RULE, SHOW),
        "/broadcasts": (ROOM, TITLE),
        f"/broadcasts/{m.broadcast}": (ROOM, TITLE),
        "/rules": (RULE, SHOW),
        f"/rules/{m.rule}": (RULE,),
        "/egresses?" + urlencode({"q": ROOM}): (ROOM,),
        f"/egresses/{m.rule_egress}": (ROOM,),
        f"/egresses/{m.broadcast_egress}": (ROOM,),
        "/recordings?" + urlencode({"room_name": ROOM}): (ROOM,),
        f"/recordings/{m.recording}": (ROOM,),
    }


def check_page(page: Any, url: str, texts: tuple[str, ...]) -> list[str]:
    """What is wrong on `url`: a text not shown literally, an element the markup made."""
    answer = page.goto(url)
    problems = [] if answer and answer.status == 200 else [f"{url}: {answer and answer.status}"]
    page.wait_for_timeout(100)
    main = page.locator("main").inner_text()
    problems += [f"{url}: {text!r} is not shown as text" for text in texts if text not in main]
    problems += [f"{url}: injected {html}" for html in page.evaluate(INJECTED)]
    return problems


@pytest.mark.parametrize("who", ["viewer", "admin"])
def test_markup_shows_as_text_and_runs_nothing_on_every_page(page_as: Any, marked: Marked, who: str,
                                                              artifacts_dir: Path) -> None:
    page = page_as(who)
    dialogs = Dialogs(page)
    problems: list[str] = []
    shown = pages(marked)
    if who == "admin":
        shown[f"/broadcasts/{marked.broadcast}/edit"] = (ROOM, TITLE)  # shown, not editable, once created
    for path, texts in shown.items():
        problems += check_page(page, f"{marked.served.url}{path}", texts)
    page.goto(f"{marked.served.url}/rooms/{quote(ROOM, safe='')}")
    page.screenshot(path=str(artifacts_dir / f"markup-room-{who}-1440.png"), full_page=True)
    assert problems == [], "\n".join(problems)
    assert dialogs.messages == [], f"markup ran: {dialogs.messages}"


def test_markup_in_a_fragment_swapped_in_by_an_event_runs_nothing(page_as: Any, marked: Marked) -> None:
    """The Now page re-renders its runs when the broadcast's run ends (an SSE event, an htmx swap)."""
    page = page_as("viewer")
    dialogs = Dialogs(page)
    page.goto(f"{marked.served.url}/")
    assert TITLE in page.locator("#now-runs").inner_text()
    page.wait_for_timeout(500)  # the event stream connects
    page.evaluate("window.__sameDocument = 1")
    with api(marked.served) as http:
        assert http.post(f"/v1/broadcasts/{marked.broadcast}/stop").status_code == 200
    until(lambda: TITLE not in page.locator("#now-live").inner_text(), timeout_s=15)
    assert page.evaluate("window.__sameDocument") == 1  # swapped in, not reloaded
    assert ROOM in page.locator("main").inner_text()
    assert page.evaluate(INJECTED) == []
    assert dialogs.messages == []


def test_trying_a_rule_with_markup_shows_it_as_text(page_as: Any, marked: Marked) -> None:
    page = page_as("admin")
    dialogs = Dialogs(page)
    page.goto(f"{marked.served.url}/rules")
    page.get_by_label("Room name", exact=True).fill(ROOM)
    page.get_by_label("Room metadata").fill(METADATA)
    with page.expect_navigation():
        page.locator("#try").get_by_role("button", name="Try").click()
    result = page.locator("#try").inner_text()
    assert RULE in result, result
    assert page.evaluate(INJECTED) == []
    assert page.get_by_label("Room name", exact=True).input_value() == ROOM
    assert dialogs.messages == []


def test_the_checks_would_catch_markup_that_ran(page_as: Any, marked: Marked) -> None:
    """Planted as markup (not text) in a page of this context, the room's name does open a dialog, and is seen."""
    page = page_as("viewer")
    dialogs = Dialogs(page)
    page.goto(f"{marked.served.url}/rooms")
    page.evaluate("name => { document.querySelector('main').insertAdjacentHTML('beforeend', name); }", ROOM)
    until(lambda: page.wait_for_timeout(50) or dialogs.messages, timeout_s=5)  # events arrive in calls
    assert dialogs.messages == ["alert: 1"]
    assert page.evaluate(INJECTED) == ['<img src="x" onerror="alert(1)">']
