"""The error every storage module may raise about the file itself (kept apart so migrations need not import
:mod:`storage.db`, which applies them)."""

from __future__ import annotations

from engine.errors import DomainError


class DatabaseError(DomainError):
    """The file cannot be used: not a database, written by a newer version, unreadable."""

    status_code = 500

    def __init__(self, message: str, code: str = "database_error") -> None:
        super().__init__(code, message)
