"""The rule form of the console: posted fields to the API's `RuleIn` body and back, and its errors worded as the
API's 422 words them, by form field. Field names are the API's dotted paths (`match.room_name_glob`, ...)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from orchestrator.api.schemas.rules import RuleIn
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.layouts import BUILTIN_LAYOUTS, LAYOUT_NAMES
from orchestrator.domain.requests import Preset
from orchestrator.domain.rules import (
    DEFAULT_COMPOSITE_PATH,
    DEFAULT_HLS_PREFIX,
    DEFAULT_KINDS,
    DEFAULT_PARTICIPANT_PATH,
    DEFAULT_TRACK_PATH,
    ParticipantKind,
)

LAYOUTS = tuple(sorted({*BUILTIN_LAYOUTS, *LAYOUT_NAMES}))
PRESETS = tuple(p.value for p in Preset)
KINDS = tuple(k.value for k in ParticipantKind)
_TAGS = ("s3", "hls")  # the outputs' discriminator, which the API leaves out of the field name
_INDEX = re.compile(r"\.\d+(?=\.|$)")

Values = dict[str, Any]


@dataclass
class Posted:
    """What the form said: its values (to show again) and the API body, or the errors beside its fields."""

    values: Values
    body: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)


def blank() -> Values:
    """A new rule's form: a composite to MP4 by default, as the API's own defaults."""
    return {"name": "", "enabled": True, "priority": "0", "match.room_name_glob": "", "match.room_name_regex": "",
            "match.metadata": "", "match.all_rooms": False, "composite": True, "actions.composite.layout": "grid",
            "actions.composite.preset": "", "actions.composite.audio_only": False, "composite.mp4": True,
            "actions.composite.outputs.filepath": DEFAULT_COMPOSITE_PATH, "composite.hls": False,
            "actions.composite.outputs.filename_prefix": DEFAULT_HLS_PREFIX, "tracks": False,
            "actions.tracks.filepath": DEFAULT_TRACK_PATH, "participants": False,
            "actions.participants.filepath": DEFAULT_PARTICIPANT_PATH, "actions.participants.preset": "",
            "participants_filter.include": "", "participants_filter.exclude": "",
            "participants_filter.kinds": sorted(DEFAULT_KINDS)}


def of_rule(rule: RuleIn) -> Values:
    """A stored rule (as the API shows it) in the form's fields."""
    values = blank()
    c, t, p, f = rule.actions.composite, rule.actions.tracks, rule.actions.participants, rule.participants_filter
    values.update({"name": rule.name, "enabled": rule.enabled, "priority": str(rule.priority),
                   "match.room_name_glob": rule.match.room_name_glob,
                   "match.room_name_regex": rule.match.room_name_regex,
                   "match.metadata": json.dumps(rule.match.metadata) if rule.match.metadata is not None else "",
                   "match.all_rooms": rule.match.all_rooms, "composite": c is not None, "tracks": t is not None,
                   "participants": p is not None, "participants_filter.include": "\n".join(f.include),
                   "participants_filter.exclude": "\n".join(f.exclude),
                   "participants_filter.kinds": [str(k) for k in f.kinds]})
    if c is not None:
        values.update({"actions.composite.layout": c.layout, "actions.composite.preset": c.preset or "",
                       "actions.composite.audio_only": c.audio_only, "composite.mp4": False, "composite.hls": False})
        for out in c.outputs:
            if out.type == "s3":
                values.update({"composite.mp4": True, "actions.composite.outputs.filepath": out.filepath})
            else:
                values.update({"composite.hls": True, "actions.composite.outputs.filename_prefix": out.filename_prefix})
    if t is not None:
        values["actions.tracks.filepath"] = t.filepath
    if p is not None:
        values.update({"actions.participants.filepath": p.filepath, "actions.participants.preset": p.preset or ""})
    return values


def read(form: Mapping[str, str], kinds: list[str]) -> Posted:
    """The posted form as the API's body (validated by `RuleIn`, as `POST /v1/rules` does)."""
    values = blank()
    for name, default in values.items():
        if isinstance(default, bool):
            values[name] = form.get(name) == "on"
        elif isinstance(default, str):
            values[name] = form.get(name, "").strip() if name != "match.metadata" else form.get(name, "")
    values["participants_filter.kinds"] = kinds
    posted = Posted(values)
    metadata: Any = None
    if values["match.metadata"].strip():
        try:
            metadata = json.loads(values["match.metadata"])
        except ValueError as exc:
            posted.errors["match.metadata"] = f"match.metadata: not valid JSON: {exc}"
    outputs: list[dict[str, str]] = []
    if values["composite.mp4"]:
        outputs.append({"type": "s3", "filepath": values["actions.composite.outputs.filepath"]})
    if values["composite.hls"]:
        outputs.append({"type": "hls", "filename_prefix": values["actions.composite.outputs.filename_prefix"]})
    actions: dict[str, Any] = {}
    if values["composite"]:
        actions["composite"] = {"layout": values["actions.composite.layout"],
                                "preset": values["actions.composite.preset"] or None,
                                "audio_only": values["actions.composite.audio_only"], "outputs": outputs}
    if values["tracks"]:
        actions["tracks"] = {"filepath": values["actions.tracks.filepath"]}
    if values["participants"]:
        actions["participants"] = {"filepath": values["actions.participants.filepath"],
                                   "preset": values["actions.participants.preset"] or None}
    body = {"name": values["name"], "enabled": values["enabled"], "priority": values["priority"] or "0",
            "match": {"room_name_glob": values["match.room_name_glob"],
                      "room_name_regex": values["match.room_name_regex"], "metadata": metadata,
                      "all_rooms": values["match.all_rooms"]},
            "actions": actions,
            "participants_filter": {"include": _lines(values["participants_filter.include"]),
                                    "exclude": _lines(values["participants_filter.exclude"]), "kinds": kinds}}
    if posted.errors:
        return posted
    try:
        RuleIn.model_validate(body)
    except ValidationError as exc:
        posted.errors = api_errors(exc)
        return posted
    posted.body = body
    return posted


def api_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors worded as the API's 422 words them (`<field>: <msg>`), keyed by the form's field."""
    found: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in _TAGS) or "body"
        found.setdefault(form_field(loc), f"{loc}: {err.get('msg', 'invalid')}")
    return found


def invalid(exc: InvalidInput) -> dict[str, str]:
    """A domain refusal (the API's 422 for it) beside its field."""
    return {form_field(exc.field): exc.message}


def form_field(api_field: str) -> str:
    """The form field an API field is shown beside: list items beside their list (`outputs.0.x` -> `outputs.x`)."""
    return _INDEX.sub("", api_field)


def room_metadata(raw: str) -> tuple[str, str]:
    """A room's metadata typed for a trial, as the room would carry it: a JSON object as typed, or `key=value`
    lines as a JSON object of strings. Returns (metadata, error)."""
    text = raw.strip()
    if not text:
        return "", ""
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            return "", f"metadata: not valid JSON: {exc}"
        return (json.dumps(value), "") if isinstance(value, dict) else ("", "metadata: must be a JSON object")
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            return "", f"metadata: line {number} is not key=value (or give a JSON object)"
        pairs[key.strip()] = value.strip()
    return json.dumps(pairs), ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\n,]", text) if line.strip()]
