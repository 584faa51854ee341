"""What every console page shares: the signed-in person, cross-site request protection, and rendering.

Pages are thin: they read the request, call the same services the API calls, and render a template. No business
rule lives here or in a template.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from orchestrator import __version__
from orchestrator.api import auth
from orchestrator.api.deps import ContainerDep
from orchestrator.domain.identity import Principal, Role
from orchestrator.layouts.assets import locate_assets

_env = Environment(
    loader=FileSystemLoader(locate_assets().templates / "console"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInRequired(Exception):
    """Raised by a page dependency when nobody is signed in; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


async def console_principal(request: Request, c: ContainerDep) -> Principal:
    """The person signed in to the console, or a redirect to the sign-in page."""
    who = await auth.session_principal(request, c)
    if who is None:
        raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return who


def page_role(needed: Role) -> Any:
    async def check(who: Annotated[Principal, Depends(console_principal)]) -> Principal:
        if not who.allows(needed):
            raise HTTPException(403, f"this page needs the {needed.value} role; you are {who.role.value}")
        return who

    return check


ConsoleViewer = Annotated[Principal, Depends(page_role(Role.VIEWER))]
ConsoleProducer = Annotated[Principal, Depends(page_role(Role.PRODUCER))]
ConsoleAdmin = Annotated[Principal, Depends(page_role(Role.ADMIN))]


def static_url(path: str) -> str:
    """A console asset's URL; the version in the query lets browsers cache it until the next release."""
    return f"/static/{path}?v={__version__}"


def when(at: datetime | None, zone: str | None = None) -> str:
    """A time as people read it, with its zone: '2026-11-29 15:04 UTC' or '2026-11-29 16:04 CET'."""
    if at is None:
        return "—"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    shown = at.astimezone(ZoneInfo(zone)) if zone else at.astimezone(UTC)
    return shown.strftime("%Y-%m-%d %H:%M %Z")


def iso(at: datetime | None) -> str:
    """UTC RFC 3339, for <time datetime=...> (the console's script shows it in the viewer's zone too)."""
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


_env.globals.update(static=static_url, when=when, iso=iso, Role=Role, version=__version__)


def render(request: Request, template: str, who: Principal | None, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A console page (or, for htmx requests, the fragment a template renders for them)."""
    html = _env.get_template(template).render(
        request=request, who=who, csrf_token=auth.csrf_token(request) if who else "",
        path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, once its cross-site request token is checked (403 otherwise). Multi-valued fields
    keep their last value; pages that take lists read `request.form()` themselves after this check."""
    form = await request.form()
    auth.check_csrf(request, str(form.get("csrf_token", "")))
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(checked_form)]
