"""``oncall engine``: the escalation engine, headless.

Runs until SIGTERM or Ctrl-C. Several may run against one database: one fires timers (``embedded``), the
others stand by and take over within about 6 s of it dying. ``--speed N`` runs the escalations on a
scaled clock whose anchor is stored in the database (so the console and ``oncall serve`` with the same
``--speed`` agree on the time, and a restarted engine carries on where the last one was).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from console.cli import echo
from storage.db import default_db_path, open_db


@click.command("engine")
@click.option(
    "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Database file."
)
@click.option("--speed", type=float, default=None, help="Run the clock N times faster (drills, demos).")
@click.option("--name", default="engine", show_default=True, help="Name shown in the lease holder.")
@click.option("--lease-ttl", type=float, default=5.0, hidden=True)
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def engine_command(
    ctx: click.Context, db_path: Path | None, speed: float | None, name: str, lease_ttl: float, quiet: bool
) -> None:
    """Run the escalation engine without the console."""
    from engine.errors import DomainError
    from storage.engine_runner import EngineRunner, shared_clock

    state: Any = ctx.obj
    db_path = db_path or getattr(state, "db_path", None) or default_db_path()
    speed = speed if speed is not None else getattr(state, "speed", None)
    if speed is not None and speed <= 0:
        echo("error: --speed must be positive", err=True)
        sys.exit(2)
    try:
        db = open_db(db_path)
        clock = shared_clock(db, speed)
        db.close()
    except DomainError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(1)

    def say(mode: str) -> None:
        if not quiet:
            echo(f"engine {mode}: {db_path} ({clock!r})", err=True)

    runner = EngineRunner(db_path, clock, name, lease_ttl=lease_ttl, on_mode=say)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    try:
        while not done.wait(0.5):
            pass
    finally:
        runner.stop()


if __name__ == "__main__":  # python -m console.commands.engine (light: no console import)
    engine_command()
