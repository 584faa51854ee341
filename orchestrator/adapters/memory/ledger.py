"""MemoryEgressLedger: the egress ledger in memory, folding reports in as the SQL ledger does."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from orchestrator.domain.activity import Change, ChangeKind, Position, after
from orchestrator.domain.egress import (
    UNFINISHED,
    Applied,
    ChangeSource,
    Decision,
    EgressEvent,
    EgressRecord,
    EgressStatus,
    Observation,
    Origin,
    Outcome,
    decide,
    force,
)
from orchestrator.domain.events import WebhookRow
from orchestrator.domain.ids import new_egress_pk

from .database import MemoryDatabase, Tables, require_aware

log = logging.getLogger(__name__)


class MemoryEgressLedger:
    """The EgressLedger port on a MemoryDatabase: every change a guarded update plus a history row."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    # ---- reads -------------------------------------------------------------------------------

    def get(self, ref: str) -> EgressRecord | None:
        t = self._db.read()
        return t.egresses.get(ref) or t.egresses.get(t.egress_ids.get(ref, ""))

    def get_many(self, pks: Iterable[str]) -> dict[str, EgressRecord]:
        rows = self._db.read().egresses
        return {pk: rows[pk] for pk in set(pks) if pk in rows}

    def history(self, pk: str) -> list[EgressEvent]:
        return [event for owner, event in self._db.read().egress_events if owner == pk]

    def find(self, *, room_name: str | None = None, statuses: Iterable[EgressStatus] | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[EgressRecord]:
        wanted = set(statuses) if statuses is not None else None
        rows = [r for r in self._db.read().egresses.values()
                if (not room_name or r.room_name == room_name)
                and (wanted is None or r.status in wanted)
                and (before is None or (r.created_at, r.id) < before)]
        rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return rows[:limit]

    def unfinished(self) -> list[EgressRecord]:
        return self.find(statuses=UNFINISHED, limit=100_000)

    def changed_since(self, after_: Position, limit: int) -> list[Change]:
        return after([Change(ChangeKind.EGRESS, r.id, r.status.value, r.room_name, r.updated_at,
                             (("egress_id", r.egress_id or ""),)) for r in self._db.read().egresses.values()],
                     after_, limit)

    def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self._db.read().egresses.values():
            counts[record.status.value] = counts.get(record.status.value, 0) + 1
        return counts

    def ping(self) -> None:
        return None

    # ---- writes ------------------------------------------------------------------------------

    def create_many(self, records: Sequence[EgressRecord], detail: str = "", *, actor: str = "system") -> None:
        with self._db.transaction() as t:
            insert_records(t, records, detail, actor)

    def observe(self, obs: Observation, source: ChangeSource, now: datetime, *, webhook: WebhookRow | None = None,
                bind_to: str | None = None, detail: str = "", actor: str = "system") -> Applied:
        with self._db.transaction() as t:
            if webhook is not None:
                require_aware(webhook.received_at, webhook.created_at)
                if webhook.id in t.webhooks:
                    return Applied(None, Outcome.DUPLICATE, duplicate_event=True)
                t.webhooks[webhook.id] = webhook
            return fold(t, obs, source, now, webhook.id if webhook else "", bind_to, detail, actor)

    def observe_answers(self, items: Sequence[tuple[Observation, datetime, str, str]]) -> list[Applied | Exception]:
        try:
            with self._db.transaction() as t:
                return [fold(t, obs, ChangeSource.API, now, "", pk, detail) for obs, now, pk, detail in items]
        except Exception as exc:  # nothing was committed: each on its own, as the SQL ledger does
            log.debug("storing %d start answers together failed (%s); one by one", len(items), type(exc).__name__)
        alone: list[Applied | Exception] = []
        for obs, now, pk, detail in items:
            try:
                alone.append(self.observe(obs, ChangeSource.API, now, bind_to=pk, detail=detail))
            except Exception as exc:
                alone.append(exc)
        return alone

    def force_status(self, pk: str, target: EgressStatus, source: ChangeSource, now: datetime, *,
                     error: str = "", error_code: int = 0, detail: str = "", actor: str = "system") -> Applied:
        require_aware(now)
        with self._db.transaction() as t:
            current = t.egresses.get(pk)
            if current is None:
                raise KeyError(pk)
            decision = force(current.status, target)
            append_event(t, pk, now, source, decision.outcome, current.status, decision.status, detail=detail or error,
                         actor=actor)
            if decision.outcome != Outcome.APPLIED:
                return Applied(current, decision.outcome, current.status)
            changes: dict[str, Any] = {"status": target, "updated_at": now}
            if error:
                changes.update(error=error, error_code=error_code)
            if target.terminal:
                changes["ended_at"] = now
            return Applied(guarded_update(t, current, changes), Outcome.APPLIED, current.status)


# ---- inside a transaction (the intake store uses these too) --------------------------------------------


def insert_records(t: Tables, records: Sequence[EgressRecord], detail: str, actor: str = "system") -> None:
    """New egresses in `starting`, each with its CREATED history row; a taken id or EG_ id is refused."""
    for r in records:
        require_aware(r.created_at, r.updated_at, r.started_at, r.ended_at)
        if r.id in t.egresses or (r.egress_id is not None and r.egress_id in t.egress_ids):
            raise ValueError(f"egress {r.id} ({r.egress_id}) is in the ledger already")
        t.egresses[r.id] = r
        if r.egress_id is not None:
            t.egress_ids[r.egress_id] = r.id
        append_event(t, r.id, r.created_at, ChangeSource.API, Outcome.CREATED, None, r.status, detail=detail,
                     actor=actor)


def fold(t: Tables, obs: Observation, source: ChangeSource, now: datetime, event_id: str, bind_to: str | None,
         detail: str, actor: str = "system") -> Applied:
    """One report folded into the ledger: adopted if unknown; with `bind_to`, the answer to our own start."""
    require_aware(now, obs.started_at, obs.ended_at)
    found = t.egresses.get(t.egress_ids.get(obs.egress_id, ""))
    if bind_to is not None:
        current = t.egresses.get(bind_to)
        if current is None:
            raise KeyError(bind_to)
        if found is not None and found.id != bind_to:
            current = merge_adopted(t, current, found, now)
        elif current.egress_id is None:
            current = dataclasses.replace(current, egress_id=obs.egress_id)
            t.egresses[current.id] = current
            t.egress_ids[obs.egress_id] = current.id
    elif found is None:
        return adopt(t, obs, source, now, event_id, detail)
    else:
        current = found
    decision = decide(current.status, current.livekit_updated_ns, obs.status, obs.updated_at_ns)
    append_event(t, current.id, now, source, decision.outcome, current.status, decision.status,
                 event_id=event_id, detail=detail or describe(obs), actor=actor)
    if not decision.changes_row:
        return Applied(current, decision.outcome, current.status)
    return Applied(guarded_update(t, current, changes_from(obs, decision, now)), decision.outcome, current.status)


def adopt(t: Tables, obs: Observation, source: ChangeSource, now: datetime, event_id: str, detail: str) -> Applied:
    """An egress LiveKit reported and the ledger had not seen enters it as ADOPTED."""
    record = EgressRecord(
        id=new_egress_pk(), egress_id=obs.egress_id, kind=obs.kind, room_name=obs.room_name, room_id=obs.room_id,
        status=obs.status, origin=Origin.ADOPTED, created_at=now, updated_at=now, error=obs.error,
        error_code=obs.error_code, details=obs.details, request=obs.request, results=obs.results,
        started_at=obs.started_at, ended_at=obs.ended_at, livekit_updated_ns=obs.updated_at_ns)
    t.egresses[record.id] = record
    t.egress_ids[obs.egress_id] = record.id
    append_event(t, record.id, now, source, Outcome.CREATED, None, record.status, event_id=event_id,
                 detail=detail or f"adopted: LiveKit reported {obs.egress_id}, which the ledger had not seen")
    return Applied(record, Outcome.CREATED, None)


def merge_adopted(t: Tables, own: EgressRecord, adopted: EgressRecord, now: datetime) -> EgressRecord:
    """A webhook beat our start call's answer: the adopted row folds into ours, its history kept."""
    t.egress_events[:] = [(own.id if pk == adopted.id else pk, e) for pk, e in t.egress_events]
    del t.egresses[adopted.id]
    if adopted.egress_id is not None:
        t.egress_ids.pop(adopted.egress_id, None)
    append_event(t, own.id, now, ChangeSource.API, Outcome.REFRESHED, own.status, own.status,
                 detail=f"merged {adopted.egress_id}: LiveKit's webhook arrived before the start call returned")
    decision = decide(own.status, own.livekit_updated_ns, adopted.status, adopted.livekit_updated_ns)
    changes: dict[str, Any] = {"egress_id": adopted.egress_id, "updated_at": now}
    if decision.changes_row:
        changes.update(
            status=decision.status, livekit_updated_ns=adopted.livekit_updated_ns, results=adopted.results,
            error=adopted.error, error_code=adopted.error_code, details=adopted.details,
            started_at=adopted.started_at, ended_at=adopted.ended_at, room_id=adopted.room_id)
    return guarded_update(t, own, changes)


def guarded_update(t: Tables, current: EgressRecord, changes: dict[str, Any], *, bump: bool = True) -> EgressRecord:
    """Write `changes` over the row read as `current` (which must still be the stored row)."""
    if t.egresses.get(current.id) is not current:
        raise RuntimeError(f"egress {current.id} changed under a guarded update")
    updated = dataclasses.replace(current, **changes, version=current.version + (1 if bump else 0))
    if current.egress_id != updated.egress_id:
        if current.egress_id is not None:
            t.egress_ids.pop(current.egress_id, None)
        if updated.egress_id is not None:
            t.egress_ids[updated.egress_id] = updated.id
    t.egresses[current.id] = updated
    return updated


def changes_from(obs: Observation, decision: Decision, now: datetime) -> dict[str, Any]:
    """The fields a report changes (as the SQL ledger writes them: empty values keep what the row has)."""
    changes: dict[str, Any] = {"status": decision.status, "updated_at": now,
                               "livekit_updated_ns": obs.updated_at_ns, "results": obs.results}
    for name in ("room_id", "room_name", "error", "details", "error_code", "kind", "started_at"):
        if getattr(obs, name):
            changes[name] = getattr(obs, name)
    if obs.ended_at:
        changes["ended_at"] = obs.ended_at
    elif decision.status.terminal:
        changes["ended_at"] = now
    return changes


def describe(obs: Observation) -> str:
    text = f"LiveKit reports {obs.status.value}"
    return f"{text}: {obs.error}" if obs.error else text


def append_event(t: Tables, pk: str, at: datetime, source: ChangeSource, outcome: Outcome,
                 before: EgressStatus | None, after: EgressStatus, *, event_id: str = "", detail: str = "",
                 actor: str = "system") -> None:
    t.egress_events.append((pk, EgressEvent(at=at, source=source, outcome=outcome, status_before=before,
                                            status_after=after, event_id=event_id, detail=detail[:2000],
                                            actor=actor)))
