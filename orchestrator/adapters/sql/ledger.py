"""SqlEgressLedger: the durable egress ledger; every change is a guarded update plus a history row."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from orchestrator.adapters.sql import activity
from orchestrator.domain.activity import Change, Position
from orchestrator.domain.egress import (
    UNFINISHED,
    Applied,
    ChangeSource,
    EgressEvent,
    EgressRecord,
    EgressStatus,
    Observation,
    Outcome,
)
from orchestrator.domain.events import WebhookRow

from . import ledger_rows as rows
from .database import SqlDatabase
from .ledger_writes import LedgerWrites, VersionConflict
from .tables import egress_events, egresses
from .webhook_store import WebhookRows

log = logging.getLogger(__name__)

# A guarded update that lost to another writer (PostgreSQL replicas) is redone from a fresh read.
ATTEMPTS = 10
# Ids per query of get_many: well under SQLite's bound-parameter limit.
_MANY = 500


class SqlEgressLedger:
    """The egress ledger on SQLite or PostgreSQL."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._writes = LedgerWrites(db.dialect)
        self._webhooks = WebhookRows(db.dialect)

    # ---- reads -------------------------------------------------------------------------------

    def get(self, ref: str) -> EgressRecord | None:
        """By our id or by LiveKit's `EG_` id."""
        with self._db.read() as conn:
            row = conn.execute(select(egresses).where(or_(egresses.c.id == ref, egresses.c.egress_id == ref))).first()
        return rows.record(row) if row else None

    def get_many(self, pks: Iterable[str]) -> dict[str, EgressRecord]:
        """By our ids: one query per `_MANY` ids (SQLite and psycopg bind each id as a parameter)."""
        wanted = sorted(set(pks))
        found: dict[str, EgressRecord] = {}
        with self._db.read() as conn:
            for at in range(0, len(wanted), _MANY):
                for row in conn.execute(select(egresses).where(egresses.c.id.in_(wanted[at:at + _MANY]))):
                    found[row.id] = rows.record(row)
        return found

    def history(self, pk: str) -> list[EgressEvent]:
        with self._db.read() as conn:
            found = conn.execute(
                select(egress_events).where(egress_events.c.egress_pk == pk).order_by(egress_events.c.seq)).all()
        return [rows.event(r) for r in found]

    def find(self, *, room_name: str | None = None, statuses: Iterable[EgressStatus] | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[EgressRecord]:
        """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
        query = select(egresses)
        if room_name:
            query = query.where(egresses.c.room_name == room_name)
        if before:
            created, pk = before
            query = query.where(or_(egresses.c.created_at < created,
                                    (egresses.c.created_at == created) & (egresses.c.id < pk)))
        wanted = sorted({s.value for s in statuses}) if statuses is not None else None
        # One query per status, each reading at most `limit` rows from (status, created_at, id), merged here:
        # `status IN (...) ORDER BY created_at` walked the whole (created_at, id) index looking for statuses that
        # few rows have (the Now page's unfinished egresses: 100,000 rows scanned for none, bench/list_pages.py).
        queries = [query] if wanted is None else [query.where(egresses.c.status == s) for s in wanted]
        with self._db.read() as conn:
            found = [r for q in queries for r in conn.execute(
                q.order_by(egresses.c.created_at.desc(), egresses.c.id.desc()).limit(limit)).all()]
        if len(queries) > 1:
            found = sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]
        return [rows.record(r) for r in found]

    def unfinished(self) -> list[EgressRecord]:
        return self.find(statuses=UNFINISHED, limit=100_000)

    def changed_since(self, after: Position, limit: int) -> list[Change]:
        """Egresses by (updated_at, id) after `after`, oldest first (the live event stream)."""
        return activity.egress_changes(self._db, after, limit)

    def count_by_status(self) -> dict[str, int]:
        with self._db.read() as conn:
            found = conn.execute(select(egresses.c.status, func.count()).group_by(egresses.c.status)).all()
        return {status: count for status, count in found}

    def ping(self) -> None:
        with self._db.read() as conn:
            conn.execute(select(1))

    # ---- writes ------------------------------------------------------------------------------

    def create_many(self, records: Sequence[EgressRecord], detail: str = "", *, actor: str = "system") -> None:
        """New egresses about to be started, in `starting`, each with its first history row; one transaction."""
        if records:
            with self._db.write() as conn:
                self._writes.create(conn, records, detail, actor)

    def observe(self, obs: Observation, source: ChangeSource, now: datetime, *, webhook: WebhookRow | None = None,
                bind_to: str | None = None, detail: str = "", actor: str = "system") -> Applied:
        """Fold what LiveKit reported into the ledger, in one transaction.

        With `webhook`, the event id is stored in the same transaction, and an id seen before makes this a
        no-op. With `bind_to`, the report is the answer to our own start call for that row: a row adopted
        earlier from a webhook for the same `EG_` id is merged into it. An egress never seen is adopted.
        """
        for _ in range(ATTEMPTS):
            try:
                with self._db.write() as conn:
                    if webhook is not None and not self._webhooks.insert_one(conn, webhook):
                        return Applied(None, Outcome.DUPLICATE, duplicate_event=True)
                    return self._writes.observe(conn, obs, source, now, event_id=webhook.id if webhook else "",
                                                bind_to=bind_to, detail=detail, actor=actor)
            except (IntegrityError, VersionConflict):
                continue
        raise RuntimeError(f"could not record an update of {obs.egress_id} after {ATTEMPTS} attempts")

    def observe_answers(self, items: Sequence[tuple[Observation, datetime, str, str]]) -> list[Applied | Exception]:
        """LiveKit's answers to many of our start calls, each bound to its row, in one transaction.

        Items are (observation, now, row id, detail). If anything goes wrong (another writer interfered, a row
        is missing), each is redone on its own (`observe`), and one that still fails gets its exception in its
        place.
        """
        try:
            with self._db.write() as conn:
                return [self._writes.observe(conn, obs, ChangeSource.API, now, bind_to=pk, detail=detail)
                        for obs, now, pk, detail in items]
        except Exception as exc:  # a conflict, or one bad item: nothing was committed
            log.debug("storing %d start answers together failed (%s); one by one", len(items), type(exc).__name__)
        alone: list[Applied | Exception] = []
        for obs, now, pk, detail in items:
            try:
                alone.append(self.observe(obs, ChangeSource.API, now, bind_to=pk, detail=detail))
            except Exception as exc:
                alone.append(exc)
        return alone

    def force_status(self, pk: str, target: EgressStatus, source: ChangeSource, now: datetime, *, error: str = "",
                     error_code: int = 0, detail: str = "", actor: str = "system") -> Applied:
        """A status the service decides itself: a failed start, a start deadline, an egress LiveKit lost."""
        for _ in range(ATTEMPTS):
            try:
                with self._db.write() as conn:
                    return self._writes.force(conn, pk, target, source, now, error=error, error_code=error_code,
                                              detail=detail, actor=actor)
            except VersionConflict:
                continue
        raise RuntimeError(f"could not update {pk} after {ATTEMPTS} attempts")
