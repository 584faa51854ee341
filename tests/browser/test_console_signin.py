"""Signing in and out in Chromium: the form, its errors, throttling, sessions that end, and forged cross-site posts.

Failing sign-ins come from an address of their own (X-Forwarded-For, trusted from loopback as from a proxy), so
that the throttle they trip does not hold back the other tests signing in from 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.console import PASSWORD, add_person, sign_in

pytestmark = pytest.mark.browser


def _context(browser: Any, width: int = 1440, headers: dict[str, str] | None = None) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    if headers:
        context.set_extra_http_headers(headers)
    return context


def test_sign_in_lands_on_next_and_sign_out_ends_the_session(browser: Any, console: Any, artifacts_dir: Path) -> None:
    context = _context(browser)
    page = context.new_page()
    page.goto(f"{console.url}/settings")
    assert "/sign-in?next=/settings" in page.url
    page.screenshot(path=str(artifacts_dir / "console-signin-1440.png"), full_page=True)
    sign_in(page, console.url, "admin", next_path="/settings")
    assert page.url == f"{console.url}/settings"
    old = next(c for c in context.cookies() if c["name"] == "eo_session")
    assert old["httpOnly"] and old["sameSite"] == "Lax" and old["path"] == "/"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    assert not [c for c in context.cookies() if c["name"] == "eo_session"]
    replay = _context(browser)
    replay.add_cookies([{k: old[k] for k in ("name", "value", "domain", "path")}])
    again = replay.new_page()
    again.goto(f"{console.url}/settings")
    assert "/sign-in" in again.url  # the old cookie opens nothing
    replay.close()
    context.close()


def test_a_wrong_password_is_said_next_to_the_form_without_saying_which(browser: Any, console: Any,
                                                                          artifacts_dir: Path) -> None:
    context = _context(browser, 375, {"X-Forwarded-For": "198.51.100.20"})
    page = context.new_page()
    page.goto(f"{console.url}/sign-in")
    page.get_by_label("Name", exact=True).fill("viewer")
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "Wrong name or password."
    assert page.get_by_label("Name", exact=True).input_value() == "viewer"
    page.screenshot(path=str(artifacts_dir / "console-signin-error-375.png"), full_page=True)
    page.get_by_label("Name", exact=True).fill("nobody-at-all")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong name or password."
    context.close()


def test_sign_in_is_throttled_after_five_failures(browser: Any, console: Any) -> None:
    add_person(console, "tess", "viewer")
    context = _context(browser, headers={"X-Forwarded-For": "198.51.100.21"})
    page = context.new_page()
    page.goto(f"{console.url}/sign-in")
    for _ in range(5):
        page.get_by_label("Name", exact=True).fill("tess")
        page.get_by_label("Password", exact=True).fill("wrong password, again")
        with page.expect_response(lambda r: r.url.endswith("/sign-in") and r.request.method == "POST") as answer:
            page.get_by_role("button", name="Sign in").click()
        assert answer.value.status == 401
    page.get_by_label("Password", exact=True).fill(PASSWORD)  # even the right password waits now
    with page.expect_response(lambda r: r.url.endswith("/sign-in") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 429 and int(answer.value.headers["retry-after"]) > 0
    assert "Too many failed sign-ins. Try again in" in page.get_by_role("alert").inner_text()
    context.close()


class _Attacker(BaseHTTPRequestHandler):
    """Another origin's page whose form posts itself to the console as soon as it loads."""

    target = ""
    action = ""
    fields: dict[str, str] = {}

    def do_GET(self) -> None:
        inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in self.fields.items())
        body = (f'<!doctype html><html><body><form id="f" method="post" action="{self.target}{self.action}">'
                f'{inputs}</form><script>document.getElementById("f").submit()</script></body></html>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker(console: Any) -> Iterator[tuple[str, type[_Attacker]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    _Attacker.target = console.url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Attacker
    finally:
        server.shutdown()


@pytest.mark.parametrize(("action", "fields"), [
    ("/sign-out", {"csrf_token": "forged"}),
    ("/settings/people", {"csrf_token": "forged", "name": "mallory", "role": "admin", "password": PASSWORD * 2}),
    ("/settings/people", {"name": "mallory", "role": "admin", "password": PASSWORD * 2}),
])
def test_a_forged_cross_site_form_is_refused(browser: Any, console: Any, attacker: tuple[str, Any],
                                             action: str, fields: dict[str, str]) -> None:
    origin, handler = attacker
    handler.action, handler.fields = action, fields
    context = _context(browser)
    page = context.new_page()
    sign_in(page, console.url, "admin")
    # The attacker's port is another origin but the same site: the Lax cookie IS sent; the token and Origin stop it.
    with page.expect_response(lambda r: r.url == f"{console.url}{action}") as answer:
        page.goto(origin)
    assert answer.value.status == 403
    page.goto(f"{console.url}/settings")
    assert page.url == f"{console.url}/settings"  # still signed in
    assert page.get_by_role("cell", name="mallory").count() == 0  # nobody was added
    context.close()
