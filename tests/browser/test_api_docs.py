"""The API docs (/docs, /redoc) in headless Chromium with every non-loopback request refused: no CDN needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from orchestrator.sandbox import SandboxThread
from tests.conftest import make_settings
from tests.harness import ServiceThread

pytestmark = pytest.mark.browser

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture
def service(sandbox: SandboxThread, tmp_path: Path) -> Iterator[ServiceThread]:
    settings = make_settings(f"sqlite:///{tmp_path / 'orchestrator.db'}", sandbox, tmp_path / "data")
    service = ServiceThread(settings).start()
    try:
        yield service
    finally:
        service.stop()


class OfflinePage:
    """A Chromium tab on which every request that leaves loopback is aborted (and remembered)."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture
def offline(browser: Any) -> Iterator[OfflinePage]:
    tab = OfflinePage(browser)
    try:
        yield tab
    finally:
        tab.context.close()


def test_swagger_ui_renders_the_operations_with_no_internet(
    service: ServiceThread, offline: OfflinePage, artifacts_dir: Path
) -> None:
    offline.page.goto(f"{service.url}/docs")
    offline.page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = offline.page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.startswith("/v1/egresses") for p in paths), paths
    assert any(p.startswith("/v1/broadcasts") for p in paths), paths
    offline.page.screenshot(path=str(artifacts_dir / "api-docs-swagger.png"), full_page=False)
    assert offline.blocked == [], f"/docs asked the internet for {offline.blocked}"
    assert offline.errors == []


def test_redoc_renders_with_no_internet(service: ServiceThread, offline: OfflinePage, artifacts_dir: Path) -> None:
    offline.page.goto(f"{service.url}/redoc")
    offline.page.wait_for_selector("text=Egress Orchestrator", timeout=15_000)
    offline.page.wait_for_selector("[data-section-id]", state="attached", timeout=15_000)
    offline.page.screenshot(path=str(artifacts_dir / "api-docs-redoc.png"), full_page=False)
    # ReDoc's bundle links its "API docs by Redocly" badge from its CDN; the page renders without it
    badge = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [url for url in offline.blocked if url != badge] == [], f"/redoc asked the internet for {offline.blocked}"


def test_the_docs_pages_name_only_local_assets(service: ServiceThread) -> None:
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{service.url}{page}").text
        assert "cdn." not in html and "fonts.googleapis" not in html, html
        assert "/docs-assets/" in html
    asset = httpx.get(f"{service.url}/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
