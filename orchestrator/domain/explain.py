"""Why something failed, in words a producer understands: stored error strings mapped to plain sentences (pure).

The stored strings come from LiveKit (`EgressInfo.error`), from the service itself (`services/egresses.LOST`,
the start deadline, a refused start), from broadcast runs (`domain/runs`) and from recording claims. Each is
matched by a distinctive piece of its text; what matches nothing is shown as it is, after a generic sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from .egress import EgressStatus


@dataclass(frozen=True)
class Explanation:
    """A plain sentence (`summary`) and the stored text it came from (`detail`, empty when it says nothing more)."""

    summary: str
    detail: str = ""


# (pieces of the stored text, lower-cased, any of which matches; the sentence shown). First match wins.
_KNOWN: tuple[tuple[tuple[str, ...], str], ...] = (
    (("could not connect to rtmp", "stream failed", "rtmp handshake"),
     "The destination refused the stream (check the stream key and the RTMP URL)."),
    (("no publisher joined", "nobody published", "waiting for a publisher"),
     "Nobody published in the room before the deadline."),
    (("start signal", "did not start within"),
     "The egress never started: nobody was publishing in the room, or the layout page never said it was ready."),
    (("livekit no longer knows this egress",),
     "LiveKit lost the egress (its egress worker or server may have restarted)."),
    (("sandbox livekit was restarted",),
     "The sandbox LiveKit was restarted; its egresses do not survive a restart."),
    (("start call never completed",),
     "The start request never completed and LiveKit shows no such egress."),
    (("livekit refused the start",),
     "LiveKit refused to start the egress."),
    (("could not start:", "livekit is unavailable", "could not reach livekit"),
     "LiveKit could not be reached to start the egress."),
    (("connection to room failed",),
     "The egress lost its connection to the room."),
    (("upload failed", "putobject", "access denied", "accessdenied"),
     "The recording could not be written to storage (check the bucket and its credentials)."),
    (("no storage for recordings",),
     "Nowhere to keep recordings: the service has no storage configured."),
    (("session limit reached", "limit was reached", "limit_reached"),
     "LiveKit's time limit for one egress was reached."),
    (("stop called before pipeline could start",),
     "It was stopped before it had started."),
    (("room ended while its start call",),
     "The room ended while the recording was starting."),
    (("source closed",),
     "The room closed before the egress started."),
    (("not found",),
     "The participant or track to record was not in the room."),
    (("preflight failed",),
     "The preflight check failed before the start."),
    (("missed: the service was not running",),
     "The service was not running at the planned start."),
    (("could not start before its end time",),
     "The broadcast could not start before its end time."),
)

_BY_STATUS = {
    EgressStatus.FAILED: "The egress failed.",
    EgressStatus.ABORTED: "The egress was aborted before it started.",
    EgressStatus.LIMIT_REACHED: "LiveKit's time limit for one egress was reached.",
}


def explain(error: str, status: str = "") -> Explanation:
    """A plain sentence for a stored error (and the status it ended in), plus the stored text when it adds to it."""
    text = (error or "").strip()
    lowered = text.lower()
    if lowered in ("", "failed", "aborted", "limit_reached", "missed", "cancelled"):
        return Explanation(_status_sentence(status or lowered))
    for pieces, sentence in _KNOWN:
        if any(piece in lowered for piece in pieces):
            return Explanation(sentence, text)
    return Explanation(_status_sentence(status), text)


def _status_sentence(status: str) -> str:
    if status == "missed":
        return "The service was not running at the planned start."
    if status == "cancelled":
        return "It was cancelled."
    try:
        return _BY_STATUS.get(EgressStatus(status), "It failed.")
    except ValueError:
        return "It failed."
