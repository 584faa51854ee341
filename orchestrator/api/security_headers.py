"""Security headers on every answer: a Content-Security-Policy per kind of page, nosniff, referrer and framing.

A pure ASGI middleware (BaseHTTPMiddleware would buffer streaming answers such as the SSE event stream). It only
adds headers to `http.response.start`; a header a route set itself (the layout pages' `Referrer-Policy:
no-referrer`) is kept. It sits inside the webhook endpoint (api/app.py), so LiveKit's webhooks never reach it.

Policies, tightest first:
- JSON and other API answers: nothing may load (`default-src 'none'`), nothing may frame them.
- console pages (every other HTML page): only the service's own files; no inline script or style, no eval.
  Recordings stored in S3 are played from presigned URLs on the bucket's origin, so that origin is allowed
  for media and fetches (hls.js) when S3 is configured.
- layout pages `/layouts/<name>[/preview]` (rendered by LiveKit Egress's Chrome): the console's, plus the LiveKit
  server named by their own `url` parameter (WebSocket and HTTP) and the `background` image they were given.
- the layout gallery `/layouts/` sizes its iframes with inline styles: styles may be inline, scripts not.
- `/docs` and its OAuth2 redirect: FastAPI's Swagger UI page starts with an inline script; the script's
  SHA-256 is allowed, computed from the page the app itself made (no request data reaches it).
- `/redoc`: ReDoc injects its styles at run time (styles inline) and runs its search in a blob: worker.

Non-HTML, non-JSON answers (static files, recordings, playlists) get the other headers and no policy.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMMON: Final = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "media-src": "'self' blob:",
    "connect-src": "'self'",
    "frame-src": "'self'",
    "frame-ancestors": "'self'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "object-src": "'none'",
}
API_POLICY: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PERMISSIONS_POLICY: Final = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), "
    "midi=(), magnetometer=(), gyroscope=(), accelerometer=(), display-capture=(), browsing-topics=()"
)
_ALWAYS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
)
_DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect"})
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
# An origin as it may appear in a policy: scheme, host, optional port; nothing else (no ';', ',' or spaces).
_SAFE_ORIGIN = re.compile(r"^(?:wss?|https?)://[A-Za-z0-9.\-\[\]:]+$")


def policy(**changes: str) -> str:
    """The console's policy with some directives replaced (a value of '' drops the directive)."""
    directives = {**_COMMON, **changes}
    return "; ".join(f"{name} {value}" for name, value in directives.items() if value)


CONSOLE_POLICY: Final = policy()
GALLERY_POLICY: Final = policy(**{"style-src": "'self' 'unsafe-inline'"})
REDOC_POLICY: Final = policy(**{"style-src": "'self' 'unsafe-inline'", "worker-src": "'self' blob:"})


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return origin if parts.netloc and "@" not in parts.netloc and _SAFE_ORIGIN.match(origin) else None


def livekit_sources(url: str) -> list[str]:
    """The origins a layout page talks to for a LiveKit URL: its WebSocket and its HTTP twin (livekit-client
    checks a refused connection over HTTP)."""
    origin = _origin(url)
    if origin is None:
        return []
    scheme, rest = origin.split("://", 1)
    twin = {"ws": "http", "wss": "https", "http": "ws", "https": "wss"}[scheme]
    return [origin, f"{twin}://{rest}"]


def layout_policy(query: str, media_origin: str | None = None) -> str:
    """A layout page's policy: its own LiveKit server and background image, from its query string."""
    params = parse_qs(query)
    connect = ["'self'", *livekit_sources(params.get("url", [""])[0])]
    images = ["'self'", "data:", "blob:"]
    background = _origin(params.get("background", [""])[0])
    if background and background.startswith("http"):
        images.append(background)
    return _with_media(
        policy(**{"connect-src": " ".join(connect), "img-src": " ".join(images)}), media_origin)


def docs_policy(body: bytes) -> str:
    """The policy of a Swagger UI page: its inline scripts allowed by their SHA-256."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    ]
    return policy(**{"script-src": " ".join(["'self'", *hashes])})


def _with_media(value: str, media_origin: str | None) -> str:
    if not media_origin:
        return value
    value = value.replace("media-src 'self' blob:", f"media-src 'self' blob: {media_origin}")
    return value.replace("connect-src 'self'", f"connect-src 'self' {media_origin}", 1)


def storage_origin(s3_bucket: str | None, s3_endpoint: str) -> str | None:
    """Where presigned recording URLs point: the S3 endpoint's origin, or AWS's when no endpoint is set."""
    if not s3_bucket:
        return None
    if s3_endpoint:
        origin = _origin(s3_endpoint)
        return origin if origin and origin.startswith("http") else None
    return "https://*.amazonaws.com"


def html_policy(path: str, query: str, media_origin: str | None = None) -> str:
    """The policy of an HTML page at `path` (docs pages are handled on their body: see docs_policy)."""
    if path == "/layouts/":
        return GALLERY_POLICY
    if path.startswith("/layouts/"):
        return layout_policy(query, media_origin)
    if path == "/redoc":
        return REDOC_POLICY
    return _with_media(CONSOLE_POLICY, media_origin)


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP answer of the app it wraps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._media: tuple[str | None] | None = None

    def _media_origin(self, scope: Scope) -> str | None:
        if self._media is None:
            container = getattr(scope["app"].state, "container", None)
            if container is None:
                return None
            settings = container.settings
            self._media = (storage_origin(settings.s3_bucket, settings.s3_endpoint),)
        return self._media[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in _DOCS_PATHS:
            await self._buffered(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(scope, message.get("headers", []), None)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, scope: Scope, headers: list[tuple[bytes, bytes]],
                 body: bytes | None) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        added = [header for header in _ALWAYS if header[0] not in present]
        if b"content-security-policy" not in present:
            value = self._policy(scope, headers, body)
            if value:
                added.append((b"content-security-policy", value.encode("latin-1")))
        return [*headers, *added]

    def _policy(self, scope: Scope, headers: list[tuple[bytes, bytes]], body: bytes | None) -> str | None:
        content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
        if content_type.startswith(b"text/html"):
            if body is not None:
                return docs_policy(body)
            query = scope.get("query_string", b"").decode("latin-1")
            return html_policy(scope["path"], query, self._media_origin(scope))
        if content_type.startswith(b"application/") and b"json" in content_type:
            return API_POLICY
        return None

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold a (small) docs page until its body is known, to allow its inline scripts by their hash."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            start["headers"] = self._headers(scope, list(start.get("headers", [])), body)
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)
