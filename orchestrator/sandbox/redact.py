"""Credential redaction as LiveKit does it for stored egress requests, plus a stricter one for logs."""

from __future__ import annotations

import re
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

_RTMP = re.compile(r"^(rtmps?://)(.*/)(.*/)(\S*?)( live=1)?$")
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")

# S3/AliOSS/GCP/Azure credential fields and the placeholder LiveKit stores instead.
_CREDENTIAL_FIELDS: dict[str, dict[str, str]] = {
    "S3Upload": {
        "access_key": "{access_key}",
        "secret": "{secret}",
        "session_token": "{session_token}",
        "assume_role_external_id": "{external_id}",
    },
    "AliOSSUpload": {"access_key": "{access_key}", "secret": "{secret}"},
    "GCPUpload": {"credentials": "{credentials}"},
    "AzureBlobUpload": {"account_name": "{account_name}", "account_key": "{account_key}"},
}


def redact_key(key: str) -> str:
    """``{abc...xyz}``: first/last 3 chars for keys of 9+ chars, 2 for 6+, 1 for 3+, none below."""
    for n in (3, 2, 1):
        if len(key) >= 3 * n:
            return "{" + key[:n] + "..." + key[-n:] + "}"
    return "{...}"


def redact_stream_url(url: str) -> str:
    """Redact the stream key / secret part of an output URL; other URLs are returned unchanged."""
    lowered = url.lower()
    if lowered.startswith("mux://"):
        return "mux://" + redact_key(url[len("mux://") :])
    if lowered.startswith("twitch://"):
        return "twitch://" + redact_key(url[len("twitch://") :])
    match = _RTMP.match(url)
    if match:
        scheme, path, app, key, live = match.groups()
        return f"{scheme}{path}{app}{redact_key(key)}{live or ''}"
    if lowered.startswith(("ws://", "wss://")):
        parts = urlsplit(url)
        if parts.query:
            query = "&".join(f"{k}={{...}}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
            return urlunsplit(parts._replace(query=query))
    return url


def redact_request(request: M) -> M:
    """A copy of an egress request with storage credentials and stream keys replaced by placeholders."""
    copy = type(request)()
    copy.CopyFrom(request)
    _redact_in_place(copy)
    return copy


def _redact_in_place(msg: Message) -> None:
    name = msg.DESCRIPTOR.name
    for field_name, placeholder in _CREDENTIAL_FIELDS.get(name, {}).items():
        if getattr(msg, field_name):
            setattr(msg, field_name, placeholder)
    if name == "StreamOutput":
        urls = [redact_stream_url(u) for u in msg.urls]  # type: ignore[attr-defined]
        del msg.urls[:]  # type: ignore[attr-defined]
        msg.urls.extend(urls)  # type: ignore[attr-defined]
        for dest in msg.destinations:  # type: ignore[attr-defined]
            dest.url = redact_stream_url(dest.url)
    if name == "TrackEgressRequest" and msg.websocket_url:  # type: ignore[attr-defined]
        msg.websocket_url = redact_stream_url(msg.websocket_url)  # type: ignore[attr-defined]
    for field_desc, value in msg.ListFields():
        if field_desc.message_type is None or field_desc.message_type.GetOptions().map_entry:
            continue
        if field_desc.is_repeated:
            for item in value:
                _redact_in_place(item)
        else:
            _redact_in_place(value)


def redact_text(text: str, *secrets: str) -> str:
    """Log-safe text: every stream URL inside is redacted and the given secrets are masked."""
    out = _URL_IN_TEXT.sub(_redact_match, text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "{secret}")
    return out


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    trailing = len(url) - len(url.rstrip(":,;.)'\""))
    if trailing:
        return _redact_any_url(url[:-trailing]) + url[-trailing:]
    return _redact_any_url(url)


def _redact_any_url(url: str) -> str:
    redacted = redact_stream_url(url)
    if redacted != url:
        return redacted
    parts = urlsplit(url)
    if parts.query:
        return urlunsplit(parts._replace(query="{...}"))
    if parts.path.count("/") >= 1 and parts.path.rstrip("/"):
        head, _, tail = parts.path.rstrip("/").rpartition("/")
        return urlunsplit(parts._replace(path=f"{head}/{redact_key(tail)}"))
    return url
