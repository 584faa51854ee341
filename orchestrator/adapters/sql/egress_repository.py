"""SqlEgressRepository: the durable egress ledger; every change is a guarded update plus a history row."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, Update, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.domain.egress import (
    Applied,
    ChangeSource,
    Decision,
    EgressEvent,
    EgressKind,
    EgressRecord,
    EgressStatus,
    FileResult,
    ImageResult,
    Observation,
    Origin,
    Outcome,
    Results,
    SegmentResult,
    StreamResult,
    decide,
    force,
)
from orchestrator.domain.events import WebhookRow

from .bulk import NewRows, Rows
from .tables import egress_events, egresses, webhook_events

log = logging.getLogger(__name__)
T = TypeVar("T")

_ATTEMPTS = 10

# Statements built once: building `.values(**kw)` per call costs five times more than executing.
_BY_EGRESS_ID = select(egresses).where(egresses.c.egress_id == bindparam("egress_id"))
_BY_PK = select(egresses).where(egresses.c.id == bindparam("pk"))
_BY_EGRESS_IDS = select(egresses).where(egresses.c.egress_id.in_(bindparam("ids", expanding=True)))
_INSERT_EGRESS = insert(egresses)
_INSERT_EVENT = insert(egress_events)
_MUTABLE = ("egress_id", "kind", "room_name", "room_id", "status", "error", "error_code", "details",
            "results", "updated_at", "started_at", "ended_at", "livekit_updated_ns")


@functools.cache
def _guarded_update_stmt(columns: frozenset[str]) -> Update:
    """UPDATE of exactly these columns, guarded by the row's version; one cached statement per shape."""
    return (
        update(egresses)
        .where(egresses.c.id == bindparam("pk"), egresses.c.version == bindparam("expected_version"))
        .values({name: bindparam(name) for name in (*sorted(columns), "version")})
    )


class _VersionConflict(Exception):
    """Another writer changed the row between our read and our guarded update."""


class SqlEgressRepository:
    """The egress ledger on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, listener: Callable[[Applied], None] | None = None) -> None:
        self._engine = engine
        # Told of every committed change of status (or new egress), after the commit.
        self.listener = listener
        self._dialect = engine.dialect.name
        # SQLite has one writer at a time; queueing writers here is far faster than letting them
        # spin in SQLite's busy handler. PostgreSQL needs no such lock.
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self._dialect == "sqlite" else contextlib.nullcontext()
        )
        # Batches of rows: straight to the driver's executemany on SQLite (see bulk.py).
        self._webhook_rows = NewRows(webhook_events, engine.dialect, key="id")
        self._egress_rows = Rows(egresses, engine.dialect)
        self._event_rows = Rows(egress_events, engine.dialect,
                                columns=[c.name for c in egress_events.columns if c.name != "seq"])

    @property
    def write_lock(self) -> contextlib.AbstractContextManager[Any]:
        """The one-writer lock (SQLite); other repositories on the same database share it."""
        return self._write_lock

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self._engine.begin() as conn:
            yield conn

    # ---- reads -------------------------------------------------------------------------------

    def get(self, ref: str) -> EgressRecord | None:
        """By our id or by LiveKit's `EG_` id."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(egresses).where(or_(egresses.c.id == ref, egresses.c.egress_id == ref))
            ).first()
        return _record(row) if row else None

    def history(self, pk: str) -> list[EgressEvent]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(egress_events).where(egress_events.c.egress_pk == pk).order_by(egress_events.c.seq)
            ).all()
        return [_event(r) for r in rows]

    def find(
        self,
        *,
        room_name: str | None = None,
        statuses: Iterable[EgressStatus] | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[EgressRecord]:
        """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
        query = select(egresses)
        if room_name:
            query = query.where(egresses.c.room_name == room_name)
        if statuses is not None:
            query = query.where(egresses.c.status.in_([s.value for s in statuses]))
        if before:
            created, pk = before
            query = query.where(
                or_(egresses.c.created_at < created,
                    (egresses.c.created_at == created) & (egresses.c.id < pk))
            )
        query = query.order_by(egresses.c.created_at.desc(), egresses.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).all()]

    def unfinished(self) -> list[EgressRecord]:
        from orchestrator.domain.egress import UNFINISHED

        return self.find(statuses=UNFINISHED, limit=100_000)

    def count_by_status(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(egresses.c.status, func.count()).group_by(egresses.c.status)).all()
        return {status: count for status, count in rows}

    def ping(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(select(1))

    # ---- writes ------------------------------------------------------------------------------

    def create(self, record: EgressRecord, detail: str = "") -> EgressRecord:
        """A new egress we are about to start, in `starting`, with its first history row."""
        self.create_many([record], detail)
        return record

    def create_many(self, records: Sequence[EgressRecord], detail: str = "", tx: Connection | None = None) -> None:
        """New egresses we are about to start, in one transaction (or in `tx`, someone else's)."""
        if not records:
            return
        if tx is None:
            with self._write() as conn:
                self._create_many(conn, records, detail)
        else:
            self._create_many(tx, records, detail)

    def _create_many(self, conn: Connection, records: Sequence[EgressRecord], detail: str) -> None:
        rows = [_columns(r) for r in records]
        history = [{
            "egress_pk": r.id, "at": r.created_at, "source": ChangeSource.API.value,
            "outcome": Outcome.CREATED.value, "status_before": None, "status_after": r.status.value,
            "event_id": "", "detail": detail} for r in records]
        self._egress_rows.insert(conn, rows)
        self._event_rows.insert(conn, history)

    def observe(
        self,
        obs: Observation,
        source: ChangeSource,
        now: datetime,
        *,
        webhook: WebhookRow | None = None,
        bind_to: str | None = None,
        detail: str = "",
    ) -> Applied:
        """Fold what LiveKit reported into the ledger, in one transaction.

        With `webhook`, the event id is stored in the same transaction, and an id seen before makes
        this a no-op. With `bind_to`, the report is the answer to our own start call for that row:
        a row adopted earlier from a webhook for the same `EG_` id is merged into it.
        An egress id never seen before is adopted.
        """
        for _ in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    if webhook is not None and not self._insert_webhook(conn, webhook):
                        return Applied(None, Outcome.DUPLICATE, duplicate_event=True)
                    applied = self._observe(conn, obs, source, now, webhook, bind_to, detail)
                return self._told(applied)
            except (IntegrityError, _VersionConflict):
                continue
        raise RuntimeError(f"could not record an update of {obs.egress_id} after {_ATTEMPTS} attempts")

    def observe_answers(self, items: Sequence[tuple[Observation, datetime, str, str]]) -> list[Applied | Exception]:
        """LiveKit's answers to many of our start calls, each bound to its row, in one transaction.

        Items are (observation, now, row id, detail). If anything goes wrong (another writer interfered,
        a row is missing), each is redone on its own (`observe`), and one that still fails gets its
        exception in its place.
        """
        try:
            with self._write() as conn:
                results = [self._observe(conn, obs, ChangeSource.API, now, None, pk, detail)
                           for obs, now, pk, detail in items]
            return [self._told(applied) for applied in results]
        except Exception as exc:  # a conflict, or one bad item: nothing was committed
            log.debug("storing %d start answers together failed (%s); one by one", len(items), type(exc).__name__)
        alone: list[Applied | Exception] = []
        for obs, now, pk, detail in items:
            try:
                alone.append(self.observe(obs, ChangeSource.API, now, bind_to=pk, detail=detail))
            except Exception as exc:
                alone.append(exc)
        return alone

    def observe_batch(
        self, items: Sequence[tuple[Observation | None, WebhookRow, str]], now: datetime,
        also: Callable[[Connection, list[int]], T] | None = None,
    ) -> tuple[list[Applied], T | None]:
        """Many webhooks in one transaction (group commit), each deduplicated and applied in order.

        An item without an observation is only stored. `also(tx, new)` runs in the same transaction,
        told the positions of the items not seen before. If another writer interferes (a version
        conflict on PostgreSQL), the batch is rolled back, each item is redone on its own and `also`
        runs last in a transaction of its own.
        """
        try:
            with self._write() as conn:
                results = self._observe_many(conn, items, now)
                extra = also(conn, _new_positions(results)) if also is not None else None
            for applied in results:
                self._told(applied)
            return results, extra
        except (IntegrityError, _VersionConflict):
            results = [self._observe_alone(obs, webhook, detail, now) for obs, webhook, detail in items]
            if also is None:
                return results, None
            with self._write() as conn:
                return results, also(conn, _new_positions(results))

    def _observe_many(
        self, conn: Connection, items: Sequence[tuple[Observation | None, WebhookRow, str]], now: datetime
    ) -> list[Applied]:
        """The batch path: one insert for the event ids, one read of the egresses, one insert of the
        history, then one guarded update per egress that changed (with its last state in the batch)."""
        rows = [_shallow(w) for _, w, _ in items]
        inserted = self._webhook_rows.insert_new(conn, rows)
        wanted = list({obs.egress_id for obs, w, _ in items if obs is not None and w.id in inserted})
        current = {row.egress_id: _record(row) for row in conn.execute(_BY_EGRESS_IDS, {"ids": wanted})} \
            if wanted else {}
        history: list[dict[str, Any]] = []
        dirty: dict[str, tuple[EgressRecord, dict[str, Any]]] = {}
        results: list[Applied] = []
        for obs, webhook, detail in items:
            if webhook.id not in inserted:  # seen before, or earlier in this same batch
                results.append(Applied(None, Outcome.DUPLICATE, duplicate_event=True))
                continue
            inserted.discard(webhook.id)
            if obs is None:
                results.append(Applied(None, Outcome.CREATED))
                continue
            record = current.get(obs.egress_id)
            if record is None:
                adopted = self._adopt(conn, obs, ChangeSource.WEBHOOK, now, webhook.id, detail)
                assert adopted.record is not None
                current[obs.egress_id] = adopted.record
                results.append(adopted)
                continue
            decision = decide(record.status, record.livekit_updated_ns, obs.status, obs.updated_at_ns)
            history.append({"egress_pk": record.id, "at": now, "source": ChangeSource.WEBHOOK.value,
                            "outcome": decision.outcome.value, "status_before": record.status.value,
                            "status_after": decision.status.value, "event_id": webhook.id,
                            "detail": (detail or _describe(obs))[:2000]})
            if not decision.changes_row:
                results.append(Applied(record, decision.outcome, record.status))
                continue
            changes = _changes_from(obs, decision, now)
            base, pending = dirty.get(record.id, (record, {}))
            dirty[record.id] = (base, {**pending, **changes})
            current[obs.egress_id] = _with_changes(record, changes, record.version)
            results.append(Applied(current[obs.egress_id], decision.outcome, record.status))
        if history:
            conn.execute(_INSERT_EVENT, history)
        for base, changes in dirty.values():
            self._guarded_update(conn, base, changes)
        return results

    def _observe_alone(self, obs: Observation | None, webhook: WebhookRow, detail: str, now: datetime) -> Applied:
        if obs is not None:
            return self.observe(obs, ChangeSource.WEBHOOK, now, webhook=webhook, detail=detail)
        if self.record_webhook(webhook):
            return Applied(None, Outcome.CREATED)
        return Applied(None, Outcome.DUPLICATE, duplicate_event=True)

    def force_status(
        self,
        pk: str,
        target: EgressStatus,
        source: ChangeSource,
        now: datetime,
        *,
        error: str = "",
        error_code: int = 0,
        detail: str = "",
    ) -> Applied:
        """A status the service decides itself: a failed start, a start deadline, an egress LiveKit lost."""
        for _ in range(_ATTEMPTS):
            try:
                with self._write() as conn:
                    row = conn.execute(_BY_PK, {"pk": pk}).first()
                    if row is None:
                        raise KeyError(pk)
                    current = _record(row)
                    decision = force(current.status, target)
                    _append(conn, pk, now, source, decision.outcome, current.status, decision.status,
                            detail=detail or error)
                    if decision.outcome != Outcome.APPLIED:
                        return Applied(current, decision.outcome, current.status)
                    changes: dict[str, Any] = {"status": target.value, "updated_at": now}
                    if error:
                        changes.update(error=error, error_code=error_code)
                    if target.terminal:
                        changes["ended_at"] = now
                    updated = self._guarded_update(conn, current, changes)
                return self._told(Applied(updated, Outcome.APPLIED, current.status))
            except _VersionConflict:
                continue
        raise RuntimeError(f"could not update {pk} after {_ATTEMPTS} attempts")

    def record_webhook(self, webhook: WebhookRow) -> bool:
        """Store a non-egress webhook event; False when its id was seen before."""
        with self._write() as conn:
            return self._insert_webhook(conn, webhook)

    def webhook_events(self, *, room_name: str | None = None, limit: int = 100) -> list[WebhookRow]:
        query = select(webhook_events).order_by(webhook_events.c.received_at.desc()).limit(limit)
        if room_name:
            query = query.where(webhook_events.c.room_name == room_name)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [WebhookRow(**{k: r._mapping[k] for k in r._mapping}) for r in rows]

    # ---- internals ---------------------------------------------------------------------------

    def _told(self, applied: Applied) -> Applied:
        if self.listener is not None and applied.record is not None and (
            applied.status_changed or applied.outcome == Outcome.CREATED
        ):
            self.listener(applied)
        return applied

    def _insert_webhook(self, conn: Connection, webhook: WebhookRow) -> bool:
        inserted = conn.execute(self._webhook_rows.returning, _shallow(webhook)).first()
        return inserted is not None

    def _observe(
        self,
        conn: Connection,
        obs: Observation,
        source: ChangeSource,
        now: datetime,
        webhook: WebhookRow | None,
        bind_to: str | None,
        detail: str,
    ) -> Applied:
        event_id = webhook.id if webhook else ""
        found = conn.execute(_BY_EGRESS_ID, {"egress_id": obs.egress_id}).first()
        if bind_to is not None:
            own = conn.execute(_BY_PK, {"pk": bind_to}).first()
            if own is None:
                raise KeyError(bind_to)
            current = _record(own)
            if found is not None and found.id != bind_to:
                current = self._merge_adopted(conn, current, _record(found), now)
            elif current.egress_id is None:
                conn.execute(update(egresses).where(egresses.c.id == bind_to)
                             .values(egress_id=obs.egress_id))
                current = dataclasses.replace(current, egress_id=obs.egress_id)
        elif found is None:
            return self._adopt(conn, obs, source, now, event_id, detail)
        else:
            current = _record(found)

        decision = decide(current.status, current.livekit_updated_ns, obs.status, obs.updated_at_ns)
        _append(conn, current.id, now, source, decision.outcome, current.status, decision.status,
                event_id=event_id, detail=detail or _describe(obs))
        if not decision.changes_row:
            return Applied(current, decision.outcome, current.status)
        updated = self._guarded_update(conn, current, _changes_from(obs, decision, now))
        return Applied(updated, decision.outcome, current.status)

    def _adopt(
        self, conn: Connection, obs: Observation, source: ChangeSource, now: datetime, event_id: str,
        detail: str,
    ) -> Applied:
        from orchestrator.domain.ids import new_egress_pk

        record = EgressRecord(
            id=new_egress_pk(), egress_id=obs.egress_id, kind=obs.kind, room_name=obs.room_name,
            room_id=obs.room_id, status=obs.status, origin=Origin.ADOPTED, created_at=now, updated_at=now,
            error=obs.error, error_code=obs.error_code, details=obs.details, request=obs.request,
            results=obs.results, started_at=obs.started_at, ended_at=obs.ended_at,
            livekit_updated_ns=obs.updated_at_ns,
        )
        conn.execute(_INSERT_EGRESS, _columns(record))
        _append(conn, record.id, now, source, Outcome.CREATED, None, record.status, event_id=event_id,
                detail=detail or f"adopted: LiveKit reported {obs.egress_id}, which the ledger had not seen")
        return Applied(record, Outcome.CREATED, None)

    def _merge_adopted(
        self, conn: Connection, own: EgressRecord, adopted: EgressRecord, now: datetime
    ) -> EgressRecord:
        """A webhook beat our start call's answer: fold the adopted row into ours, keeping its history."""
        conn.execute(update(egress_events).where(egress_events.c.egress_pk == adopted.id)
                     .values(egress_pk=own.id))
        conn.execute(delete(egresses).where(egresses.c.id == adopted.id))
        _append(conn, own.id, now, ChangeSource.API, Outcome.REFRESHED, own.status, own.status,
                detail=f"merged {adopted.egress_id}: LiveKit's webhook arrived before the start call returned")
        decision = decide(own.status, own.livekit_updated_ns, adopted.status, adopted.livekit_updated_ns)
        changes: dict[str, Any] = {"egress_id": adopted.egress_id, "updated_at": now}
        if decision.changes_row:
            changes.update(_record_state(adopted, decision))
        return self._guarded_update(conn, own, changes)

    def _guarded_update(self, conn: Connection, current: EgressRecord, changes: dict[str, Any]) -> EgressRecord:
        """Write the changed columns only if nobody else changed the row since we read it."""
        unknown = set(changes) - set(_MUTABLE)
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        params = dict(changes, pk=current.id, expected_version=current.version, version=current.version + 1)
        if conn.execute(_guarded_update_stmt(frozenset(changes)), params).rowcount != 1:
            raise _VersionConflict(current.id)
        # The row now holds exactly `changes` over `current`: build it here rather than read it back.
        return _with_changes(current, changes, current.version + 1)


# ---- row <-> domain ----------------------------------------------------------------------------


def _with_changes(record: EgressRecord, changes: dict[str, Any], version: int) -> EgressRecord:
    """The record as the row reads after `changes` (column values) were written."""
    fields = {k: v for k, v in changes.items() if k not in ("results", "status", "kind")}
    if "status" in changes:
        fields["status"] = EgressStatus(changes["status"])
    if "kind" in changes:
        fields["kind"] = EgressKind(changes["kind"]) if changes["kind"] else None
    if "results" in changes:
        fields["results"] = _results_from(changes["results"])
    return dataclasses.replace(record, **fields, version=version)


def _describe(obs: Observation) -> str:
    text = f"LiveKit reports {obs.status.value}"
    return f"{text}: {obs.error}" if obs.error else text


def _changes_from(obs: Observation, decision: Decision, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "status": decision.status.value,
        "updated_at": now,
        "livekit_updated_ns": obs.updated_at_ns,
        "results": _results_json(obs.results),
    }
    for name in ("room_id", "room_name", "error", "details"):
        if getattr(obs, name):
            changes[name] = getattr(obs, name)
    if obs.error_code:
        changes["error_code"] = obs.error_code
    if obs.kind:
        changes["kind"] = obs.kind.value
    if obs.started_at:
        changes["started_at"] = obs.started_at
    if obs.ended_at:
        changes["ended_at"] = obs.ended_at
    elif decision.status.terminal:
        changes["ended_at"] = now
    return changes


def _record_state(rec: EgressRecord, decision: Decision) -> dict[str, Any]:
    return {
        "status": decision.status.value, "livekit_updated_ns": rec.livekit_updated_ns,
        "results": _results_json(rec.results), "error": rec.error, "error_code": rec.error_code,
        "details": rec.details, "started_at": rec.started_at, "ended_at": rec.ended_at,
        "room_id": rec.room_id,
    }


def _new_positions(results: Sequence[Applied]) -> list[int]:
    return [i for i, applied in enumerate(results) if not applied.duplicate_event]


def _append(
    conn: Connection, pk: str, at: datetime, source: ChangeSource, outcome: Outcome,
    before: EgressStatus | None, after: EgressStatus, *, event_id: str = "", detail: str = "",
) -> None:
    conn.execute(_INSERT_EVENT, {
        "egress_pk": pk, "at": at, "source": source.value, "outcome": outcome.value,
        "status_before": before.value if before else None, "status_after": after.value,
        "event_id": event_id, "detail": detail[:2000],
    })


def _columns(rec: EgressRecord) -> dict[str, Any]:
    return {
        "id": rec.id, "egress_id": rec.egress_id, "kind": rec.kind.value if rec.kind else None,
        "room_name": rec.room_name, "room_id": rec.room_id, "status": rec.status.value,
        "origin": rec.origin.value, "error": rec.error, "error_code": rec.error_code,
        "details": rec.details, "request": rec.request, "results": _results_json(rec.results),
        "fingerprint": rec.fingerprint, "created_at": rec.created_at, "updated_at": rec.updated_at,
        "started_at": rec.started_at, "ended_at": rec.ended_at,
        "livekit_updated_ns": rec.livekit_updated_ns, "version": rec.version,
    }


def _record(row: Row[Any]) -> EgressRecord:
    m = row._mapping
    return EgressRecord(
        id=m["id"], egress_id=m["egress_id"], kind=EgressKind(m["kind"]) if m["kind"] else None,
        room_name=m["room_name"], room_id=m["room_id"], status=EgressStatus(m["status"]),
        origin=Origin(m["origin"]), created_at=m["created_at"], updated_at=m["updated_at"],
        error=m["error"], error_code=m["error_code"], details=m["details"], request=m["request"],
        results=_results_from(m["results"]), fingerprint=m["fingerprint"], started_at=m["started_at"],
        ended_at=m["ended_at"], livekit_updated_ns=m["livekit_updated_ns"], version=m["version"],
    )


def _event(row: Row[Any]) -> EgressEvent:
    m = row._mapping
    return EgressEvent(
        at=m["at"], source=ChangeSource(m["source"]), outcome=Outcome(m["outcome"]),
        status_before=EgressStatus(m["status_before"]) if m["status_before"] else None,
        status_after=EgressStatus(m["status_after"]), event_id=m["event_id"], detail=m["detail"],
    )


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _shallow(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a dict, without dataclasses.asdict's deep copy (hot path)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _results_json(results: Results) -> dict[str, Any]:
    def encode(items: Sequence[Any]) -> list[dict[str, Any]]:
        return [{k: _dt(v) if isinstance(v, datetime) else v for k, v in _shallow(item).items()}
                for item in items]

    return {"files": encode(results.files), "streams": encode(results.streams),
            "segments": encode(results.segments), "images": encode(results.images)}


def _results_from(data: dict[str, Any] | None) -> Results:
    data = data or {}

    def decode(cls: type[Any], items: list[dict[str, Any]]) -> tuple[Any, ...]:
        dt_fields = {"started_at", "ended_at"}
        return tuple(cls(**{k: _parse_dt(v) if k in dt_fields else v for k, v in item.items()})
                     for item in items)

    return Results(
        files=decode(FileResult, data.get("files", [])),
        streams=decode(StreamResult, data.get("streams", [])),
        segments=decode(SegmentResult, data.get("segments", [])),
        images=decode(ImageResult, data.get("images", [])),
    )
