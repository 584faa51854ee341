"""Console page: Settings (admins): the `doctor` checks, people (add, role, password, disable, remove), API keys.

Every form posts here and is answered with a 303 back to `/settings` and a notice, except creating a key: that
answer shows the key once, in the page itself (it is stored nowhere, so it could not be shown after a redirect).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.api.schemas.identity import KeyIn, PersonIn, PersonPatch
from orchestrator.doctor_checks import findings
from orchestrator.domain.errors import OrchestratorError
from orchestrator.domain.identity import MIN_PASSWORD, Principal, Role

from .base import ConsoleAdmin, FormDep, render

router = APIRouter(include_in_schema=False)

NOTICES = {
    "added": "{name} was added.", "role": "{name}'s role was changed.", "password": "{name}'s password was reset.",
    "disabled": "{name} was disabled and signed out everywhere.", "enabled": "{name} may sign in again.",
    "removed": "{name} was removed; their keys were revoked.", "revoked": "The key {name} was revoked.",
}


def _errors(exc: ValidationError | OrchestratorError) -> dict[str, str]:
    """Field -> message, worded as the API's 422 (`field: message`)."""
    if isinstance(exc, OrchestratorError):
        return {getattr(exc, "field", None) or "form": exc.message}
    out: dict[str, str] = {}
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ())) or "form"
        out.setdefault(field, f"{field}: {error.get('msg', 'invalid')}")
    return out


async def _page(request: Request, c: ContainerDep, who: Principal, *, status_code: int = 200,
                **context: Any) -> HTMLResponse:
    people = await c.identity.people()
    keys = await c.identity.keys(who)
    notice = ""
    if (done := request.query_params.get("done")) in NOTICES:
        notice = NOTICES[done].format(name=request.query_params.get("name", ""))
    context.setdefault("person_form", {})
    context.setdefault("key_form", {})
    return render(request, "settings.html.j2", who, status_code=status_code, title="Settings", people=people,
                  keys=keys, roles=list(Role), notice=notice, min_password=MIN_PASSWORD, **context)


def _done(what: str, name: str) -> RedirectResponse:
    return RedirectResponse(f"/settings?{urlencode({'done': what, 'name': name})}", status_code=303)


@router.get("/settings")
async def settings_page(request: Request, c: ContainerDep, who: ConsoleAdmin) -> HTMLResponse:
    return await _page(request, c, who)


@router.get("/settings/checks")
async def checks_page(request: Request, c: ContainerDep, who: ConsoleAdmin) -> HTMLResponse:
    """The doctor checks (run now, for real); htmx asks for the table alone."""
    found = await run_in_threadpool(findings, c.settings)
    template = "settings_checks_table.html.j2" if request.headers.get("hx-request") else "settings_checks.html.j2"
    return render(request, template, who, title="Set-up checks", findings=found)


@router.post("/settings/people")
async def add_person(request: Request, c: ContainerDep, who: ConsoleAdmin, form: FormDep) -> Any:
    shown = {"name": form.get("name", ""), "role": form.get("role", "viewer")}
    try:
        body = PersonIn(name=form.get("name", "").strip(), role=form.get("role", ""),
                        password=form.get("password", ""))
        await c.identity.add_person(body.name, body.role, body.password)
    except (ValidationError, OrchestratorError) as exc:
        return await _page(request, c, who, status_code=422, person_form=shown, person_errors=_errors(exc))
    return _done("added", body.name)


@router.post("/settings/people/{name}/role")
async def change_role(name: str, c: ContainerDep, who: ConsoleAdmin, form: FormDep) -> RedirectResponse:
    try:
        body = PersonPatch(role=form.get("role"))
    except ValidationError as exc:
        raise HTTPException(422, next(iter(_errors(exc).values()))) from None
    await c.identity.change_person(name, role=body.role)
    return _done("role", name)


@router.post("/settings/people/{name}/password")
async def reset_password(request: Request, name: str, c: ContainerDep, who: ConsoleAdmin, form: FormDep) -> Any:
    try:
        await c.identity.change_person(name, password=form.get("password", ""))
    except OrchestratorError as exc:
        return await _page(request, c, who, status_code=422, password_errors={name: exc.message})
    return _done("password", name)


@router.post("/settings/people/{name}/access")
async def set_access(name: str, c: ContainerDep, who: ConsoleAdmin, form: FormDep) -> RedirectResponse:
    disabled = form.get("disabled") == "true"
    await c.identity.change_person(name, disabled=disabled)
    return _done("disabled" if disabled else "enabled", name)


@router.post("/settings/people/{name}/remove")
async def remove_person(name: str, c: ContainerDep, who: ConsoleAdmin, form: FormDep) -> RedirectResponse:
    await c.identity.remove_person(name)
    return _done("removed", name)


@router.post("/settings/keys")
async def create_key(request: Request, c: ContainerDep, who: ConsoleAdmin, form: FormDep) -> HTMLResponse:
    shown = {"name": form.get("name", ""), "role": form.get("role", "viewer")}
    try:
        body = KeyIn(name=form.get("name", "").strip(), role=form.get("role", ""))
        key, secret = await c.identity.create_key(who, body.name, body.role)
    except (ValidationError, OrchestratorError) as exc:
        return await _page(request, c, who, status_code=422, key_form=shown, key_errors=_errors(exc))
    return await _page(request, c, who, new_key={"id": key.id, "name": key.name, "role": key.role.value,
                                                   "secret": secret})


@router.post("/settings/keys/{key_id}/revoke")
async def revoke_key(key_id: str, c: ContainerDep, who: ConsoleAdmin, form: FormDep) -> RedirectResponse:
    key = await c.identity.revoke_key(who, key_id)
    return _done("revoked", key.name)
