"""The API's one middleware, pure ASGI: each HTTP request's id and its body cap, in one layer.

* Every request gets a UUID4 (``scope["state"]["request_id"]``, read by :func:`console.api.errors.request_id`)
  that every answer carries as ``X-Request-Id``: the endpoints and the error handlers set the header
  themselves; any other answer (the OpenAPI document, the acknowledge page, Starlette's own 500) gets it
  here, never twice.
* The request body is capped on the ``receive`` channel (:func:`console.api.body_limit.limit_receive`): the
  app is never handed more than the limit.

One layer instead of two (and no ``BaseHTTPMiddleware``): a request that has no body and whose answer
already carries its id goes through one extra coroutine call for each message it sends.
"""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.api.body_limit import MAX_BODY_BYTES, limit_receive
from console.api.errors import REQUEST_ID_HEADER

_REQUEST_ID_RAW = REQUEST_ID_HEADER.lower().encode()


class RequestMiddleware:
    """Request id and body cap for every HTTP request (see the module); other scopes pass through."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                for key, _ in headers:
                    if key.lower() == _REQUEST_ID_RAW:
                        break
                else:
                    message = {**message, "headers": [*headers, (_REQUEST_ID_RAW, rid.encode())]}
            await send(message)

        await self.app(scope, limit_receive(scope["headers"], receive, self.limit), send_with_id)
