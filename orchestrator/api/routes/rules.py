"""`/v1/rules`: recording rules (create, list, show, update, delete)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.api.auth import AdminDep, require
from orchestrator.api.deps import AutoRecorderDep
from orchestrator.api.schemas.common import ErrorOut
from orchestrator.api.schemas.rules import RuleIn, RuleList, RuleOut, RulePatch
from orchestrator.domain.identity import Role

router = APIRouter(prefix="/v1/rules", tags=["rules"], dependencies=[Depends(require(Role.VIEWER))],
                   responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})


@router.post("", status_code=201, response_model=RuleOut, responses={409: {"model": ErrorOut}})
async def create_rule(body: RuleIn, recorder: AutoRecorderDep, who: AdminDep) -> RuleOut:
    """A rule that records matching rooms as they start (composite, each track, each participant)."""
    rule = await run_in_threadpool(recorder.create_rule, body.to_rule())
    return RuleOut.of_rule(rule)


@router.get("", response_model=RuleList)
async def list_rules(recorder: AutoRecorderDep) -> RuleList:
    """Every rule, highest priority first."""
    rules = await run_in_threadpool(recorder.list_rules)
    return RuleList(items=[RuleOut.of_rule(r) for r in rules])


@router.get("/{ref}", response_model=RuleOut, responses={404: {"model": ErrorOut}})
async def show_rule(ref: str, recorder: AutoRecorderDep) -> RuleOut:
    """One rule by id or name."""
    return RuleOut.of_rule(await run_in_threadpool(recorder.rule, ref))


@router.patch("/{ref}", response_model=RuleOut, responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
async def update_rule(ref: str, body: RulePatch, recorder: AutoRecorderDep, who: AdminDep) -> RuleOut:
    """Change some fields; `match`, `actions` and `participants_filter` are replaced as a whole."""
    current = await run_in_threadpool(recorder.rule, ref)
    merged = RuleIn.of(current).model_dump() | body.model_dump(exclude_unset=True)
    updated = RuleIn.model_validate(merged).to_rule(current.id, current.created_at)
    return RuleOut.of_rule(await run_in_threadpool(recorder.update_rule, updated))


@router.delete("/{ref}", status_code=204, response_class=Response, responses={404: {"model": ErrorOut}})
async def delete_rule(ref: str, recorder: AutoRecorderDep, who: AdminDep) -> Response:
    """Delete a rule; recordings it already started go on until their room ends."""
    await run_in_threadpool(recorder.delete_rule, ref)
    return Response(status_code=204)
