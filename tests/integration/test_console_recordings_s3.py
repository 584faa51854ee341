"""The console's Recordings pages with recordings in S3 (moto on loopback): the player and the download are
redirects to presigned URLs on the bucket's origin, which the page's Content-Security-Policy allows for media, and
neither the page nor the playlist shows the S3 secret."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from orchestrator.sandbox import SandboxThread
from tests.browser.console import session_cookies
from tests.harness import ServiceThread, wait_until
from tests.integration.s3_server import BUCKET, SECRET_KEY, S3Server, s3_server, s3_settings  # noqa: F401 - fixture
from tests.integration.test_recordings_api import record, recordings_of


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_s3_recordings_play_and_download_through_presigned_redirects(
    service_factory: Any, sandbox: SandboxThread, s3_server: S3Server,  # noqa: F811
) -> None:
    service: ServiceThread = service_factory(**s3_settings(s3_server))
    with service.client() as api:
        assert api.post("/v1/users", json={"name": "vera", "role": "viewer",
                                           "password": "correct horse battery staple"}).status_code == 201
    ended = record(service, sandbox, "s3-console", 2.0, outputs=[
        {"type": "s3", "filepath": "rec/{room_name}-{time}.mp4"},
        {"type": "hls", "filename_prefix": "rec/hls", "playlist_name": "rec/hls.m3u8", "segment_duration_s": 1}])

    def checked() -> list[dict[str, Any]]:
        items = recordings_of(service, ended["id"])
        return items if len(items) == 2 and all(r["status"] != "verifying" for r in items) else []

    by_kind = {r["kind"]: r for r in wait_until(checked, timeout=15)}
    assert {r["status"] for r in by_kind.values()} == {"ready"}, by_kind
    mp4, hls = by_kind["file"], by_kind["hls"]
    stored = s3_server.client().get_object(Bucket=BUCKET, Key=mp4["key"])["Body"].read()
    cookies = session_cookies(service.url, "vera", "correct horse battery staple")
    with httpx.Client(base_url=service.url, cookies=cookies, timeout=30) as http:
        page = http.get(f"/recordings/{mp4['id']}")
        media = http.get(f"/recordings/{mp4['id']}/media")
        download = http.get(f"/recordings/{mp4['id']}/download")
        hls_page = http.get(f"/recordings/{hls['id']}").text
        playlist = http.get(f"/recordings/{hls['id']}/playlist.m3u8").text
    assert media.status_code == 307 and media.headers["location"].startswith(s3_server.endpoint)
    ranged = httpx.get(media.headers["location"], headers={"Range": "bytes=0-99"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == stored[:100]
    assert download.status_code == 303
    disposition = parse_qs(urlsplit(download.headers["location"]).query)["response-content-disposition"]
    assert disposition == [f'attachment; filename="{mp4["key"].rsplit("/", 1)[-1]}"']
    assert httpx.get(download.headers["location"], timeout=10).content == stored
    media_src = next(d for d in page.headers["content-security-policy"].split(";") if "media-src" in d)
    assert s3_server.endpoint in media_src  # the bucket's origin, for the presigned redirect
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert segments and all(s.startswith(s3_server.endpoint) and "X-Amz-Signature" in s for s in segments)
    assert httpx.get(segments[0], timeout=10).status_code == 200
    for html in (page.text, hls_page, playlist):
        assert SECRET_KEY not in html
    assert "X-Amz" not in page.text and "X-Amz" not in hls_page  # presigned URLs only as redirects, never printed
