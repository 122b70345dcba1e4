"""``oncall schedules create | edit | delete``, ``schedules layers add | edit | delete | reorder`` and
``schedules overrides add | list | delete``.

The subcommands of the ``schedules`` group (console/cli/views.py lists the schedules). Each calls the use
case the HTTP API calls (:mod:`engine.service.schedules`) and prints one line saying what changed, or with
``--json`` the object as the API answers it (a delete, which the API answers 204, prints
``{"id": …, "deleted": true}``). A SCHEDULE is its name or id, a rotation LAYER its name or id, a person
an email or id. Times (``--from``, ``--start``, …) are an ISO instant (``2026-04-07T09:00Z``), or a local
date and time (``2026-04-07 09:00``) or date read in the schedule's time zone, or ``now``/``today``.
"""

from __future__ import annotations

from typing import Any

import click

from console.cli.main import (
    AsciiIntRange,
    State,
    echo_json,
    handle_errors,
    json_option,
    pass_state,
    report,
)
from console.cli.table import print_table
from console.cli.views import schedules_command
from engine.errors import NotFound, ValidationError
from engine.model import ROTATION_TYPES
from engine.service import Ctx, orgs, schedules
from engine.timefmt import to_iso
from engine.timeparse import parse_local_instant


def read_when(ctx: Ctx, text: str, zone: str, option: str) -> str:
    """A time typed on the command line (module docstring) as an ISO instant; 422 naming ``option``."""
    try:
        return to_iso(parse_local_instant(text, zone, now=ctx.now(), words=("now", "today")).instant)
    except ValueError as exc:
        raise ValidationError(f"{option} {exc}", field=option.lstrip("-")) from None


def _deleted(as_json: bool, obj_id: str, line: str) -> None:
    report(as_json, {"id": obj_id, "deleted": True}, line)


@schedules_command.command("create")
@click.argument("name")
@click.option("--timezone", "timezone", required=True, help="IANA time zone, such as Europe/Paris.")
@click.option("--description", default=None)
@json_option
@pass_state
@handle_errors
def schedule_create(state: State, name: str, timezone: str, description: str | None, as_json: bool) -> None:
    """Create schedule NAME (add rotation layers with 'schedules layers add')."""
    body: dict[str, Any] = {"name": name, "timezone": timezone}
    if description is not None:
        body["description"] = description
    sched = schedules.create_schedule(state.ctx(), body)
    report(as_json, sched, f"Created schedule {sched['name']} ({sched['id']}, {sched['timezone']})")


@schedules_command.command("edit")
@click.argument("schedule")
@click.option("--name", default=None, help="A new name.")
@click.option("--timezone", default=None, help="A new IANA time zone.")
@click.option("--description", default=None, help="A new description ('' clears it).")
@json_option
@pass_state
@handle_errors
def schedule_edit(
    state: State,
    schedule: str,
    name: str | None,
    timezone: str | None,
    description: str | None,
    as_json: bool,
) -> None:
    """Change SCHEDULE's name, time zone or description."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if timezone is not None:
        body["timezone"] = timezone
    if description is not None:
        body["description"] = description or None
    if not body:
        raise click.UsageError(
            "nothing to change: give --name, --timezone or --description", click.get_current_context()
        )
    ctx = state.ctx()
    sched = schedules.update_schedule(ctx, schedules.find_schedule(ctx, schedule)["id"], body)
    report(as_json, sched, f"Changed schedule {sched['name']} ({sched['id']}): {', '.join(body)}")


@schedules_command.command("delete")
@click.argument("schedule")
@json_option
@pass_state
@handle_errors
def schedule_delete(state: State, schedule: str, as_json: bool) -> None:
    """Delete SCHEDULE (refused while a policy or an open incident's escalation pages it)."""
    ctx = state.ctx()
    sched = schedules.find_schedule(ctx, schedule)
    schedules.delete_schedule(ctx, sched["id"])
    _deleted(as_json, sched["id"], f"Deleted schedule {sched['name']} ({sched['id']})")


# -- rotation layers -----------------------------------------------------------------------------


@schedules_command.group("layers")
def rotation_layers() -> None:
    """Add, edit, delete and reorder a schedule's rotation layers."""


def find_rotation_layer(ctx: Ctx, schedule_id: str, ident: str) -> dict[str, Any]:
    """A rotation layer of the schedule by name or id; 404 ``not_found`` otherwise."""
    for layer in schedules.list_rotation_layers(ctx, schedule_id):
        if ident in (layer["id"], layer["name"]):
            return layer
    raise NotFound("rotation layer", ident)


def _rotation_options(fn: Any) -> Any:
    options = [
        click.option("--until", "until", default=None, help="When the layer stops ('' : never)."),
        click.option("--from", "from_", default=None, help="When the layer starts."),
        click.option("--handoff", default=None, help="Handoff time HH:MM in the schedule's zone."),
        click.option("--length", type=AsciiIntRange(), default=None, help="Days per turn (custom)."),
        click.option("--type", "rotation_type", type=click.Choice(ROTATION_TYPES), default=None),
        click.option(
            "--participants", default=None, help="People in turn order (emails or ids, comma-separated)."
        ),
    ]
    for option in options:
        fn = option(fn)
    return fn


def _rotation_body(
    ctx: Ctx,
    zone: str,
    participants: str | None,
    rotation_type: str | None,
    length: int | None,
    handoff: str | None,
    from_: str | None,
    until: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if participants is not None:
        body["participantIds"] = [
            orgs.find_user(ctx, p.strip())["id"] for p in participants.split(",") if p.strip()
        ]
    if rotation_type is not None:
        body["rotationType"] = rotation_type
    if length is not None:
        body["rotationLengthDays"] = length
    if handoff is not None:
        body["handoffTime"] = handoff
    if from_ is not None:
        body["effectiveFrom"] = read_when(ctx, from_, zone, "--from")
    if until is not None:
        body["effectiveUntil"] = read_when(ctx, until, zone, "--until") if until else None
    return body


@rotation_layers.command("add")
@click.argument("schedule")
@click.option("--name", required=True, help="The layer's name, unique in the schedule.")
@_rotation_options
@json_option
@pass_state
@handle_errors
def rotation_add(
    state: State,
    schedule: str,
    name: str,
    participants: str | None,
    rotation_type: str | None,
    length: int | None,
    handoff: str | None,
    from_: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Add a rotation layer to SCHEDULE (below the existing ones): --participants, --type, --handoff and
    --from are needed (--length for a custom rotation)."""
    ctx = state.ctx()
    sched = schedules.find_schedule(ctx, schedule)
    body = {"name": name}
    body.update(
        _rotation_body(ctx, sched["timezone"], participants, rotation_type, length, handoff, from_, until)
    )
    layer = schedules.add_rotation_layer(ctx, sched["id"], body)
    report(as_json, layer, f"Added rotation layer {layer['name']} to {sched['name']} ({layer['id']})")


@rotation_layers.command("edit")
@click.argument("schedule")
@click.argument("layer")
@click.option("--name", default=None, help="A new name.")
@_rotation_options
@json_option
@pass_state
@handle_errors
def rotation_edit(
    state: State,
    schedule: str,
    layer: str,
    name: str | None,
    participants: str | None,
    rotation_type: str | None,
    length: int | None,
    handoff: str | None,
    from_: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Change rotation LAYER of SCHEDULE."""
    ctx = state.ctx()
    sched = schedules.find_schedule(ctx, schedule)
    found = find_rotation_layer(ctx, sched["id"], layer)
    body = _rotation_body(ctx, sched["timezone"], participants, rotation_type, length, handoff, from_, until)
    if name is not None:
        body["name"] = name
    if not body:
        raise click.UsageError("nothing to change: give at least one option", click.get_current_context())
    out = schedules.update_rotation_layer(ctx, sched["id"], found["id"], body)
    report(as_json, out, f"Changed rotation layer {out['name']} of {sched['name']}: {', '.join(body)}")


@rotation_layers.command("delete")
@click.argument("schedule")
@click.argument("layer")
@json_option
@pass_state
@handle_errors
def rotation_delete(state: State, schedule: str, layer: str, as_json: bool) -> None:
    """Delete rotation LAYER of SCHEDULE."""
    ctx = state.ctx()
    sched = schedules.find_schedule(ctx, schedule)
    found = find_rotation_layer(ctx, sched["id"], layer)
    schedules.delete_rotation_layer(ctx, sched["id"], found["id"])
    _deleted(as_json, found["id"], f"Deleted rotation layer {found['name']} of {sched['name']}")


@rotation_layers.command("reorder")
@click.argument("schedule")
@click.argument("layers", nargs=-1, required=True)
@json_option
@pass_state
@handle_errors
def rotation_reorder(state: State, schedule: str, layers: tuple[str, ...], as_json: bool) -> None:
    """Put SCHEDULE's rotation layers in the order given (every layer once, by name or id; the first
    one listed bears the schedule's owner)."""
    ctx = state.ctx()
    sched = schedules.find_schedule(ctx, schedule)
    by_name = {layer["name"]: layer["id"] for layer in schedules.list_rotation_layers(ctx, sched["id"])}
    out = schedules.reorder_rotation_layers(ctx, sched["id"], [by_name.get(x, x) for x in layers])
    report(as_json, out, f"Reordered {sched['name']}: {', '.join(layer['name'] for layer in out)}")


# -- overrides -----------------------------------------------------------------------------------


@schedules_command.group("overrides")
def overrides_group() -> None:
    """Add, list and delete a schedule's overrides (someone covers a stretch of time)."""


@overrides_group.command("add")
@click.argument("schedule")
@click.option("--user", "person", required=True, help="Who covers (email or id).")
@click.option("--start", required=True, help="When the cover starts.")
@click.option("--end", required=True, help="When it ends.")
@click.option("--note", default=None)
@json_option
@pass_state
@handle_errors
def override_add(
    state: State, schedule: str, person: str, start: str, end: str, note: str | None, as_json: bool
) -> None:
    """PERSON covers SCHEDULE from --start to --end (their shift, instead of the rotation's)."""
    ctx = state.ctx()
    sched = schedules.find_schedule(ctx, schedule)
    zone = sched["timezone"]
    body: dict[str, Any] = {
        "userId": orgs.find_user(ctx, person)["id"],
        "start": read_when(ctx, start, zone, "--start"),
        "end": read_when(ctx, end, zone, "--end"),
    }
    if note is not None:
        body["note"] = note
    ovr = schedules.add_override(ctx, sched["id"], body)
    report(
        as_json, ovr, f"Added override {ovr['id']} on {sched['name']}: {person} {ovr['start']} → {ovr['end']}"
    )


@overrides_group.command("list")
@click.argument("schedule")
@json_option
@pass_state
@handle_errors
def override_list(state: State, schedule: str, as_json: bool) -> None:
    """SCHEDULE's overrides, by start."""
    ctx = state.ctx()
    items = schedules.list_overrides(ctx, schedules.find_schedule(ctx, schedule)["id"])
    if as_json:
        echo_json(items)
        return
    names = orgs.user_names(ctx)
    print_table(
        ["ID", "WHO", "START", "END", "NOTE"],
        [
            [o["id"], names.get(o["userId"], o["userId"]), o["start"], o["end"], o["note"] or ""]
            for o in items
        ],
    )


@overrides_group.command("delete")
@click.argument("schedule")
@click.argument("override_id")
@json_option
@pass_state
@handle_errors
def override_delete(state: State, schedule: str, override_id: str, as_json: bool) -> None:
    """Delete override OVERRIDE_ID of SCHEDULE."""
    ctx = state.ctx()
    sched = schedules.find_schedule(ctx, schedule)
    schedules.delete_override(ctx, sched["id"], override_id)
    _deleted(as_json, override_id, f"Deleted override {override_id} of {sched['name']}")
