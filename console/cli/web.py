"""``oncall web``: the same console in a browser, served by textual-serve.

Each browser tab that connects starts one ``oncall`` console process (``python -m console --db … [--org …]
[--as …]``, the options this command was given) whose screen textual-serve streams over a WebSocket to an
xterm.js terminal in the page; keys travel back the same way. What the console does is exactly what it
does in a terminal: the same screens, the same use cases, the same embedded engine (or attached to one).

Like ``oncall serve`` it binds loopback unless ``--allow-remote`` says otherwise (the page needs no key:
whoever reaches it acts as the console's user), and binds before anything else so that a port in use is
one ``error:`` line. A WebSocket whose ``Origin`` is not this server is refused (403): a web page from
elsewhere open in the same browser cannot drive the console through the loopback port.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from console.cli.main import AsciiIntRange, State, echo, fail, handle_errors, pass_state
from console.cli.serve import is_loopback, listen_sockets
from engine.service.database import display_location

if TYPE_CHECKING:
    from aiohttp import web


def console_command(state: State) -> str:
    """The shell command each browser session runs: this Python's ``oncall`` on the same database,
    organisation, identity and clock speed (quoted for ``/bin/sh``, which textual-serve runs it with)."""
    where = state.path
    argv = [
        sys.executable,
        "-m",
        "console",
        "--db",
        where if isinstance(where, str) else str(Path(where).resolve()),
    ]
    if state.org:
        argv += ["--org", state.org]
    if state.identity:
        argv += ["--as", state.identity]
    if state.speed is not None:
        argv += ["--speed", f"{state.speed:g}"]
    return shlex.join(argv)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def same_origin(origin: str | None, public_url: str, host_header: str | None) -> bool:
    """Whether a WebSocket's ``Origin`` is this server: its public URL's, or the ``Host`` the browser
    used to reach it (``localhost`` vs ``127.0.0.1``). No ``Origin`` (not a browser) is allowed."""
    if origin is None:
        return True
    seen = urlsplit(origin)
    if seen.scheme not in ("http", "https"):
        return False
    public = urlsplit(public_url)
    if seen.netloc == public.netloc:
        return True
    return host_header is not None and seen.netloc == host_header


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=8000, show_default=True, type=AsciiIntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow binding to a non-loopback address (the console is then reachable, without a key, from "
    "other machines).",
)
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="The base URL browsers reach this server at, when it is behind a proxy (default: the bound "
    "address).",
)
@pass_state
@handle_errors
def web_command(state: State, host: str, port: int, allow_remote: bool, public_url: str | None) -> None:
    """Serve the console in a browser (one console process per open tab).

    The global --db, --org and --as choose what each tab's console opens and who acts in it, as for the
    terminal console. Binds 127.0.0.1 unless --host and --allow-remote say otherwise.
    """
    if not is_loopback(host):
        if not allow_remote:
            fail(
                f"{host} is not a loopback address: pass --allow-remote to expose the console to other "
                "machines",
                2,
            )
        echo(
            f"warning: binding to {host}: anyone who can reach this machine can use the console as its "
            "user, without a key (traffic is plain HTTP)",
            err=True,
        )
    sockets = listen_sockets(host, port)  # before the database: a port in use is refused first
    try:
        # Open it here so a missing file, an unknown --org or --as is one error line now, not in the page.
        state.ctx()
        path = display_location(state.path if isinstance(state.path, str) else Path(state.path).resolve())
        command = console_command(state)
        state.close()
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    bound = sockets[0].getsockname()[1]
    url = (public_url or _url(host, bound)).rstrip("/")
    server = _server(command, host, bound, url)
    echo(f"oncall console on {url}/")
    echo(f"database: {path}")
    sys.stdout.flush()
    server.run(sockets)


def _server(command: str, host: str, port: int, public_url: str) -> Any:
    """A textual-serve server that serves on our bound sockets, checks WebSocket origins and logs only
    warnings (textual-serve's own start-up banner and per-request lines are left out)."""
    from aiohttp import web
    from textual_serve.server import Server

    class ConsoleServer(Server):  # type: ignore[misc]
        def initialize_logging(self) -> None:
            logging.getLogger("textual-serve").setLevel(logging.WARNING)
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

        async def on_startup(self, app: web.Application) -> None:
            return None

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            origin = request.headers.get("Origin")
            if not same_origin(origin, self.public_url, request.headers.get("Host")):
                raise web.HTTPForbidden(text="forbidden: the page is not this console's\n")
            response: web.WebSocketResponse = await super().handle_websocket(request)
            return response

        def run(self, sockets: list[socket.socket]) -> None:
            self.debug = False
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_exit)
            web.run_app(
                self._make_app(),
                sock=sockets,
                handle_signals=False,
                loop=loop,
                print=lambda *args: None,
                access_log=None,
            )

    return ConsoleServer(command, host=host, port=port, title="oncall", public_url=public_url)
