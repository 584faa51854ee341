"""RtmpProbe: does an RTMP(S) ingest accept a connection? TCP, TLS for rtmps, and the RTMP handshake."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from urllib.parse import urlsplit

from orchestrator.domain.broadcasts import ProbeResult


class RtmpProbe:
    """Connects like an encoder would, up to the server's S0+S1 answer, then hangs up (nothing is published)."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self._timeout = timeout_s

    async def probe(self, url: str) -> ProbeResult:
        parts = urlsplit(url)
        secure = parts.scheme.lower() == "rtmps"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 1935)
        began = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self._timeout):
                context = ssl.create_default_context() if secure else None
                reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                               server_hostname=host if secure else None)
                # C0 (version 3) + C1 (time, zero, 1528 random bytes); the server answers S0 + S1.
                writer.write(b"\x03" + b"\x00" * 8 + os.urandom(1528))
                await writer.drain()
                s0 = await reader.readexactly(1)
                await reader.readexactly(1536)
            if s0 != b"\x03":
                return ProbeResult(False, f"{host}:{port} answered, but not with RTMP version 3", _ms(began))
            return ProbeResult(True, f"{host}:{port} completed the RTMP handshake"
                                     + (" over TLS" if secure else ""), _ms(began))
        except TimeoutError:
            return ProbeResult(False, f"{host}:{port} did not answer within {self._timeout:g} s", _ms(began))
        except ssl.SSLError as exc:
            return ProbeResult(False, f"{host}:{port} TLS failed: {exc.reason or type(exc).__name__}", _ms(began))
        except asyncio.IncompleteReadError:
            return ProbeResult(False, f"{host}:{port} closed the connection during the RTMP handshake", _ms(began))
        except OSError as exc:
            return ProbeResult(False, f"{host}:{port} refused or unreachable: {exc.strerror or type(exc).__name__}",
                               _ms(began))
        finally:
            if writer is not None:
                writer.close()


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)
