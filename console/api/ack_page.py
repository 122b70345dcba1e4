"""``/ack/{token}``: acknowledge an incident from the page (no API key: the signed token is the right).

``GET`` shows a tiny confirmation page (what will be acknowledged, as whom) with one button; ``POST``
acknowledges (engine/service/ack_links.py) and shows the outcome. Both are plain HTML for a phone's
browser; a refused link is a 4xx page saying why (403 not genuine, 410 expired, 409 used already or
nothing left to acknowledge). The token is in the path, so every answer says ``Referrer-Policy:
no-referrer`` and ``Cache-Control: no-store``; ``frame-ancestors 'none'`` keeps the button out of other
sites' frames. An ntfy ``http`` action button POSTs here directly.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from engine.clock import Clock
from engine.errors import DomainError
from engine.runtime.operator_config import OperatorConfig
from engine.service import ack_links
from engine.service.database import Database


class _Pool(Protocol):
    def connection(self) -> AbstractContextManager[Database]: ...


class _Writer(Protocol):
    def call(self, work: Callable[[Database], Any]) -> Any: ...


class Api(Protocol):
    """What the page needs of console.api.app.Api."""

    @property
    def pool(self) -> _Pool: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def config(self) -> OperatorConfig: ...
    @property
    def writer(self) -> _Writer: ...


log = logging.getLogger("oncall.api")

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32em;margin:2em auto;padding:0 1em;line-height:1.4}"
    "button{font-size:1.2em;padding:.6em 1.4em}.muted{color:#555}"
)


def _page(title: str, lines: list[str], status: int, *, button: bool = False) -> Response:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    form = '<form method="post"><button type="submit">Acknowledge</button></form>' if button else ""
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}{form}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=HEADERS)


def _describe(view: dict[str, Any]) -> list[str]:
    inc = view["incident"]
    return [
        f"Incident #{inc['number']}: {inc['title']}",
        f"Severity {inc['severity']}, status {inc['status']}",
        f"Person: {view['person']['name']}",
    ]


def routes(api: Api) -> list[Route]:
    """The ``/ack/{token}`` route on ``api``'s pool, clock and configuration."""

    def run(token: str, write: bool) -> Response:
        try:
            if write:  # in the API's next group commit, which pokes the engine
                view = api.writer.call(lambda db: ack_links.acknowledge(db, api.clock, api.config, token))
            else:
                with api.pool.connection() as db:
                    view = ack_links.inspect(db, api.clock, token)
        except ack_links.AlreadyDone as exc:
            return _page("Nothing to do", [exc.message], exc.status_code)
        except ack_links.AckLinkRefused as exc:
            return _page("Link refused", [exc.message], exc.status_code)
        except DomainError as exc:
            return _page("Not acknowledged", [exc.message], exc.status_code)
        if write:
            return _page("Acknowledged", [view["message"], *_describe(view)], 200)
        if view["state"] != "ready":
            return _page("Nothing to do", [view["message"], *_describe(view)], 409)
        return _page(
            "Acknowledge?", [*_describe(view), "Escalation stops when you acknowledge."], 200, button=True
        )

    async def endpoint(request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            return await run_in_threadpool(run, token, request.method == "POST")
        except Exception:
            log.exception("acknowledge link failed")
            return _page("Error", ["something went wrong; acknowledge from the console or the API"], 500)

    return [Route("/ack/{token}", endpoint, methods=["GET", "POST"])]
