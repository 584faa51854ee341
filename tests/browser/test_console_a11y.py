"""Accessibility of every console page in Chromium: axe-core (pinned in package.json, `npm ci`) finds no serious
or critical violation at 1440 px and at 375 px, and a full-page screenshot of each is saved as an artifact.

axe is injected as a script, which the pages' CSP refuses; this module's browser contexts bypass the CSP (and only
these: every other test runs under it). The service is the session's `console`, with one of everything seeded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import REPO_ROOT
from tests.browser.pages import PAGE_NAMES, Seed, api, console_pages, seed, signed_in_state
from tests.integration.served import Served

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1440, 375)
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def seeded(console: Served) -> Iterator[Seed]:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is a pinned devDependency)")
    made = seed(console, title="Accessible show")
    yield made
    with api(console) as http:  # its run is live: end it for the session's other tests
        http.post(f"/v1/broadcasts/{made.broadcast}/stop")


def sign_in_wrongly(page: Any) -> None:
    page.set_extra_http_headers({"X-Forwarded-For": "198.51.100.90"})  # its own address: nobody else throttled
    page.get_by_label("Name", exact=True).fill("nobody-at-all")
    page.get_by_label("Password", exact=True).fill("not a password of anyone")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").count() == 1


def submit_empty(button: str) -> Callable[[Any], None]:
    def submit(page: Any) -> None:
        with page.expect_navigation():
            page.get_by_role("button", name=button).click()
        assert page.locator(".error").count() >= 1, "the empty form was not refused"
    return submit


def nothing(page: Any) -> None:
    pass


# Pages in another state: a form answered with its errors beside the fields; what a viewer sees (read-only).
STATES: dict[str, tuple[str, Callable[[Any], None]]] = {
    "sign-in-error": ("sign-in", sign_in_wrongly),
    "broadcast-new-errors": ("broadcast-new", submit_empty("Create broadcast")),
    "rule-new-errors": ("rule-new", submit_empty("Create rule")),
    **{f"{base}-as-viewer": (base, nothing) for base in ("now", "broadcast-detail", "recording-detail",
                                                          "rule-detail", "rules", "egress-detail")},
}
# Parts a page loads after it is shown (htmx): axe waits for them.
LOADED_LATER = {"settings": "#checks table"}


@pytest.fixture(scope="module")
def contexts(browser: Any, console: Served, seeded: Seed) -> Iterator[dict[str, Any]]:
    """who -> a CSP-bypassing context: the signed-in admin or viewer, or nobody (for the sign-in page)."""
    people = {"admin": signed_in_state(browser, console, "admin"),
              "viewer": signed_in_state(browser, console, "viewer"), "nobody": None}
    made = {who: browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, bypass_csp=True,
                                     storage_state=state) for who, state in people.items()}
    yield made
    for context in made.values():
        context.close()


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    at {' '.join(node['target'])}: {node['html'][:160]}")
            if node.get("failureSummary"):
                lines.append("      " + node["failureSummary"].replace("\n", "\n      "))
    return "\n".join(lines)


def run_axe(page: Any) -> list[dict[str, Any]]:
    result: dict[str, Any] = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return {violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
              nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html,
                                         failureSummary: n.failureSummary}))}))};
    }""")
    violations: list[dict[str, Any]] = result["violations"]
    return violations


@pytest.mark.parametrize("name", PAGE_NAMES + list(STATES))
def test_no_serious_or_critical_violation(contexts: dict[str, Any], console: Served, seeded: Seed,
                                          artifacts_dir: Path, name: str) -> None:
    """The page loaded once, checked at 1440 px, then narrowed to 375 px and checked again (as a phone shows it:
    the same document, the media queries applied)."""
    base, then = STATES.get(name, (name, None))
    path = "/sign-in" if base == "sign-in" else console_pages(seeded)[base]
    who = "nobody" if base == "sign-in" else "viewer" if name.endswith("-as-viewer") else "admin"
    page = contexts[who].new_page()
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        answer = page.goto(f"{console.url}{path}")
        assert answer is not None and answer.status == 200, f"{path}: {answer and answer.status}"
        assert page.url.split("?")[0] == f"{console.url}{path}", f"{path} went to {page.url}"
        if then:
            then(page)
        if base in LOADED_LATER:
            page.locator(LOADED_LATER[base]).first.wait_for(timeout=30_000)
        page.add_script_tag(path=str(AXE))
        failures = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(100)  # console.js has rewritten local times; the layout has settled
            page.screenshot(path=str(artifacts_dir / f"console-{name}-{width}.png"), full_page=True)
            violations = run_axe(page)
            if violations:
                print(f"{name} at {width} px, every violation:\n{describe(violations)}")
            blocking = [v for v in violations if v["impact"] in BLOCKING]
            if blocking:
                failures.append(f"{name} ({path}) at {width} px:\n{describe(blocking)}")
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                failures.append(f"{name} scrolls sideways at {width} px ({wide} px wide)")
        assert not failures, "\n".join(failures)
        assert not errors, errors
    finally:
        page.close()


def test_axe_finds_a_planted_violation(contexts: dict[str, Any], console: Served) -> None:
    """The check can fail: an unlabelled input and an image without text on the sign-in page are reported."""
    page = contexts["nobody"].new_page()
    try:
        page.goto(f"{console.url}/sign-in")
        page.add_script_tag(path=str(AXE))
        page.evaluate("""() => {
          const main = document.querySelector('main');
          main.insertAdjacentHTML('beforeend', '<input type="text" id="planted"><img src="/static/none.png">');
        }""")
        found = {v["id"]: v["impact"] for v in run_axe(page)}
        assert found.get("label") == "critical" and found.get("image-alt") == "critical", json.dumps(found)
    finally:
        page.close()
