"""Why a recording cannot be played, in words a producer understands (pure: the console shows it).

Kept beside `recordings.py` (which writes the reasons this module reads) rather than in it, so each stays one job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .egress import EgressStatus
from .explain import Explanation
from .explain import explain as explain_error
from .identity import SYSTEM
from .recordings import Recording, RecordingStatus

_RETENTION = re.compile(r"^retention: older than (?P<days>[\d.]+) days?")
_DELETED_BY = re.compile(r"^deleted by (?P<actor>.+?)(?::|$)")
_SHORT = re.compile(r"has (?P<have>\d+) bytes, LiveKit reported (?P<want>\d+)")


@dataclass(frozen=True)
class EgressOutcome:
    """How the egress that wrote a recording ended, as far as an explanation needs it."""

    status: EgressStatus
    error: str = ""


def explain_recording(recording: Recording, egress: EgressOutcome | None = None, *,
                      deleted_by: str = "") -> Explanation:
    """Why `recording` is missing, deleted, not yet checked, or only partial (`detail`: the stored text it
    came from, when it adds something); an empty summary when it is ready and its egress ended normally.
    `deleted_by`: the actor of its deletion (a person's or key's name; "system" for the service itself)."""
    failed = egress is not None and egress.status == EgressStatus.FAILED
    cause = explain_error(egress.error, egress.status.value) if egress is not None and failed else None
    summary = _summary(recording, cause, deleted_by)
    if cause is not None:
        detail = cause.detail
    else:
        detail = recording.reason if recording.status == RecordingStatus.MISSING else ""
    adds = summary and detail and detail.rstrip(".").lower() not in summary.lower()
    return Explanation(summary, detail if adds else "")


def _summary(recording: Recording, cause: Explanation | None, deleted_by: str) -> str:
    failed = cause is not None
    error = "LiveKit gave no reason."
    if cause is not None:
        generic = cause.summary == "The egress failed."
        error = _sentence(cause.detail) if generic and cause.detail else cause.summary if not generic else error
    match recording.status:
        case RecordingStatus.READY:
            if failed:
                return f"The egress failed while recording. {error} The file holds what was written until then."
            return ""
        case RecordingStatus.VERIFYING:
            if recording.check_attempts:
                return ("Storage could not be reached to check the file yet; it is checked again automatically "
                        f"({recording.check_attempts} attempt{'s' if recording.check_attempts != 1 else ''} so far).")
            return "The file is being checked in storage; it can be played once it is found whole."
        case RecordingStatus.MISSING:
            return _missing(recording.reason, failed, error)
        case RecordingStatus.DELETED:
            return _deleted(recording.reason, deleted_by)
    return ""


def _missing(reason: str, failed: bool, error: str) -> str:
    if failed:
        return f"The egress failed before writing a whole file: {_lower_first(error)}"
    if reason.endswith("does not exist"):
        return "The file was not found in storage when it was verified."
    short = _SHORT.search(reason)
    if short:
        return (f"The file in storage is incomplete: it has {int(short['have']):,} of the "
                f"{int(short['want']):,} bytes LiveKit reported, so the upload did not finish.")
    return f"The file is missing: {_sentence(reason)}" if reason else "The file is missing; no reason was recorded."


def _deleted(reason: str, actor: str) -> str:
    retention = _RETENTION.match(reason)
    if retention:
        days = float(retention["days"])
        return f"Deleted by retention after {days:g} day{'s' if days != 1 else ''}."
    by = _DELETED_BY.match(reason)
    if by:
        return f"Deleted by {by['actor']}."
    person = actor if actor and actor != SYSTEM.name else ""
    if reason == "deleted through the API":
        return f"Deleted by {person} through the API." if person else "Deleted through the API."
    if person:
        return f"Deleted by {person}: {_lower_first(_sentence(reason))}" if reason else f"Deleted by {person}."
    return f"Deleted: {_sentence(reason)}" if reason else "Deleted."


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _lower_first(sentence: str) -> str:
    """'The recording ...' -> 'the recording ...' after a colon; 'LiveKit ...' stays as it is."""
    first_word = sentence.split(" ", 1)[0]
    if first_word[:1].isupper() and first_word[1:].islower():
        return sentence[0].lower() + sentence[1:]
    return sentence
