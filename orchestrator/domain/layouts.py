"""Broadcast layout names and options: pure validation and the egress page URL (no I/O).

The geometry itself lives in the browser code (``layouts/geometry.js``); this module only
knows which layouts exist, which options a layout page accepts, and how to build the
``custom_base_url`` that points LiveKit Egress at one of our pages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

LAYOUT_NAMES: tuple[str, ...] = ("gallery", "active-speaker", "crop")
"""Layouts served by this service at ``/layouts/<name>``."""

BUILTIN_LAYOUTS: tuple[str, ...] = (
    "grid",
    "grid-light",
    "speaker",
    "speaker-light",
    "single-speaker",
    "single-speaker-light",
)
"""LiveKit's own template layouts; they pass through to egress as ``layout`` unchanged."""

LAYOUT_ALIASES: dict[str, str] = {
    **{f"grid{suffix}": "gallery" for suffix in ("", "-dark", "-light")},
    **{f"speaker{suffix}": "active-speaker" for suffix in ("", "-dark", "-light")},
    **{f"single-speaker{suffix}": "active-speaker" for suffix in ("", "-dark", "-light")},
}
"""LiveKit layout names our pages understand too (e.g. when UpdateLayout sends ``speaker``)."""

Theme = Literal["dark", "light"]

TITLE_MAX_CHARS = 200
URL_MAX_CHARS = 2048

_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_FUNC_COLOUR = re.compile(r"(?:rgb|rgba|hsl|hsla)\([0-9.,%\s/+-]{1,60}\)")
_NAMED_COLOUR = re.compile(r"[a-zA-Z]{3,30}")
# Characters that could break out of a CSS url("...") or an HTML attribute are refused.
_URL_FORBIDDEN = re.compile(r"[\s\"'()<>\\`]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

# Query-parameter aliases accepted on input (Mux's original app used the long name).
_ALIASES = {"show_non_publishing_participants": "show_non_publishing"}


def is_layout_name(name: str) -> bool:
    """True for one of our own layouts (served by this service)."""
    return name in LAYOUT_NAMES


def is_builtin_layout(name: str) -> bool:
    """True for one of LiveKit's built-in template layouts."""
    return name in BUILTIN_LAYOUTS


def resolve_layout_name(name: str) -> str | None:
    """Our layout for a name or a LiveKit alias; None when unknown."""
    if name in LAYOUT_NAMES:
        return name
    return LAYOUT_ALIASES.get(name)


def _is_image_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _validate_background(value: str | None) -> None:
    if value is None:
        return
    if not value or len(value) > URL_MAX_CHARS:
        raise ValueError("background: must be a CSS colour or an http(s) image URL")
    if _HEX_COLOUR.fullmatch(value) or _FUNC_COLOUR.fullmatch(value) or _NAMED_COLOUR.fullmatch(value):
        return
    if _is_image_url(value) and not _URL_FORBIDDEN.search(value):
        return
    raise ValueError(f"background: {value[:80]!r} is neither a CSS colour nor an http(s) image URL")


def _parse_bool(field: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{field}: expected true or false, got {raw[:40]!r}")


@dataclass(frozen=True, slots=True)
class LayoutOptions:
    """Display options of a layout page, carried as query parameters.

    ``background`` is a CSS colour (``#123``, ``rgb(...)``, ``navy``) or an http(s) image URL
    (scaled to cover). ``show_agents`` also shows agent and egress participants, which are
    hidden by default.
    """

    background: str | None = None
    theme: Theme = "dark"
    show_names: bool = True
    show_non_publishing: bool = False
    show_agents: bool = False
    title: str | None = None

    def __post_init__(self) -> None:
        _validate_background(self.background)
        if self.theme not in ("dark", "light"):
            raise ValueError(f"theme: expected 'dark' or 'light', got {self.theme!r}")
        for name in ("show_names", "show_non_publishing", "show_agents"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected a boolean")
        if self.title is not None:
            if len(self.title) > TITLE_MAX_CHARS:
                raise ValueError(f"title: longer than {TITLE_MAX_CHARS} characters")
            if _CONTROL_CHARS.search(self.title):
                raise ValueError("title: contains control characters")

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> LayoutOptions:
        """Build options from query parameters; unknown parameters are ignored.

        Empty values mean "default". Raises ``ValueError`` naming the bad field.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, object] = {}
        for raw_key, raw in params.items():
            key = _ALIASES.get(raw_key, raw_key)
            if key not in known or raw == "":
                continue
            if key in ("show_names", "show_non_publishing", "show_agents"):
                values[key] = _parse_bool(key, raw)
            elif key == "theme":
                values[key] = raw.strip().lower()
            else:
                values[key] = raw
        return cls(**values)  # type: ignore[arg-type]

    def to_query(self) -> dict[str, str]:
        """The non-default options as query parameters (sorted by name)."""
        default = LayoutOptions()
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            out[f.name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, object]:
        """All options as a JSON-ready dict, for the page's embedded configuration."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def layout_url(public_url: str, name: str, options: LayoutOptions | None = None) -> str:
    """The ``custom_base_url`` for one of our layouts: ``{public_url}/layouts/{name}?{options}``.

    Only non-default options are written; with none, there is no ``?``. Egress then adds
    ``layout``, ``url`` and ``token`` and keeps these parameters.
    """
    if not is_layout_name(name):
        raise ValueError(f"name: {name!r} is not one of {', '.join(LAYOUT_NAMES)}")
    base = public_url.rstrip("/")
    if not _is_image_url(base):  # same check: an absolute http(s) URL
        raise ValueError(f"public_url: {public_url!r} is not an absolute http(s) URL")
    query = urlencode((options or LayoutOptions()).to_query(), quote_via=quote)
    url = f"{base}/layouts/{name}"
    return f"{url}?{query}" if query else url


def parse_layout_options(values: Mapping[str, object] | None, where: str = "layout_options") -> LayoutOptions | None:
    """Options given through the API as a LayoutOptions, or InvalidInput naming the field."""
    from .errors import InvalidInput

    if not values:
        return None
    known = {f.name for f in fields(LayoutOptions)}
    for name in values:
        if name not in known:
            raise InvalidInput(f"{where}.{name}", f"unknown option; use {', '.join(sorted(known))}")
    try:
        return LayoutOptions(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        name, _, message = str(exc).partition(": ")
        raise InvalidInput(f"{where}.{name}" if name in known else where, message or str(exc)) from None
