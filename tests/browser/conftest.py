"""Fixtures for the browser suite: the layout router on a loopback uvicorn, one Chromium per session."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # as egress starts Chrome
]

try:  # a stale non-editable install can shadow the checkout's `orchestrator` namespace
    import orchestrator.layouts  # noqa: F401
except ModuleNotFoundError:
    sys.path.insert(0, str(REPO_ROOT))


def chromium_or_skip() -> None:
    """Skip when Chromium is absent, unless running in CI, where its absence is a failure."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium package")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")


@pytest.fixture(scope="session")
def layouts_server() -> Iterator[str]:
    """Base URL of the layout router served by uvicorn on a free loopback port."""
    import uvicorn

    from orchestrator.layouts import create_layouts_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_layouts_app(), log_level="warning", access_log=False, lifespan="off", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("layout server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture(scope="session")
def silent_ws_url() -> Iterator[str]:
    """A ws:// URL whose server accepts TCP but never answers: the page's Room stays connecting."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Debian Chromium for the whole session."""
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots go here (the directory ignores its own contents)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One `orchestrator serve` on embedded defaults for the session, with people admin, producer and viewer
    (password tests.browser.console.PASSWORD). Yields the `Served` handle (its `url`, `token`)."""
    from tests.browser.console import PEOPLE, add_person
    from tests.integration.served import served

    with served(tmp_path_factory.mktemp("console")) as service:
        for name, role in PEOPLE.items():
            add_person(service, name, role)
        yield service
