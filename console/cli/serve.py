"""``oncall serve``: the local Scaling-compatible HTTP API, with the escalation engine in the process.

It needs an existing database (``oncall init`` or ``oncall demo`` creates one). Every 0.1 s it checks that
the database file is still the one it opened; once it was deleted or replaced (``oncall demo --reset``) it
prints one ``error:`` line, answers every request 503 ``database_gone`` for :data:`GONE_GRACE_S` (so
clients see why), then shuts down and exits 1.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from console.cli.main import (
    DB_HELP,
    DB_LOCATION,
    AsciiIntRange,
    State,
    echo,
    fail,
    handle_errors,
    pass_state,
    speed_option,
)
from engine.clock import monotonic
from engine.errors import DomainError
from engine.service.database import DatabaseGone, display_location
from engine.service.orgs import has_organisation

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from engine.runtime.runner import EngineRunner

# How long a server whose database file is gone keeps answering 503 before it exits (seconds).
GONE_GRACE_S = 1.0


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; anything else (0.0.0.0, a LAN name) is exposed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _has_org(app: Starlette) -> bool:
    """Whether the database holds an organisation yet (True when it cannot tell: no hint then)."""
    try:
        with app.state.api.pool.connection() as db:
            return has_organisation(db)
    except DomainError:  # the file went away already: on_tick says so
        return True


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) TCP sockets for every address of ``host`` (``localhost`` may be both
    127.0.0.1 and ::1), as uvicorn would bind them; port 0 picks one free port for all of them.

    Bound here, before the database is opened or the engine starts, so that a port in use, an address
    this machine does not have or a host that does not resolve ends the command with one ``error:``
    line and exit 1 (:func:`console.cli.main.fail`) instead of uvicorn's log and traceback.
    """
    bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        fail(f"cannot listen on {host}: the address does not resolve ({exc})")
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str | int]] = set()
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr[0]) in seen:
                continue
            seen.add((family, addr[0]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                addr = (addr[0], sockets[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use")
        fail(f"cannot listen on {host} port {port}: {exc.strerror or exc}")
    return sockets


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=8080, show_default=True, type=AsciiIntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--db",
    "db_path",
    type=DB_LOCATION,
    default=None,
    help=DB_HELP + " (overrides the global --db).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow binding to a non-loopback address (the API is then reachable from other machines).",
)
@click.option(
    "--allow-webhook",
    "allow_webhook",
    multiple=True,
    metavar="HOST_OR_CIDR",
    help="Let API keys point webhooks at this host name or network too (repeatable; added to the "
    "config file's [webhooks] allow). Loopback, link-local and private addresses are refused otherwise.",
)
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="The base URL people reach this server at (e.g. https://oncall.example.com): pages then carry an "
    "acknowledge link under it (overrides the config file's [serve] public_url).",
)
@click.option("--no-engine", is_flag=True, help="Serve the API only; do not run the escalation engine here.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log every request.")
@speed_option
@pass_state
@handle_errors
def serve_command(
    state: State,
    host: str,
    port: int,
    db_path: Path | None,
    allow_remote: bool,
    allow_webhook: tuple[str, ...],
    public_url: str | None,
    no_engine: bool,
    access_log: bool,
    speed: float | None,
) -> None:
    """Serve the Scaling-compatible API (/v1/…) on the local database.

    The escalation engine runs in this process; when another process already holds the engine lease it
    stands by and takes over if that process stops. --speed N (here or before the command) is for demo
    copies only, as for the console and `oncall engine`. Keys come from `oncall init` / `oncall keys create`.
    """
    import uvicorn

    from console.api import create_app

    if not is_loopback(host):
        if not allow_remote:
            fail(
                f"{host} is not a loopback address: pass --allow-remote to expose the API to other machines",
                2,
            )
        echo(
            f"warning: binding to {host}: anyone who can reach this machine can call the API "
            "(keys are still required; traffic is plain HTTP)",
            err=True,
        )
    operator_config = state.operator_config().allowing_webhooks(allow_webhook).with_public_url(public_url)
    sockets = listen_sockets(host, port)  # before the database: a port in use is refused first
    if db_path is not None:
        state.db_path = db_path
    state.use_speed(speed)
    path = state.path
    clock = state.clock  # the database's clock; refused here if it runs on another (storage.db_clock)
    state.close()
    app = create_app(path, clock, engine=not no_engine, config=operator_config)

    class Server(uvicorn.Server):
        gone: DatabaseGone | None = None
        gone_at = 0.0

        async def on_tick(self, counter: int) -> bool:
            if self.gone is None:
                try:
                    app.state.api.pool.check()
                except DatabaseGone as exc:
                    self.gone, self.gone_at = exc, monotonic()
                    echo(f"error: {exc}; answering 503 and shutting down", err=True)
            elif monotonic() - self.gone_at >= GONE_GRACE_S:
                self.should_exit = True
            return await super().on_tick(counter)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.started:
                return
            bound = port
            for server in getattr(self, "servers", []):
                for sock in server.sockets:
                    bound = sock.getsockname()[1]
                    break
            engine: EngineRunner | None = app.state.engine
            if engine is not None:
                # The first lease attempt runs just after start: give it a moment so the line is right.
                for _ in range(40):
                    if engine.mode != "starting":
                        break
                    await asyncio.sleep(0.05)
            mode = "off (--no-engine)" if engine is None else engine.mode
            has_org = _has_org(app)  # before the banner: once it is out, startup is over
            echo(f"oncall API on {_url(host, bound)}/v1  (OpenAPI: {_url(host, bound)}/v1/openapi.json)")
            echo(f"database: {display_location(path if isinstance(path, str) else Path(path).resolve())}")
            echo(f"engine: {mode}")
            if operator_config.pages.public_url:
                echo(f"acknowledge links: {operator_config.pages.public_url}/ack/…")
            if not has_org:
                echo("no organisation yet: run `oncall init --org NAME --admin-email EMAIL` for a key")
            if engine is not None:
                engine.on_mode = lambda m: echo(f"engine: {m}")

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info" if access_log else "warning",
        lifespan="on",
        server_header=False,
    )
    server = Server(config)
    server.run(sockets=sockets)
    if server.gone is not None:
        sys.exit(1)
