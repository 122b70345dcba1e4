"""``oncall engine``: the escalation engine, headless.

Runs until SIGTERM or Ctrl-C. Several may run against one database: one fires timers (``embedded``), the
others stand by and take over within about 6 s of it dying. ``--speed N`` runs the escalations on a
scaled clock whose anchor is stored in the database (so the console and ``oncall serve`` with the same
``--speed`` agree on the time, and a restarted engine carries on where the last one was). The database
records its clock: ``--speed`` on a database that runs on wall time, or no ``--speed`` on a scaled one,
is refused with one line and exit 2 (``storage.db_clock``).

It needs an existing database (``oncall init`` or ``oncall demo`` creates one). If the file is deleted or
replaced while it runs (``oncall demo --reset``), it says so in one line and exits 1 within a second.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from console.cli.main import DB_HELP, DB_LOCATION, AsciiFloat, State, echo, handle_errors, speed_option


@click.command("engine")
@click.option("--db", "db_path", type=DB_LOCATION, default=None, help=DB_HELP + ".")
@speed_option
@click.option("--name", default="engine", show_default=True, help="Name shown in the lease holder.")
@click.option("--lease-ttl", type=AsciiFloat(), default=5.0, hidden=True)
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def engine_command(
    ctx: click.Context,
    db_path: Path | str | None,
    speed: float | None,
    name: str,
    lease_ttl: float,
    quiet: bool,
) -> None:
    """Run the escalation engine without the console."""
    from engine.errors import DomainError
    from engine.service.database import display_location
    from engine.service.timer_kinds import new_runner

    state = ctx.obj if isinstance(ctx.obj, State) else State(None, None, None)
    if db_path is not None:
        state.db_path = db_path
    state.use_speed(speed)
    location = state.path
    clock = handle_errors(lambda: state.clock)()
    state.close()
    config = handle_errors(state.operator_config)()

    def say(mode: str) -> None:
        if not quiet:
            echo(f"engine {mode}: {display_location(location)} ({clock!r})", err=True)

    runner = new_runner(location, clock, name, lease_ttl=lease_ttl, on_mode=say, config=config)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        runner.start()
    except DomainError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(1)
    try:
        while not done.wait(0.2):
            if runner.lost is not None:
                break
    finally:
        runner.stop()
    if runner.lost is not None:
        echo(f"error: {runner.lost}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # python -m console.cli.engine (light: no console import)
    from console.cli.main import one_line_thread_errors

    one_line_thread_errors()
    engine_command()
