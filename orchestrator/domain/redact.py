"""Redaction of stream keys, storage secrets and tokens, LiveKit-style, for anything we store, log or return."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MUX_RTMPS_INGEST = "rtmps://global-live.mux.com:443/app/"

# rtmp(s)://host[/path]/app/<key>: the last path segment is the key.
_STREAM_URL = re.compile(r"\b(rtmps?|srt|twitch|mux|wss?)://[^\s\"'<>]+", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?i)\b(token|access_token|secret|stream_key|streamkey|key|passphrase|signature|x-amz-signature|"
    r"x-amz-credential|x-amz-security-token|awsaccesskeyid)=([^&\s\"']+)"
)


def mask(secret: str) -> str:
    """`{abc...xyz}` as LiveKit shows stream keys: three characters each side for long keys, fewer for short."""
    if is_masked(secret):
        return secret
    if len(secret) >= 9:
        return "{" + secret[:3] + "..." + secret[-3:] + "}"
    if len(secret) >= 5:
        return "{" + secret[:1] + "..." + secret[-1:] + "}"
    return "{...}"


def is_masked(value: str) -> bool:
    """Already redacted (by LiveKit or by us): `{abc...xyz}`, `{...}` or `{access_key}`-style."""
    return len(value) >= 2 and value.startswith("{") and value.endswith("}")


def redact_stream_url(url: str) -> str:
    """Hide the stream key of an RTMP/RTMPS/SRT/mux URL and any secret query values."""
    if url.lower().startswith("mux://"):
        return "mux://" + mask(url[len("mux://") :])
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask(url)
    path = parts.path
    if parts.scheme.lower() in ("rtmp", "rtmps", "twitch") and path.strip("/"):
        head, _, key = path.rstrip("/").rpartition("/")
        path = f"{head}/{mask(key)}"
    query = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={mask(m.group(2))}", parts.query)
    if parts.scheme.lower() == "srt":
        query = re.sub(r"(?i)(streamid=)([^&]+)", lambda m: m.group(1) + mask(m.group(2)), query)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "{...}@" + netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_text(text: str, secrets: frozenset[str] | set[str] = frozenset()) -> str:
    """Redact stream URLs, secret query parameters and any of the given secret strings in free text."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, mask(secret))
    text = _STREAM_URL.sub(lambda m: redact_stream_url(m.group(0)), text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={mask(m.group(2))}", text)
