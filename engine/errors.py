"""Domain errors with the stable codes of the Scaling reference.

Every surface maps them the same way: the HTTP API to ``{statusCode, type, code, message}``, the CLI to a
one-line message and exit code, the TUI to an inline message.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    type = "invalid_request_error"

    def __init__(self, code: str, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ValidationError(DomainError):
    """A value fails the schema: wrong type, missing, out of range (HTTP 422)."""

    status_code = 422
    type = "validation_error"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__("validation_error", message, details=details)
        self.field = field


class NotFound(DomainError):
    status_code = 404

    def __init__(self, what: str, ident: str | None = None) -> None:
        msg = f"{what} not found" if ident is None else f"{what} {ident!r} not found"
        super().__init__("not_found", msg)


class NameConflict(DomainError):
    status_code = 409

    def __init__(self, message: str) -> None:
        super().__init__("name_conflict", message)


class Forbidden(DomainError):
    status_code = 403


class Unauthorized(DomainError):
    status_code = 401
    type = "not_authorized_error"
