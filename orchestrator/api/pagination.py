"""Opaque cursors for newest-first lists: the (time, id) of the last item of the previous page."""

from __future__ import annotations

import base64
from datetime import datetime

from orchestrator.domain.errors import InvalidInput


def encode_cursor(at: datetime, pk: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, pk = raw.split("|", 1)
        return datetime.fromisoformat(at), pk
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor", "is not a cursor this API returned") from None
