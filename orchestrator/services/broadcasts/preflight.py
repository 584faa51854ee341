"""Broadcast preflight: LiveKit may record, each destination completes the RTMP handshake, the layout answers."""

from __future__ import annotations

import asyncio

from orchestrator.domain.broadcasts import RUN_ACTIVE, Broadcast, BroadcastRun, RunChanges, RunEventKind, RunStatus
from orchestrator.domain.errors import LiveKitError
from orchestrator.domain.layouts import LAYOUT_NAMES, layout_url
from orchestrator.services.ports import BroadcastStore, Clock, EgressGateway, LayoutCheck, RtmpProbe
from orchestrator.services.threads import in_thread

Check = dict[str, object]


class BroadcastPreflight:
    """Runs every check at once; the result is kept on the run it is for (the live one, else the next)."""

    def __init__(self, store: BroadcastStore, gateway: EgressGateway, probe: RtmpProbe, clock: Clock, *,
                 public_url: str, layout_check: LayoutCheck | None = None) -> None:
        self._store, self._gateway, self._probe, self._now = store, gateway, probe, clock
        self._public_url, self._layout_check = public_url, layout_check

    async def check(self, broadcast: Broadcast) -> list[Check]:
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
        runs = await in_thread(self._store.runs_of, broadcast.id)
        target = next((r for r in runs if r.status in RUN_ACTIVE), None) or next(
            (r for r in runs if r.status == RunStatus.SCHEDULED), None)
        if target is not None:
            passed = sum(1 for c in checks if c["ok"])
            await in_thread(self._store.note, target.id, self._now(),
                            f"preflight: {passed}/{len(checks)} checks passed", RunChanges(preflight=checks),
                            kind=RunEventKind.PREFLIGHT)
        return checks

    async def before_start(self, run: BroadcastRun) -> None:
        """The automatic preflight ahead of a scheduled run (`preflight_lead` before its start)."""
        current = await in_thread(self._store.run, run.id)
        if current is None or current.status != RunStatus.SCHEDULED:
            return
        broadcast = await in_thread(self._store.get, run.broadcast_id)
        if broadcast is not None:
            await self.check(broadcast)
