"""Serving a SandboxLiveKit with uvicorn: in the current loop or in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import uvicorn

from .server import SandboxLiveKit

_IDLE_FOREVER_S = 7 * 24 * 3600
DEV_API_KEY = "devkey"
DEV_API_SECRET = "secret"  # noqa: S105 - LiveKit's well-known dev-mode pair


def _server(sandbox: SandboxLiveKit, host: str, port: int, log_level: str) -> uvicorn.Server:
    # LiveKit's HTTP server is a Go http.Server with only a Handler set: no idle timeout, so a client's
    # keep-alive connections stay open until the client closes them (uvicorn's default closes them after 5 s).
    config = uvicorn.Config(
        sandbox.app, host=host, port=port, lifespan="off", log_level=log_level, access_log=False,
        timeout_keep_alive=_IDLE_FOREVER_S,
    )
    return uvicorn.Server(config)


class _EmbeddedServer(uvicorn.Server):
    """A server that leaves the signals to the process's own: Ctrl-C stops the host, which stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_sandbox(sandbox: SandboxLiveKit, host: str, port: int, *, embedded: bool = False) -> None:
    """Serve until cancelled (or uvicorn exits), then close the sandbox's timers and clients. `embedded`: in
    another server's process (its Ctrl-C stops that server, which then cancels this one after its own stop)."""
    server = _server(sandbox, host, port, "info")
    if embedded:
        server = _EmbeddedServer(server.config)
    try:
        await server.serve()
    finally:
        await sandbox.aclose()


class SandboxThread:
    """Runs a sandbox under uvicorn on its own event loop in a daemon thread."""

    def __init__(
        self,
        sandbox_factory: Callable[[], SandboxLiveKit] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **sandbox_kwargs: Any,
    ) -> None:
        if sandbox_factory is None:
            sandbox_kwargs.setdefault("api_key", DEV_API_KEY)
            sandbox_kwargs.setdefault("api_secret", DEV_API_SECRET)
            self._factory: Callable[[], SandboxLiveKit] = lambda: SandboxLiveKit(**sandbox_kwargs)
        else:
            self._factory = sandbox_factory
        self.host = host
        self.port = port
        self.url = ""
        self._sandbox: SandboxLiveKit | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def sandbox(self) -> SandboxLiveKit:
        if self._sandbox is None:
            raise RuntimeError("SandboxThread not started")
        return self._sandbox

    def start(self) -> SandboxThread:
        """Start serving; returns once the socket is listening."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._run, args=(sock,), name="sandbox-livekit", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("sandbox failed to start") from self._error
        if not self._ready.is_set():
            raise RuntimeError("sandbox did not start within 30 s")
        return self

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            self._ready.set()

    async def _main(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._sandbox = self._factory()
        self._server = _server(self._sandbox, self.host, self.port, "warning")
        serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not serving.done():  # noqa: ASYNC110 - uvicorn only has a flag
            await asyncio.sleep(0.01)
        self._ready.set()
        try:
            await serving
        finally:
            await self._sandbox.aclose()

    def open_connections(self) -> int:
        """How many client connections the sandbox's HTTP server holds open now (keep-alive ones included)."""
        return len(self._server.server_state.connections) if self._server is not None else 0

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the sandbox loop (awaiting it if it is a coroutine)."""
        if self._loop is None:
            raise RuntimeError("SandboxThread not started")

        async def invoke() -> Any:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(timeout=60)

    def stop(self) -> None:
        """Stop uvicorn, close the sandbox and join the thread."""
        if self._loop is not None and self._server is not None:
            server = self._server

            def request_exit() -> None:
                server.should_exit = True

            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(request_exit)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
