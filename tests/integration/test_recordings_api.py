"""Recordings end to end: sandbox egress -> real MP4 in moto's S3 -> `ready` -> signed callback -> download."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.domain.callbacks import SIGNATURE_HEADER, verify
from orchestrator.sandbox import SandboxThread
from tests.harness import ServiceThread, wait_until
from tests.integration.s3_server import (  # noqa: F401 - fixtures
    BUCKET,
    CALLBACK_SECRET,
    SECRET_KEY,
    CallbackReceiver,
    S3Server,
    receiver,
    s3_server,
    s3_settings,
)


def record(service: ServiceThread, sandbox: SandboxThread, room: str, seconds: float,
           outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Start an egress, let it run `seconds`, stop it, and return the ended egress."""
    sandbox.call(sandbox.sandbox.create_room, room)
    sandbox.call(sandbox.sandbox.join, room, "alice")
    body = {"kind": "room_composite", "room_name": room, "layout": "grid",
            "outputs": outputs or [{"type": "s3", "filepath": "rec/{room_name}-{time}.mp4"}]}
    with service.client() as c:
        eg = c.post("/v1/egresses", json=body).json()
        wait_until(lambda: c.get(f"/v1/egresses/{eg['id']}").json()["status"] == "active")
        time.sleep(seconds)
        c.post(f"/v1/egresses/{eg['id']}/stop")
        ended: dict[str, Any] = wait_until(
            lambda: (e := c.get(f"/v1/egresses/{eg['id']}").json())["status"] in ("complete", "failed") and e,
            timeout=30)
    return ended


def recordings_of(service: ServiceThread, egress: str) -> list[dict[str, Any]]:
    with service.client() as c:
        items: list[dict[str, Any]] = c.get("/v1/recordings", params={"egress": egress}).json()["items"]
    return items


def ready_recording(service: ServiceThread, egress: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_until(
        lambda: next((r for r in recordings_of(service, egress) if r["status"] != "verifying"), None), timeout=15)
    return found


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return float(json.loads(out)["format"]["duration"])


def test_egress_to_ready_recording_callback_and_presigned_download(
    service_factory: Any, sandbox: SandboxThread, s3_server: S3Server, receiver: CallbackReceiver,  # noqa: F811
    tmp_path: Path,
) -> None:
    service: ServiceThread = service_factory(**s3_settings(s3_server, receiver))
    ended = record(service, sandbox, "studio", 2.0)
    assert ended["status"] == "complete"
    rec = ready_recording(service, ended["id"])
    assert rec["status"] == "ready", rec
    assert rec["bucket"] == BUCKET and rec["key"].startswith("rec/studio-") and rec["key"].endswith(".mp4")
    assert rec["room_name"] == "studio" and rec["room_id"].startswith("RM_") and rec["content_type"] == "video/mp4"
    head = s3_server.client().head_object(Bucket=BUCKET, Key=rec["key"])
    assert head["ContentLength"] == rec["size_bytes"] > 1000

    # The callback arrives signed; the receiver verifies it like the README says.
    ready = wait_until(lambda: receiver.events("recording.ready"), timeout=10)[0]
    assert verify(CALLBACK_SECRET, ready.headers[SIGNATURE_HEADER.lower()], ready.body, time.time())
    assert not verify("wrong-secret", ready.headers[SIGNATURE_HEADER.lower()], ready.body, time.time())
    assert ready.json["data"]["recording_id"] == rec["id"] and ready.json["id"].startswith("evt_")

    with service.client() as c:
        shown = c.get(f"/v1/recordings/{rec['id']}").json()
        assert [e["status_after"] for e in shown["events"]] == ["verifying", "ready"]
        redirect = c.get(f"/v1/recordings/{rec['id']}/download")
        assert redirect.status_code == 307
        link = c.get(f"/v1/recordings/{rec['id']}/download", params={"redirect": "false"}).json()
        assert set(link) == {"url", "expires_at"} and "X-Amz-Signature" in link["url"]
        assert SECRET_KEY not in redirect.headers["location"] + json.dumps(shown)
    # The presigned URL works without our token.
    media = httpx.get(redirect.headers["location"], timeout=30)
    assert media.status_code == 200
    path = tmp_path / "download.mp4"
    path.write_bytes(media.content)
    expected = rec["duration_s"]
    assert expected == pytest.approx(2.0, abs=0.6)
    assert ffprobe_duration(path) == pytest.approx(expected, abs=0.25)


def test_delete_keeps_the_record_and_downloads_get_409(
    service_factory: Any, sandbox: SandboxThread, s3_server: S3Server,  # noqa: F811
) -> None:
    service: ServiceThread = service_factory(**s3_settings(s3_server))
    ended = record(service, sandbox, "gone", 0.5)
    rec = ready_recording(service, ended["id"])
    with service.client() as c:
        assert c.get("/v1/recordings/rec_unknown").status_code == 404
        assert c.get("/v1/recordings/rec_unknown/download").status_code == 404
        deleted = c.delete(f"/v1/recordings/{rec['id']}").json()
        assert deleted["status"] == "deleted" and deleted["deleted_at"]
        conflict = c.get(f"/v1/recordings/{rec['id']}/download")
        assert conflict.status_code == 409
        assert "deleted" in conflict.json()["error"]["message"]
        assert c.get("/v1/recordings", params={"status": "deleted"}).json()["items"][0]["id"] == rec["id"]
    with pytest.raises(s3_server.client().exceptions.ClientError):
        s3_server.client().head_object(Bucket=BUCKET, Key=rec["key"])


def test_missing_object_gives_missing_and_callbacks(
    service_factory: Any, sandbox: SandboxThread, s3_server: S3Server, receiver: CallbackReceiver,  # noqa: F811
) -> None:
    service: ServiceThread = service_factory(**s3_settings(s3_server, receiver))
    sandbox.sandbox.faults.upload_fail = True  # LiveKit reports a file that never reached the bucket
    ended = record(service, sandbox, "lost", 0.3)
    assert ended["status"] == "failed"
    rec = ready_recording(service, ended["id"])
    assert rec["status"] == "missing" and "does not exist" in rec["reason"]
    missing = wait_until(lambda: receiver.events("recording.missing"), timeout=10)[0]
    assert missing.json["data"]["reason"] == rec["reason"]
    failed = wait_until(lambda: receiver.events("egress.failed"), timeout=10)[0]
    assert failed.json["data"]["id"] == ended["id"]
    with service.client() as c:
        conflict = c.get(f"/v1/recordings/{rec['id']}/download")
    assert conflict.status_code == 409 and "does not exist" in conflict.json()["error"]["message"]


def test_hls_playlist_is_playable_through_signed_links(
    service_factory: Any, sandbox: SandboxThread, s3_server: S3Server, tmp_path: Path,  # noqa: F811
) -> None:
    service: ServiceThread = service_factory(**s3_settings(s3_server))
    ended = record(service, sandbox, "hls", 2.5, outputs=[
        {"type": "hls", "filename_prefix": "live/hls", "playlist_name": "live/hls.m3u8", "segment_duration_s": 1}])
    rec = ready_recording(service, ended["id"])
    assert rec["status"] == "ready" and rec["kind"] == "hls"
    with service.client() as c:
        link = c.get(f"/v1/recordings/{rec['id']}/download", params={"redirect": "false"}).json()
    playlist = httpx.get(link["url"], timeout=10)  # no token: the link is signed
    assert playlist.status_code == 200 and playlist.text.startswith("#EXTM3U")
    segments = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
    assert len(segments) >= 2 and all("X-Amz-Signature" in s for s in segments)
    assert httpx.get(segments[0], timeout=10).status_code == 200
    (tmp_path / "p.m3u8").write_text(playlist.text)
    out = subprocess.run(["ffprobe", "-v", "error", "-protocol_whitelist", "file,http,tcp", "-show_entries",
                          "format=duration", "-of", "json", str(tmp_path / "p.m3u8")],
                         check=True, capture_output=True, text=True).stdout
    assert float(json.loads(out)["format"]["duration"]) == pytest.approx(rec["duration_s"], abs=1.0)
    tampered = link["url"].replace("sig=", "sig=0")
    assert httpx.get(tampered, timeout=10).status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_lists_and_downloads_with_resume(
    service_factory: Any, sandbox: SandboxThread, s3_server: S3Server, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import app
    from tests.harness import API_TOKEN

    service: ServiceThread = service_factory(**s3_settings(s3_server))
    ended = record(service, sandbox, "cli", 0.5)
    rec = ready_recording(service, ended["id"])
    monkeypatch.setenv("ORCHESTRATOR_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("ORCHESTRATOR_PUBLIC_URL", service.url)
    runner = CliRunner()
    listed = runner.invoke(app, ["recordings", "list", "--json"])
    assert listed.exit_code == 0 and rec["id"] in listed.output
    whole = s3_server.client().get_object(Bucket=BUCKET, Key=rec["key"])["Body"].read()
    out = tmp_path / "part.mp4"
    out.write_bytes(whole[:1000])  # an interrupted earlier download
    done = runner.invoke(app, ["recordings", "download", rec["id"], "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "resumed" in done.output and out.read_bytes() == whole
    shown = runner.invoke(app, ["recordings", "url", rec["id"]])
    assert shown.exit_code == 0 and "X-Amz-Signature" in shown.output
