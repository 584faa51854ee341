"""How the broadcast pages word things: recurrences, run steps, errors, the layout preview's address, and a
broadcast as the form's fields. Presentation only; the decisions stay in the domain and services."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from orchestrator.domain.broadcasts import Broadcast, Recurrence, RunEvent, RunEventKind
from orchestrator.domain.layouts import BUILTIN_LAYOUTS, LAYOUT_NAMES, resolve_layout_name
from orchestrator.domain.recurrence_preview import WEEKDAYS
from orchestrator.domain.redact import redact_text
from orchestrator.logs import SECRETS

from .broadcast_fields import OPTION_FIELDS

LAYOUT_CHOICES: tuple[str, ...] = (*LAYOUT_NAMES, *BUILTIN_LAYOUTS)
_DAY_NAMES = dict(WEEKDAYS)
_DAY_NUMBERS = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat", "7": "sun"}
_WEEKLY = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* ([a-z0-9,]+)$")

STEP_WORDS: dict[RunEventKind, str] = {
    RunEventKind.SCHEDULED: "Scheduled",
    RunEventKind.CLAIMED: "Claimed to start",
    RunEventKind.STARTED_BY_HAND: "Started by hand",
    RunEventKind.MISSED: "Missed its start",
    RunEventKind.WAITING_FOR_PUBLISHER: "Waiting for a publisher",
    RunEventKind.LAUNCHING: "Egress starting",
    RunEventKind.LAUNCHED: "Egress started",
    RunEventKind.LAUNCH_FAILED: "Egress failed to start",
    RunEventKind.LIVE: "Live",
    RunEventKind.HANDED_OVER: "Rolled over (old egress stopped)",
    RunEventKind.ENDED_EARLY: "Egress ended early: healing",
    RunEventKind.TAKEN_OVER: "Taken over by another replica",
    RunEventKind.ROLLING_OVER: "Rolling over to a new egress",
    RunEventKind.READD_DESTINATION: "Destination re-added",
    RunEventKind.READD_FAILED: "Destination could not be re-added",
    RunEventKind.CHANGED: "Changed",
    RunEventKind.PREFLIGHT: "Preflight passed",
    RunEventKind.PREFLIGHT_FAILED: "Preflight failed",
    RunEventKind.STOPPING: "Stopping",
    RunEventKind.STOP_FAILED: "Stop failed",
    RunEventKind.ENDED: "Ended",
    RunEventKind.FAILED: "Failed",
    RunEventKind.CANCELLED: "Cancelled",
}

def step_label(event: RunEvent) -> str:
    if event.kind is not None:
        return STEP_WORDS.get(event.kind, event.kind.value.replace("_", " ").capitalize())
    return event.status_after.value.capitalize()


def stamp(at: datetime, zone: str) -> str:
    """A step's time to the second, in the broadcast's zone: '2026-11-29 16:04:05 CET'."""
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def shown(text: str) -> str:
    """Text from history or errors, with every stream key and secret the service knows of masked."""
    return redact_text(text, SECRETS.secrets)


def recurrence_words(rec: Recurrence | None) -> str:
    """'Every Monday, Wednesday at 09:00 (Europe/Berlin), 10 times' or the cron expression as it is."""
    if rec is None:
        return "Once"
    m = _WEEKLY.match(rec.cron.strip().lower())
    days = [_DAY_NUMBERS.get(d, d) for d in m.group(3).split(",")] if m else []
    if m and all(d in _DAY_NAMES for d in days):
        names = [_DAY_NAMES[d] for d, _ in WEEKDAYS if d in days]
        what = f"Every {', '.join(names)} at {int(m.group(2)):02d}:{int(m.group(1)):02d}"
    else:
        what = f"Cron “{rec.cron}”"
    limit = f", {rec.count} times" if rec.count else ""
    if rec.until is not None:
        limit += f", until {rec.until.astimezone(ZoneInfo(rec.timezone)).strftime('%Y-%m-%d %H:%M')}"
    return f"{what} ({rec.timezone}){limit}"


def zone_of(b: Broadcast) -> str:
    return b.spec.recurrence.timezone if b.spec.recurrence else "UTC"


def preview_url(layout: str, options: dict[str, Any] | None) -> str | None:
    """The layout gallery's preview of a layout with synthetic participants (None: no served equivalent)."""
    name = resolve_layout_name(layout)
    if name is None:
        return None
    query = {"participants": "4"} | {k: str(v).lower() if isinstance(v, bool) else str(v)
                                     for k, v in (options or {}).items() if v not in (None, "")}
    return f"/layouts/{name}/preview?{urlencode(query)}"


def local_value(at: datetime | None, zone: str) -> str:
    """A time as a datetime-local input shows it, in `zone`."""
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M") if at else ""


def form_values(b: Broadcast) -> dict[str, str]:
    """The broadcast as the form's fields (never a stream key or a destination URL)."""
    s, zone = b.spec, zone_of(b)
    values = {"room_name": s.room_name, "title": s.title, "layout": s.layout, "preset": s.preset.value,
              "timezone": zone, "start_mode": "at", "start_local": local_value(s.start_at, zone),
              "end_mode": "end" if s.end_at else "duration", "end_local": local_value(s.end_at, zone),
              "duration_min": f"{s.max_duration_s / 60:g}" if s.max_duration_s else "",
              "record": "on" if s.record_filepath is not None else "", "record_filepath": s.record_filepath or "",
              "wait_for_publisher": "on" if s.wait_for_publisher else "",
              "require_preflight": "on" if s.require_preflight else "",
              "repeat": "cron" if s.recurrence else "none", "cron": s.recurrence.cron if s.recurrence else "",
              "count": str(s.recurrence.count or "") if s.recurrence else "",
              "until_local": local_value(s.recurrence.until, zone) if s.recurrence else ""}
    options = s.layout_options.to_query() if s.layout_options else {}
    values.update({f"opt_{k}": str(options[k]).lower() if isinstance(options[k], bool) else str(options[k])
                   for k in OPTION_FIELDS if k in options})
    return values
