"""UtcDateTime's one-step SQLite bind writes exactly the text SQLAlchemy's own path writes (existing
databases hold that text, and SQL compares it as text), and reads back the same instant."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite.base import DATETIME

from orchestrator.adapters.sql.tables import UtcDateTime


def _instants() -> list[datetime]:
    rnd = random.Random(7)
    fixed = [datetime(2026, 11, 21, 5, 53, 9, 0, UTC), datetime(999, 1, 2, 3, 4, 5, 6, UTC),
             datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
             datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)]
    spread = [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=rnd.randrange(0, 2**62 // 1000))
              for _ in range(500)]
    zoned = [d.astimezone(timezone(timedelta(minutes=rnd.randrange(-720, 720)))) for d in spread[:100]]
    return fixed + spread + zoned


def test_the_sqlite_text_is_sqlalchemys_own() -> None:
    dialect = sqlite.dialect()
    fast = UtcDateTime().bind_processor(dialect)
    generic = DATETIME().bind_processor(dialect)
    assert fast is not None and generic is not None
    for instant in _instants():
        assert fast(instant) == generic(instant.astimezone(UTC).replace(tzinfo=None)), instant
    assert fast(None) is None
    again = _instants()[:50]  # the same instants again, as a batch writes them: the same text
    for instant in again:
        assert fast(instant) == fast(instant) == generic(instant.astimezone(UTC).replace(tzinfo=None))
    for instant in [i for i in again if 1000 < i.year < 9999]:  # in another zone, and a naive twin, after them
        zoned = instant.astimezone(timezone(timedelta(hours=5, minutes=45)))
        assert fast(zoned) == fast(instant)
        with pytest.raises(ValueError, match="naive"):
            fast(instant.astimezone(UTC).replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 1, 1))


def test_other_databases_keep_the_generic_path() -> None:
    process = UtcDateTime().bind_processor(postgresql.dialect())
    instant = datetime(2026, 11, 21, 5, 53, 9, tzinfo=timezone(timedelta(hours=2)))
    assert process is not None
    stored = process(instant)
    assert isinstance(stored, datetime) and stored.tzinfo is UTC and stored == instant  # psycopg's timestamptz


def test_round_trip_and_ordering_on_sqlite() -> None:
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
    table.metadata.create_all(engine)
    instants = _instants()
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "at": at} for i, at in enumerate(instants)])
        back = [row.at for row in conn.execute(select(table).order_by(table.c.id))]
        ordered = [row.id for row in conn.execute(select(table.c.id).order_by(table.c.at, table.c.id))]
    assert back == instants and all(b.tzinfo is UTC for b in back)
    assert ordered == sorted(range(len(instants)), key=lambda i: (instants[i], i))
