"""HttpCallbackSender: POSTs signed callback bodies to the user's app over HTTP(S) with httpx."""

from __future__ import annotations

import httpx


class HttpCallbackSender:
    """One attempt per call; any 2xx is delivered, everything else is an error text without secrets."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False,
                                         headers={"User-Agent": "egress-orchestrator-callbacks"})

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> str | None:
        """None when the receiver accepted the event, else why not."""
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"could not connect: {type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def aclose(self) -> None:
        await self._client.aclose()
