"""One `backend` per store implementation: the in-memory fakes, SQLite and PostgreSQL, behind the same ports."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.adapters.memory import (
    MemoryDatabase,
    MemoryEgressLedger,
    MemoryRuleStore,
    MemorySessionStore,
    MemoryWebhookIntakeStore,
    MemoryWebhookStore,
)
from orchestrator.adapters.memory.broadcasts import MemoryBroadcastStore
from orchestrator.adapters.memory.outbox import MemoryCallbackOutbox
from orchestrator.adapters.memory.recordings import MemoryRecordingStore
from orchestrator.adapters.sql.broadcasts import SqlBroadcastStore
from orchestrator.adapters.sql.callback_outbox import SqlCallbackOutbox
from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.intake_store import SqlWebhookIntakeStore
from orchestrator.adapters.sql.ledger import SqlEgressLedger
from orchestrator.adapters.sql.recordings import SqlRecordingStore
from orchestrator.adapters.sql.rules import SqlRuleStore
from orchestrator.adapters.sql.sessions import SqlSessionStore
from orchestrator.adapters.sql.webhook_store import SqlWebhookStore
from orchestrator.services.ports import (
    BroadcastStore,
    CallbackOutbox,
    EgressLedger,
    RecordingStore,
    RuleStore,
    SessionStore,
    WebhookIntakeStore,
    WebhookStore,
)
from tests.conftest import PG_ADMIN_URL


@dataclass
class Backend:
    """The stores of one database (they share it: the intake store writes what the others read)."""

    name: str
    ledger: EgressLedger
    webhooks: WebhookStore
    intake: WebhookIntakeStore
    rules: RuleStore
    sessions: SessionStore
    broadcasts: BroadcastStore
    recordings: RecordingStore
    outbox: CallbackOutbox


def _memory() -> Backend:
    db, outbox = MemoryDatabase(), MemoryCallbackOutbox()
    return Backend("memory", MemoryEgressLedger(db), MemoryWebhookStore(db), MemoryWebhookIntakeStore(db),
                   MemoryRuleStore(db), MemorySessionStore(db), MemoryBroadcastStore(),
                   MemoryRecordingStore(outbox, db), outbox)


def _sql(name: str, db: SqlDatabase) -> Backend:
    outbox = SqlCallbackOutbox(db)
    return Backend(name, SqlEgressLedger(db), SqlWebhookStore(db), SqlWebhookIntakeStore(db), SqlRuleStore(db),
                   SqlSessionStore(db), SqlBroadcastStore(db), SqlRecordingStore(db, outbox), outbox)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every time would be most of the suite's time)."""
    path = tmp_path_factory.mktemp("contracts") / "template.db"
    db = SqlDatabase(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template(pg_available: bool) -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database is created from."""
    if not pg_available:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"orch_contract_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = SqlDatabase(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    db.migrate()
    db.dispose()
    yield name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        yield _memory()
        return
    if request.param == "sqlite":
        path = tmp_path / "orchestrator.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        db = SqlDatabase(f"sqlite:///{path}")
        yield _sql("sqlite", db)
        db.dispose()
        return
    import psycopg

    template: str = request.getfixturevalue("pg_template")
    name = f"orch_contract_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = SqlDatabase(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    yield _sql("postgres", db)
    db.dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

