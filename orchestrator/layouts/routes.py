"""HTTP routes of the layout pages: egress pages, previews, the gallery and static assets.

Egress loads ``/layouts/<name>?layout=..&url=..&token=..`` and checks ``div.error`` once after
load, so parameter errors are rendered into the page (status 200: with status >= 400 egress
reports a bare "page load error" and loses the reason).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from orchestrator.domain.layouts import (
    LAYOUT_ALIASES,
    LAYOUT_NAMES,
    LayoutOptions,
    layout_url,
    resolve_layout_name,
)
from orchestrator.layouts.assets import AssetDirs, content_version, locate_assets

logger = logging.getLogger(__name__)

STATIC_SUFFIXES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300"
# Pages carry the room token in their URL: never cache them, never leak it as a Referer.
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

LIVE_SCRIPTS = ("vendor/livekit-client.umd.js", "geometry.js", "stage.js", "live.js")
PREVIEW_SCRIPTS = ("geometry.js", "stage.js", "preview.js")

MAX_PREVIEW_PARTICIPANTS = 50
MAX_PREVIEW_SCREENS = 4
MIN_SIZE, MAX_SIZE = 16, 7680
URL_SCHEMES = ("ws://", "wss://", "http://", "https://")
MAX_TOKEN_CHARS = 8192

DESCRIPTIONS = {
    "gallery": "Everyone in an even grid; a screen share takes the left side with cameras in a column.",
    "active-speaker": "The current speaker full frame; a screen share with the speaker beside or over it.",
    "crop": "Cameras cropped edge to edge, filling the frame; a screen share with a speaker overlay.",
}

_assets: AssetDirs | None = None
_env: Environment | None = None


def _dirs() -> AssetDirs:
    global _assets, _env
    if _assets is None:
        _assets = locate_assets()
        _env = Environment(
            loader=FileSystemLoader(_assets.templates),
            autoescape=select_autoescape(enabled_extensions=("html", "j2")),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _assets


def _render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    _dirs()
    if _env is None:  # pragma: no cover - _dirs() sets both
        raise RuntimeError("layout templates not loaded")
    html = _env.get_template(template).render(asset=_asset_url, **context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _asset_url(relative: str) -> str:
    return f"/layouts/static/{relative}?v={content_version(_dirs().static / relative)}"


def _error_page(reason: str, status_code: int = 200) -> HTMLResponse:
    logger.info("layout page refused: %s", reason)
    return _render("layout.html.j2", status_code=status_code, error=reason, layout="error")


def _options(params: Mapping[str, str]) -> LayoutOptions:
    return LayoutOptions.from_query(params)


def _optional_int(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {raw[:20]!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low} and {high}")
    return value


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _optional_int(params, name, low, high)
    return default if value is None else value


def _page_config(mode: str, layout: str, options: LayoutOptions, **extra: Any) -> dict[str, Any]:
    return {
        "mode": mode,
        "layout": layout,
        "options": options.to_json(),
        "layouts": list(LAYOUT_NAMES),
        "aliases": LAYOUT_ALIASES,
        **extra,
    }


router = APIRouter(tags=["layouts"])


@router.get("/layouts", include_in_schema=False)
async def layouts_redirect() -> RedirectResponse:
    return RedirectResponse("/layouts/", status_code=308)


@router.get("/layouts/", response_class=HTMLResponse, summary="Gallery of the layouts with live previews")
async def layouts_index(request: Request) -> HTMLResponse:
    base = str(request.base_url).rstrip("/")
    cards = [
        {"name": name, "description": DESCRIPTIONS[name], "example_url": layout_url(base, name)}
        for name in LAYOUT_NAMES
    ]
    return _render("index.html.j2", cards=cards, layout="index")


@router.get("/layouts/static/{path:path}", include_in_schema=False)
async def layout_asset(path: str, request: Request) -> Response:
    root = _dirs().static.resolve()
    target = (root / path).resolve()
    media_type = STATIC_SUFFIXES.get(target.suffix)
    if media_type is None or not target.is_relative_to(root) or not target.is_file():
        raise HTTPException(status_code=404, detail="no such layout asset")
    versioned = request.query_params.get("v") == content_version(target)
    return FileResponse(
        target,
        media_type=media_type,
        headers={"Cache-Control": IMMUTABLE if versioned else REVALIDATE},
    )


@router.get(
    "/layouts/{name}/preview", response_class=HTMLResponse, summary="Layout with synthetic participants"
)
async def layout_preview(name: str, request: Request) -> HTMLResponse:
    if name not in LAYOUT_NAMES:
        return _error_page(f"unknown layout {name!r}", status_code=404)
    params = request.query_params
    try:
        options = _options(params)
        participants = _int(params, "participants", 4, 0, MAX_PREVIEW_PARTICIPANTS)
        screens = _int(params, "screenshare", 0, 0, MAX_PREVIEW_SCREENS)
        if screens > participants:
            raise ValueError("screenshare: more screen shares than participants")
        speaking = _int(params, "speaking", 0, -1, max(participants - 1, 0))
        width = _optional_int(params, "width", MIN_SIZE, MAX_SIZE)
        height = _optional_int(params, "height", MIN_SIZE, MAX_SIZE)
        if (width is None) != (height is None):
            raise ValueError("width: width and height go together")
    except ValueError as exc:
        return _error_page(str(exc), status_code=400)
    preview = {
        "participants": participants,
        "screenshare": screens,
        "speaking": speaking if speaking >= 0 else None,
        "width": width,
        "height": height,
    }
    config = _page_config("preview", name, options, preview=preview)
    return _render("layout.html.j2", layout=name, config=config, scripts=PREVIEW_SCRIPTS, options=options)


@router.get("/layouts/{name}", response_class=HTMLResponse, summary="Layout page rendered by LiveKit Egress")
async def layout_page(name: str, request: Request) -> HTMLResponse:
    if name not in LAYOUT_NAMES:
        return _error_page(f"unknown layout {name!r}", status_code=404)
    params = request.query_params
    requested = params.get("layout") or params.get("template") or name
    layout = resolve_layout_name(requested)
    if layout is None:
        return _error_page(f"unknown layout {requested[:60]!r}; expected one of {', '.join(LAYOUT_NAMES)}")
    url = params.get("url", "")
    token = params.get("token", "")
    if not url or not token:
        return _error_page("missing required params url and token")
    if not url.startswith(URL_SCHEMES):
        return _error_page("url: expected a ws://, wss://, http:// or https:// LiveKit URL")
    if len(token) > MAX_TOKEN_CHARS:
        return _error_page("token: too long")
    try:
        options = _options(params)
    except ValueError as exc:
        return _error_page(str(exc))
    config = _page_config("live", layout, options, url=url, token=token)
    return _render("layout.html.j2", layout=layout, config=config, scripts=LIVE_SCRIPTS, options=options)


def create_layouts_app() -> FastAPI:
    """A bare app serving only the layout routes (tests, benchmark, local preview)."""
    app = FastAPI(title="Egress Orchestrator layouts", docs_url=None, redoc_url=None)
    app.include_router(router)
    return app


def static_root() -> Path:
    """The directory the static layout assets are served from."""
    return _dirs().static
