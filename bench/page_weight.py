"""JS and CSS bytes each console page transfers at its first load in Chromium, against the 150 KB budget.

    .venv/bin/python -m bench.page_weight

One `orchestrator serve` on embedded defaults with an admin signed in and an example of each thing (a broadcast,
a rule, an egress and its recording); every page in a fresh browser context (empty cache), the response bodies of
its scripts and stylesheets summed (uncompressed: the service sends no Content-Encoding). Anything loaded later
(hls.js, only when a person presses Play on an HLS recording) is not counted. tests/integration/test_page_weight.py
keeps the same budget in CI from the files the pages name.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.console import PASSWORD, add_person, sign_in
from tests.integration.served import served
from tests.integration.test_page_weight import BUDGET, PAGES, make_examples


def weigh(browser: Any, base_url: str, path: str, state: Any) -> tuple[int, int, int]:
    """(JS bytes, CSS bytes, requests) of `path`'s first load."""
    context = browser.new_context(storage_state=state, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        responses: list[Any] = []
        page.on("response", lambda response: responses.append(response))
        page.goto(f"{base_url}{path}", wait_until="networkidle")
        kinds = {"script": 0, "stylesheet": 0}
        counted = [r for r in responses if r.request.resource_type in kinds]
        for response in counted:  # read once the page settled (not inside the event handler)
            kinds[response.request.resource_type] += len(response.body())
        return kinds["script"], kinds["stylesheet"], len(counted)
    finally:
        context.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, served(Path(tmp)) as service, sync_playwright() as pw:
        add_person(service, "weigher", "admin", PASSWORD)
        ids = make_examples(service)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        signing = context.new_page()
        sign_in(signing, service.url, "weigher")
        state = context.storage_state()
        context.close()
        print(f"{'page':34} {'JS KB':>7} {'CSS KB':>7} {'total':>7} {'files':>5}  budget {BUDGET // 1024} KB")
        worst = 0
        for template in PAGES:
            path = template.format(**ids)
            js, css, files = weigh(browser, service.url, path, None if path == "/sign-in" else state)
            worst = max(worst, js + css)
            verdict = "PASS" if js + css <= BUDGET else "OVER"
            shown = template if "{" in template else path
            print(f"{shown:34} {js / 1024:7.1f} {css / 1024:7.1f} {(js + css) / 1024:7.1f} {files:5}  {verdict}")
        browser.close()
    raise SystemExit(0 if worst <= BUDGET else 1)


if __name__ == "__main__":
    main()
