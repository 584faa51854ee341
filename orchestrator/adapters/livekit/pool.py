"""The aiohttp session to LiveKit: its connection pool, connections kept warm, and the request-written hook."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.connector import Connection
from yarl import URL

log = logging.getLogger(__name__)

_IDLE_KEEP_S = 50.0
_POOL_LIMIT = 512
_REMEMBER_PEAK_S = 600.0  # keep_warm keeps as many connections as the busiest moment of the last 10 minutes

# What to tell when this task's next request is written to LiveKit's connection (read by aiohttp's trace hook).
_ON_WRITTEN: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("on_written", default=None)


async def _request_written(session: aiohttp.ClientSession, ctx: Any, params: Any) -> None:
    callback = _ON_WRITTEN.get()
    if callback is not None:
        _ON_WRITTEN.set(None)
        callback()


def when_written(callback: Callable[[], None] | None) -> contextvars.Token[Callable[[], None] | None]:
    """Call `callback` once, when the current task's next request is written (its first chunk, just before
    the body leaves); undo with `forget_written(token)`."""
    return _ON_WRITTEN.set(callback)


def forget_written(token: contextvars.Token[Callable[[], None] | None]) -> None:
    _ON_WRITTEN.reset(token)


class ConnectionPool:
    """One aiohttp session for every call to LiveKit, with connections opened ahead of need.

    Our own session: aiohttp's default of 100 connections would hold back a few hundred broadcasts due at once.
    Built on first use (inside the running event loop).
    """

    def __init__(self, url: str, connect_timeout_s: float) -> None:
        self._url, self._connect_timeout_s = url, connect_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._busy = self._peak = 0  # calls in flight now; most at once since the last keep_warm
        self._peaks: list[tuple[float, int]] = []  # (when, peak) at each keep_warm

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            trace = aiohttp.TraceConfig()
            trace.on_request_chunk_sent.append(_request_written)  # called just before the body is written
            # Idle connections are kept 50 s (load balancers commonly drop them after 60 s of silence).
            connector = aiohttp.TCPConnector(limit=_POOL_LIMIT, keepalive_timeout=_IDLE_KEEP_S)
            self._session = aiohttp.ClientSession(connector=connector, trace_configs=[trace])
        return self._session

    def call_began(self) -> None:
        self._busy += 1
        self._peak = max(self._peak, self._busy)

    def call_ended(self) -> None:
        self._busy -= 1

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None

    async def keep_warm(self, connections: int) -> int:
        """Keep connections to LiveKit open and idle in the pool, ahead of need: `connections`, or as many
        as were in use at once at the busiest moment of the last ten minutes if that was more (at most the
        pool's limit). 0 keeps none.

        A burst of rooms starting together makes as many start calls at once; each that finds no idle
        connection opens one then (~130 us of CPU per connect() on loopback here, 9 ms for 68 of them in a
        burst of 100; over TLS in production a handshake, round trips and its CPU). Taking them from the
        pool at once hands out the idle ones and opens only the rest; all go back idle. Nothing is sent:
        LiveKit sees open connections. Best effort: a failure is logged and the calls connect themselves.
        Returns how many are ready.
        """
        now = time.monotonic()
        self._peaks = [(at, peak) for at, peak in self._peaks if now - at < _REMEMBER_PEAK_S]
        self._peaks.append((now, self._peak))
        self._peak = self._busy
        if connections <= 0:
            return 0
        connections = min(max(connections, *(peak for _, peak in self._peaks)), _POOL_LIMIT)
        session = self.session()
        connector = session.connector
        if connector is None or session.closed:
            return 0
        # Never sent: it only names the pool (scheme, host, port, TLS) that the calls will use.
        target = urlsplit(self._url)
        scheme = target.scheme.replace("ws", "http", 1) if target.scheme.startswith("ws") else target.scheme
        request = aiohttp.ClientRequest("POST", URL(f"{scheme}://{target.netloc}/"), loop=asyncio.get_running_loop())
        timeout = aiohttp.ClientTimeout(connect=self._connect_timeout_s)

        async def take() -> Connection | str:
            try:
                return await connector.connect(request, [], timeout)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return type(exc).__name__

        taken = await asyncio.gather(*(take() for _ in range(connections)))
        failures = sorted({t for t in taken if isinstance(t, str)})
        ready = 0
        for conn in taken:
            if not isinstance(conn, str):
                conn.release()
                ready += 1
        if failures:
            log.warning("could open only %d of %d connections to LiveKit ahead of need (%s)", ready, connections,
                        ", ".join(failures))
        return ready
