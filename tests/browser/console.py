"""Helpers for console tests: people added through the API, signing in through the sign-in page."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.served import Served

PASSWORD = "correct horse battery staple"
PEOPLE = {"admin": "admin", "producer": "producer", "viewer": "viewer"}  # name -> role


def add_person(served: Served, name: str, role: str, password: str = PASSWORD) -> dict[str, Any]:
    """Create a person with `POST /v1/users` and the service's bootstrap token."""
    response = httpx.post(f"{served.url}/v1/users", json={"name": name, "role": role, "password": password},
                          headers={"Authorization": f"Bearer {served.token}"}, timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def sign_in(page: Any, base_url: str, name: str, password: str = PASSWORD, next_path: str = "/") -> None:
    """Sign `page` (a Playwright sync Page) in through the sign-in form; returns once the form was answered."""
    page.goto(f"{base_url}/sign-in?next={next_path}")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if "/sign-in" in page.url:
        raise AssertionError(f"{name} could not sign in: {page.locator('main').inner_text()}")


def session_cookies(base_url: str, name: str, password: str = PASSWORD) -> httpx.Cookies:
    """The cookies of a console session, signed in over plain HTTP (no browser), for httpx clients."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        form = http.get("/sign-in")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = http.post("/sign-in", data={"name": name, "password": password, "csrf_token": token, "next": "/"})
        if answer.status_code != 303:
            raise AssertionError(f"{name} could not sign in: {answer.status_code}")
        return http.cookies
