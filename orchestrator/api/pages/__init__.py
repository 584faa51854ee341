"""The producer console: server-rendered pages over the same services as the API (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from orchestrator.layouts.assets import locate_assets

from .base import SignInRequired
from .error_pages import install_error_pages


def install(app: FastAPI, *routers: APIRouter) -> None:
    """Mount the console's static files and page routers, and send the signed-out to the sign-in page."""
    app.mount("/static", StaticFiles(directory=locate_assets().templates / "static"), name="static")
    for router in routers:
        app.include_router(router)
    install_error_pages(app)  # a person's browser gets errors as pages; API clients keep JSON

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(f"/sign-in?next={quote(exc.next_url, safe='/')}", status_code=303)
