"""LiveKit-style resource IDs (prefix + 12 chars of the shortuuid base57 alphabet)."""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

EGRESS = "EG_"
ROOM = "RM_"
PARTICIPANT = "PA_"
TRACK = "TR_"
EVENT = "EV_"


def new_id(prefix: str) -> str:
    """A fresh random ID such as ``EG_x7kQ2mN9pRtW``."""
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(12))
