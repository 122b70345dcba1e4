"""A hard cap on request bodies, enforced on the ASGI ``receive`` channel itself.

The app never holds more than :data:`MAX_BODY_BYTES` of a request body: a ``Content-Length`` over the
limit is refused before a single body byte is read, and a body without one (chunked) is counted while it
streams and cut off at the first chunk that goes past the limit. What the client sends after that is
discarded by the server as it arrives, never buffered.

The answer itself is the endpoint's: it authenticates first (no key is 401 whatever the body) and then
answers 422 ``validation_error`` (docs/API.md), so the middleware only raises :class:`BodyTooLarge` from
``receive()`` and leaves the wire form to the API.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_000_000
"""The largest request body the API accepts, in bytes."""


class BodyTooLarge(Exception):
    """Raised by the limited ``receive()`` when the body is (or would be) larger than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` in bytes, or None when it has none (chunked) or it is unreadable
    (the HTTP server has already refused a malformed one)."""
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """Pure ASGI: wrap ``receive`` so that the app is never handed more than ``limit`` body bytes.

    ``receive()`` raises :class:`BodyTooLarge` on its first call when ``Content-Length`` exceeds
    ``limit`` (nothing is read from the client), and on the chunk that takes the running total past
    ``limit`` otherwise; every later call raises again. Requests that never read their body cost nothing.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = declared_length(scope)
        received = 0
        over = declared is not None and declared > limit

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
