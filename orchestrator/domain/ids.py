"""Our own identifiers: sortable, prefixed, and never confused with LiveKit's `EG_` ids."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 chars: a burst makes two ids per room


def _encode50(number: int) -> str:
    """The low 50 bits of `number` as 10 base32 chars, most significant first."""
    pairs = _PAIRS
    return (pairs[number >> 40 & 1023] + pairs[number >> 30 & 1023] + pairs[number >> 20 & 1023]
            + pairs[number >> 10 & 1023] + pairs[number & 1023])


def new_id(prefix: str) -> str:
    """`prefix_` + 10 chars of milliseconds + 10 random chars: sorts by creation time."""
    millis = int(time.time() * 1000)
    return f"{prefix}_{_encode50(millis)}{_encode50(secrets.randbits(50))}"


def new_egress_pk() -> str:
    return new_id("egr")
