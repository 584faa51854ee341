"""The one backoff policy: exponential, doubling from a base, capped (pure)."""

from __future__ import annotations

_MAX_DOUBLINGS = 30  # 2**30 times any base is past every cap in use; keeps the number small


def backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Seconds to wait before try `attempt` (1-based: the first retry waits `base_s`), at most `cap_s`."""
    doublings = min(max(attempt - 1, 0), _MAX_DOUBLINGS)
    return float(min(cap_s, base_s * (2**doublings)))
