"""The database file as the surfaces see it: open it, bind its clock, and the errors it raises.

The surfaces (``console/``) never import :mod:`storage`; what they need of the file comes from here. A
:class:`Database` is opaque to them beyond its methods: ``data_version()`` (the ~3 µs poll that changes
when another connection commits), ``check_file()`` (raises :class:`DatabaseGone` once the file was deleted
or replaced), ``path`` and ``close()``.
"""

from __future__ import annotations

import sqlite3

from engine.clock import Clock
from engine.timefmt import to_epoch_ms
from storage.db import (
    Database,
    DatabaseError,
    DatabaseGone,
    DatabaseMissing,
    DatabaseUnavailable,
    default_db_path,
    demo_db_path,
    exclusive_use,
    open_db,
)
from storage.db_clock import bind_clock
from storage.db_url import display_url
from storage.db_url import is_url as is_db_url
from storage.queries import page_queue

StorageError = sqlite3.Error
"""What SQLite raises for a fault no storage module turned into a :class:`DatabaseError` (the CLI prints
it as one ``error: database error: …`` line)."""


def display_location(location: object) -> str:
    """A database location for messages: a file path as it is, a PostgreSQL URL without its password."""
    return display_url(location) if isinstance(location, str) and is_db_url(location) else str(location)


def pages_due(db: Database, clock: Clock) -> bool:
    """Whether a page waits to go out at ``clock``'s now (one indexed read, no lock): what a surface that
    just committed asks before waking the delivery worker (the API's writer, after a batch)."""
    return page_queue.has_due(db, to_epoch_ms(clock.now()))


__all__ = [
    "Database",
    "DatabaseError",
    "DatabaseGone",
    "DatabaseMissing",
    "DatabaseUnavailable",
    "StorageError",
    "bind_clock",
    "default_db_path",
    "demo_db_path",
    "display_location",
    "exclusive_use",
    "is_db_url",
    "open_db",
    "pages_due",
]
