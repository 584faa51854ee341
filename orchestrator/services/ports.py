"""The ports: every outside system the services use, as a Protocol. Adapters implement them; bootstrap wires them.

Services import only this module and the domain. Repositories are one per aggregate; a write that must commit
with another aggregate's (the webhook fast path) has one port of its own (`WebhookIntakeStore`) instead of a
transaction handed across layers. Reads may be called from worker threads; every method is synchronous
unless it talks to the network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from orchestrator.domain.activity import Change, Position
from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastEvent,
    BroadcastRun,
    BroadcastState,
    LaunchReason,
    ProbeResult,
    RunChanges,
    RunEgress,
    RunEvent,
    RunEventKind,
    RunStatus,
)
from orchestrator.domain.callbacks import CallbackEventType, Delivery, DeliveryStatus
from orchestrator.domain.egress import (
    Applied,
    ChangeSource,
    EgressEvent,
    EgressRecord,
    EgressStatus,
    Observation,
    RoomSnapshot,
)
from orchestrator.domain.events import WebhookRow
from orchestrator.domain.identity import ApiKey, ConsoleSession, Person, Role
from orchestrator.domain.intake import IntakeBatch, IntakeResult
from orchestrator.domain.recordings import ObjectHead, Recording, RecordingEvent, RecordingQuery
from orchestrator.domain.requests import EgressRequest
from orchestrator.domain.rules import Rule
from orchestrator.domain.sessions import ClaimEvent, CreatedRoom, ParticipantSnapshot, RecordingClaim, RoomSession

# ==== time ===========================================================================================

Clock = Callable[[], datetime]
"""Now, in UTC (aware). Services never read the system clock themselves."""


class Timer(Protocol):
    """Runs a coroutine at a given time in this process (APScheduler behind it); keyed, replaceable."""

    def at(self, when: datetime, key: str, job: Callable[[], Awaitable[None]]) -> None: ...
    def cancel(self, key: str) -> None: ...


# ==== LiveKit ========================================================================================


class EgressGateway(Protocol):
    """LiveKit's Egress API (and the room reads the egress services need)."""

    async def start(self, request: EgressRequest) -> Observation:
        """One start call, never retried here; LiveKitUnavailable may mean it started anyway."""
    async def stop(self, egress_id: str) -> Observation: ...
    async def update_layout(self, egress_id: str, layout: str) -> Observation: ...
    async def update_stream(self, egress_id: str, add: list[str], remove: list[str]) -> Observation: ...
    async def list_egresses(self, *, room_name: str = "", egress_id: str = "", active: bool = False
                            ) -> list[Observation]: ...
    async def list_rooms(self, names: list[str] | None = None) -> list[RoomSnapshot]: ...
    async def check_access(self) -> None:
        """Raises a LiveKitError unless LiveKit answers and the credentials may record."""


class RoomGateway(Protocol):
    """LiveKit's RoomService calls automatic recording needs."""

    async def list_rooms(self, names: list[str] | None = None) -> list[RoomSnapshot]: ...
    async def list_participants(self, room_name: str) -> list[ParticipantSnapshot]: ...
    async def create_room(self, name: str, *, metadata: str = "", empty_timeout: int = 0,
                          departure_timeout: int = 0, composite: EgressRequest | None = None) -> CreatedRoom: ...


# ==== the egress ledger ==============================================================================


class EgressLedger(Protocol):
    """The durable egress ledger: one row per egress, every change a guarded update plus a history row."""

    def get(self, ref: str) -> EgressRecord | None:
        """By our id or by LiveKit's `EG_` id."""
    def get_many(self, pks: Iterable[str]) -> dict[str, EgressRecord]:
        """By our ids, in one read: the ones found, by id (a list page's egresses without a query each)."""
    def history(self, pk: str) -> list[EgressEvent]: ...
    def find(self, *, room_name: str | None = None, statuses: Iterable[EgressStatus] | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[EgressRecord]:
        """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
    def unfinished(self) -> list[EgressRecord]: ...
    def count_by_status(self) -> dict[str, int]: ...
    def ping(self) -> None: ...
    def create_many(self, records: Sequence[EgressRecord], detail: str = "", *, actor: str = "system") -> None:
        """New egresses about to be started, in `starting`, each with its first history row; one transaction.
        `actor` (here and below): who asked, the name history rows record; "system" when the service acts."""
    def observe(self, obs: Observation, source: ChangeSource, now: datetime, *, webhook: WebhookRow | None = None,
                bind_to: str | None = None, detail: str = "", actor: str = "system") -> Applied:
        """Fold one report in (adopting an unknown egress; with `bind_to`, the answer to our own start call)."""
    def observe_answers(self, items: Sequence[tuple[Observation, datetime, str, str]]) -> list[Applied | Exception]:
        """Answers to many start calls, (observation, now, row id, detail) each, in one transaction."""
    def force_status(self, pk: str, target: EgressStatus, source: ChangeSource, now: datetime, *,
                     error: str = "", error_code: int = 0, detail: str = "", actor: str = "system") -> Applied:
        """A status the service decides itself (a failed start, a start deadline, an egress LiveKit lost)."""


class WebhookStore(Protocol):
    """Received webhook events, deduplicated by id."""

    def record(self, webhook: WebhookRow) -> bool:
        """Store one event; False when its id was seen before."""
    def recent(self, *, room_name: str | None = None, limit: int = 100) -> list[WebhookRow]: ...


class WebhookIntakeStore(Protocol):
    """The webhook fast path's one transaction: events, ledger changes, and the room sessions, claims and
    ledger rows that room_started events open (planned beforehand by the service, as plain data)."""

    def commit(self, batch: IntakeBatch) -> IntakeResult: ...


# ==== automatic recording ============================================================================


class RuleStore(Protocol):
    """Recording rules."""

    def create(self, rule: Rule) -> Rule:
        """Raises Conflict when the name is taken."""
    def get(self, ref: str) -> Rule | None:
        """By id or by name."""
    def list(self, *, enabled_only: bool = False) -> list[Rule]:
        """By priority, highest first."""
    def update(self, rule: Rule) -> Rule: ...
    def delete(self, rule_id: str) -> bool: ...


class SessionStore(Protocol):
    """Room sessions and recording claims. A claim is a unique-key insert; every claim state change is a
    guarded update plus a `ClaimEvent` history row in the same transaction."""

    def open_sessions(self, openings: Sequence[tuple[RoomSession, Sequence[RecordingClaim], datetime | None]]
                      ) -> list[tuple[RoomSession, bool, list[RecordingClaim]]]:
        """(session, claims, expected_since) each -> (stored session, created now, claims won)."""
    def claim(self, room_sid: str, claims: Sequence[RecordingClaim]) -> list[RecordingClaim]:
        """Insert the claims nobody holds yet, unless the session has ended; returns the ones won."""
    def bind_claims(self, items: Sequence[tuple[str, str, datetime]]) -> list[bool]:
        """(key, egress row id, now) each; False where the session ended meanwhile (stop that egress)."""
    def fail_claim(self, key: str, error: str, retry_at: datetime | None, now: datetime) -> None: ...
    def take_for_retry(self, key: str, now: datetime, lease_until: datetime) -> RecordingClaim | None: ...
    def due_claims(self, now: datetime, limit: int = 200) -> list[RecordingClaim]: ...
    def get_claim(self, key: str) -> RecordingClaim | None: ...
    def claim_of_egress(self, egress_pk: str) -> RecordingClaim | None: ...
    def claim_history(self, key: str) -> list[ClaimEvent]: ...
    def bind_delegated(self, room_sid: str, egress_pk: str, now: datetime) -> RecordingClaim | None: ...
    def close_session(self, room_sid: str, now: datetime) -> tuple[bool, list[RecordingClaim]]: ...
    def get_session(self, room_sid: str) -> RoomSession | None: ...
    def sessions(self, *, room_name: str | None = None, open_only: bool = False,
                 limit: int = 100) -> list[RoomSession]: ...
    def claims_of(self, room_sids: Sequence[str]) -> list[RecordingClaim]: ...
    def running_composites(self) -> list[RecordingClaim]: ...
    def expect_room(self, room_name: str, rule_id: str, now: datetime) -> None: ...
    def forget_expected_room(self, room_name: str) -> None: ...


# ==== broadcasts =====================================================================================


class BroadcastStore(Protocol):
    """Broadcasts and their runs. Every change of a run or a broadcast is a guarded update plus a history row
    in the same transaction; `kind` (and `destination`) type the run history rows decisions count."""

    def create(self, broadcast: Broadcast, first_run: BroadcastRun | None, detail: str, *,
               actor: str = "system") -> None:
        """The broadcast with its first history row, and its first run (if any) with its own. `actor` (here and
        below): who asked, the name history rows record; "system" when the service acts."""
    def get(self, broadcast_id: str) -> Broadcast | None: ...
    def find(self, *, room_name: str | None = None, state: BroadcastState | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[Broadcast]: ...
    def history(self, broadcast_id: str) -> list[BroadcastEvent]: ...
    def update_broadcast(self, broadcast: Broadcast, now: datetime, detail: str, *,
                         actor: str = "system") -> Broadcast | None:
        """Store `broadcast`'s spec and state if its version is still the stored one (then bumped), with a
        history row. None if it changed meanwhile (or is gone)."""
    def add_run(self, run: BroadcastRun, detail: str) -> bool:
        """The next occurrence; False when it exists already (another replica made it)."""
    def run(self, run_id: str) -> BroadcastRun | None: ...
    def runs_of(self, broadcast_id: str) -> list[BroadcastRun]: ...
    def next_runs(self, broadcast_ids: Sequence[str]) -> dict[str, BroadcastRun]:
        """Each broadcast's next run: its unfinished run with the lowest `seq` (under way, or the one to come),
        by broadcast id; a broadcast with none is left out. One query for the whole list."""
    def runs_in(self, statuses: Iterable[RunStatus], *, starting_before: datetime | None = None,
                starting_after: datetime | None = None, limit: int | None = None) -> list[BroadcastRun]:
        """Runs in these statuses by planned start; `starting_after`/`starting_before` bound the planned start
        (inclusive), `limit` keeps the first ones (the console's Now page reads a window, not every run)."""
    def count_runs_by_status(self) -> dict[str, int]: ...
    def run_for_egress(self, egress_pk: str) -> BroadcastRun | None: ...
    def events(self, run_id: str) -> list[RunEvent]: ...
    def egresses(self, run_id: str) -> list[RunEgress]: ...
    def transition(self, run_id: str, from_statuses: Iterable[RunStatus], to: RunStatus, now: datetime,
                   detail: str, changes: RunChanges | None = None, *, egress_pk: str | None = None,
                   kind: RunEventKind | None = None, actor: str = "system") -> BroadcastRun | None:
        """Move a run to `to` only if it is in one of `from_statuses` now (the claim): None if not.
        `egress_pk` names the egress in the history row; `changes` sets the run's fields."""
    def note(self, run_id: str, now: datetime, detail: str, changes: RunChanges | None = None, *,
             egress_pk: str | None = None, expected_version: int | None = None, kind: RunEventKind | None = None,
             destination: str | None = None, actor: str = "system") -> BroadcastRun | None:
        """A history row (and field changes) without a change of status; with `expected_version`, only if
        nobody changed the run since (the optimistic claim to heal, take over or roll over a run)."""
    def claim_due(self, now: datetime, grace: timedelta, instance: str, limit: int = 1000
                  ) -> tuple[list[BroadcastRun], list[BroadcastRun]]:
        """Claim every scheduled run whose start has come: (claimed, missed), as the domain's misfire
        decision (`domain.runs.decide_start`) says; one transaction."""
    def attach_many(self, links: Sequence[tuple[str, str, LaunchReason]], now: datetime) -> None:
        """(run, egress row, reason) each: the egress now carries the run; linked before its start call."""


class RtmpProbe(Protocol):
    async def probe(self, url: str) -> ProbeResult: ...


LayoutCheck = Callable[[str], Awaitable[tuple[bool, str]]]
"""Preflight of a layout page by its URL: (ok, detail)."""

BroadcastAnnouncer = Callable[[CallbackEventType, str, dict[str, object], tuple[str, ...]], Awaitable[object]]
"""Queues a broadcast callback: (kind, run id, data, the broadcast's own callback URLs); idempotent per run
and kind (the callback outbox behind it makes it durable)."""


# ==== recordings and callbacks =======================================================================


class RecordingStore(Protocol):
    """The recordings catalog; a change of status is a guarded update, a history row and the callbacks it
    causes (written to the `CallbackOutbox`), in one transaction."""

    def count_by_status(self) -> dict[str, int]: ...
    def get(self, recording_id: str) -> Recording | None: ...
    def history(self, recording_id: str) -> list[RecordingEvent]: ...
    def of_egress(self, egress_pk: str) -> list[Recording]:
        """By part."""
    def find(self, query: RecordingQuery) -> list[Recording]:
        """Newest recording first (recorded_at, then id)."""
    def due_for_check(self, now: datetime, limit: int = 100) -> list[Recording]:
        """Verifying, with no check planned or its time come; soonest first."""
    def older_than(self, cutoff: datetime, limit: int = 1000) -> list[Recording]:
        """Not deleted, ended (else catalogued) at or before `cutoff`; oldest first."""
    def ended_egresses_without_recordings(self, since: datetime, limit: int = 500) -> list[str]:
        """Ids of terminal egresses (ended after `since`, or with no end time) with no recording yet."""
    def add(self, items: Sequence[Recording], detail: str) -> list[Recording]:
        """Catalog new recordings, each with its first history row; ones already there are left alone.
        Returns those added."""
    def transition(self, current: Recording, after: Recording, now: datetime, detail: str,
                   deliveries: Sequence[Delivery] = (), *, actor: str = "system") -> Recording | None:
        """Store `after` (`current` with new mutable fields: `domain.recordings.changed_fields`) only if
        nobody changed the recording since `current` was read, else None; with a history row and
        `deliveries` put in the outbox, in the same transaction."""


class CallbackOutbox(Protocol):
    """Signed callbacks waiting to be delivered; leased so one replica sends each attempt."""

    def enqueue(self, deliveries: Sequence[Delivery]) -> int:
        """Store deliveries; one already stored (same event and URL) is not stored twice. Returns how many."""
    def claim_due(self, now: datetime, lease_until: datetime, limit: int = 50) -> list[Delivery]:
        """Pending deliveries that are due and not leased, each leased to the caller until `lease_until`."""
    def finish_attempt(self, delivery: Delivery, status: DeliveryStatus, now: datetime, *,
                       next_attempt_at: datetime | None, error: str = "") -> bool:
        """Record one attempt of a leased delivery (releasing it); False if it changed meanwhile."""
    def deliveries(self, *, event_id: str | None = None, limit: int = 500) -> list[Delivery]:
        """Oldest first."""
    def next_delivery_due(self) -> datetime | None: ...


class CallbackSender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> str | None:
        """One attempt: None when delivered; otherwise why not (no secrets in it)."""
    async def aclose(self) -> None: ...


class ObjectStore(Protocol):
    """Where recordings are: S3, or a local volume shared with egress. Raises StorageUnavailable when
    storage cannot answer; None means "not there"."""

    def head(self, bucket: str, key: str) -> ObjectHead | None: ...
    def read_text(self, bucket: str, key: str, limit: int = ...) -> str | None: ...
    def delete(self, bucket: str, keys: list[str]) -> None:
        """Deleting what is already gone is not an error."""


class PresigningStore(ObjectStore, Protocol):
    def presign_get(self, bucket: str, key: str, expires_s: int, *, filename: str = "") -> str:
        """A GET link anyone can use until it expires."""


class LocalFiles(ObjectStore, Protocol):
    """A recordings volume on this machine; the API streams its files itself (with HTTP Range)."""

    def file(self, key: str) -> Path | None:
        """The file a key names, or None when it is not there; StorageUnavailable if the key points
        outside the volume."""


# ---- identity: people, API keys, console sessions, sign-in failures ------------------------------------------


class IdentityStore(Protocol):
    """Who may sign in or call the API. Secrets are never stored: sessions and keys by their SHA-256 digest,
    passwords as argon2id hashes. Removing or disabling a person deletes their sessions in the same write."""

    def add_person(self, person: Person) -> Person:
        """Raises Conflict when the name is taken."""
    def person(self, name: str) -> Person | None: ...
    def people(self) -> list[Person]:
        """By name."""
    def update_person(self, name: str, *, role: Role | None = None, password_hash: str | None = None,
                      disabled: bool | None = None) -> Person | None:
        """Change what is given; disabling also deletes the person's sessions. None when there is no such
        person."""
    def remove_person(self, name: str, now: datetime) -> bool:
        """Delete the person and their sessions, and revoke the keys they made (at `now`)."""

    def add_key(self, key: ApiKey) -> ApiKey: ...
    def key_by_digest(self, digest: str) -> tuple[ApiKey, Person | None] | None:
        """The key with this digest (revoked or not) and its creator as a person (None if not a person)."""
    def api_keys(self, *, creator: str | None = None) -> list[ApiKey]:
        """Newest first; only `creator`'s when given."""
    def revoke_key(self, key_id: str, now: datetime) -> ApiKey | None:
        """Revoke (idempotent); None when there is no such key."""
    def key_used(self, key_id: str, now: datetime) -> None: ...

    def add_session(self, session: ConsoleSession) -> None: ...
    def session(self, digest: str) -> tuple[ConsoleSession, Person] | None:
        """The session and its person (even when expired or the person is disabled: the caller decides)."""
    def touch_session(self, session: ConsoleSession) -> None:
        """Store a session's new `seen_at` and `expires_at`."""
    def end_session(self, digest: str) -> bool: ...
    def end_sessions_before(self, now: datetime) -> int:
        """Delete expired sessions; how many."""

    def sign_in_failures(self, scopes: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        """Failures per scope ('name:alice', 'address:10.0.0.1') at or after `since`."""
    def add_sign_in_failure(self, scopes: Sequence[str], at: datetime, forget_before: datetime) -> None:
        """Record one failure under each scope, and forget those scopes' failures before `forget_before`."""
    def clear_sign_in_failures(self, scope: str) -> None: ...


# ==== the live event stream (GET /v1/events) =========================================================


class ChangesSince(Protocol):
    """One kind of record's changes across every replica, read from the shared database."""

    def __call__(self, after: Position, limit: int) -> list[Change]:
        """Records whose (updated_at, id) is after `after`, oldest first, at most `limit`."""
        ...
