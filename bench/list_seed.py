"""Seeded databases for bench/list_pages.py: real rows made once by the service, cloned by the hundred thousand.

The template rows come from a real `orchestrator serve` on embedded defaults (a rule recording a sandbox room, an
egress, a broadcast started and stopped), so every cloned row is one the stores wrote themselves and read back.
Clones vary their keys, times, room names and statuses, and point at each other as the originals did. Everything
is terminal (egresses ended, sessions closed, runs ended or far in the future), so starting the service over a
seeded database changes nothing in it. Databases are cached under /tmp, keyed by the schema's migrations.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import JSON, Connection, Engine, Table, create_engine, event, select, text

from orchestrator.adapters.sql import broadcast_tables as bt
from orchestrator.adapters.sql import recording_tables as rt
from orchestrator.adapters.sql import rule_tables as ut
from orchestrator.adapters.sql import tables as et
from orchestrator.adapters.sql.bulk import BulkInsert
from orchestrator.adapters.sql.engine import build_engine, migrate

REPO = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO / "orchestrator" / "adapters" / "sql" / "migrations" / "versions"
CACHE = Path(tempfile.gettempdir()) / "bench-lists"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FUTURE = datetime(2031, 1, 6, 17, 0, tzinfo=UTC)  # far beyond any timer's horizon
ROOM_ROWS = 100  # rows per room name: a room filter finds about this many at every size


@dataclass(frozen=True)
class Scale:
    name: str
    broadcasts: int
    runs_per_broadcast: int
    run_events_per_run: int
    egresses: int
    egress_events_per_egress: int
    recordings: int  # also the room sessions and their claims
    rules: int = 1_000


LARGE = Scale("large", broadcasts=10_000, runs_per_broadcast=5, run_events_per_run=10, egresses=100_000,
              egress_events_per_egress=5, recordings=100_000)
SMALL = Scale("small", broadcasts=1_000, runs_per_broadcast=1, run_events_per_run=1, egresses=1_000,
              egress_events_per_egress=1, recordings=1_000)


SEED_VERSION = b"1"  # bump when the clones change


def schema_key() -> str:
    digest = hashlib.sha256(SEED_VERSION)
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


# ---- template rows, from a real service -------------------------------------------------------------------

TEMPLATE_TABLES = (et.egresses, et.egress_events, bt.broadcasts, bt.broadcast_events, bt.broadcast_runs,
                   bt.broadcast_run_events, bt.broadcast_run_egresses, rt.recordings, rt.recording_events,
                   ut.record_rules, ut.room_sessions, ut.recording_claims, ut.recording_claim_events)


def template_rows() -> dict[str, list[dict[str, Any]]]:
    path = CACHE / f"template-{schema_key()}.pickle"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        rows = _make_template()
        path.write_bytes(pickle.dumps(rows))
    loaded: dict[str, list[dict[str, Any]]] = pickle.loads(path.read_bytes())  # noqa: S301 - our own file
    return loaded


def _make_template() -> dict[str, list[dict[str, Any]]]:
    from tests.integration.served import served

    with tempfile.TemporaryDirectory() as tmp, served(Path(tmp)) as service:
        env = {**os.environ, "ORCHESTRATOR_URL": service.url, "ORCHESTRATOR_API_TOKEN": service.token}

        def cli(*args: str) -> str:
            done = subprocess.run([str(REPO / ".venv/bin/orchestrator"), *args], env=env, check=True,
                                  capture_output=True, text=True, timeout=60)
            return done.stdout

        api = httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {service.token}"}, timeout=30)
        box = httpx.Client(base_url=service.sandbox_url, timeout=30)
        cli("rules", "add", "classes", "--glob", "class-*", "--s3", "classes/{room_name}-{time}.mp4")
        box.post("/sandbox/rooms", json={"name": "class-1"}).raise_for_status()
        box.post("/sandbox/rooms/class-1/participants", json={"identity": "teacher"}).raise_for_status()
        _until(lambda: any(e["status"] == "active" for e in api.get("/v1/egresses?room_name=class-1").json()["items"]))
        time.sleep(1)
        box.delete("/sandbox/rooms/class-1").raise_for_status()
        broadcast = api.post("/v1/broadcasts", json={
            "room_name": "demo", "layout": "active-speaker",
            "destinations": [{"type": "mux", "stream_key": "sandbox-stream-key"}],
            "start_at": "2030-01-01T18:00:00+01:00", "max_duration_s": 3600,
            "recurrence": {"cron": "0 18 * * 2", "timezone": "Europe/Berlin", "count": 10}})
        broadcast.raise_for_status()
        bid = broadcast.json()["id"]
        cli("broadcast", "start", bid)
        _until(lambda: any(r["status"] == "live" for r in api.get(f"/v1/broadcasts/{bid}").json()["runs"]))
        cli("broadcast", "stop", bid)
        _until(lambda: all(e["status"] in ("complete", "failed", "aborted", "limit_reached")
                           for e in api.get("/v1/egresses").json()["items"]))
        _until(lambda: any(r["status"] == "ready" for r in api.get("/v1/recordings").json()["items"]))
        engine = create_engine(f"sqlite:///{Path(tmp) / 'data' / 'orchestrator.db'}")
        with engine.connect() as conn:
            return {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in TEMPLATE_TABLES}


def _until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("the template service did not get there in time")
        time.sleep(0.2)


# ---- clones --------------------------------------------------------------------------------------------------

def _pick(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return rows[0]


def _room(i: int, count: int) -> str:
    return f"room-{i % max(count // ROOM_ROWS, 1):05d}"


def _at(i: int, count: int) -> datetime:
    """Row i of count, newest first, spread over a year."""
    return NOW - timedelta(seconds=i * (365 * 86400 // count) + 60)


def clone_tables(t: dict[str, list[dict[str, Any]]], s: Scale) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    """(table, rows) in an order that respects the foreign keys; each list is one batch."""
    egress = _pick(t["egresses"], status="complete")
    yield ut.record_rules, [{**t["record_rules"][0], "id": f"rl_{i:08d}", "name": f"rule-{i:05d}",
                            "priority": i % 10} for i in range(s.rules)]
    yield from _egresses(t, egress, s)
    yield from _broadcasts(t, s)
    yield from _recordings(t, s)
    yield from _sessions(t, s)


def _egresses(t: dict[str, list[dict[str, Any]]], egress: dict[str, Any], s: Scale
              ) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    event = t["egress_events"][-1]
    for start in range(0, s.egresses, 20_000):
        batch, events = [], []
        for i in range(start, min(start + 20_000, s.egresses)):
            at = _at(i, s.egresses)
            status = "failed" if i % 10 == 3 else "complete"
            batch.append({**egress, "id": f"eg_{i:010d}", "egress_id": f"EG_{i:010d}",
                          "room_name": _room(i, s.egresses), "status": status, "created_at": at,
                          "updated_at": at + timedelta(minutes=30), "started_at": at,
                          "ended_at": at + timedelta(minutes=30)})
            events += [{**event, "seq": None, "egress_pk": f"eg_{i:010d}", "at": at + timedelta(seconds=k),
                        "status_after": status} for k in range(s.egress_events_per_egress)]
        yield et.egresses, batch
        yield et.egress_events, events


def _broadcasts(t: dict[str, list[dict[str, Any]]], s: Scale) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    broadcast, b_event = t["broadcasts"][0], t["broadcast_events"][0]
    run, r_event = _pick(t["broadcast_runs"], status="ended"), t["broadcast_run_events"][-1]
    link = t["broadcast_run_egresses"][0]
    rows, events, runs, run_events, links = [], [], [], [], []
    for i in range(s.broadcasts):
        at, bid = _at(i, s.broadcasts), f"bc_{i:010d}"
        rows.append({**broadcast, "id": bid, "room_name": _room(i, s.broadcasts), "created_at": at,
                     "updated_at": at, "title": f"Broadcast {i}", "start_at": at,
                     "state": "finished" if i % 4 else "active"})
        events.append({**b_event, "seq": None, "broadcast_id": bid, "at": at})
        for n in range(s.runs_per_broadcast):
            rid, last = f"rn_{i:010d}_{n:02d}", n == s.runs_per_broadcast - 1 and i % 4 == 0
            start = FUTURE + timedelta(days=i) if last else at + timedelta(days=7 * n)
            runs.append({**run, "id": rid, "broadcast_id": bid, "seq": n, "planned_start": start,
                         "planned_end": start + timedelta(hours=1), "status": "scheduled" if last else "ended",
                         "actual_start": None if last else start, "actual_end": None if last else
                         start + timedelta(hours=1), "egress_pk": None if last else f"eg_{i % s.egresses:010d}",
                         "created_at": at, "updated_at": start})
            run_events += [{**r_event, "seq": None, "run_id": rid, "at": start + timedelta(seconds=k)}
                           for k in range(s.run_events_per_run)]
            if not last:
                links.append({**link, "run_id": rid, "egress_pk": f"eg_{(i * 7 + n) % s.egresses:010d}"})
        if len(run_events) >= 100_000 or i == s.broadcasts - 1:
            yield bt.broadcasts, rows
            yield bt.broadcast_events, events
            yield bt.broadcast_runs, runs
            yield bt.broadcast_run_events, run_events
            yield bt.broadcast_run_egresses, links
            rows, events, runs, run_events, links = [], [], [], [], []


def _recordings(t: dict[str, list[dict[str, Any]]], s: Scale) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    recording, event = _pick(t["recordings"], status="ready"), t["recording_events"][-1]
    rows, events = [], []
    for i in range(s.recordings):
        at = _at(i, s.recordings)
        rows.append({**recording, "id": f"rc_{i:010d}", "egress_pk": f"eg_{i % s.egresses:010d}",
                     "egress_id": f"EG_{i % s.egresses:010d}", "part": i // s.egresses,
                     "key": f"classes/{_room(i, s.recordings)}-{i}.mp4", "room_name": _room(i, s.recordings),
                     "created_at": at, "updated_at": at, "recorded_at": at, "started_at": at, "ended_at": at,
                     "verified_at": at, "next_check_at": None, "status": "missing" if i % 20 == 7 else "ready"})
        events.append({**event, "seq": None, "recording_id": f"rc_{i:010d}", "at": at})
    yield rt.recordings, rows
    yield rt.recording_events, events


def _sessions(t: dict[str, list[dict[str, Any]]], s: Scale) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    session = _pick(t["room_sessions"], room_name="class-1")
    claim, event = t["recording_claims"][0], t["recording_claim_events"][-1]
    sessions, claims, events = [], [], []
    for i in range(s.recordings):
        at, sid = _at(i, s.recordings), f"RM_{i:010d}"
        key = f"{sid}/{claim['rule_id']}/composite/1"
        sessions.append({**session, "room_sid": sid, "room_name": _room(i, s.recordings), "started_at": at,
                         "ended_at": at + timedelta(hours=1)})
        claims.append({**claim, "key": key, "room_sid": sid, "room_name": _room(i, s.recordings),
                       "egress_pk": f"eg_{i % s.egresses:010d}", "created_at": at, "updated_at": at})
        events.append({**event, "seq": None, "claim_key": key, "at": at})
    yield ut.room_sessions, sessions
    yield ut.recording_claims, claims
    yield ut.recording_claim_events, events


# ---- databases ---------------------------------------------------------------------------------------------

def sqlite_database(scale: Scale) -> str:
    """A seeded SQLite database's URL: made once per schema; an older schema's is upgraded by the migrations
    (as a deployment's would be: new columns read NULL on the old rows) rather than seeded again."""
    path = CACHE / f"{scale.name}-{schema_key()}.db"
    if not path.exists():
        work = path.with_suffix(".partial")
        for stale in (work, work.with_name(work.name + "-wal"), work.with_name(work.name + "-shm")):
            stale.unlink(missing_ok=True)
        older = [old for old in CACHE.glob(f"{scale.name}-*.db") if old.stat().st_size > 0]
        if older:
            older[0].rename(work)
        migrate_engine = build_engine(f"sqlite:///{work}")
        migrate(migrate_engine)
        migrate_engine.dispose()
        engine = create_engine(f"sqlite:///{work}")  # a throw-away file until renamed: no fsync while seeding
        event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA synchronous = OFF"))
        if not older:
            _seed(engine, scale)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        engine.dispose()
        for old in CACHE.glob(f"{scale.name}-*.db"):  # an older schema's
            old.unlink()
        work.rename(path)
    return f"sqlite:///{path}"


def postgres_database(scale: Scale, server: str = "postgresql://postgres@127.0.0.1:5432") -> str:
    name = f"bench_lists_{scale.name}_{schema_key()}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        done = conn.execute(text("SELECT datname FROM pg_database WHERE datname = :n"), {"n": name}).first()
        older = None
        if done is None:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_partial"'))
            older = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p AND datname NOT LIKE "
                                      "'%_partial'"), {"p": f"bench_lists_{scale.name}_%"}).scalar()
            if older:  # an older schema's: upgraded by the migrations, not seeded again
                conn.execute(text(f'ALTER DATABASE "{older}" RENAME TO "{name}_partial"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{name}_partial"'))
    admin.dispose()
    if done is None:
        engine = build_engine(f"{server}/{name}_partial")
        migrate(engine)
        if not older:
            _seed(engine, scale)
        engine.dispose()
        admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}_partial" RENAME TO "{name}"'))
        admin.dispose()
    # Statistics, every time (cheap): a database seeded before this was fixed has none, and this server runs no
    # autovacuum. ANALYZE outside a transaction: inside one that is never committed its statistics are lost.
    analyzer = create_engine(f"{server}/{name}", isolation_level="AUTOCOMMIT")
    with analyzer.connect() as conn:
        conn.execute(text("ANALYZE"))
    analyzer.dispose()
    return f"{server}/{name}"


def _seed(engine: Engine, scale: Scale) -> None:
    started = time.monotonic()
    templates = template_rows()
    rows = 0
    for table, batch in clone_tables(templates, scale):
        if not batch:
            continue
        if "seq" in table.c and batch[0].get("seq", 0) is None:
            batch = [{k: v for k, v in row.items() if k != "seq"} for row in batch]
        columns = list(batch[0])
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                BulkInsert(table, engine.dialect, columns).insert(conn, batch)
            else:
                _copy(conn, table, columns, batch)
        rows += len(batch)
    print(f"seeded {scale.name} on {engine.dialect.name}: {rows:,} rows in {time.monotonic() - started:.0f} s",
          flush=True)


def _copy(conn: Connection, table: Table, columns: list[str], batch: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY (executemany took 14 minutes for the large set)."""
    json_columns = {c.name for c in table.c if isinstance(c.type, JSON)}
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in batch:
            copy.write_row(tuple(json.dumps(row[c]) if c in json_columns and row[c] is not None else row[c]
                                 for c in columns))


def copy_sqlite(url: str, to: Path) -> str:
    """A private copy of a cached SQLite database (the service may write to it: users, sign-ins)."""
    shutil.copyfile(url.removeprefix("sqlite:///"), to)
    return f"sqlite:///{to}"
