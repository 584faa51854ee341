"""Security headers on every kind of answer of `orchestrator serve`: console, API, docs, layouts, static files."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, StreamingResponse

from orchestrator.api.security_headers import SecurityHeaders, storage_origin
from tests.integration.served import Served, served

ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "SAMEORIGIN",
}


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_common(response: httpx.Response, referrer: str = "same-origin") -> None:
    for name, value in {**ALWAYS, "referrer-policy": referrer}.items():
        assert response.headers.get(name) == value, (name, response.request.url)
    assert "camera=()" in response.headers["permissions-policy"]


def assert_no_inline_script(policy: dict[str, list[str]]) -> None:
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("security-headers")) as handle:
        yield handle


@pytest.fixture(scope="module")
def http(service: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {service.token}"},
                      timeout=10) as client:
        yield client


def test_api_answers_load_nothing_and_cannot_be_framed(http: httpx.Client) -> None:
    for path in ("/v1/egresses", "/v1/broadcasts", "/v1/nope", "/openapi.json"):
        r = http.get(path)
        assert r.headers["content-type"].startswith("application/json"), path
        assert_common(r)
        assert directives(r)["default-src"] == ["'none'"], path
        assert directives(r)["frame-ancestors"] == ["'none'"], path


def test_console_pages_allow_only_their_own_files(http: httpx.Client) -> None:
    r = http.get("/sign-in")
    if r.status_code == 404:
        pytest.skip("the sign-in page has not landed yet")
    assert r.headers["content-type"].startswith("text/html")
    assert_common(r)
    policy = directives(r)
    assert_no_inline_script(policy)
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert "<script>" not in r.text and " onclick=" not in r.text


def test_signed_out_redirect_carries_the_headers(http: httpx.Client) -> None:
    r = httpx.get(f"{http.base_url}/recordings")
    assert r.status_code in (303, 307, 200, 404)
    assert_common(r)


def test_swagger_ui_allows_exactly_its_inline_script(http: httpx.Client) -> None:
    r = http.get("/docs")
    assert_common(r)
    policy = directives(r)
    assert_no_inline_script(policy)
    scripts = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert int(r.headers["content-length"]) == len(r.content)


def test_redoc_may_inject_styles_but_not_scripts(http: httpx.Client) -> None:
    policy = directives(http.get("/redoc"))
    assert_no_inline_script(policy)
    assert "'unsafe-inline'" in policy["style-src"]
    assert "blob:" in policy["worker-src"]


def test_layout_page_may_reach_its_own_livekit_server_only(http: httpx.Client) -> None:
    r = http.get("/layouts/gallery", params={"url": "wss://lk.example.com:7443/x", "token": "t",
                                              "background": "https://img.example.org/bg.png"})
    assert r.status_code == 200
    assert_common(r, referrer="no-referrer")  # the page's own, stricter one (its URL carries a token)
    policy = directives(r)
    assert_no_inline_script(policy)
    assert policy["connect-src"] == ["'self'", "wss://lk.example.com:7443", "https://lk.example.com:7443"]
    assert "https://img.example.org" in policy["img-src"]


def test_layout_page_url_cannot_widen_the_policy(http: httpx.Client) -> None:
    r = http.get("/layouts/gallery", params={"url": "wss://a.example.com; script-src *", "token": "t"})
    policy = directives(r)
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


def test_layout_gallery_may_size_its_frames_inline(http: httpx.Client) -> None:
    policy = directives(http.get("/layouts/"))
    assert_no_inline_script(policy)
    assert "'unsafe-inline'" in policy["style-src"]
    assert policy["frame-src"] == ["'self'"]


def test_static_files_are_not_sniffed(http: httpx.Client) -> None:
    r = http.get("/static/console.js")
    assert r.status_code == 200
    assert_common(r)
    assert "content-security-policy" not in r.headers


def test_webhooks_are_answered_in_front_of_the_headers(http: httpx.Client) -> None:
    r = http.post("/webhooks/livekit", content=b"{}")
    assert r.status_code == 401
    assert "x-content-type-options" not in r.headers  # the raw endpoint stays as fast as it was


def test_s3_recordings_may_be_played_from_the_bucket() -> None:
    assert storage_origin(None, "") is None
    assert storage_origin("b", "http://127.0.0.1:9000/") == "http://127.0.0.1:9000"
    assert storage_origin("b", "") == "https://*.amazonaws.com"


async def test_streams_pass_through_unbuffered() -> None:
    """An SSE-like answer reaches the client chunk by chunk, with the headers, while it is still open."""
    app = FastAPI()

    async def ticks() -> AsyncIterator[str]:
        for n in range(3):
            yield f"data: {n}\n\n"

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(ticks(), media_type="text/event-stream")

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    app.add_middleware(SecurityHeaders)
    sent: list[dict[str, object]] = []

    requested = False

    async def receive() -> dict[str, object]:
        nonlocal requested
        if requested:  # the client stays connected until the answer is complete
            await asyncio.sleep(60)
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/stream", "raw_path": b"/stream", "query_string": b"",
             "headers": [], "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
             "root_path": "", "app": app}
    await app(scope, receive, send)  # type: ignore[arg-type]
    bodies = [m for m in sent if m["type"] == "http.response.body" and m.get("body")]
    assert len(bodies) == 3
    headers = dict(sent[0]["headers"])  # type: ignore[call-overload]
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert b"content-security-policy" not in headers

    sent.clear()
    requested = False
    await app({**scope, "path": "/page", "raw_path": b"/page"}, receive, send)  # type: ignore[arg-type]
    policy = dict(sent[0]["headers"])[b"content-security-policy"].decode()  # type: ignore[call-overload]
    assert policy.startswith("default-src 'self'; script-src 'self'; style-src 'self';")

