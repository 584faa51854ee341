"""The Rules pages in Chromium against `orchestrator serve`: an admin creates a rule through the form (an error
beside its field first), tries a room against it, disables it with the keyboard; a viewer sees no buttons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.console import sign_in
from tests.integration.served import Served


@pytest.fixture
def page_as(browser: Any, console: Served) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(name: str) -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        page = context.new_page()
        sign_in(page, console.url, name)
        return page

    yield open_page
    for context in contexts:
        context.close()


def shoot(page: Any, artifacts_dir: Path, name: str) -> None:
    for width in (1440, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=artifacts_dir / f"{name}-{width}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


def rule(console: Served, name: str) -> dict[str, Any]:
    with httpx.Client(base_url=console.url, headers={"Authorization": f"Bearer {console.token}"}, timeout=30) as api:
        answer = api.get(f"/v1/rules/{name}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def test_an_admin_creates_tries_and_disables_a_rule(page_as: Any, console: Served, artifacts_dir: Path) -> None:
    page = page_as("admin")
    page.goto(f"{console.url}/rules")
    page.get_by_role("link", name="New rule").click()
    page.wait_for_url("**/rules/new")
    page.get_by_label("Name", exact=True).fill("webinars")
    page.get_by_label("Room name pattern").fill("webinar-*")
    page.get_by_label("Metadata the room must contain").fill('{"record": "yes"')  # unfinished JSON
    page.get_by_label("Composite layout").select_option("speaker")
    page.get_by_label("Each participant", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Create rule").click()
    error = page.locator("#f-match-metadata-error")
    assert error.inner_text().startswith("match.metadata: not valid JSON")
    assert page.get_by_label("Metadata the room must contain").get_attribute("aria-describedby") == \
        "f-match-metadata-error"
    assert page.get_by_label("Room name pattern").input_value() == "webinar-*"  # what was typed stays
    shoot(page, artifacts_dir, "console-rule-form-error")
    page.get_by_label("Metadata the room must contain").fill('{"record": "yes"}')
    with page.expect_navigation():
        page.get_by_role("button", name="Create rule").click()
    assert "Rule created." in page.locator("main").inner_text()
    made = rule(console, "webinars")
    assert made["actions"]["composite"]["layout"] == "speaker" and made["actions"]["participants"] is not None
    assert made["match"]["metadata"] == {"record": "yes"}
    shoot(page, artifacts_dir, "console-rule-detail")

    page.goto(f"{console.url}/rules")
    page.get_by_label("Room name", exact=True).fill("webinar-7")
    page.get_by_label("Room metadata").fill("record=yes\nhost=ann")
    with page.expect_navigation():
        page.get_by_role("button", name="Try").click()
    trial = page.locator("#trial").inner_text()
    assert "webinars: room name matches 'webinar-*'; metadata contains" in trial
    assert "composite, speaker layout: MP4 webinar-7/RM_example/composite-" in trial
    assert "each participant: {room_name}/{room_sid}/participants/{identity}-{time}.mp4" in trial
    shoot(page, artifacts_dir, "console-rules")

    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Disable webinars":
            break
    else:
        raise AssertionError("Tab never reached the rule's Disable button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Rule disabled." in page.locator("main").inner_text()
    assert rule(console, "webinars")["enabled"] is False


def test_a_viewer_sees_rules_and_can_try_them_but_has_no_buttons(page_as: Any, console: Served,
                                                                 artifacts_dir: Path) -> None:
    with httpx.Client(base_url=console.url, headers={"Authorization": f"Bearer {console.token}"}, timeout=30) as api:
        api.post("/v1/rules", json={"name": "<i>italic</i> rule", "match": {"room_name_glob": "lobby*"},
                                    "actions": {"composite": {}}})
    page = page_as("viewer")
    dialogs: list[str] = []

    def refuse(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(f"{console.url}/rules?room=lobby-1&metadata=")
    assert page.get_by_role("link", name="<i>italic</i> rule").count() == 2  # in the list and the trial
    assert page.get_by_role("button").all_inner_texts() == ["Sign out", "Try"]
    assert page.get_by_role("link", name="New rule").count() == 0
    page.get_by_role("link", name="<i>italic</i> rule").first.click()
    page.wait_for_load_state()
    buttons = page.get_by_role("button").all_inner_texts()
    assert buttons == ["Sign out"], buttons
    assert page.get_by_label("Name", exact=True).get_attribute("readonly") is not None
    shoot(page, artifacts_dir, "console-rule-viewer")
    assert dialogs == []
