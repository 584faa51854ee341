"""The service tier runs the use cases on the in-memory fakes, whose calls never block: no worker threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from orchestrator.services.threads import inline_port_calls


@pytest.fixture(autouse=True)
def no_worker_threads() -> Iterator[None]:
    """Port calls run inline (no thread pool); the test fails if a use case still started a thread."""
    before = {t.ident for t in threading.enumerate()}
    with inline_port_calls():
        yield
    started = [t.name for t in threading.enumerate() if t.ident not in before]
    assert not started, f"threads started by the service tier: {started}"
