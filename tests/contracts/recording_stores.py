"""The recordings catalog, the callback outbox and the ledger of one database, per backend; rows they store."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.adapters.memory.database import MemoryDatabase
from orchestrator.adapters.memory.ledger import MemoryEgressLedger
from orchestrator.adapters.memory.outbox import MemoryCallbackOutbox
from orchestrator.adapters.memory.recordings import MemoryRecordingStore
from orchestrator.adapters.sql.callback_outbox import SqlCallbackOutbox
from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.ledger import SqlEgressLedger
from orchestrator.adapters.sql.recordings import SqlRecordingStore
from orchestrator.domain.callbacks import CallbackEventType, Delivery, DeliveryStatus, delivery_id, event_id
from orchestrator.domain.recordings import Recording, RecordingKind, RecordingStatus, StorageKind, recording_id
from orchestrator.services.ports import CallbackOutbox, EgressLedger, RecordingStore
from tests.conftest import PG_ADMIN_URL
from tests.contracts.rows import T0


@dataclass
class RecordingStores:
    name: str
    recordings: RecordingStore
    outbox: CallbackOutbox
    ledger: EgressLedger


def _sql(name: str, db: SqlDatabase) -> RecordingStores:
    outbox = SqlCallbackOutbox(db)
    return RecordingStores(name, SqlRecordingStore(db, outbox), outbox, SqlEgressLedger(db))


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordingStores]:
    """On the migrated templates of tests/contracts/conftest.py."""
    if request.param == "memory":
        db = MemoryDatabase()
        outbox = MemoryCallbackOutbox()
        yield RecordingStores("memory", MemoryRecordingStore(outbox, db), outbox, MemoryEgressLedger(db))
        return
    if request.param == "sqlite":
        path = tmp_path / "orchestrator.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        sql = SqlDatabase(f"sqlite:///{path}")
        yield _sql("sqlite", sql)
        sql.dispose()
        return
    import psycopg

    template: str = request.getfixturevalue("pg_template")
    name = f"orch_contract_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    sql = SqlDatabase(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    yield _sql("postgres", sql)
    sql.dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def recording(egress_pk: str, *, part: int = 0, room: str = "room-a", started: datetime | None = T0,
              ended: datetime | None = None, created: datetime = T0,
              status: RecordingStatus = RecordingStatus.VERIFYING, kind: RecordingKind = RecordingKind.FILE,
              egress_id: str = "", broadcast_id: str = "", rule_id: str = "",
              next_check_at: datetime | None = None) -> Recording:
    return Recording(
        id=recording_id(egress_pk, kind, part), egress_pk=egress_pk, egress_id=egress_id or f"EG_{egress_pk}",
        part=part, kind=kind, storage=StorageKind.S3, bucket="b", key=f"{egress_pk}/{part}.mp4", status=status,
        created_at=created, updated_at=created, location=f"s3://b/{egress_pk}/{part}.mp4", size_bytes=10,
        duration_s=1.5, content_type="video/mp4", room_name=room, room_id="RM_" + room, broadcast_id=broadcast_id,
        rule_id=rule_id, started_at=started, ended_at=ended if ended is not None else started,
        next_check_at=next_check_at)


def delivery(subject: str, url: str = "https://app.example/hook", *, created: datetime = T0,
             due: datetime | None = None, event_type: CallbackEventType = CallbackEventType.RECORDING_READY
             ) -> Delivery:
    event = event_id(event_type, subject)
    return Delivery(id=delivery_id(event, url), event_id=event, event_type=event_type, url=url,
                    body=b'{"id":"' + event.encode() + b'"}', status=DeliveryStatus.PENDING, created_at=created,
                    next_attempt_at=due or created)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
