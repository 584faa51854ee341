"""Console pages: recording rules (list; create, edit, enable, disable, delete for admins; try a room name and
metadata against the rules the auto-recorder applies)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.api.schemas.rules import RuleIn, RuleOut
from orchestrator.domain.errors import Conflict, InvalidInput, NotFound, OrchestratorError
from orchestrator.domain.identity import Principal, Role
from orchestrator.domain.rules import Rule

from . import rules_form
from .base import ConsoleAdmin, ConsoleViewer, FormDep, render

router = APIRouter(include_in_schema=False)

_DONE = {"created": "Rule created.", "saved": "Rule saved.", "enabled": "Rule enabled.",
         "disabled": "Rule disabled.", "deleted": "Rule deleted."}


@router.get("/rules", response_class=HTMLResponse)
async def rule_list(request: Request, who: ConsoleViewer, c: ContainerDep, room: str = "",
                    metadata: str = "", done: str = "") -> HTMLResponse:
    rules = [_row(r) for r in await run_in_threadpool(c.autorecord.list_rules)]
    trial: dict[str, Any] | None = None
    if "room" in request.query_params:
        meta, error = rules_form.room_metadata(metadata)
        if not room.strip():
            error = error or "room: give a room name"
        trials = [] if error else await run_in_threadpool(c.autorecord.try_rules, room.strip(), meta)
        trial = {"error": error, "trials": trials, "room": room.strip()}
    return render(request, "rules.html.j2", who, title="Rules", rules=rules, room=room, metadata=metadata,
                  trial=trial, notice=_DONE.get(done, ""))


@router.get("/rules/new", response_class=HTMLResponse)
async def new_rule(request: Request, who: ConsoleAdmin) -> HTMLResponse:
    return _form(request, who, rules_form.blank())


@router.post("/rules/new")
async def create_rule(request: Request, who: ConsoleAdmin, c: ContainerDep, form: FormDep) -> Response:
    posted = await _read(request, form)
    if posted.body is None:
        return _form(request, who, posted.values, posted.errors)
    try:
        rule = await run_in_threadpool(c.autorecord.create_rule, RuleIn.model_validate(posted.body).to_rule())
    except InvalidInput as exc:
        return _form(request, who, posted.values, rules_form.invalid(exc))
    except Conflict as exc:
        return _form(request, who, posted.values, alert=exc.message, status_code=409)
    return RedirectResponse(f"/rules/{rule.id}?done=created", status_code=303)


@router.get("/rules/{ref}", response_class=HTMLResponse)
async def show_rule(request: Request, ref: str, who: ConsoleViewer, c: ContainerDep, done: str = "") -> Response:
    try:
        rule = RuleOut.of_rule(await run_in_threadpool(c.autorecord.rule, ref))
    except NotFound as exc:
        return render(request, "rules_missing.html.j2", who, title="No such rule", message=exc.message,
                      status_code=404)
    return _form(request, who, rules_form.of_rule(rule), rule=rule, notice=_DONE.get(done, ""))


@router.post("/rules/{ref}")
async def save_rule(request: Request, ref: str, who: ConsoleAdmin, c: ContainerDep, form: FormDep) -> Response:
    current = await run_in_threadpool(c.autorecord.rule, ref)
    shown = RuleOut.of_rule(current)
    posted = await _read(request, form)
    if posted.body is None:
        return _form(request, who, posted.values, posted.errors, rule=shown)
    try:
        updated = RuleIn.model_validate(posted.body).to_rule(current.id, current.created_at)
        await run_in_threadpool(c.autorecord.update_rule, updated)
    except InvalidInput as exc:
        return _form(request, who, posted.values, rules_form.invalid(exc), rule=shown)
    except Conflict as exc:
        return _form(request, who, posted.values, rule=shown, alert=exc.message, status_code=409)
    return RedirectResponse(f"/rules/{current.id}?done=saved", status_code=303)


@router.post("/rules/{ref}/enable")
async def enable_rule(request: Request, ref: str, who: ConsoleAdmin, c: ContainerDep, form: FormDep) -> Response:
    return await _switch(request, ref, who, c, enabled=True)


@router.post("/rules/{ref}/disable")
async def disable_rule(request: Request, ref: str, who: ConsoleAdmin, c: ContainerDep, form: FormDep) -> Response:
    return await _switch(request, ref, who, c, enabled=False)


@router.post("/rules/{ref}/delete")
async def delete_rule(request: Request, ref: str, who: ConsoleAdmin, c: ContainerDep, form: FormDep) -> Response:
    try:
        await run_in_threadpool(c.autorecord.delete_rule, ref)
    except OrchestratorError as exc:
        return await _refused(request, who, c, exc)
    return RedirectResponse("/rules?done=deleted", status_code=303)


async def _switch(request: Request, ref: str, who: Principal, c: ContainerDep, *, enabled: bool) -> Response:
    try:
        current = await run_in_threadpool(c.autorecord.rule, ref)
        await run_in_threadpool(c.autorecord.update_rule, replace(current, enabled=enabled))
    except OrchestratorError as exc:
        return await _refused(request, who, c, exc)
    return RedirectResponse(f"/rules?done={'enabled' if enabled else 'disabled'}", status_code=303)


async def _refused(request: Request, who: Principal, c: ContainerDep, exc: OrchestratorError) -> HTMLResponse:
    """The list again with why the change was refused (the API's message and status)."""
    rules = [_row(r) for r in await run_in_threadpool(c.autorecord.list_rules)]
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    return render(request, "rules.html.j2", who, title="Rules", rules=rules, room="", metadata="", trial=None,
                  notice="", alert=exc.message, status_code=status)


def _row(rule: Rule) -> dict[str, Any]:
    """A rule as a list row, its match and actions in words (plain strings: a thousand rules render in tens of
    milliseconds, where the API's RuleOut and a template macro per row took over a second)."""
    m = rule.match
    if m.all_rooms:
        matches = "every room"
    else:
        parts = [f"name like {m.name_glob}" if m.name_glob else "", f"name matching /{m.name_regex}/" if m.name_regex
                 else "", f"metadata containing {json.dumps(m.metadata)}" if m.metadata is not None else ""]
        matches = "; ".join(p for p in parts if p)
    records = [f"composite ({rule.composite.layout})" if rule.composite else "",
               "each track" if rule.tracks else "", "each participant" if rule.participants else ""]
    return {"id": rule.id, "name": rule.name, "builtin": rule.builtin, "enabled": rule.enabled,
            "priority": rule.priority, "matches": matches, "records": ", ".join(r for r in records if r) or "nothing"}


async def _read(request: Request, form: dict[str, str]) -> rules_form.Posted:
    kinds = [str(k) for k in (await request.form()).getlist("participants_filter.kinds")]
    return rules_form.read(form, kinds)


def _form(request: Request, who: Principal, values: rules_form.Values, errors: dict[str, str] | None = None, *,
          rule: RuleOut | None = None, alert: str = "", notice: str = "",
          status_code: int | None = None) -> HTMLResponse:
    errors = errors or {}
    title = f"Rule {rule.name}" if rule else "New rule"
    admin = who.allows(Role.ADMIN) and not (rule is not None and rule.builtin)
    return render(request, "rules_form.html.j2", who, title=title, v=values, errors=errors, rule=rule, alert=alert,
                  admin=admin,
                  notice=notice, layouts=rules_form.LAYOUTS, presets=rules_form.PRESETS, kinds=rules_form.KINDS,
                  status_code=status_code or (422 if errors else 200))
