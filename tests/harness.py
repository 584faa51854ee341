"""Test harness: the real service under uvicorn in a thread, over real HTTP, next to the sandbox LiveKit."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn

from orchestrator.api.app import create_app
from orchestrator.bootstrap import Container
from orchestrator.config import Settings

API_TOKEN = "test-api-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceThread:
    """`create_app(settings)` served by uvicorn on a loopback port in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.public_url
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = create_app(settings)

    def start(self) -> ServiceThread:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.settings.port, log_level="warning",
                                lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True, name="orchestrator-service")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("service did not start")
            time.sleep(0.02)
        return self

    def _run(self) -> None:
        assert self._server is not None

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            assert self._server is not None
            await self._server.serve()

        asyncio.run(main())

    @property
    def container(self) -> Container:
        c: Container = self.app.state.container
        return c

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a service coroutine on the service's own loop (its LiveKit client lives there)."""
        assert self._loop is not None

        async def invoke() -> Any:
            result = fn(*args, **kwargs)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(timeout=120)

    def client(self, token: str | None = API_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


def answers_while_the_database_is_held(service: ServiceThread, action: Callable[[], Any]) -> tuple[float, Any]:
    """Hold SQLite's one writer (as a big webhook batch would), run `action` in a thread meanwhile, and time a
    `/healthz` while the action waits for the database. Returns (seconds /healthz took, the action's result)."""
    held, release = threading.Event(), threading.Event()
    results: list[Any] = []

    def hold() -> None:
        with service.container.db.write_lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    worker = threading.Thread(target=lambda: results.append(action()))
    worker.start()
    try:
        time.sleep(0.3)  # the action is now waiting for the database
        began = time.monotonic()
        with service.client() as c:
            assert c.get("/healthz").status_code == 200
        waited = time.monotonic() - began
        # (if /healthz was held up, the action may be done by now: the caller's check on `waited` says so)
        assert not results or waited >= 1.0, "the action did not wait for the database: the test proves nothing"
    finally:
        release.set()
        worker.join(10)
        holder.join(10)
    assert results, "the action did not finish once the database was free"
    return waited, results[0]
