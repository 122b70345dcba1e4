"""``oncall demo``: a realistic organisation in its own database, then the console on it."""

from __future__ import annotations

from pathlib import Path

import click

from console.cli.main import (
    State,
    echo,
    echo_json,
    fail,
    handle_errors,
    pass_state,
    run_console,
    speed_option,
)
from engine.service.database import demo_db_path, display_location, exclusive_use
from engine.service.demo import DEMO_ORG, seed_demo
from engine.service.orgs import list_orgs


@click.command("demo")
@click.option("--no-console", is_flag=True, help="Only create the demo database (for scripts).")
@click.option("--reset", is_flag=True, help="Delete an existing demo database first.")
@click.option("--json", "as_json", is_flag=True, help="With --no-console: print what was created as JSON.")
@speed_option
@pass_state
@handle_errors
def demo_command(state: State, no_console: bool, reset: bool, as_json: bool, speed: float | None) -> None:
    """Create the demo organisation (Acme Platform) and open the console on it.

    Uses --db if given on the command line, else demo.db in the user data directory, so real data is
    never touched (ONCALL_DB names the real database: it is not used here). --reset refuses while
    another process (a console, `oncall serve`, `oncall engine`) has the demo database open; through a
    symbolic link it resets the file the link points to and keeps the link.

    With --speed N the demo database runs on a clock N times faster, from its creation on: it must then
    always be opened with --speed N. --reset --speed N (or --reset alone) starts it over on that clock.
    """
    state.use_speed(speed)
    path = state.db_path if state.db_path and state.db_on_command_line else demo_db_path()
    if reset and isinstance(path, str):
        fail(
            "oncall demo --reset starts a SQLite file over; "
            "drop and create a PostgreSQL database with PostgreSQL's own tools"
        )
    if reset and not isinstance(path, str):
        # The real file the path names: through a symbolic link, the in-use check is the target's and
        # the link stays a link (the new database is created where it points).
        real = path.resolve()
        with exclusive_use(real):
            for suffix in ("", "-wal", "-shm"):
                Path(str(real) + suffix).unlink(missing_ok=True)
    state.db_path = path
    state.create = True
    db = state.db()
    clock = state.clock  # recorded now on a new file; an existing one must be opened on its own clock
    if not any(o["name"] == DEMO_ORG for o in list_orgs(db)):
        demo = seed_demo(db, clock)
        if as_json:
            echo_json(
                {"db": display_location(path), "orgId": demo.org_id, "apiKey": demo.api_key, **demo.__dict__}
            )
        else:
            echo(f"Demo organisation {DEMO_ORG!r} created in {display_location(path)}")
            echo(
                f"  people: {len(demo.users)}, schedules: {len(demo.schedules)}, "
                f"policies: {len(demo.policies)}, open incidents: {len(demo.incidents)}"
            )
            echo(f"  API key (shown once): {demo.api_key}")
    elif not no_console:
        echo(f"Using the existing demo database {display_location(path)} (--reset to start over)")
    else:
        echo(f"The demo database already exists: {display_location(path)} (--reset to start over)")
    state.org = DEMO_ORG
    if not no_console:
        run_console(state, demo=True)
