"""The webhook fast path as plain data: what one transaction must store, and what it did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .egress import Applied, EgressRecord, Observation
from .events import WebhookRow
from .sessions import RecordingClaim, RoomSession


@dataclass(frozen=True)
class IntakeItem:
    """One verified webhook: stored once by its id; its egress report (if any) folded into the ledger."""

    webhook: WebhookRow
    observation: Observation | None
    detail: str = ""


@dataclass(frozen=True)
class RoomOpening:
    """What a room_started asks of the database, planned by the service before the transaction.

    Applied only if the webhook `notice_id` is new. The ledger row in `records` of each claim won (matched by
    `claim.egress_pk`) is written in the same transaction, so the start call can leave right after the commit.
    """

    notice_id: str
    session: RoomSession
    claims: tuple[RecordingClaim, ...]
    records: tuple[EgressRecord, ...]
    expected_since: datetime | None = None  # a pending POST /v1/rooms made since then may delegate a claim


@dataclass(frozen=True)
class IntakeBatch:
    now: datetime
    items: tuple[IntakeItem, ...]
    openings: tuple[RoomOpening, ...] = ()


@dataclass(frozen=True)
class RoomOpened:
    notice_id: str
    session: RoomSession  # as stored
    created: bool  # this transaction created it
    won: tuple[RecordingClaim, ...]  # claims inserted now (CLAIMED ones have their ledger row written)


@dataclass(frozen=True)
class IntakeResult:
    applied: tuple[Applied, ...]  # one per item, in order
    opened: tuple[RoomOpened, ...]  # one per opening whose webhook was new
