"""SQLite's bulk INSERT path stores exactly what SQLAlchemy's own INSERT stores, and inserts only new keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, column, insert, select, table

from orchestrator.adapters.sql.bulk import BulkInsert, BulkInsertNew
from orchestrator.adapters.sql.engine import build_engine, migrate
from orchestrator.adapters.sql.rule_tables import recording_claim_events, recording_claims, room_sessions
from orchestrator.adapters.sql.tables import egress_events, egresses, webhook_events

AT = datetime(2026, 11, 21, 7, 30, 1, 250_000, tzinfo=timezone(timedelta(hours=2)))


def _rows(table: Table, n: int, tag: str) -> list[dict[str, Any]]:
    """Rows with every column filled by a value of its kind (JSON, timestamps, NULLs, text, numbers)."""
    samples: dict[str, list[dict[str, Any]]] = {
        "webhook_events": [{"id": f"EV_{tag}{i}", "event": "room_started", "room_name": f"room é {i}",
                            "room_sid": f"RM_{i}", "egress_id": "", "participant_identity": "", "track_sid": "",
                            "created_at": None if i % 2 else AT, "received_at": AT + timedelta(microseconds=i),
                            "payload": {"room": {"sid": f"RM_{i}", "name": f"room é {i}"}, "n": [i, None, True]}}
                           for i in range(n)],
        "room_sessions": [{"room_sid": f"RM_{tag}{i}", "room_name": f"r{i}", "metadata": '{"recording": true}',
                           "source": "room_started", "started_at": AT, "ended_at": None,
                           "matches": [{"rule_id": "rul_1", "rule_name": "all", "reason": "every room"}]}
                          for i in range(n)],
        "recording_claims": [{"key": f"{tag}/{i}", "room_sid": f"RM_{i}", "room_name": f"r{i}", "rule_id": "rul_1",
                              "action": "composite", "subject": "", "part": 1, "state": "claimed",
                              "request": {"layout": "grid", "filepath": f"r{i}/x.mp4"}, "attempts": 0,
                              "egress_pk": f"egr_{tag}{i}", "error": "", "retry_at": AT + timedelta(minutes=3),
                              "created_at": AT, "updated_at": AT} for i in range(n)],
        "egresses": [{"id": f"egr_{tag}{i}", "egress_id": None, "kind": "room_composite", "room_name": f"r{i}",
                      "room_id": "", "status": "starting", "origin": "api", "error": "", "error_code": 0,
                      "details": "", "request": {"kind": "room_composite", "outputs": []},
                      "results": {"files": [], "streams": []}, "fingerprint": "ab" * 16, "created_at": AT,
                      "updated_at": AT, "started_at": None, "ended_at": None, "livekit_updated_ns": 2**62 + i,
                      "version": 0} for i in range(n)],
    }
    return samples[table.name]


def _raw(engine: Any, stored: Table, order: str) -> list[tuple[Any, ...]]:
    # Untyped columns: the values as SQLite holds them, with no type processing on the way out.
    query = select(*(column(c.name) for c in stored.columns)).select_from(table(stored.name)).order_by(column(order))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


@pytest.mark.parametrize("target", [webhook_events, room_sessions, recording_claims, egresses],
                         ids=lambda t: t.name)
def test_bulk_rows_are_stored_exactly_as_sqlalchemy_stores_them(tmp_path: Path, target: Table) -> None:
    ours, theirs = build_engine(f"sqlite:///{tmp_path / 'ours.db'}"), build_engine(f"sqlite:///{tmp_path / 'x.db'}")
    for engine in (ours, theirs):
        migrate(engine)
    rows = _rows(target, 30, "t")
    bulk = BulkInsert(target, ours.dialect)
    with ours.begin() as conn:
        bulk.insert(conn, rows)
    with theirs.begin() as conn:
        conn.execute(insert(target), rows)
    key = next(iter(target.primary_key.columns)).name
    assert _raw(ours, target, key) == _raw(theirs, target, key)
    assert len(_raw(ours, target, key)) == 30
    with ours.connect() as conn:  # and it reads back through the types as what was given
        back = [dict(r._mapping) for r in conn.execute(select(target).order_by(target.c[key]))]
    assert back == sorted(rows, key=lambda r: r[key])
    ours.dispose()
    theirs.dispose()


def test_history_rows_without_their_autoincrement_key(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'h.db'}")
    migrate(engine)
    columns = [c.name for c in egress_events.columns if c.name != "seq"]
    events = BulkInsert(egress_events, engine.dialect, columns=columns)
    with engine.begin() as conn:
        BulkInsert(egresses, engine.dialect).insert(conn, _rows(egresses, 2, "h"))
        events.insert(conn, [{"egress_pk": f"egr_h{i % 2}", "at": AT, "source": "api", "outcome": "created",
                              "status_before": None, "status_after": "starting", "event_id": "", "detail": f"d{i}",
                              "actor": "system"}
                             for i in range(5)])
    with engine.connect() as conn:
        stored = conn.execute(select(egress_events.c.seq, egress_events.c.detail, egress_events.c.at)
                              .order_by(egress_events.c.seq)).all()
    assert [(s.seq, s.detail) for s in stored] == [(i + 1, f"d{i}") for i in range(5)]
    assert all(s.at == AT.astimezone(UTC) for s in stored)
    engine.dispose()


def test_insert_new_skips_keys_already_stored_and_repeated_in_the_same_call(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'n.db'}")
    migrate(engine)
    bulk = BulkInsertNew(webhook_events, engine.dialect, key="id")
    first = _rows(webhook_events, 3, "a")
    with engine.begin() as conn:
        assert bulk.insert_new(conn, first) == {"EV_a0", "EV_a1", "EV_a2"}
    later = _rows(webhook_events, 5, "a")  # EV_a0..2 stored already; EV_a3 given twice, with another payload
    later.append({**later[3], "payload": {"second": True}})
    with engine.begin() as conn:
        assert bulk.insert_new(conn, later) == {"EV_a3", "EV_a4"}
        assert bulk.insert_new(conn, []) == set()
    with engine.connect() as conn:
        stored = dict(conn.execute(select(webhook_events.c.id, webhook_events.c.payload)).all())
    assert sorted(stored) == [f"EV_a{i}" for i in range(5)]
    assert stored["EV_a3"] == later[3]["payload"]  # the first occurrence wins, as with ON CONFLICT DO NOTHING
    engine.dispose()


def test_bulk_insert_refuses_a_driver_without_positional_parameters() -> None:
    from sqlalchemy.dialects import postgresql

    with pytest.raises(ValueError, match="positional"):
        BulkInsert(egresses, postgresql.psycopg.dialect())


def test_claim_history_rows_are_stored_exactly_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    ours, theirs = build_engine(f"sqlite:///{tmp_path / 'ours.db'}"), build_engine(f"sqlite:///{tmp_path / 'x.db'}")
    columns = [c.name for c in recording_claim_events.columns if c.name != "seq"]
    events = [{"claim_key": f"c/{i % 3}", "at": AT + timedelta(seconds=i), "state_before": None if i < 3 else "claimed",
               "state_after": "claimed" if i < 3 else "started", "detail": f"step é {i}",
               "egress_pk": None if i % 2 else f"egr_c{i}"} for i in range(7)]
    for engine in (ours, theirs):
        migrate(engine)
        with engine.begin() as conn:  # their claims first: the history rows refer to them
            BulkInsert(recording_claims, engine.dialect).insert(conn, _rows(recording_claims, 3, "c"))
    with ours.begin() as conn:
        BulkInsert(recording_claim_events, ours.dialect, columns=columns).insert(conn, events)
    with theirs.begin() as conn:
        conn.execute(insert(recording_claim_events), events)
    assert _raw(ours, recording_claim_events, "seq") == _raw(theirs, recording_claim_events, "seq")
    assert [r[0] for r in _raw(ours, recording_claim_events, "seq")] == list(range(1, 8))
    ours.dispose()
    theirs.dispose()
