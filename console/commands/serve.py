"""``oncall serve``: the local Scaling-compatible HTTP API, with the escalation engine in the process."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

from console.cli import State, echo, fail, handle_errors, pass_state
from engine.clock import Clock
from storage.db import open_db

if TYPE_CHECKING:
    from storage.engine_runner import EngineRunner


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; anything else (0.0.0.0, a LAN name) is exposed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _clock(state: State, path: Path) -> Clock:
    """With ``--speed``, the scaled clock anchored in the database, shared with the engine and console."""
    if state.speed is None or state.speed == 1:
        return state.clock
    from storage.engine_runner import shared_clock

    db = open_db(path)
    try:
        return shared_clock(db, state.speed)
    finally:
        db.close()


def _has_org(path: Path) -> bool:
    db = open_db(path)
    try:
        return db.one("SELECT 1 FROM orgs LIMIT 1") is not None
    finally:
        db.close()


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) TCP sockets for every address of ``host`` (``localhost`` may be both
    127.0.0.1 and ::1), as uvicorn would bind them; port 0 picks one free port for all of them.

    Bound here, before the database is opened or the engine starts, so that a port in use, an address
    this machine does not have or a host that does not resolve ends the command with one ``error:``
    line and exit 1 (:func:`console.cli.fail`) instead of uvicorn's log and traceback.
    """
    bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        fail(f"cannot listen on {host}: the address does not resolve ({exc})")
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str]] = set()
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
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite database file (overrides the global --db).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow binding to a non-loopback address (the API is then reachable from other machines).",
)
@click.option("--no-engine", is_flag=True, help="Serve the API only; do not run the escalation engine here.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log every request.")
@pass_state
@handle_errors
def serve_command(
    state: State,
    host: str,
    port: int,
    db_path: Path | None,
    allow_remote: bool,
    no_engine: bool,
    access_log: bool,
) -> None:
    """Serve the Scaling-compatible API (/v1/…) on the local database.

    The escalation engine runs in this process; when another process already holds the engine lease it
    stands by and takes over if that process stops. Keys come from `oncall init` / `oncall keys create`.
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
    path = db_path or state.path
    sockets = listen_sockets(host, port)
    app = create_app(path, _clock(state, path), engine=not no_engine)

    class Server(uvicorn.Server):
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
                    if engine.mode != "standby":
                        break
                    await asyncio.sleep(0.05)
            mode = "off (--no-engine)" if engine is None else engine.mode
            echo(f"oncall API on {_url(host, bound)}/v1  (OpenAPI: {_url(host, bound)}/v1/openapi.json)")
            echo(f"database: {Path(path).resolve()}")
            echo(f"engine: {mode}")
            if not _has_org(path):
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
    Server(config).run(sockets=sockets)
