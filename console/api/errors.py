"""Error bodies and request ids for the local HTTP API.

Every response carries an ``X-Request-Id`` header (a UUID4); every error body is
``{statusCode, type, code, requestId, message}`` (plus ``field``/``details`` when the service gave them),
so a script can key on the HTTP status first and then on ``code``, exactly as against the remote API.
"""

from __future__ import annotations

import uuid
from typing import Any

from msgspec import UNSET
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from engine.errors import DomainError
from engine.service.responses import Error, wire

REQUEST_ID_HEADER = "X-Request-Id"


class ApiError(DomainError):
    """An error raised by the HTTP layer itself (auth, routing, malformed JSON, query strings)."""

    def __init__(self, status_code: int, type_: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(code, message)
        self.status_code = status_code
        self.type = type_
        self.extra = extra


def request_id(conn: HTTPConnection) -> str:
    rid = conn.scope.setdefault("state", {}).get("request_id")
    if rid is None:  # only when console.api.middleware did not run (it always does in create_app)
        rid = str(uuid.uuid4())
        conn.scope["state"]["request_id"] = rid
    return str(rid)


def error_body(exc: DomainError, rid: str) -> dict[str, Any]:
    """The error answer (:class:`engine.service.responses.Error`) as builtins; ``field`` and ``details``
    only when the error has them."""
    field = getattr(exc, "field", None)
    body = Error(
        status_code=exc.status_code,
        type="internal_error" if exc.status_code >= 500 else exc.type,  # type: ignore[arg-type]
        code=exc.code,
        request_id=rid,
        message=exc.message,
        field=field if field else UNSET,
        details=UNSET if exc.details is None else exc.details,
    )
    return wire(body)


def error_response(exc: DomainError, rid: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(exc, rid),
        status_code=exc.status_code,
        headers={REQUEST_ID_HEADER: rid, **(headers or {})},
    )


def internal_error() -> ApiError:
    return ApiError(500, "internal_error", "server_error", "unexpected server error; quote the requestId")
