"""Acting on incidents from the shell: ``oncall page``, ``ack``, ``resolve``, ``escalate``, ``snooze``,
``handoff``, ``note`` and ``incidents show``.

Each command finds the incident by number (``12``, ``#12``) or id, calls the use case the HTTP API and
the console call (:mod:`engine.service.incidents`) as the acting person (``--as``, ``ONCALL_AS`` or the
configured identity: :meth:`console.cli.main.State.ctx`), and prints one line saying what changed, or with
``--json`` the object exactly as the API answers the same request.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from console.cli.main import (
    AsciiIntRange,
    State,
    echo,
    echo_json,
    handle_errors,
    json_option,
    pass_state,
    report,
)
from console.cli.table import print_table
from console.cli.views import incidents_command
from engine.errors import ValidationError
from engine.model import SEVERITIES
from engine.service import Ctx, orgs
from engine.service import incidents as incidents_svc


def _incident(ctx: Ctx, ident: str) -> dict[str, Any]:
    return incidents_svc.find_incident(ctx, ident)


def _label(inc: dict[str, Any]) -> str:
    return f"#{inc['sequentialId']} {inc['title']}"


def _actor(ctx: Ctx) -> str:
    """The acting person's name, for "… as NAME"."""
    if ctx.actor_user_id is None:
        return "the operator"
    return orgs.user_names(ctx).get(ctx.actor_user_id, ctx.actor_user_id)


def snooze_minutes(text: str) -> int:
    """``DURATION`` of ``oncall snooze``: ``30m``, ``2h``, ``1h30m`` or a bare number of minutes, in whole
    minutes (the escalation's unit); 422 ``validation_error`` (exit 2) otherwise."""
    from engine.drill import parse_duration  # the drill's rules load for ``snooze`` only

    delta = parse_duration(text)
    seconds = int(delta.total_seconds())
    if seconds <= 0 or seconds % 60:
        raise ValidationError(
            f"snooze takes whole minutes (such as 30m or 2h), got {text!r}", field="minutes"
        )
    return seconds // 60


@click.command("page")
@click.option("--title", required=True, help="What is wrong (at most 100 characters).")
@click.option("--severity", type=click.Choice(SEVERITIES), default="high", show_default=True)
@click.option("--policy", default=None, help="Escalation policy (name or id) to page; none: page nobody.")
@click.option(
    "--description", default=None, help="Details; default: standard input when it is piped (not a terminal)."
)
@json_option
@pass_state
@handle_errors
def page_command(
    state: State, title: str, severity: str, policy: str | None, description: str | None, as_json: bool
) -> None:
    """Open an incident; with --policy its first layer is paged at once."""
    ctx = state.ctx()
    body: dict[str, Any] = {"title": title, "severity": severity}
    if policy is not None:
        from engine.service import policies  # with the rotation rules: not loaded by ack or incidents

        body["escalationPolicyId"] = policies.find_policy(ctx, policy)["id"]
    if description is None:
        if not sys.stdin.isatty():  # piped: the description
            description = sys.stdin.read().strip() or None
    if description is not None:
        body["description"] = description
    inc = incidents_svc.create_incident(ctx, body)
    paging = " and paged layer 1 of its policy" if inc["escalationPolicyId"] else " (no policy: nobody paged)"
    report(as_json, inc, f"Opened {_label(inc)} [{inc['severity']}] as {_actor(ctx)}{paging}")


@click.command("ack")
@click.argument("incident")
@json_option
@pass_state
@handle_errors
def ack_command(state: State, incident: str, as_json: bool) -> None:
    """Acknowledge INCIDENT: its escalation stops. Idempotent. INCIDENT is its number (12 or #12) or id."""
    ctx = state.ctx()
    before = _incident(ctx, incident)
    inc = incidents_svc.acknowledge(ctx, before["id"])
    if before["acknowledgedAt"] is not None:
        line = f"{_label(inc)} was already acknowledged ({inc['acknowledgedAt']})"
    elif inc["status"] == "resolved":
        line = f"{_label(inc)} is resolved; nothing to acknowledge"
    else:
        line = f"Acknowledged {_label(inc)} as {_actor(ctx)}"
    report(as_json, inc, line)


@click.command("resolve")
@click.argument("incident")
@click.option("--note", default=None, help="The resolution note.")
@json_option
@pass_state
@handle_errors
def resolve_command(state: State, incident: str, note: str | None, as_json: bool) -> None:
    """Resolve INCIDENT (through any status it has not reached yet), stopping its escalation.
    INCIDENT is its number (12 or #12) or id."""
    ctx = state.ctx()
    before = _incident(ctx, incident)
    inc = incidents_svc.resolve_incident(ctx, before["id"], note)
    report(as_json, inc, f"Resolved {_label(inc)} (was {before['status']}) as {_actor(ctx)}")


@click.command("escalate")
@click.argument("incident")
@click.option("--to", "to_layer", type=AsciiIntRange(), default=None, help="Page layer N now (1-based).")
@json_option
@pass_state
@handle_errors
def escalate_command(state: State, incident: str, to_layer: int | None, as_json: bool) -> None:
    """Page the next layer of INCIDENT's policy now (or layer N with --to N), without waiting for the
    timeout. INCIDENT is its number (12 or #12) or id."""
    ctx = state.ctx()
    inc = incidents_svc.escalate_now(ctx, _incident(ctx, incident)["id"], to_layer)
    esc = inc.get("escalation") or {}
    where = f" to layer {esc['currentLayer']}/{esc['layerCount']}" if esc.get("layerCount") else ""
    report(as_json, inc, f"Escalated {_label(inc)}{where} as {_actor(ctx)}")


@click.command("snooze")
@click.argument("incident")
@click.argument("duration")
@json_option
@pass_state
@handle_errors
def snooze_command(state: State, incident: str, duration: str, as_json: bool) -> None:
    """Hold INCIDENT's escalation for DURATION (30m, 2h, 1h30m; a bare number is minutes; at most 7
    days), then carry on where it was. INCIDENT is its number (12 or #12) or id."""
    minutes = snooze_minutes(duration)
    ctx = state.ctx()
    inc = incidents_svc.snooze(ctx, _incident(ctx, incident)["id"], minutes)
    esc = inc.get("escalation") or {}
    until = f" until {esc['snoozedUntil']}" if esc.get("snoozedUntil") else ""
    report(as_json, inc, f"Snoozed {_label(inc)} for {minutes}m{until} as {_actor(ctx)}")


@click.command("handoff")
@click.argument("incident")
@click.argument("person")
@json_option
@pass_state
@handle_errors
def handoff_command(state: State, incident: str, person: str, as_json: bool) -> None:
    """Hand INCIDENT off to PERSON (email or user id): they own it and are paged; the current layer's
    timer restarts. INCIDENT is its number (12 or #12) or id."""
    ctx = state.ctx()
    target = orgs.find_user(ctx, person)
    inc = incidents_svc.handoff(ctx, _incident(ctx, incident)["id"], {"targetUserId": target["id"]})
    name = orgs.display_name(target)
    report(as_json, inc, f"Handed {_label(inc)} off to {name} ({target['email']}) as {_actor(ctx)}")


@click.command("note")
@click.argument("incident")
@click.argument("text")
@click.option("--public", is_flag=True, help="A public update (status page) rather than an internal note.")
@click.option(
    "--status",
    "status_change",
    type=click.Choice(("identified", "monitoring", "resolved")),
    default=None,
    help="Also move the incident to this status (the next one only).",
)
@json_option
@pass_state
@handle_errors
def note_command(
    state: State, incident: str, text: str, public: bool, status_change: str | None, as_json: bool
) -> None:
    """Post TEXT as an update on INCIDENT's timeline (internal unless --public). INCIDENT is its number
    (12 or #12) or id; TEXT '-' reads it from standard input."""
    if text == "-":
        text = sys.stdin.read().strip()
    ctx = state.ctx()
    inc = _incident(ctx, incident)
    body: dict[str, Any] = {"visibility": "public" if public else "internal", "body": text}
    if status_change is not None:
        body["statusChange"] = status_change
    update = incidents_svc.post_update(ctx, inc["id"], body)
    moved = f", now {status_change}" if status_change else ""
    report(as_json, update, f"Noted on {_label(inc)} as {_actor(ctx)}{moved}: {update['id']}")


@incidents_command.command("show")
@click.argument("incident")
@json_option
@pass_state
@handle_errors
def incidents_show(state: State, incident: str, as_json: bool) -> None:
    """One incident with its status history, escalation and timeline. INCIDENT is its number (12 or
    #12) or id."""
    ctx = state.ctx()
    inc = incidents_svc.get_incident(ctx, _incident(ctx, incident)["id"])
    if as_json:
        echo_json(inc)
        return
    names = orgs.user_names(ctx)
    echo(f"{_label(inc)}  [{inc['severity']}] {inc['status']}  ({inc['id']})")
    if inc["description"]:
        echo(f"  {inc['description']}")
    echo(f"  owner: {names.get(inc['ownerId'] or '', '-')}")
    ack = inc["acknowledgedBy"]
    echo(f"  acknowledged: {names.get(ack, ack) + ' at ' + inc['acknowledgedAt'] if ack else 'no'}")
    esc = inc["escalation"]
    if esc and esc.get("layerCount"):
        echo(f"  escalation: layer {esc['currentLayer']}/{esc['layerCount']}, {esc['state']}")
    echo("  timeline:")
    for event in inc["timeline"]:
        who = event["actor"]
        by = f" by {names.get(who, who)}" if who else ""
        echo(f"    {event['at']}  {event['kind']}{by}")


@incidents_command.command("status")
@click.argument("incident")
@click.argument("status", type=click.Choice(("identified", "monitoring", "resolved")))
@click.option("--note", default=None, help="The resolution note (when resolving).")
@json_option
@pass_state
@handle_errors
def incidents_status(state: State, incident: str, status: str, note: str | None, as_json: bool) -> None:
    """Move INCIDENT one step forward to STATUS (PATCH /v1/incidents/{id}/status; 'oncall resolve' goes
    all the way). INCIDENT is its number (12 or #12) or id."""
    ctx = state.ctx()
    before = _incident(ctx, incident)
    body: dict[str, Any] = {"status": status}
    if note is not None:
        body["resolutionNote"] = note
    inc = incidents_svc.advance_status(ctx, before["id"], body)
    report(as_json, inc, f"Moved {_label(inc)} from {before['status']} to {inc['status']} as {_actor(ctx)}")


@incidents_command.command("updates")
@click.argument("incident")
@json_option
@pass_state
@handle_errors
def incidents_updates(state: State, incident: str, as_json: bool) -> None:
    """INCIDENT's updates, oldest first (--json: GET /v1/incidents/{id}/updates)."""
    ctx = state.ctx()
    items = incidents_svc.list_updates(ctx, _incident(ctx, incident)["id"])
    if as_json:
        echo_json({"updates": items})
        return
    print_table(
        ["ID", "POSTED", "BY", "VISIBILITY", "STATUS", "BODY"],
        [
            [
                u["id"],
                u["postedAt"],
                u["postedBy"]["name"] if u["postedBy"] else "-",
                u["visibility"],
                u["statusChange"] or "",
                "(redacted)" if u["redactedAt"] else (u["body"] or ""),
            ]
            for u in items
        ],
    )


@incidents_command.command("redact")
@click.argument("incident")
@click.argument("update_id")
@json_option
@pass_state
@handle_errors
def incidents_redact(state: State, incident: str, update_id: str, as_json: bool) -> None:
    """Clear the body of INCIDENT's update UPDATE_ID (its author within 5 minutes, an admin at any
    time). INCIDENT is its number (12 or #12) or id."""
    ctx = state.ctx()
    inc = _incident(ctx, incident)
    update = incidents_svc.redact_update(ctx, inc["id"], update_id)
    report(as_json, update, f"Redacted {update_id} on {_label(inc)} as {_actor(ctx)}")
