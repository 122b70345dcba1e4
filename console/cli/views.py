"""Read commands for scripts and quick looks: ``oncall incidents``, ``policies``, ``schedules``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from console.cli.incident_table import INCIDENT_HEADERS, incident_rows, list_incidents
from console.cli.main import AsciiIntRange, State, echo, echo_json, handle_errors
from console.cli.table import print_table
from engine.model import SEVERITIES, STATUSES
from engine.service import orgs

if TYPE_CHECKING:
    from engine.rotation import TargetResolution


def _people(user_ids: list[str], names: dict[str, str]) -> str:
    return ", ".join(names.get(u, u) for u in user_ids)


@click.group("incidents", invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--severity", type=click.Choice(SEVERITIES), default=None)
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--limit", type=AsciiIntRange(1, 100), default=50, show_default=True)
@click.option(
    "--watch",
    is_flag=True,
    help="Keep the table live until Ctrl-C, redrawn whenever the database changes (piped: printed again "
    "on each change; with --json one JSON array a line).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def incidents_command(
    click_ctx: click.Context,
    status: str | None,
    severity: str | None,
    show_all: bool,
    limit: int,
    watch: bool,
    as_json: bool,
) -> None:
    """List incidents, newest first (open ones unless --all or --status); ``show`` one of them."""
    if click_ctx.invoked_subcommand is not None:
        return
    state = click_ctx.find_object(State)
    assert state is not None
    ctx = state.ctx()

    def read() -> list[dict[str, Any]]:
        return list_incidents(ctx, status=status, severity=severity, limit=limit, show_all=show_all)

    if watch:
        from console.cli.watching import watch_incidents

        watch_incidents(ctx, read, as_json=as_json)
        return
    items = read()
    if as_json:
        echo_json(items)
        return
    print_table(INCIDENT_HEADERS, incident_rows(ctx, items))


def _target_text(
    target: dict[str, Any], paged: TargetResolution, names: dict[str, str], sched_names: dict[str, str]
) -> str:
    who = _people(list(paged.user_ids), names) or "nobody"
    gone = f"; removed: {_people(list(paged.removed), names)}" if paged.removed else ""
    if target["type"] == "schedule":
        sid = target["scheduleId"]
        return f"schedule {sched_names.get(sid, sid)} (now: {who}{gone})"
    return f"users {who}{gone}"


@click.group("policies", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def policies_command(click_ctx: click.Context, as_json: bool) -> None:
    """List escalation policies with their layers and everyone each layer would page now; create, edit,
    delete and reorder them with the subcommands.

    ``--json`` prints each policy as ``GET /v1/escalation-policies/{id}`` answers it, plus, on every
    layer, ``pagingNow`` (the ids of everyone the layer would page now, as the engine would page them)
    and ``removedNow`` (removed users the layer's target still names, who are not paged).
    """
    if click_ctx.invoked_subcommand is not None:
        return
    # the policy and schedule use cases (and the rotation rules) load here, not with ``oncall incidents``
    from engine.rotation import TargetResolution
    from engine.service import policies, schedules

    state = click_ctx.find_object(State)
    assert state is not None
    ctx = state.ctx()
    items = [policies.get_policy(ctx, p["id"]) for p in policies.list_policies(ctx)]
    for pol in items:
        paged = policies.paged_now(ctx, pol["id"])
        for layer in pol["layers"]:
            now = paged.get(layer["id"], TargetResolution(()))
            layer["pagingNow"] = list(now.user_ids)
            layer["removedNow"] = list(now.removed)
    if as_json:
        echo_json(items)
        return
    names = orgs.user_names(ctx)
    sched_names = {s["id"]: s["name"] for s in schedules.list_schedules(ctx)}
    if not items:
        echo("(no policies)")
    for pol in items:
        echo(f"{pol['name']}  ({pol['id']})")
        if pol["description"]:
            echo(f"  {pol['description']}")
        reached = 0
        for layer in pol["layers"]:
            now = TargetResolution(tuple(layer["pagingNow"]), tuple(layer["removedNow"]))
            echo(
                f"  {layer['position']}. after {reached}m, ack within {layer['ackTimeoutMinutes']}m: "
                f"{_target_text(layer['target'], now, names, sched_names)}"
            )
            reached += layer["ackTimeoutMinutes"]
        if not pol["layers"]:
            echo("  (no layers: incidents on this policy page nobody)")
        echo("")


@click.group("schedules", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def schedules_command(click_ctx: click.Context, as_json: bool) -> None:
    """List on-call schedules with who is on call now and until when; create, edit and delete schedules,
    rotation layers and overrides with the subcommands."""
    if click_ctx.invoked_subcommand is not None:
        return
    from engine.service import schedules

    state = click_ctx.find_object(State)
    assert state is not None
    ctx = state.ctx()
    items = []
    for s in schedules.list_schedules(ctx):
        full = schedules.get_schedule(ctx, s["id"])
        full["onCallNow"] = schedules.resolve_schedule(ctx, s["id"])
        items.append(full)
    if as_json:
        echo_json(items)
        return
    names = orgs.user_names(ctx)
    print_table(
        ["NAME", "TIMEZONE", "LAYERS", "OWNER NOW", "PAGING NOW", "UNTIL"],
        [
            [
                s["name"],
                s["timezone"],
                len(s["layers"]),
                names.get(s["onCallNow"]["scheduleOwner"] or "", "nobody"),
                _people(s["onCallNow"]["pagingTargets"], names) or "nobody",
                s["onCallNow"]["nextHandoff"] or "-",
            ]
            for s in items
        ],
    )
