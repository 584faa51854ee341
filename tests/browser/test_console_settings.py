"""The Settings page in Chromium: admins only; doctor's checks; people and API keys managed through its forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.console import PASSWORD, add_person, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(browser: Any, console: Any) -> Any:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm's questions: yes
    sign_in(page, console.url, "admin", next_path="/settings")
    yield page
    context.close()


@pytest.mark.parametrize("name", ["producer", "viewer"])
def test_only_admins_see_settings(browser: Any, console: Any, name: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console.url, name, next_path="/settings")
    assert page.get_by_role("navigation", name="Console").get_by_role("link", name="Settings").count() == 0
    answer = page.goto(f"{console.url}/settings")
    assert answer is not None and answer.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"  # a page, in the console's shell
    assert page.get_by_role("alert").inner_text() == f"this page needs the admin role; you are {name}"
    assert page.request.get(f"{console.url}/settings/checks").status == 403
    context.close()


def test_the_doctor_checks_show_with_their_results_and_no_secret(admin_page: Any, console: Any) -> None:
    page = admin_page
    nav = page.get_by_role("navigation", name="Console")
    assert nav.get_by_role("link", name="Settings").get_attribute("aria-current") == "page"
    checks = page.locator("#checks table.checks")
    checks.wait_for(timeout=30_000)  # loaded by htmx once the page is shown
    rows = {r.locator("td").nth(0).inner_text(): r.locator("td").nth(1).inner_text()
            for r in checks.locator("tbody tr").all()}
    assert {"configuration", "database", "livekit", "storage", "webhooks"} <= set(rows)
    assert rows["database"] == "ok" and rows["livekit"] == "ok"
    assert console.token not in page.content()
    full = page.request.get(f"{console.url}/settings/checks")  # without JavaScript: a page of its own
    assert full.status == 200 and "<h1>Set-up checks</h1>" in full.text() and console.token not in full.text()


def test_people_are_added_changed_and_removed_through_the_forms(admin_page: Any, console: Any,
                                                                artifacts_dir: Path) -> None:
    page = admin_page
    page.locator("#person-name").fill("nina")
    page.locator("#person-role").select_option("producer")
    page.get_by_label("Password at least").fill("short")
    page.get_by_role("button", name="Add person").click()
    error = page.locator("#person-password-error")
    # the API's own 422 wording, next to the field (the browser's minlength does not hold this field back)
    assert error.inner_text() == "password: at least 12 characters"
    assert page.locator("#person-name").input_value() == "nina"
    page.get_by_label("Password at least").fill(PASSWORD)
    page.get_by_role("button", name="Add person").click()
    assert page.get_by_role("status").inner_text() == "nina was added."
    row = page.locator("table.people tr", has=page.get_by_role("cell", name="nina", exact=True))
    row.get_by_label("Role of nina").select_option("viewer")
    row.get_by_role("button", name="Change role of nina").click()
    assert page.get_by_role("status").inner_text() == "nina's role was changed."
    assert _person(console, "nina")["role"] == "viewer"
    row = page.locator("table.people tr", has=page.get_by_role("cell", name="nina", exact=True))
    row.get_by_label("New password for nina").fill("another long password")
    row.get_by_role("button", name="Reset the password of nina").click()
    assert page.get_by_role("status").inner_text() == "nina's password was reset."
    row = page.locator("table.people tr", has=page.get_by_role("cell", name="nina", exact=True))
    row.get_by_role("button", name="Disable nina").click()
    assert "nina was disabled" in page.get_by_role("status").inner_text()
    assert _person(console, "nina")["disabled"] is True
    page.locator("#checks table.checks").wait_for(timeout=30_000)  # the screenshot shows the checks too
    page.screenshot(path=str(artifacts_dir / "console-settings-1440.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    page.screenshot(path=str(artifacts_dir / "console-settings-375.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    row = page.locator("table.people tr", has=page.get_by_role("cell", name="nina", exact=True))
    row.get_by_role("button", name="Remove nina").click()
    assert "nina was removed" in page.get_by_role("status").inner_text()
    assert page.locator("table.people").get_by_role("cell", name="nina", exact=True).count() == 0


def test_a_key_is_shown_once_works_and_is_revoked_with_confirmation(admin_page: Any, console: Any,
                                                                    artifacts_dir: Path) -> None:
    page = admin_page
    page.get_by_label("Name what it is for").fill("<b>ci</b>")
    page.get_by_role("button", name="Create key").click()
    assert page.locator("#key-name-error").inner_text().startswith("name: 1 to 64 letters")
    page.get_by_label("Name what it is for").fill("ci-deploy")
    page.locator("#key-role").select_option("producer")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("API key", exact=True).input_value()
    assert secret.startswith("eo_")
    page.screenshot(path=str(artifacts_dir / "console-settings-new-key-1440.png"))
    me = httpx.get(f"{console.url}/v1/me", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert me.json() == {"name": "ci-deploy", "role": "producer", "kind": "key"}
    page.goto(f"{console.url}/settings")
    assert secret not in page.content()  # never shown again
    row = page.locator("table.keys tr", has=page.get_by_role("cell", name="ci-deploy"))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    row.get_by_role("button", name="Revoke the key ci-deploy").click()
    assert "The key ci-deploy was revoked." in page.get_by_role("status").inner_text()
    assert dialogs and "Revoke the key ci-deploy?" in dialogs[0]
    assert httpx.get(f"{console.url}/v1/me", headers={"Authorization": f"Bearer {secret}"},
                     timeout=10).status_code == 401


def test_a_viewer_cannot_post_to_settings_even_with_its_own_token(browser: Any, console: Any) -> None:
    add_person(console, "vince", "viewer")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, console.url, "vince")
    token = page.locator("form.who input[name=csrf_token]").get_attribute("value")
    answer = page.request.post(f"{console.url}/settings/people", form={
        "csrf_token": token or "", "name": "sneaky", "role": "admin", "password": PASSWORD},
        headers={"Origin": console.url})
    assert answer.status == 403
    assert all(p["name"] != "sneaky" for p in _people(console))
    context.close()


def _people(console: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{console.url}/v1/users", headers={"Authorization": f"Bearer {console.token}"}, timeout=10)
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _person(console: Any, name: str) -> dict[str, Any]:
    return next(p for p in _people(console) if p["name"] == name)
