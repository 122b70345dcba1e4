"""The PostgreSQL backend: a :class:`PgDatabase` with the same methods as :class:`storage.db.Database`.

``--db postgresql://…`` (or ``ONCALL_DB`` set to such a URL) opens one of these instead of a SQLite file
(:func:`storage.db.open_db`). Every statement of ``storage/`` runs unchanged: :mod:`storage.dialect`
rewrites it for PostgreSQL once. The transaction discipline is SQLite's, kept on purpose:

* Every write transaction (:meth:`PgDatabase.write`) begins by taking one transaction-scoped advisory
  lock (:data:`WRITE_LOCK`), PostgreSQL's counterpart of ``BEGIN IMMEDIATE``: writers queue behind each
  other, so every read-then-write use case (the next incident number, the lease check before an engine
  step, the clock's latest instant) keeps the guarantees it has on SQLite, across processes and hosts.
  Readers never wait (MVCC), as with SQLite's WAL. Nested ``write()`` blocks are savepoints.
* The instant of a write is taken after that lock is held (``storage.db_clock.write_at``), so commit
  order is timestamp order across every process sharing the database; SQL ``now()`` is never used.
* Each committing write transaction that changed a row bumps the one row of ``_oncall_changes`` and sends
  ``NOTIFY oncall_changes`` (delivered at commit): :meth:`PgDatabase.data_version` reads the counter (the
  console's and ``--watch``'s change poll, as ``PRAGMA data_version`` on SQLite) and
  :mod:`storage.pg_listen` wakes engines on the notification.
* Errors come back as ``sqlite3`` exception types (``IntegrityError`` for a constraint or a trigger's refusal, ``OperationalError``
  for a lost connection or a lock timeout, ``DatabaseError`` otherwise), so the callers above storage catch
  one set of errors whatever the backend. A broken connection is replaced before the next statement.
* Rows are :class:`PgRow`: by column name or position, ``keys()``, like ``sqlite3.Row``.

Integers are ``BIGINT``, ``REAL`` is ``DOUBLE PRECISION``, booleans are bound as 0/1 (the schema's flags
are integers, as on SQLite), and the database should use the ``C`` collation (ISO timestamps and ids
compare byte by byte as on SQLite): ``createdb --locale=C -T template0``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper, Loader

from engine.errors import DomainError
from storage.db_url import display_url
from storage.dialect import to_postgres
from storage.errors import DatabaseError
from storage.statements import StatementHelpers

WRITE_LOCK = 0x6F6E63616C6C  # "oncall": the advisory lock every write transaction takes first
CHANNEL = "oncall_changes"
LOCK_TIMEOUT_MS = 15_000  # the same patience as SQLite's busy timeout


class PgRow:
    """One result row: ``row["column"]``, ``row[0]``, ``row.keys()``, iteration over the values."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: tuple[Any, ...]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    desc = cursor.description
    if desc is None:
        return None
    index = {d.name: i for i, d in enumerate(desc)}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(index, tuple(values))

    return make


class _BoolAsInt(Dumper):
    """Booleans are stored as integers 0/1, as on SQLite (the schema's flags are INTEGER columns)."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericAsNumber(Loader):
    """``sum()`` of BIGINTs is NUMERIC in PostgreSQL: an ``int`` when whole, else a ``float``."""

    def load(self, data: Any) -> Any:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


def _mapped(exc: psycopg.Error) -> sqlite3.Error:
    """The ``sqlite3`` exception type callers already catch for this PostgreSQL error."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.IntegrityError | psycopg.errors.RaiseException):
        return sqlite3.IntegrityError(message)
    if isinstance(exc, psycopg.OperationalError | psycopg.errors.LockNotAvailable):
        return sqlite3.OperationalError(message)
    return sqlite3.DatabaseError(message)


_WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP")


def _writes(sql: str) -> bool:
    """Whether ``sql`` may change rows or the schema (an ``INSERT … RETURNING`` returns rows and writes)."""
    return sql.lstrip()[:6].upper().startswith(_WRITES)


class _Cursor:
    """What ``execute`` returns: ``fetchone``/``fetchall``, ``rowcount`` and iteration, as sqlite3's."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur
        self.rowcount = cur.rowcount
        self._rows: list[Any] | None = cur.fetchall() if cur.description is not None else []

    def fetchone(self) -> Any:
        if not self._rows:
            return None
        return self._rows.pop(0)

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows or [], []
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def lastrowid(self) -> None:
        return None


class PgDatabase(StatementHelpers):
    """One connection to a PostgreSQL database, with :class:`storage.db.Database`'s methods.

    ``url`` is a libpq URL (``postgresql://user:pass@host:5432/db``). ``create`` is accepted for the same
    signature: the database itself is created by PostgreSQL's tools; its schema by the migrations, on
    open. Thread-safe as the SQLite class: an internal re-entrant lock serialises users of the connection.
    """

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        synchronous: str = "NORMAL",
        migrate: bool = True,
        create: bool = True,
        identity: object | None = None,
    ) -> None:
        self.url = url
        self.path = display_url(url)
        self.file = None
        self.lock = threading.RLock()
        self._depth = 0
        self._savepoints = 0
        self._dirty = False  # the open write transaction changed a row (so its commit is announced)
        self.conn = self._connect()
        if migrate:
            from storage.migrations import migrate as apply_migrations

            try:
                apply_migrations(self)
            except (sqlite3.Error, DomainError):
                self.close()
                raise

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                cursor_factory=psycopg.ClientCursor,
            )
            conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}".encode())
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot connect to {self.path}: {' '.join(str(exc).split())}", "database_missing"
            ) from None
        conn.row_factory = _row_factory
        conn.adapters.register_dumper(bool, _BoolAsInt)
        conn.adapters.register_loader("numeric", _NumericAsNumber)
        return conn

    def _ensure_connected(self) -> None:
        if self.conn.closed or self.conn.pgconn.status != pq.ConnStatus.OK:
            try:
                self.conn.close()
            except psycopg.Error:
                pass
            self.conn = self._connect()

    # -- the surface storage.db.Database offers ------------------------------------------------------

    def check_file(self) -> None:
        """Nothing to check: the file-identity discipline is SQLite's (a server has no file to replace)."""

    @property
    def gone(self) -> bool:
        return False

    def follow_permissions(self) -> None:
        """A file's permissions (SQLite's read-only at open) have no meaning here: nothing to follow."""

    def set_pragma(self, name: str, value: int | str) -> None:
        """SQLite connection pragmas (``cache_size``…) have no meaning here: ignored."""

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def write(self) -> Iterator[PgDatabase]:
        """A write transaction: ``BEGIN`` and the :data:`WRITE_LOCK` at the outermost level (writers
        queue, as ``BEGIN IMMEDIATE``), a savepoint inside one. Rolled back whatever fails; a committed
        one bumps the change counter and notifies :data:`CHANNEL`."""
        with self.lock:
            if self._depth > 0:
                self._savepoints += 1
                name = f"sp{self._savepoints}"
                self._run(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield self
                except BaseException:
                    self._depth -= 1
                    self._run(f"ROLLBACK TO SAVEPOINT {name}")
                    self._run(f"RELEASE SAVEPOINT {name}")
                    raise
                self._depth -= 1
                self._run(f"RELEASE SAVEPOINT {name}")
                return
            self._ensure_connected()
            self._run(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
            self._depth = 1
            self._dirty = False
            try:
                yield self
                if self._dirty:
                    self._run(f"UPDATE _oncall_changes SET n = n + 1 WHERE id = 1; NOTIFY {CHANNEL}; COMMIT")
                else:
                    self._run("COMMIT")
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0
                self._savepoints = 0
                self._dirty = False

    def _rollback(self) -> None:
        try:
            if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK")
        except psycopg.Error:
            try:
                self.conn.close()
            except psycopg.Error:
                pass

    @contextmanager
    def read(self) -> Iterator[PgDatabase]:
        """A consistent snapshot for several reads (``REPEATABLE READ``, read only)."""
        with self.lock:
            if self._depth > 0:
                yield self
                return
            self._ensure_connected()
            self._run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._depth = 1
            try:
                yield self
            finally:
                self._depth = 0
                self._rollback()

    def _run(self, sql: str) -> None:
        """A statement of our own (no parameters, no translation)."""
        try:
            self.conn.execute(sql.encode())
        except psycopg.Error as exc:
            raise _mapped(exc) from exc

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> _Cursor:
        bound = bool(params)
        text = to_postgres(sql, bound)
        with self.lock:
            if self._depth == 0:
                self._ensure_connected()
            try:
                cur = self.conn.execute(text.encode(), (params if bound else None))  # type: ignore[arg-type]
                if cur.rowcount != 0 and _writes(text):  # DDL: -1
                    self._dirty = True
                return _Cursor(cur)
            except psycopg.Error as exc:
                raise _mapped(exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]] | Sequence[dict[str, Any]]) -> int:
        """Run ``sql`` once per parameter row (one round trip per batch, pipelined); returns rows changed."""
        if not rows:
            return 0
        text = to_postgres(sql, True)
        with self.lock:
            if self._depth == 0:
                self._ensure_connected()
            try:
                with self.conn.cursor() as cur:
                    cur.executemany(text.encode(), rows)  # type: ignore[arg-type]
                    self._dirty = True
                    return cur.rowcount
            except psycopg.Error as exc:
                raise _mapped(exc) from exc

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        return self.execute(sql, params).fetchall()

    def data_version(self) -> int:
        """The change counter: bumped by every committed write transaction of any process."""
        with self.lock:
            return int(self.scalar("SELECT n FROM _oncall_changes WHERE id = 1") or 0)

    def table_names(self) -> list[str]:
        """The tables of the connection's current schema."""
        rows = self.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'"
        )
        return [r[0] for r in rows]

    def close(self) -> None:
        with self.lock:
            try:
                self.conn.close()
            except psycopg.Error:
                pass
