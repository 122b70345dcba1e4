"""Watching from the shell: ``oncall incidents --watch``, ``oncall oncall [--at T]`` and ``oncall shifts``.

``--watch`` polls ``PRAGMA data_version`` (:meth:`engine.service.database.Database.data_version`, a few
microseconds) four times a second and redraws only when another process committed and the rows differ.
On a terminal the table is a rich ``Live`` display redrawn in place (colour unless ``NO_COLOR``); piped,
each change prints the table again under a ``-- <instant>`` line (or, with ``--json``, one JSON array a
line), so ``oncall incidents --watch --json | jq`` follows the incidents. Ctrl-C ends it with exit 0.

``oncall oncall`` and ``oncall shifts`` read who is on call through the use cases the API and the console
use, which ask :func:`engine.rotation.resolve` (and :func:`engine.rotation.shifts`, its range form).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click

from console.cli.incident_table import INCIDENT_HEADERS, incident_rows
from console.cli.main import State, echo, echo_json, handle_errors, json_option, pass_state
from console.cli.table import print_table
from console.terminal import terminal_text
from engine.errors import ValidationError
from engine.rotation import TargetResolution
from engine.service import Ctx, orgs, policies, schedules
from engine.timefmt import to_iso
from engine.timeparse import parse_local_instant

POLL_SECONDS = 0.25
"""How often ``--watch`` asks the database whether another process committed."""

_SEVERITY_STYLE = {"CRITICAL": "bold red", "HIGH": "yellow", "MEDIUM": "cyan", "LOW": "dim"}


def watch_incidents(
    ctx: Ctx, read: Callable[[], list[dict[str, Any]]], *, as_json: bool, stop: threading.Event | None = None
) -> None:
    """Show ``read()`` (the incidents ``oncall incidents`` lists) until Ctrl-C (or ``stop`` is set),
    again after every change another process commits. Returns normally on Ctrl-C."""
    stop = stop or threading.Event()
    live = not as_json and sys.stdout.isatty()
    try:
        if live:
            _watch_live(ctx, read, stop)
        else:
            _watch_lines(ctx, read, stop, as_json=as_json)
    except KeyboardInterrupt:
        return


def _changes(ctx: Ctx, read: Callable[[], list[dict[str, Any]]], stop: threading.Event) -> Any:
    """Yield ``(items, rows)`` now and after each commit by another process that changed them."""
    version: int | None = None
    last: str | None = None
    while not stop.is_set():
        ctx.db.check_file()  # a deleted or replaced file ends the watch (exit 1, one line)
        current = ctx.db.data_version()
        if current != version:
            version = current
            items = read()
            rows = incident_rows(ctx, items)
            key = json.dumps([items, rows], default=str)
            if key != last:
                last = key
                yield items, rows
        stop.wait(POLL_SECONDS)


def _watch_lines(
    ctx: Ctx, read: Callable[[], list[dict[str, Any]]], stop: threading.Event, *, as_json: bool
) -> None:
    for items, rows in _changes(ctx, read, stop):
        if as_json:
            echo_json(items, compact=True)
        else:
            echo(f"-- {to_iso(ctx.now())}")
            print_table(INCIDENT_HEADERS, rows)


def _watch_live(ctx: Ctx, read: Callable[[], list[dict[str, Any]]], stop: threading.Event) -> None:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    console = Console()  # rich honours NO_COLOR (colour off, the glyph-free table stays)

    def render(rows: list[list[Any]]) -> Table:
        table = Table(
            title=f"incidents · {to_iso(ctx.now())} · Ctrl-C to stop", title_justify="left", expand=False
        )
        for header in INCIDENT_HEADERS:
            table.add_column(header, no_wrap=header != "TITLE")
        for row in rows:
            cells = [Text("" if c is None else terminal_text(c)) for c in row]
            cells[1].stylize(_SEVERITY_STYLE.get(str(row[1]), ""))
            table.add_row(*cells)
        if not rows:
            table.add_row(*([Text("(none)")] + [Text("")] * (len(INCIDENT_HEADERS) - 1)))
        return table

    with Live(console=console, auto_refresh=False, transient=False) as live:
        for _items, rows in _changes(ctx, read, stop):
            live.update(render(rows), refresh=True)


# -- who is on call --------------------------------------------------------------------------------


def read_instant(ctx: Ctx, text: str, zone: str, option: str) -> datetime:
    """A time typed for ``option``: ``now``, ``today``, an ISO instant, or a local date (and time) read in
    ``zone``. 422 ``validation_error`` (exit 2) naming the option otherwise."""
    try:
        return parse_local_instant(text, zone, now=ctx.now(), words=("now", "today")).instant
    except ValueError as exc:
        raise ValidationError(f"{option} {exc}", field=option.lstrip("-")) from None


def _names(user_ids: list[str] | tuple[str, ...], names: dict[str, str]) -> str:
    return ", ".join(names.get(u, u) for u in user_ids) or "nobody"


@click.command("oncall")
@click.option(
    "--at", "at_text", default="now", show_default=True, help="When: now, an ISO instant or a local time."
)
@click.option("--tz", default="UTC", show_default=True, help="Zone a local --at is read in.")
@json_option
@pass_state
@handle_errors
def oncall_command(state: State, at_text: str, tz: str, as_json: bool) -> None:
    """Who is on call now (or at --at): per schedule (owner, everyone paged, until when) and per
    escalation policy layer (who it would page).

    --json prints ``{"at", "schedules": [GET /v1/schedules/{id}/resolve + "name"], "policies": [{"id",
    "name", "layers": [{"id", "position", "target", "pagingNow", "removedNow"}]}]}``."""
    ctx = state.ctx()
    at = read_instant(ctx, at_text, tz, "--at")
    scheds = []
    for s in schedules.list_schedules(ctx):
        res = schedules.resolve_schedule(ctx, s["id"], at)
        scheds.append({**res, "name": s["name"]})
    pols = []
    for p in policies.list_policies(ctx):
        paged = policies.paged_now(ctx, p["id"], at)
        layers = []
        for layer in policies.list_layers(ctx, p["id"]):
            now = paged.get(layer["id"], TargetResolution(()))
            layers.append(
                {
                    "id": layer["id"],
                    "position": layer["position"],
                    "target": layer["target"],
                    "pagingNow": list(now.user_ids),
                    "removedNow": list(now.removed),
                }
            )
        pols.append({"id": p["id"], "name": p["name"], "layers": layers})
    if as_json:
        echo_json({"at": to_iso(at), "schedules": scheds, "policies": pols})
        return
    names = orgs.user_names(ctx)
    sched_names = {s["scheduleId"]: s["name"] for s in scheds}
    echo(f"On call at {to_iso(at)}")
    echo("")
    print_table(
        ["SCHEDULE", "OWNER", "PAGING", "UNTIL"],
        [
            [
                s["name"],
                names.get(s["scheduleOwner"] or "", "nobody"),
                _names(s["pagingTargets"], names),
                s["nextHandoff"] or "-",
            ]
            for s in scheds
        ],
    )
    echo("")
    rows = []
    for p in pols:
        for layer in p["layers"]:
            target = layer["target"]
            via = (
                f"schedule {sched_names.get(target['scheduleId'], target['scheduleId'])}"
                if target["type"] == "schedule"
                else "users"
            )
            rows.append([p["name"], layer["position"], _names(layer["pagingNow"], names), via])
    print_table(["POLICY", "LAYER", "PAGES", "THROUGH"], rows)


@click.command("shifts")
@click.option(
    "--user", "person", default="me", show_default=True, help="me (who you act as), an email or an id."
)
@click.option("--from", "from_text", default="now", show_default=True, help="Start of the range.")
@click.option("--to", "to_text", default=None, help="End of the range (default: 14 days after --from).")
@click.option("--tz", default="UTC", show_default=True, help="Zone local --from/--to are read in.")
@json_option
@pass_state
@handle_errors
def shifts_command(
    state: State, person: str, from_text: str, to_text: str | None, tz: str, as_json: bool
) -> None:
    """A person's on-call shifts in every schedule, overrides included, from --from to --to.

    --json prints a list of ``{"scheduleId", "scheduleName", "layerId", "layerName", "userId", "start",
    "end", "source": "rotation"|"override", "overrideId"}``, by start."""
    ctx = state.ctx()
    if person == "me":
        if ctx.actor_user_id is None:
            raise ValidationError("--user me needs an identity: --as EMAIL", field="user")
        user_id = ctx.actor_user_id
    else:
        user_id = orgs.find_user(ctx, person)["id"]
    start = read_instant(ctx, from_text, tz, "--from")
    end = start + timedelta(days=14) if to_text is None else read_instant(ctx, to_text, tz, "--to")
    items = schedules.person_shifts(ctx, user_id, start, end)
    if as_json:
        echo_json(items)
        return
    print_table(
        ["SCHEDULE", "LAYER", "START", "END", "SOURCE"],
        [[s["scheduleName"], s["layerName"] or "-", s["start"], s["end"], s["source"]] for s in items],
    )


@click.command("completion")
@click.argument("shell", type=click.Choice(("bash", "zsh", "fish")))
@click.pass_context
def completion_command(click_ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL (click's own). Install it with, for bash,
    ``eval "$(oncall completion bash)"`` in ~/.bashrc; zsh: the same in ~/.zshrc; fish:
    ``oncall completion fish > ~/.config/fish/completions/oncall.fish``."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # the three choices are click's own
    root = click_ctx.find_root().command
    echo(cls(root, {}, "oncall", "_ONCALL_COMPLETE").source())
