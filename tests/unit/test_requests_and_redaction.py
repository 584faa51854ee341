"""Request validation and LiveKit-style redaction (pure)."""

from __future__ import annotations

import pytest

from orchestrator.domain.egress import EgressKind
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.redact import mask, redact_stream_url, redact_text
from orchestrator.domain.requests import (
    EgressRequest,
    FileOutput,
    HlsOutput,
    S3Target,
    StreamOutput,
    check_mux_key,
    check_stream_url,
    require_storage,
    stream_key_of,
    validate,
)

KEY = "live_0123456789abcdefXYZ"
S3 = S3Target(bucket="b", access_key="AKIAEXAMPLE1234", secret="very-secret-value-123")


def test_mask_like_livekit() -> None:
    assert mask(KEY) == "{liv...XYZ}"
    assert mask("abcdef") == "{a...f}"
    assert mask("abc") == "{...}"


@pytest.mark.parametrize("url", [
    f"rtmp://a.rtmp.youtube.com/live2/{KEY}",
    f"rtmps://global-live.mux.com:443/app/{KEY}",
    f"rtmp://host/path/app/{KEY}?token={KEY}",
    f"mux://{KEY}",
    f"rtmp://user:{KEY}@host/app/{KEY}",
])
def test_stream_urls_never_show_the_key(url: str) -> None:
    out = redact_stream_url(url)
    assert KEY not in out
    assert "{liv...XYZ}" in out


def test_already_masked_keys_are_left_alone() -> None:
    once = redact_stream_url(f"rtmp://h/app/{KEY}")
    assert redact_stream_url(once) == once == "rtmp://h/app/{liv...XYZ}"
    assert redact_text(f"see {once}") == f"see {once}"


def test_redact_text_finds_urls_and_known_secrets_in_messages() -> None:
    message = (f"request has missing or invalid field: invalid url rtmp://h/app/{KEY}: invalid scheme; "
               f"secret=abc123456 and {S3.secret}")
    out = redact_text(message, {S3.secret})
    assert KEY not in out and S3.secret not in out and "abc123456" not in out


def test_mux_key_becomes_rtmps_ingest() -> None:
    assert check_mux_key(KEY, "f") == f"rtmps://global-live.mux.com:443/app/{KEY}"
    with pytest.raises(InvalidInput) as err:
        check_mux_key("bad key!", "outputs.0.stream_key")
    assert err.value.field == "outputs.0.stream_key" and "bad key!" not in err.value.message


@pytest.mark.parametrize("url", ["http://x/app/key", "rtmp://hostonly", "rtmp:///app/key", "ftp://a/b/c"])
def test_bad_stream_urls_are_rejected_without_echo(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_stream_url(url, "outputs.1.url")
    assert err.value.field == "outputs.1.url" and url not in err.value.message


def test_stream_key_of() -> None:
    assert stream_key_of(f"mux://{KEY}") == KEY
    assert stream_key_of(f"rtmp://h/app/{KEY}") == KEY


def _req(**kw: object) -> EgressRequest:
    base: dict[str, object] = {"kind": EgressKind.ROOM_COMPOSITE, "room_name": "r",
                               "file": FileOutput(), "storage": S3}
    base.update(kw)
    return EgressRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "field"), [
    ({"room_name": ""}, "room_name"),
    ({"kind": EgressKind.PARTICIPANT}, "identity"),
    ({"kind": EgressKind.TRACK}, "track_id"),
    ({"kind": EgressKind.TRACK_COMPOSITE}, "audio_track_id"),
    ({"kind": EgressKind.WEB, "url": "ftp://x"}, "url"),
    ({"audio_only": True, "video_only": True}, "audio_only"),
    ({"file": None}, "outputs"),
    ({"kind": EgressKind.PARTICIPANT, "identity": "a", "layout": "grid"}, "layout"),
    ({"hls": HlsOutput(segment_duration_s=0)}, "outputs.segment_duration_s"),
])
def test_validation_names_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate(_req(**changes))
    assert err.value.field == field


def test_files_without_storage_are_the_services_call() -> None:
    """No S3 is valid (LiveKit writes to its own disk); the service refuses it when that disk is not shared."""
    local = validate(_req(storage=None))
    assert local.writes_files and not _req(file=None, stream=StreamOutput(("rtmp://h/app/k",))).writes_files
    require_storage(True, "outputs")
    with pytest.raises(InvalidInput) as err:
        require_storage(False, "outputs")
    assert err.value.field == "outputs" and "ORCHESTRATOR_RECORDINGS_DIR" in str(err.value)


def test_redacted_request_holds_no_secret_and_fingerprint_ignores_the_key() -> None:
    request = _req(stream=StreamOutput((f"rtmp://h/app/{KEY}",)))
    stored = repr(request.redacted())
    assert KEY not in stored and S3.secret not in stored and S3.access_key not in stored
    assert {KEY, S3.secret, S3.access_key} <= request.secrets()
    other_key = _req(stream=StreamOutput(("rtmp://h/app/another-key-123456",)))
    assert request.fingerprint() == other_key.fingerprint()
    assert request.fingerprint() != _req(room_name="other").fingerprint()
