"""Opening the one SQLite file every process shares, and the transaction discipline around it.

* WAL, foreign keys on, a busy timeout: the console, the engine and the API server use one file at once.
* Every read-then-write transaction starts with ``BEGIN IMMEDIATE`` (see :meth:`Database.write`): a plain
  ``BEGIN`` lets two writers deadlock into "database is locked", because SQLite refuses a lock upgrade
  without waiting for the busy timeout. Nested ``write()`` blocks become savepoints.
* Migrations are applied on open; a database written by a newer version of oncall is refused, untouched.
* The file under a running process (see docs/ENGINE.md, "The database file"):

  - A database we create is 0600 (SQLite gives its ``-wal`` and ``-shm`` the same mode) in directories we
    create 0700: it holds webhook secrets. Only ``create=True`` opens create anything; the others refuse a
    missing file with :class:`DatabaseMissing` and leave no folder or file behind.
  - The file's identity (device, inode) is remembered at open. :meth:`Database.check_file` (one ``stat``,
    a few µs) runs before every write transaction begins and before it commits, and on every process's
    timer; once the path is gone or names another file the :class:`FileIdentity` is *lost* for good and
    every write raises :class:`DatabaseGone` (503 ``database_gone``).
  - A failed write never leaves the connection in a transaction: the transaction is rolled back, and a
    connection that SQLite opened read-only (the file was read-only at that moment) is reopened before the
    next write, so writes recover by themselves once the file is writable again. "readonly database" is
    :class:`DatabaseReadOnly` (503), "database or disk is full" is :class:`DiskFull` (507); each logs one
    line per burst (at most one a minute per file and kind), never a traceback.
  - Every open holds a shared ``flock`` on ``<file>-lock``; :func:`exclusive_use` (``oncall demo --reset``)
    takes it exclusively, so it fails while any process has the file open. ``flock`` locks are separate
    from SQLite's POSIX locks, and the side file is never the database's own descriptor (closing a second
    descriptor of the database file would drop SQLite's locks).
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.clock import monotonic
from engine.errors import DomainError
from storage.db_url import is_url
from storage.errors import DatabaseError
from storage.migrations import migrate as apply_migrations
from storage.statements import StatementHelpers

if TYPE_CHECKING:
    import sqlite_utils


BUSY_TIMEOUT_MS = 15_000
FILE_MODE = 0o600
DIR_MODE = 0o700
LOCK_SUFFIX = "-lock"

# SQLite result codes (primary code = the low byte of the extended code).
_SQLITE_READONLY = 8
_SQLITE_FULL = 13
_SQLITE_READONLY_DBMOVED = 8 | (4 << 8)


class DatabaseMissing(DatabaseError):
    """A command that only uses a database was pointed at a path where there is none (CLI exit 1)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"no database at {path} (create one with `oncall init` or `oncall demo`)", "database_missing"
        )


class DatabaseInUse(DatabaseError):
    """:func:`exclusive_use` found another process with the database open."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is in use by another process (a console, `oncall serve` or `oncall engine`): "
            "close it first",
            "database_in_use",
        )


class DatabaseUnavailable(DomainError):
    """The file cannot take writes right now; nothing of the failed transaction was written (HTTP 503)."""

    status_code = 503


class DatabaseGone(DatabaseUnavailable):
    """The database file was deleted or replaced under this process; it will never write again."""

    def __init__(self, path: str) -> None:
        super().__init__(
            "database_gone",
            f"the database file {path} was deleted or replaced; this process has stopped writing "
            "(restart it to use the new file)",
        )


class DatabaseReadOnly(DatabaseUnavailable):
    """SQLite may not write the file (permissions, a read-only mount); writes resume once it may."""

    def __init__(self, path: str) -> None:
        super().__init__("database_read_only", f"the database file {path} is read-only; nothing was written")


class DiskFull(DatabaseUnavailable):
    """SQLITE_FULL: no space left for the file or its WAL (HTTP 507); nothing was written."""

    status_code = 507

    def __init__(self, path: str) -> None:
        super().__init__("disk_full", f"the disk holding {path} is full; nothing was written")


# When each (path, code) was last logged: a burst of failures (every request while a disk is full) is one
# line, repeated at most once a minute while it lasts.
LOG_REPEAT_S = 60.0
_logged_at: dict[tuple[str, str], float] = {}
_logged_lock = threading.Lock()


def _log_once(path: str, exc: DomainError) -> None:
    key = (path, exc.code)
    now = monotonic()
    with _logged_lock:
        last = _logged_at.get(key)
        if last is not None and now - last < LOG_REPEAT_S:
            return
        _logged_at[key] = now
    import logging  # only when there is something to log: not on every command's start-up

    logging.getLogger("oncall.db").error("%s: %s", exc.code, exc.message)


def _data_dir() -> Path:
    from storage.user_dirs import user_data_dir  # platformdirs' answer, without its imports

    return Path(user_data_dir("oncall"))


def default_db_path() -> Path | str:
    """``--db`` wins, then ``ONCALL_DB``, then the user data directory (XDG, as platformdirs answers). A
    PostgreSQL URL (``postgresql://…``) is returned as the string it is."""
    env = os.environ.get("ONCALL_DB")
    if env:
        return env if is_url(env) else Path(env).expanduser()
    return _data_dir() / "oncall.db"


def demo_db_path() -> Path:
    """``demo.db`` in the user data directory (``oncall demo`` without ``--db``)."""
    return _data_dir() / "demo.db"


def _create_file(path: Path) -> None:
    """Create the missing directories (0700) and an empty database file (0600) for SQLite to fill.

    Modes are passed to ``mkdir``/``open`` so the file is never readable by others, not even for a moment;
    the umask can only narrow them. SQLite creates ``-wal`` and ``-shm`` with the database file's mode.
    A dangling symbolic link is followed: the file is created where it points (as SQLite would open it).
    """
    path = Path(os.path.realpath(path))
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:  # another process created it first
        return
    os.close(fd)


def _writable(path: str) -> bool:
    """Whether this process may write ``path`` now (effective ids, as ``open`` would decide)."""
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)


def lock_path(path: str | Path) -> str:
    """The side file whose ``flock`` says who uses the database at ``path``: ``<real path>-lock``, symbolic
    links resolved, so a process that opened the file through a link and one that opened it directly
    (or :func:`exclusive_use` through either) share one lock, as SQLite shares its ``-wal`` and ``-shm``."""
    return os.path.realpath(path) + LOCK_SUFFIX


def _shared_lock(path: str) -> int | None:
    """A descriptor holding a shared ``flock`` on :func:`lock_path` for as long as the database is open.

    Blocks only while :func:`exclusive_use` holds the lock (a reset deleting the files, milliseconds).
    None when the side file can be neither created nor opened (a read-only directory): the database is
    then usable, only not protected against a reset.
    """
    side = lock_path(path)
    try:
        fd = os.open(side, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError:
        try:
            fd = os.open(side, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextmanager
def exclusive_use(path: str | Path) -> Iterator[None]:
    """Hold the database at ``path`` exclusively for the block: delete or replace its files safely.

    Raises :class:`DatabaseInUse` (at once, without waiting) while any process, this one included, has
    the database open through :class:`Database`; while the block runs, other opens wait for it to end.
    A symbolic link is resolved (:func:`lock_path`): the lock is the real file's.
    """
    try:
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except FileNotFoundError:  # no directory: nobody can have it open
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DatabaseInUse(str(path)) from None
            raise
        yield
    finally:
        os.close(fd)


class FileIdentity:
    """Which file the path named when the database was opened: ``(st_dev, st_ino)``.

    Shared by the connections of one process (the API's pool, the engine's two connections) so that
    once one of them sees the file gone, all of them stop. ``gone`` is sticky: a file that comes back
    at the same path is another file.
    """

    def __init__(self, path: str) -> None:
        st = os.stat(path)
        self.path = path
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.gone = False

    def same_as(self, other: FileIdentity) -> bool:
        return (self.dev, self.ino) == (other.dev, other.ino)

    def check(self) -> None:
        """One ``stat`` of the path (a few µs); raises :class:`DatabaseGone` once it is gone or replaced."""
        if not self.gone:
            try:
                st = os.stat(self.path)
            except (FileNotFoundError, NotADirectoryError):
                self.lose()
            else:
                if (st.st_dev, st.st_ino) != (self.dev, self.ino):
                    self.lose()
        if self.gone:
            raise DatabaseGone(self.path)

    def lose(self) -> None:
        """Mark the file gone (logged once per process and path)."""
        if not self.gone:
            self.gone = True
            _log_once(self.path, DatabaseGone(self.path))


class _WriteTurns:
    """First come, first served among this process's connections to one file, before ``BEGIN IMMEDIATE``.

    SQLite's busy handler polls (sleeps of 1 ms up to 100 ms): a connection that commits and at once begins
    again (the API's group-commit writer under a storm) wins nearly every time, and the engine's delivery
    waiting on another connection starved (pages arrived seconds late in bench/ingest.py). Here a writer
    takes a ticket and waits its turn on a condition, so in-process writers alternate in arrival order;
    other processes still meet in SQLite's lock. A thread already holding a turn (a second connection
    written inside a first one's transaction) does not wait for itself: SQLite decides, as before. A turn
    not granted within the busy timeout is given up and SQLite decides too (never a deadlock here).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next = 0
        self._serving = 0
        self._abandoned: set[int] = set()
        self._holder: int | None = None

    def enter(self) -> int | None:
        """Wait for this thread's turn; the ticket to pass to :meth:`leave`, or None (no turn taken)."""
        me = threading.get_ident()
        with self._cond:
            if self._holder == me:
                return None
            ticket = self._next
            self._next += 1
            if self._serving != ticket:
                granted = self._cond.wait_for(lambda: self._serving == ticket, BUSY_TIMEOUT_MS / 1000)
                if not granted:
                    self._abandoned.add(ticket)
                    return None
            self._holder = me
            return ticket

    def leave(self, ticket: int | None) -> None:
        if ticket is None:
            return
        with self._cond:
            self._holder = None
            self._serving = ticket + 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


_turns: dict[str, _WriteTurns] = {}
_turns_lock = threading.Lock()


def _write_turns(path: str) -> _WriteTurns:
    with _turns_lock:
        turns = _turns.get(path)
        if turns is None:
            turns = _turns[path] = _WriteTurns()
        return turns


class Database(StatementHelpers):
    """One connection to the database file, with the transaction helpers every service uses.

    A ``Database`` may be used from several threads (the console runs the engine in a worker thread);
    an internal re-entrant lock serialises them, so one transaction never interleaves with another on the
    same connection.

    ``create=False`` refuses a path where no file exists (:class:`DatabaseMissing`) instead of creating
    one; ``identity`` makes this connection part of another one's :class:`FileIdentity` (a pool).
    """

    dialect = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        migrate: bool = True,
        create: bool = True,
        identity: FileIdentity | None = None,
    ) -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self.file: FileIdentity | None = None
        self._pragmas: dict[str, str] = {}
        self._lock_fd: int | None = None
        self._reopen = False  # reconnect before the next write (SQLite opened the file read-only)
        self.lock = threading.RLock()
        on_disk = self.path not in (":memory:", "")
        # In-process writers to this file take turns (see _WriteTurns); ":memory:" is one connection's own.
        self._turns = _write_turns(os.path.realpath(self.path)) if on_disk else None
        if on_disk:
            p = Path(self.path)
            if p.is_dir():
                raise DatabaseError(f"{self.path} is a directory, not a database file")
            if not p.exists():
                if not create:
                    raise DatabaseMissing(self.path)
                _create_file(p)
            self._lock_fd = _shared_lock(self.path)
        try:
            self.conn = self._connect()
        except sqlite3.DatabaseError as exc:
            self._release_lock()
            raise DatabaseError(f"{self.path} is not an oncall database ({exc})") from None
        if on_disk:
            try:
                here = FileIdentity(self.path)
            except OSError:
                self.close()
                raise DatabaseMissing(self.path) from None
            if identity is not None and not here.same_as(identity):
                identity.lose()
            self.file = identity or here
            self._reopen = not _writable(self.path)
        self._utils: sqlite_utils.Database | None = None
        self._savepoints = 0
        if migrate:
            try:
                apply_migrations(self)
            except sqlite3.DatabaseError as exc:
                self.close()
                raise DatabaseError(f"{self.path} is not an oncall database ({exc})") from None
            except DomainError:
                self.close()
                raise

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal" and self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            for name, value in self._pragmas.items():
                conn.execute(f"PRAGMA {name}={value}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _reconnect(self) -> None:
        """A fresh connection to the same file, with the same pragmas (under ``self.lock``)."""
        self.check_file()
        old = self.conn
        self.conn = self._connect()
        if self._utils is not None:
            self._utils.conn = self.conn  # the same wrapper: callers may hold it across a write()
        try:
            old.close()
        except sqlite3.Error:
            pass
        self._reopen = not _writable(self.path)

    @property
    def utils(self) -> sqlite_utils.Database:
        """sqlite-utils' wrapper of the connection, for migrations (sqlite-utils imported on first use: an
        up-to-date database never needs it)."""
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn)
        return self._utils

    def set_pragma(self, name: str, value: int | str) -> None:
        """Set a connection pragma that survives a reconnect (e.g. ``cache_size``)."""
        with self.lock:
            self.conn.execute(f"PRAGMA {name}={value}")
            self._pragmas[name] = str(value)

    def check_file(self) -> None:
        """Raise :class:`DatabaseGone` if the file was deleted or replaced since it was opened (one
        ``stat``). A no-op for ``:memory:``."""
        if self.file is not None:
            self.file.check()

    def follow_permissions(self) -> None:
        """Reconnect before the next write if this process may no longer write the file: a long-lived
        writer connection (the API's group commit) would otherwise go on writing a file made read-only,
        since SQLite decides read-only at open. One ``access`` call."""
        with self.lock:
            if not self.conn.in_transaction and not _writable(self.path):
                self._reopen = True

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection (a group commit checks that a request's
        failure did not end the batch's transaction: SQLite rolls back on some errors by itself)."""
        return self.conn.in_transaction

    @property
    def gone(self) -> bool:
        """True once the file is known to be deleted or replaced (without a new ``stat``)."""
        return self.file is not None and self.file.gone

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction: ``BEGIN IMMEDIATE`` at the outermost level, a savepoint inside one.

        Raises :class:`DatabaseGone` (before it begins or instead of committing), :class:`DatabaseReadOnly`
        or :class:`DiskFull`; whatever fails, the transaction is rolled back and the connection is left
        ready for the next write. Other ``sqlite3`` errors (busy after the timeout) pass through.
        """
        with self.lock:
            if self.conn.in_transaction:
                try:
                    with self._savepoint():
                        yield self
                except sqlite3.Error as exc:
                    # A savepoint (a request of a group commit): the same domain errors as a transaction.
                    mapped = self._unavailable(exc)
                    if mapped is not None:
                        raise mapped from exc
                    raise
                return
            self.check_file()
            turn = self._turns.enter() if self._turns is not None else None
            try:
                try:
                    if self._reopen:
                        self._reconnect()
                    self.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    self._rollback()
                    unavailable = self._unavailable(exc)
                    if unavailable is not None:
                        raise unavailable from exc
                    raise
                try:
                    yield self
                    self.check_file()
                    self.conn.execute("COMMIT")
                except BaseException as exc:
                    self._rollback()
                    if isinstance(exc, sqlite3.Error):
                        mapped = self._unavailable(exc)
                        if mapped is not None:
                            raise mapped from exc
                    raise
            finally:
                if self._turns is not None:
                    self._turns.leave(turn)

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A nested write: a savepoint, rolled back to (and released) if the block raises, unless the
        error already ended the whole transaction (a ``RAISE(ROLLBACK)`` trigger)."""
        self._savepoints += 1
        name = f"oncall_{self._savepoints}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.conn.execute(f"RELEASE SAVEPOINT {name}")

    def _rollback(self) -> None:
        """Leave no transaction open: roll back, or start over on a new connection if that fails."""
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            try:
                self._reconnect()
            except (sqlite3.Error, DomainError):
                self._reopen = True

    def _unavailable(self, exc: sqlite3.Error) -> DatabaseUnavailable | None:
        """The domain error for a failed write whose cause is the file, not the request; None otherwise."""
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return None
        err: DatabaseUnavailable
        if code == _SQLITE_READONLY_DBMOVED and self.file is not None:
            self.file.lose()
            return DatabaseGone(self.path)
        if code & 0xFF == _SQLITE_READONLY:
            self._reopen = True  # a connection opened while the file was read-only stays read-only
            err = DatabaseReadOnly(self.path)
        elif code & 0xFF == _SQLITE_FULL:
            err = DiskFull(self.path)
        else:
            return None
        _log_once(self.path, err)
        return err

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

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]] | Sequence[dict[str, Any]]) -> int:
        """Run ``sql`` once per parameter row in one call; returns the number of rows changed."""
        with self.lock:
            return self.conn.executemany(sql, rows).rowcount

    def table_names(self) -> list[str]:
        """The database's tables (without loading sqlite-utils)."""
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "did anything change?" poll."""
        return int(self.scalar("PRAGMA data_version"))

    def close(self) -> None:
        with self.lock:
            self.conn.close()
        self._release_lock()

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)


def open_db(path: str | Path | None = None, **kwargs: Any) -> Database:
    """A :class:`Database` on ``path`` (default: :func:`default_db_path`); keyword arguments as there.

    A ``postgresql://`` URL opens the PostgreSQL backend (:class:`storage.postgres.PgDatabase`, the
    same methods); typed as :class:`Database` so callers need not know which backend they hold."""
    where = path if path is not None else default_db_path()
    if is_url(where):
        from storage.postgres import PgDatabase  # psycopg loads only for a PostgreSQL database

        return PgDatabase(str(where), **kwargs)  # type: ignore[return-value]
    return Database(where, **kwargs)
