"""Read commands for scripts and quick looks: ``oncall incidents``, ``policies``, ``schedules``."""

from __future__ import annotations

from typing import Any

import click

from console.cli.main import AsciiIntRange, State, echo, echo_json, handle_errors, pass_state
from console.cli.table import print_table
from engine.model import SEVERITIES, STATUSES
from engine.rotation import TargetResolution
from engine.service import incidents as incidents_svc
from engine.service import orgs, policies, schedules


def _people(user_ids: list[str], names: dict[str, str]) -> str:
    return ", ".join(names.get(u, u) for u in user_ids)


@click.command("incidents")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--severity", type=click.Choice(SEVERITIES), default=None)
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--limit", type=AsciiIntRange(1, 100), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def incidents_command(
    state: State, status: str | None, severity: str | None, show_all: bool, limit: int, as_json: bool
) -> None:
    """List incidents, newest first (open ones unless --all or --status)."""
    ctx = state.ctx()
    page = incidents_svc.list_incidents(
        ctx, status=status, severity=severity, limit=limit, open_only=not show_all and status is None
    )
    items = page["incidents"]
    if as_json:
        echo_json(items)
        return
    names = orgs.user_names(ctx)
    states = incidents_svc.escalation_states(ctx, [inc["id"] for inc in items])
    rows = []
    for inc in items:
        esc = states.get(inc["id"])
        layer = f"{esc['currentLayer']}/{esc['layerCount']}" if esc and esc.get("layerCount") else "-"
        rows.append(
            [
                f"#{inc['sequentialId']}",
                inc["severity"].upper(),
                inc["status"],
                ("[DRILL] " if inc["isDrill"] else "") + inc["title"],
                names.get(inc["ownerId"] or "", "-"),
                layer,
                names.get(inc["acknowledgedBy"] or "", inc["acknowledgedBy"] or "-"),
                inc["createdAt"],
            ]
        )
    print_table(["#", "SEV", "STATUS", "TITLE", "OWNER", "LAYER", "ACKED BY", "CREATED"], rows)


def _target_text(
    target: dict[str, Any], paged: TargetResolution, names: dict[str, str], sched_names: dict[str, str]
) -> str:
    who = _people(list(paged.user_ids), names) or "nobody"
    gone = f"; removed: {_people(list(paged.removed), names)}" if paged.removed else ""
    if target["type"] == "schedule":
        sid = target["scheduleId"]
        return f"schedule {sched_names.get(sid, sid)} (now: {who}{gone})"
    return f"users {who}{gone}"


@click.command("policies")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def policies_command(state: State, as_json: bool) -> None:
    """List escalation policies with their layers and everyone each layer would page now.

    ``--json`` prints each policy as ``GET /v1/escalation-policies/{id}`` answers it, plus, on every
    layer, ``pagingNow`` (the ids of everyone the layer would page now, as the engine would page them)
    and ``removedNow`` (removed users the layer's target still names, who are not paged).
    """
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
