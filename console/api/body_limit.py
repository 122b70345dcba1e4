"""A hard cap on request bodies, enforced on the ASGI ``receive`` channel itself.

The app never holds more than :data:`MAX_BODY_BYTES` of a request body: a ``Content-Length`` over the
limit is refused before a single body byte is read, and a body without one (chunked) is counted while it
streams and cut off at the first chunk that goes past the limit. What the client sends after that is
discarded by the server as it arrives, never buffered.

The answer itself is the endpoint's: it authenticates first (no key is 401 whatever the body) and then
answers 422 ``validation_error`` (docs/API.md), so the API's middleware (:mod:`console.api.middleware`)
only hands the app a ``receive()`` that raises :class:`BodyTooLarge` (:func:`limit_receive`) and leaves
the wire form to the API.
"""

from __future__ import annotations

from starlette.types import Message, Receive

MAX_BODY_BYTES = 1_000_000
"""The largest request body the API accepts, in bytes."""


class BodyTooLarge(Exception):
    """Raised by the limited ``receive()`` when the body is (or would be) larger than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


def limit_receive(headers: list[tuple[bytes, bytes]], receive: Receive, limit: int) -> Receive:
    """``receive`` itself when the request cannot carry more than ``limit`` body bytes, else a ``receive``
    that raises :class:`BodyTooLarge`: on its first call when ``Content-Length`` exceeds ``limit``
    (nothing is read from the client), on the chunk that takes the running total past ``limit`` for a
    body without one (chunked); every later call raises again.

    A request with neither ``Content-Length`` nor ``Transfer-Encoding`` has no body (RFC 9112 §6.3), and
    one whose ``Content-Length`` is within the limit cannot send more (the HTTP server frames the body by
    it): both keep the server's own ``receive``, so a GET costs one scan of its headers.
    """
    declared: int | None = None
    chunked = False
    for key, value in headers:
        if len(key) == 14 and key.lower() == b"content-length":
            try:
                declared = int(value)
            except ValueError:  # the HTTP server has already refused a malformed one
                declared = None
        elif len(key) == 17 and key.lower() == b"transfer-encoding":
            chunked = True
    if declared is not None and not chunked:
        if declared <= limit:
            return receive
    elif not chunked:
        return receive
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

    return limited_receive
