"""Timing and fault knobs of the sandbox LiveKit (mutable at runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class SandboxTimings:
    """Delays in seconds; defaults suit a human demo, tests shrink them."""

    activate_after: float = 1.0
    finalize_after: float = 1.0
    no_worker_after: float = 6.0
    participant_wait: float = 30.0
    empty_timeout: float = 300.0
    departure_timeout: float = 20.0
    retention: float = 86400.0


@dataclass
class SandboxFaults:
    """Injected failures; every field may be changed while the sandbox runs. Defaults = healthy."""

    no_worker: bool = False
    egress_disabled: bool = False
    start_signal: bool = True
    start_response_delay: float = 0.0
    fail_active_after: float | None = None
    rtmp_refuse: list[str] = field(default_factory=list)
    upload_fail: bool = False
    session_limit: float | None = None
    drop_webhooks: bool = False
    drop_webhook_events: list[str] = field(default_factory=list)
    duplicate_webhooks: bool = False
    webhook_delay: float = 0.0
    # An active composite/web egress keeps running after its room closed, as with a custom template
    # that never prints END_RECORDING (livekit/egress#815); only StopEgress ends it.
    outlive_room: bool = False


@dataclass
class SandboxMedia:
    """Real media the sandbox produces (see ``rtmp_push``); fields may be changed while it runs."""

    push_rtmp: bool = True  # push an ffmpeg test pattern to every active RTMP(S) stream
    # Only to loopback hosts unless told otherwise: a sandbox must not send test patterns to real ingests
    # (Mux, YouTube) by accident. Set False to push to any host, e.g. to rehearse with a real Mux stream.
    loopback_only: bool = True
    fail_refused: bool = False  # a real destination that refuses the first connect fails its stream
    connect_timeout: float = 10.0
    stop_timeout: float = 3.0
    # The egress worker's disk: a file/HLS output without upload config is written here at its filepath, as a
    # real worker writes to a volume it shares with the service. Empty: such outputs are reported, not written.
    files_dir: str = ""


_NULLABLE = frozenset({"fail_active_after", "session_limit"})


def as_dict(obj: SandboxTimings | SandboxFaults) -> dict[str, Any]:
    """Plain-JSON view of a knob dataclass."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def apply_patch(obj: SandboxTimings | SandboxFaults, patch: dict[str, Any]) -> None:
    """Set the named fields after a light type check; raises ValueError on unknown names or bad types."""
    known = {f.name: f for f in fields(obj)}
    for name, value in patch.items():
        if name not in known:
            raise ValueError(f"unknown field: {name}")
        current = getattr(obj, name)
        if isinstance(current, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of strings")
        elif isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a boolean")
        elif value is None:
            if name not in _NULLABLE:
                raise ValueError(f"{name} must not be null")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        setattr(obj, name, value)
