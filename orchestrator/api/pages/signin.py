"""Console pages: sign in (`/sign-in`, a name and password, throttled) and sign out (`POST /sign-out`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orchestrator.api import auth
from orchestrator.api.deps import ContainerDep
from orchestrator.services.identity import SignInRefused, SignInThrottled

from .base import FormDep, render

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//host` or `https://...`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return "/"
    if any(ord(ch) < 0x20 for ch in target):
        return "/"
    return target


def _page(request: Request, next_url: str, *, name: str = "", error: str = "", status_code: int = 200,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    response = render(request, "signin.html.j2", None, status_code=status_code, title="Sign in",
                      form_token=auth.csrf_token(request), next_url=next_url, name=name, error=error)
    auth.set_pre_session_cookie(request, response)
    response.headers.update(headers or {})
    return response


@router.get("/sign-in", response_model=None)
async def sign_in_page(request: Request, c: ContainerDep, next: str = "/") -> Response:
    if await auth.session_principal(request, c) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _page(request, safe_next(next))


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request, c: ContainerDep, form: FormDep) -> Response:
    name, password = form.get("name", "").strip(), form.get("password", "")
    next_url = safe_next(form.get("next"))
    if not name or not password:
        return _page(request, next_url, name=name, error="Enter your name and password.", status_code=422)
    address = request.client.host if request.client else "unknown"
    try:
        token, _ = await c.identity.sign_in(name, password, address)
    except SignInThrottled as exc:
        return _page(request, next_url, name=name, status_code=429, headers={"Retry-After": str(exc.seconds)},
                     error=f"Too many failed sign-ins. Try again in {exc.seconds} seconds.")
    except SignInRefused:
        return _page(request, next_url, name=name, error="Wrong name or password.", status_code=401)
    if previous := request.cookies.get(auth.SESSION_COOKIE):
        await c.identity.sign_out(previous)  # one browser, one session: the one it had ends
    response = RedirectResponse(next_url, status_code=303)
    auth.start_session(request, response, token, int(c.identity.sessions.absolute.total_seconds()))
    return response


@router.post("/sign-out", response_model=None)
async def sign_out(request: Request, c: ContainerDep, form: FormDep) -> Response:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token:
        await c.identity.sign_out(token)
    response = RedirectResponse("/sign-in", status_code=303)
    auth.end_session(response)
    return response
