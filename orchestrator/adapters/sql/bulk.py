"""Many-row INSERTs on SQLite through the driver's executemany, with each column's bind processing looked up once.

SQLAlchemy prepares every row of an executemany on its own (`construct_params`, then each value through its
type's bind processor, found per row): for the hundred rooms of a burst that was about half of the one
transaction that must commit before their start calls leave. Here the INSERT is compiled once by SQLAlchemy
for the engine's dialect and each row becomes a tuple in one pass, through the very processors SQLAlchemy
would have used (so the stored text is the same: `tests/integration/test_bulk_insert.py`).

SQLite only: every transaction there is BEGIN IMMEDIATE, so the one writer holding the database knows which
keys are new from one read and needs no RETURNING (which the driver's executemany cannot give back). On
PostgreSQL, where replicas insert concurrently, INSERT .. ON CONFLICT DO NOTHING RETURNING stays right.
The repositories use `Rows` and `NewRows`, which pick the path for the engine's dialect.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Insert, Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite


class BulkInsert:
    """`insert(conn, rows)` for rows given as dicts keyed by column name (the columns named at construction)."""

    def __init__(self, table: Table, dialect: Dialect, columns: Sequence[str] | None = None) -> None:
        names = list(columns or [c.name for c in table.columns])
        compiled = insert(table).compile(dialect=dialect, column_keys=names)
        if not compiled.positional or compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: BulkInsert needs a driver with positional parameters (SQLite)")
        self._sql = str(compiled)
        order = list(compiled.positiontup)
        processors: list[Callable[[Any], Any] | None] = [  # what execute() would use for each column
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order]
        self._values = operator.itemgetter(*order)
        self._processed = [(i, p) for i, p in enumerate(processors) if p is not None]

    def rows(self, rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        values, processed = self._values, self._processed
        out = []
        for row in rows:
            params = list(values(row))
            for i, process in processed:
                params[i] = process(params[i])
            out.append(tuple(params))
        return out

    def insert(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            conn.exec_driver_sql(self._sql, self.rows(rows))


class BulkInsertNew(BulkInsert):
    """INSERT of the rows whose `key` is not in the table yet (nor earlier in the same call); returns their keys.

    The same outcome as INSERT .. ON CONFLICT (key) DO NOTHING RETURNING key, for a connection that holds
    SQLite's write lock (BEGIN IMMEDIATE): nobody can insert between the read and the write.
    """

    def __init__(self, table: Table, dialect: Dialect, key: str, columns: Sequence[str] | None = None) -> None:
        super().__init__(table, dialect, columns)
        self._key = key
        column = table.c[key]
        self._existing = select(column).where(column.in_(bindparam("keys", expanding=True)))

    def insert_new(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        if not rows:
            return set()
        key = self._key
        taken = {k for (k,) in conn.execute(self._existing, {"keys": list({row[key] for row in rows})})}
        fresh: list[Mapping[str, Any]] = []
        for row in rows:
            if row[key] not in taken:
                taken.add(row[key])
                fresh.append(row)
        self.insert(conn, fresh)
        return {row[key] for row in fresh}


class Rows:
    """Many-row INSERT for the engine's dialect: the bulk path on SQLite, SQLAlchemy's executemany elsewhere."""

    def __init__(self, table: Table, dialect: Dialect, columns: Sequence[str] | None = None) -> None:
        self._bulk = BulkInsert(table, dialect, columns) if dialect.name == "sqlite" else None
        self._insert = insert(table)

    def insert(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if self._bulk is not None:
            self._bulk.insert(conn, rows)
        elif rows:
            conn.execute(self._insert, rows)


class NewRows:
    """INSERT .. ON CONFLICT (key) DO NOTHING for many rows, giving back the keys inserted: the bulk path on
    SQLite, RETURNING elsewhere. `returning` is that statement, for a single row on any dialect."""

    def __init__(self, table: Table, dialect: Dialect, key: str) -> None:
        dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        self.returning: Insert = dialect_insert(table).on_conflict_do_nothing(index_elements=[key]).returning(
            table.c[key])
        self._bulk = BulkInsertNew(table, dialect, key) if dialect.name == "sqlite" else None

    def insert_new(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
        if self._bulk is not None:
            return self._bulk.insert_new(conn, rows)
        return {key for (key,) in conn.execute(self.returning, rows)} if rows else set()
