"""The broadcast form's fields as the API's bodies: a posted form becomes `BroadcastCreate`/`BroadcastUpdate`,
and their errors come back keyed by the API's field names with the API's 422 wording."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import ValidationError

from orchestrator.api.schemas.broadcasts import BroadcastCreate, BroadcastUpdate
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.recurrence_preview import weekly_cron

DESTINATION_ROWS = 3  # blank destination rows on the form (without JavaScript a form has a fixed size)
OPTION_FIELDS = ("theme", "background", "show_names", "show_non_publishing", "show_agents", "title")


@cache
def zones() -> tuple[str, ...]:
    """Every IANA zone this machine knows, UTC first."""
    return ("UTC", *sorted(z for z in available_timezones() if z != "UTC" and "/" in z))


class Form:
    """A posted (or queried) form: one value or every value of a field, blanks stripped."""

    def __init__(self, items: Iterable[tuple[str, Any]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in items:
            if isinstance(value, str):
                self._values.setdefault(key, []).append(value)

    def get(self, name: str, default: str = "") -> str:
        values = self._values.get(name)
        return values[-1].strip() if values else default

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self._values.get(name, []) if v.strip()]

    def on(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "1", "yes")

    def raw(self) -> dict[str, str]:
        """Each field's value (the last one; the days and removals comma-joined) to refill the form after an
        error; stream keys are left out: a page never sends one back."""
        return {k: ",".join(v) if k in ("days", "remove") else v[-1] for k, v in self._values.items()
                if not k.startswith("dest_key_") and k != "csrf_token"}


@dataclass
class Outcome:
    """A body built from the form, or the errors to show beside its fields (API field -> API message)."""

    body: Any = None
    errors: dict[str, str] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)  # the API's destinations.N -> the form's dest.M


def api_errors(exc: ValidationError, rename: Mapping[str, str] | None = None) -> dict[str, str]:
    """Pydantic's errors worded as the API's 422 does (`<field>: <msg>`, the field dotted), by field."""
    found: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")) or "body"
        name = (rename or {}).get(loc, loc)
        found.setdefault(name, f"{loc}: {err.get('msg', 'invalid')}")
    return found


def invalid(exc: InvalidInput) -> dict[str, str]:
    return {exc.field: exc.message}


def local_time(value: str, zone: str) -> str | None:
    """A datetime-local value in `zone` as RFC 3339 with its offset (pydantic words a malformed one)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone)).isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return value


def check_zone(zone: str, name: str = "timezone") -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(name, "is not an IANA time zone (e.g. Europe/Berlin)") from None


def _duration(form: Form) -> int | str | None:
    minutes = form.get("duration_min")
    if not minutes:
        return None
    try:
        return round(float(minutes) * 60)
    except (ValueError, OverflowError):  # "abc", "nan", "1e309"
        return minutes  # pydantic: "Input should be a valid integer"


def schedule_fields(form: Form) -> dict[str, Any]:
    """start_at, end_at or max_duration_s, and the recurrence, from the form's schedule fields (a chosen but
    blank date is sent blank, so the API's own message asks for it)."""
    zone = form.get("timezone", "UTC") or "UTC"
    check_zone(zone)
    body: dict[str, Any] = {}
    if form.get("start_mode", "now") == "at":
        body["start_at"] = local_time(form.get("start_local"), zone) or ""
    if form.get("end_mode", "duration") == "end":
        body["end_at"] = local_time(form.get("end_local"), zone) or ""
    elif (minutes := _duration(form)) is not None:
        body["max_duration_s"] = minutes
    repeat = form.get("repeat", "none")
    if repeat in ("weekly", "cron"):
        cron = weekly_cron(form.all("days"), form.get("weekly_time")) if repeat == "weekly" else form.get("cron")
        rec: dict[str, Any] = {"cron": cron, "timezone": zone}
        if form.get("until_local"):
            rec["until"] = local_time(form.get("until_local"), zone)
        if form.get("count"):
            rec["count"] = form.get("count")
        body["recurrence"] = rec
    return body


def _destination(form: Form, row: int) -> dict[str, str] | None:
    kind = form.get(f"dest_type_{row}")
    if kind == "mux" and form.get(f"dest_key_{row}"):
        return {"type": "mux", "stream_key": form.get(f"dest_key_{row}")}
    if kind == "rtmp" and form.get(f"dest_url_{row}"):
        return {"type": "rtmp", "url": form.get(f"dest_url_{row}")}
    return None


def destinations(form: Form, listed_as: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The filled destination rows, and how the API names each (`destinations.0`) -> the row (`dest.2`)."""
    found: list[dict[str, str]] = []
    rows: dict[str, str] = {}
    for row in range(DESTINATION_ROWS):
        dest = _destination(form, row)
        if dest is not None:
            rows[f"{listed_as}.{len(found)}"] = f"dest.{row}"
            found.append(dest)
    return found, rows


def rename_rows(errors: dict[str, str], rows: Mapping[str, str]) -> dict[str, str]:
    """`destinations.1.stream_key` -> `dest.2.stream_key`: the row of the form the error belongs beside."""
    renamed: dict[str, str] = {}
    for key, message in errors.items():
        for listed, row in rows.items():
            if key == listed or key.startswith(listed + "."):
                key = row + key[len(listed):]
                break
        renamed[key] = message
    return renamed


def layout_options(form: Form) -> dict[str, str] | None:
    options = {name: form.get(f"opt_{name}") for name in OPTION_FIELDS if form.get(f"opt_{name}")}
    return options or None


def create_body(form: Form) -> Outcome:
    """`BroadcastCreate` exactly as the API would build it from the same choices, or the API's errors."""
    dests, rows = destinations(form, "destinations")
    try:
        data: dict[str, Any] = {
            "room_name": form.get("room_name"), "title": form.get("title"), "layout": form.get("layout", "gallery"),
            "preset": form.get("preset") or "1080p30", "destinations": dests,
            "wait_for_publisher": form.on("wait_for_publisher"), "require_preflight": form.on("require_preflight"),
            "callback_urls": [u for u in form.get("callback_urls").splitlines() if u.strip()],
            **schedule_fields(form),
        }
    except InvalidInput as exc:
        return Outcome(errors=invalid(exc), rows=rows)
    if (options := layout_options(form)) is not None:
        data["layout_options"] = options
    if form.on("record"):
        data["record"] = {"filepath": form.get("record_filepath")} if form.get("record_filepath") else {}
    try:
        body = BroadcastCreate.model_validate(data)
        body.to_spec()  # the API's own translation: InvalidInput names the field as the 422 would
    except ValidationError as exc:
        return Outcome(errors=rename_rows(api_errors(exc), rows), rows=rows)
    except InvalidInput as exc:
        return Outcome(errors=rename_rows(invalid(exc), rows), rows=rows)
    return Outcome(body=body, rows=rows)


def update_body(form: Form, current: Mapping[str, Any]) -> Outcome:
    """`BroadcastUpdate` with only what changed (`current`: the schedule fields as the form showed them)."""
    dests, rows = destinations(form, "add_destinations")
    data: dict[str, Any] = {"add_destinations": dests, "remove_destinations": form.all("remove")}
    if form.get("layout") and form.get("layout") != current.get("layout"):
        data["layout"] = form.get("layout")
    try:
        schedule = schedule_fields(form)
    except InvalidInput as exc:
        return Outcome(errors=invalid(exc), rows=rows)
    for name in ("start_at", "end_at", "max_duration_s"):
        if name in schedule and schedule[name] != current.get(name):
            data[name] = schedule[name]
    try:
        body = BroadcastUpdate.model_validate(data)
        body.destinations_to_add()
    except ValidationError as exc:
        return Outcome(errors=rename_rows(api_errors(exc), rows), rows=rows)
    except InvalidInput as exc:
        return Outcome(errors=rename_rows(invalid(exc), rows), rows=rows)
    return Outcome(body=body, rows=rows)
