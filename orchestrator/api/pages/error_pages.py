"""Console errors as pages: a person's browser asking for a console page gets HTML (403, 404, 409, 422...) with
the same message the API would give, inside the console's shell; API clients keep the JSON error body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from orchestrator.domain.errors import OrchestratorError

from .base import render

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]
NOT_PAGES = ("/v1/", "/webhooks/", "/static/", "/layouts", "/docs", "/redoc", "/openapi", "/sandbox", "/metrics",
             "/healthz", "/readyz")
TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
          409: "Conflict", 422: "Check the form", 429: "Too many attempts"}


def wants_page(request: Request) -> bool:
    """A browser navigating the console (not the API, the static files or the layout pages)."""
    path = request.url.path
    return not path.startswith(NOT_PAGES) and "text/html" in request.headers.get("accept", "")


def install_error_pages(app: FastAPI) -> None:
    """Wrap the app's JSON handlers (api/errors.py, installed first) for page requests."""
    for kind in (StarletteHTTPException, OrchestratorError):
        api_handler: Any = app.exception_handlers.get(kind)
        if api_handler is not None:
            app.add_exception_handler(kind, _page_or(api_handler))


def _page_or(api_handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not wants_page(request):
            answer = api_handler(request, exc)
            return await answer if not isinstance(answer, Response) else answer
        if isinstance(exc, StarletteHTTPException):
            status, message, headers = exc.status_code, str(exc.detail), dict(exc.headers or {})
        else:
            answer = api_handler(request, exc)
            json_answer = await answer if not isinstance(answer, Response) else answer
            status, message, headers = json_answer.status_code, getattr(exc, "message", str(exc)), {}
        who = getattr(request.state, "principal", None)
        page = render(request, "error.html.j2", who, status_code=status, title=TITLES.get(status, "Error"),
                      status=status, message=message)
        page.headers.update(headers)
        return page

    return handle
