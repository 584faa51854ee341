"""Broadcast preflight: LiveKit may record, each destination completes the RTMP handshake, the layout answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from orchestrator.domain.broadcasts import RUN_ACTIVE, Broadcast, BroadcastRun, RunChanges, RunEventKind, RunStatus
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.errors import LiveKitError
from orchestrator.domain.layouts import LAYOUT_NAMES, layout_url
from orchestrator.domain.runs import PreflightOutcome, PreflightVerdict, judge_preflight, preflight_is_fresh
from orchestrator.services.ports import BroadcastStore, Clock, EgressGateway, LayoutCheck, RtmpProbe
from orchestrator.services.threads import in_thread

from .announce import RunAnnouncements

Check = dict[str, object]


class BroadcastPreflight:
    """Runs every check at once; the result is kept on the run it is for (the live one, else the next). The
    automatic preflight ahead of a run also announces a failure, and fails the run when its broadcast
    requires the preflight to pass (`finished` then schedules the series' next run); such a run with no
    recent passed preflight (created less than `lead` before its start, started by hand) is checked as its
    first egress launches (`at_launch`)."""

    def __init__(self, store: BroadcastStore, gateway: EgressGateway, probe: RtmpProbe, clock: Clock, *,
                 public_url: str, announcements: RunAnnouncements,
                 finished: Callable[[BroadcastRun], Awaitable[None]],
                 lead: timedelta, layout_check: LayoutCheck | None = None) -> None:
        self._store, self._gateway, self._probe, self._now, self._lead = store, gateway, probe, clock, lead
        self._public_url, self._layout_check = public_url, layout_check
        self._announce, self._finished = announcements, finished

    async def check(self, broadcast: Broadcast) -> list[Check]:
        """The preflight asked for by hand: noted on the live run, else the next one."""
        checks = await self._checks(broadcast)
        runs = await in_thread(self._store.runs_of, broadcast.id)
        target = next((r for r in runs if r.status in RUN_ACTIVE), None) or next(
            (r for r in runs if r.status == RunStatus.SCHEDULED), None)
        if target is not None:
            await self._note(target, checks, judge_preflight(checks, required=False))
        return checks

    async def before_start(self, run: BroadcastRun) -> None:
        """The automatic preflight ahead of a scheduled run (`preflight_lead` before its start)."""
        current = await in_thread(self._store.run, run.id)
        if current is None or current.status != RunStatus.SCHEDULED:
            return
        broadcast = await in_thread(self._store.get, run.broadcast_id)
        if broadcast is None:
            return
        await self._judge(current, broadcast, [RunStatus.SCHEDULED])

    async def at_launch(self, run: BroadcastRun, broadcast: Broadcast) -> bool:
        """Before the first egress of a run whose broadcast requires its preflight: start on a recent passed
        preflight, else run it now. False: it failed, and the run failed with the reasons instead of starting."""
        events = await in_thread(self._store.events, run.id)
        if preflight_is_fresh(events, broadcast.updated_at, self._now(), self._lead):
            return True
        return await self._judge(run, broadcast, [RunStatus.STARTING])

    async def _judge(self, run: BroadcastRun, broadcast: Broadcast, fails_from: list[RunStatus]) -> bool:
        """Run the checks and note them on the run; a failure is announced, and fails the run (from one of
        `fails_from`) when the broadcast requires its preflight to pass. True if the run may go on."""
        checks = await self._checks(broadcast)
        outcome = judge_preflight(checks, required=broadcast.spec.require_preflight)
        noted = await self._note(run, checks, outcome)
        if outcome.verdict == PreflightVerdict.PASSED:
            return True
        failed = None
        if outcome.verdict == PreflightVerdict.FAILS_RUN:
            now = self._now()
            failed = await in_thread(self._store.transition, run.id, fails_from, RunStatus.FAILED, now,
                                     f"failed instead of starting: the broadcast requires its preflight to pass "
                                     f"({'; '.join(outcome.reasons)})",
                                     RunChanges(error=outcome.error, actual_end=now), kind=RunEventKind.FAILED)
        extra: dict[str, object] = {"reasons": list(outcome.reasons), "checks": checks,
                                    "require_preflight": broadcast.spec.require_preflight}
        await self._announce.emit(CallbackEventType.BROADCAST_PREFLIGHT_FAILED, failed or noted or run, extra)
        if failed is not None:
            await self._announce.emit(CallbackEventType.BROADCAST_FAILED, failed)
            await self._finished(failed)
        return outcome.verdict != PreflightVerdict.FAILS_RUN

    async def _checks(self, broadcast: Broadcast) -> list[Check]:
        checks: list[Check] = []
        try:
            await self._gateway.check_access()
            checks.append({"check": "livekit", "ok": True, "detail": "reachable; the credentials may record"})
        except LiveKitError as exc:
            checks.append({"check": "livekit", "ok": False, "detail": exc.message})
        results = await asyncio.gather(*(self._probe.probe(d.url) for d in broadcast.spec.destinations))
        for dest, result in zip(broadcast.spec.destinations, results, strict=True):
            checks.append({"check": f"destination {dest.id}", "destination": dest.display, "ok": result.ok,
                           "detail": result.detail, "millis": result.millis})
        layout = broadcast.spec.layout
        if layout in LAYOUT_NAMES and self._layout_check is not None:
            ok, detail = await self._layout_check(layout_url(self._public_url, layout))
            checks.append({"check": "layout", "ok": ok, "detail": detail})
        else:
            checks.append({"check": "layout", "ok": True, "detail": f"LiveKit's built-in layout {layout!r}"})
        return checks

    async def _note(self, run: BroadcastRun, checks: list[Check], outcome: PreflightOutcome) -> BroadcastRun | None:
        kind = RunEventKind.PREFLIGHT if outcome.verdict == PreflightVerdict.PASSED else RunEventKind.PREFLIGHT_FAILED
        return await in_thread(self._store.note, run.id, self._now(), outcome.detail, RunChanges(preflight=checks),
                               kind=kind)
