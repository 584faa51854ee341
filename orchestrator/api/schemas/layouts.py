"""Layout names and display options in request bodies (egresses and broadcasts), resolved to a page URL."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.layouts import BUILTIN_LAYOUTS, LAYOUT_NAMES, layout_url, parse_layout_options

from .common import Strict


class LayoutOptionsIn(Strict):
    """Display options of the served layouts (gallery, active-speaker, crop), passed in the page URL."""

    background: str | None = Field(None, max_length=2048, description="CSS colour or http(s) image URL")
    theme: Literal["dark", "light"] | None = None
    show_names: bool | None = None
    show_non_publishing: bool | None = None
    show_agents: bool | None = None
    title: str | None = Field(None, max_length=200, description="title overlay")


def resolve_layout(
    layout: str, public_url: str, options: dict[str, object] | None = None
) -> tuple[str, str]:
    """(layout, custom_base_url): our served layouts become a page URL, LiveKit's own names pass through."""
    if options and layout not in LAYOUT_NAMES:
        raise InvalidInput("layout_options", f"options apply to the served layouts ({', '.join(LAYOUT_NAMES)})")
    if not layout:
        return "", ""
    if layout in BUILTIN_LAYOUTS:
        return layout, ""
    if layout in LAYOUT_NAMES:
        return "", layout_url(public_url, layout, parse_layout_options(options))
    names = sorted({*BUILTIN_LAYOUTS, *LAYOUT_NAMES})
    raise InvalidInput("layout", f"unknown layout; use one of {', '.join(names)}")
