"""SqlDatabase: the one unit of work: the engine, SQLite's one-writer lock, transactions, migrations, checkpoints."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sqlalchemy import Connection, Dialect, Engine

from .engine import WalCheckpointer, build_engine, migrate, start_checkpointer


class SqlDatabase:
    """One database (SQLite in WAL mode, or PostgreSQL) shared by every SQL repository of a process.

    `write()` is the only way to write: on SQLite it queues writers on a lock in this process, then BEGIN
    IMMEDIATE (the engine's `begin` hook) takes SQLite's write lock up front. `read()` is a plain connection.
    """

    def __init__(self, url: str | Engine) -> None:
        """From a URL (`postgresql://` means psycopg 3; a SQLite file's directory is created if missing), or
        from an engine `build_engine` made."""
        engine = self.engine = build_engine(url) if isinstance(url, str) else url
        # SQLite has one writer at a time; queueing writers here is far faster than letting them spin in
        # SQLite's busy handler. PostgreSQL needs no such lock: concurrent writers are its job.
        self._lock: contextlib.AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext())
        self._checkpointer: WalCheckpointer | None = None

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def write_lock(self) -> contextlib.AbstractContextManager[object]:
        """The one-writer lock alone (SQLite; a no-op on PostgreSQL): tests hold it to stall every writer."""
        return self._lock

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock, self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (every branch head)."""
        with self._lock:
            migrate(self.engine)

    def start_checkpointer(self) -> None:
        """File-backed SQLite: copy the write-ahead log back into the database from a background thread."""
        if self._checkpointer is None:
            self._checkpointer = start_checkpointer(self.engine)

    def stop_checkpointer(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

    def dispose(self) -> None:
        self.stop_checkpointer()
        self.engine.dispose()
