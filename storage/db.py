"""Opening the one SQLite file every process shares, and the transaction discipline around it.

* WAL, foreign keys on, a busy timeout: the console, the engine and the API server use one file at once.
* Every read-then-write transaction starts with ``BEGIN IMMEDIATE`` (see :meth:`Database.write`): a plain
  ``BEGIN`` lets two writers deadlock into "database is locked", because SQLite refuses a lock upgrade
  without waiting for the busy timeout. Nested ``write()`` blocks become savepoints.
* Migrations are applied on open; a database written by a newer version of oncall is refused, untouched.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from engine.errors import DomainError

BUSY_TIMEOUT_MS = 15_000


class DatabaseError(DomainError):
    """The file cannot be used: not a database, written by a newer version, unreadable."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__("database_error", message)


def _data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("oncall", appauthor=False))


def default_db_path() -> Path:
    """``--db`` wins, then ``ONCALL_DB``, then the user data directory (platformdirs)."""
    env = os.environ.get("ONCALL_DB")
    if env:
        return Path(env).expanduser()
    return _data_dir() / "oncall.db"


def demo_db_path() -> Path:
    """``demo.db`` in the user data directory (``oncall demo`` without ``--db``)."""
    return _data_dir() / "demo.db"


class Database:
    """One connection to the database file, with the transaction helpers every service uses.

    A ``Database`` may be used from several threads (the console runs the engine in a worker thread);
    an internal re-entrant lock serialises them, so one transaction never interleaves with another on the
    same connection.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", migrate: bool = True) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            p = Path(self.path)
            if p.exists() and p.is_dir():
                raise DatabaseError(f"{self.path} is a directory, not a database file")
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal" and self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path} is not an oncall database ({exc})") from None
        self.conn = conn
        self.utils = sqlite_utils.Database(conn)
        self.lock = threading.RLock()
        if migrate:
            from storage.migrations import migrate as apply_migrations

            try:
                apply_migrations(self)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise DatabaseError(f"{self.path} is not an oncall database ({exc})") from None
            except DatabaseError:
                conn.close()
                raise

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction: ``BEGIN IMMEDIATE`` at the outermost level, a savepoint inside one."""
        with self.lock:
            if self.conn.in_transaction:
                with self.utils.atomic():
                    yield self
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Database]:
        """A consistent snapshot for several reads (a deferred transaction that never writes)."""
        with self.lock:
            if self.conn.in_transaction:
                yield self
                return
            self.conn.execute("BEGIN")
            try:
                yield self
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    # -- queries ------------------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, params)

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    def insert(self, table: str, values: dict[str, Any]) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(values.values()))

    def update(self, table: str, key: str, key_value: Any, values: dict[str, Any]) -> int:
        if not values:
            return 0
        sets = ", ".join(f"{c} = ?" for c in values)
        cur = self.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*values.values(), key_value))
        return cur.rowcount

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "did anything change?" poll."""
        return int(self.scalar("PRAGMA data_version"))

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def open_db(path: str | Path | None = None, **kwargs: Any) -> Database:
    return Database(path if path is not None else default_db_path(), **kwargs)
