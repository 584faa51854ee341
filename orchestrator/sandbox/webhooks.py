"""Signed webhook delivery as LiveKit does it: per-resource ordered queues, retries, max age."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import jwt
from google.protobuf import json_format
from jwt.warnings import InsecureKeyLengthWarning
from livekit import api

from .config import SandboxFaults

logger = logging.getLogger(__name__)

MAX_AGE = 30.0
QUEUE_DEPTH = 200
RETRY_BACKOFF = (1.0, 2.0, 4.0, 8.0)
RETRY_WAIT_CAP = 30.0


@dataclass(frozen=True)
class SentWebhook:
    """One delivery attempt (``http_status`` is None on a connection error)."""

    event: str
    id: str
    egress_id: str
    url: str
    http_status: int | None
    attempt: int


def webhook_body(event: api.WebhookEvent) -> bytes:
    """protojson of the event: camelCase names, zero values omitted, int64 as strings."""
    return json_format.MessageToJson(event, preserving_proto_field_name=False, indent=None).encode()


def sign_webhook(
    body: bytes, api_key: str, api_secret: str, *, now: float | None = None, ttl: float = 300
) -> str:
    """The ``Authorization`` header value LiveKit sends with a webhook (a raw JWT, no ``Bearer``)."""
    issued = int(time.time() if now is None else now)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    claims = {"iss": api_key, "nbf": issued, "iat": issued, "exp": issued + int(ttl), "sha256": digest}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # dev secrets like "secret" are short
        return jwt.encode(claims, api_secret, algorithm="HS256")


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status != 501)


@dataclass
class _Pending:
    event: api.WebhookEvent
    body: bytes
    enqueued_at: float


class WebhookSender:
    """Queues events per (url, resource key) and delivers each queue in order with one worker."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        urls: Callable[[], Sequence[str]],
        faults: Callable[[], SandboxFaults],
    ) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self._urls = urls
        self._faults = faults
        self._queues: dict[tuple[str, str], asyncio.Queue[_Pending]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._released_at = 0.0
        self.sent: list[SentWebhook] = []
        self.dropped: list[api.WebhookEvent] = []

    def notify(self, event: api.WebhookEvent, key: str) -> None:
        """Queue an event for every configured URL, honouring the webhook faults."""
        faults = self._faults()
        if faults.drop_webhooks or event.event in faults.drop_webhook_events:
            self.dropped.append(event)
            return
        body = webhook_body(event)
        copies = 2 if faults.duplicate_webhooks else 1
        for url in list(self._urls()):
            queue = self._queues.get((url, key))
            if queue is None:
                queue = asyncio.Queue(maxsize=QUEUE_DEPTH)
                self._queues[(url, key)] = queue
                task = asyncio.get_running_loop().create_task(self._drain(url, key, queue))
                self._workers.add(task)
                task.add_done_callback(self._workers.discard)
            for _ in range(copies):
                try:
                    queue.put_nowait(_Pending(event, body, time.monotonic()))
                except asyncio.QueueFull:
                    logger.warning("webhook queue full, dropping %s %s", event.event, event.id)

    def hold(self) -> None:
        """Queue events without sending them until `release()` (a receiver that is not listening yet)."""
        self._open.clear()

    def release(self) -> None:
        """Send what `hold()` kept, in order; their age counts from here."""
        self._released_at = time.monotonic()
        self._open.set()

    async def _drain(self, url: str, key: str, queue: asyncio.Queue[_Pending]) -> None:
        await self._open.wait()
        while not queue.empty():
            item = queue.get_nowait()
            if time.monotonic() - max(item.enqueued_at, self._released_at) > MAX_AGE:
                logger.warning(
                    "webhook %s %s older than %ss, dropped", item.event.event, item.event.id, MAX_AGE
                )
                continue
            delay = self._faults().webhook_delay
            if delay > 0:
                await asyncio.sleep(delay)
            await self._deliver(url, item)
        self._queues.pop((url, key), None)

    async def _deliver(self, url: str, item: _Pending) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=None)  # noqa: S113 - LiveKit sets no timeout either
        for attempt in range(1, len(RETRY_BACKOFF) + 2):
            headers = {
                "Authorization": sign_webhook(item.body, self._api_key, self._api_secret),
                "Content-Type": "application/webhook+json",
                "User-Agent": "LiveKit",
            }
            status: int | None = None
            retry_after: float | None = None
            try:
                resp = await self._client.post(url, content=item.body, headers=headers)
                status = resp.status_code
                retry_after = _retry_after(resp) if status in (429, 503) else None
            except httpx.HTTPError as exc:
                logger.info(
                    "webhook %s to %s failed: %s", item.event.event, url.split("?", 1)[0], type(exc).__name__
                )
            self.sent.append(
                SentWebhook(
                    item.event.event, item.event.id, item.event.egress_info.egress_id, url, status, attempt
                )
            )
            if status is not None and not _retryable(status):
                return
            if attempt > len(RETRY_BACKOFF):
                break
            await asyncio.sleep(min(retry_after or RETRY_BACKOFF[attempt - 1], RETRY_WAIT_CAP))
        logger.warning("webhook %s %s gave up after %d attempts", item.event.event, item.event.id, attempt)

    async def idle(self) -> None:
        """Wait until every queued webhook has been delivered or given up."""
        while self._workers:
            await asyncio.gather(*list(self._workers), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._workers):
            task.cancel()
        for task in list(self._workers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._queues.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
