"""``oncall heartbeats …``: dead man's switches that open an incident when a job stops pinging.

``create`` and ``rotate`` print the ping URL once (only the token's hash is stored); the URL's host is
``--base-url``, where ``oncall serve`` answers (its default address unless told otherwise).
"""

from __future__ import annotations

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
from engine.model import SEVERITIES
from engine.service import heartbeats, policies
from engine.service.models import MAX_ACK_TIMEOUT_MINUTES

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
BASE_URL_HELP = "Where `oncall serve` answers, for the printed ping URL."


def _show_url(base_url: str, hb: dict[str, Any]) -> None:
    echo("Ping URL (shown once; POST or GET, no API key):")
    echo(f"  {base_url.rstrip('/')}{hb['pingPath']}")


@click.group("heartbeats")
def heartbeats_group() -> None:
    """Heartbeat monitors: a missed ping opens an incident on a policy; the next ping resolves it."""


@heartbeats_group.command("create")
@click.argument("name")
@click.option("--policy", "policy_ident", required=True, help="Escalation policy (id or name) to page.")
@click.option(
    "--interval", type=AsciiIntRange(1, MAX_ACK_TIMEOUT_MINUTES), required=True, help="Minutes between pings."
)
@click.option(
    "--grace",
    type=AsciiIntRange(0, MAX_ACK_TIMEOUT_MINUTES),
    default=heartbeats.DEFAULT_GRACE_MINUTES,
    show_default=True,
    help="Minutes a ping may be late before it counts as missed.",
)
@click.option(
    "--severity", type=click.Choice(SEVERITIES), default=heartbeats.DEFAULT_SEVERITY, show_default=True
)
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True, help=BASE_URL_HELP)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def heartbeats_create(
    state: State,
    name: str,
    policy_ident: str,
    interval: int,
    grace: int,
    severity: str,
    base_url: str,
    as_json: bool,
) -> None:
    """Create a heartbeat; its ping URL is printed once."""
    ctx = state.ctx()
    policy = policies.find_policy(ctx, policy_ident)
    hb = heartbeats.create_heartbeat(
        ctx,
        {
            "name": name,
            "escalationPolicyId": policy["id"],
            "intervalMinutes": interval,
            "graceMinutes": grace,
            "severity": severity,
        },
    )
    if as_json:
        echo_json(hb)
        return
    echo(
        f"Created heartbeat {hb['name']} ({hb['id']}): every {interval} min, {grace} min of grace, pages {policy['name']}"
    )
    echo(f"Due by {hb['dueAt']}")
    _show_url(base_url, hb)


@heartbeats_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def heartbeats_list(state: State, as_json: bool) -> None:
    """Heartbeats with their status (waiting, up, down), last ping and due time."""
    ctx = state.ctx()
    items = heartbeats.list_heartbeats(ctx)
    if as_json:
        echo_json(items)
        return
    names = {p["id"]: p["name"] for p in policies.list_policies(ctx)}
    print_table(
        ["NAME", "STATUS", "EVERY", "GRACE", "POLICY", "LAST PING", "DUE", "INCIDENT", "TOKEN"],
        [
            [
                hb["name"],
                hb["status"],
                f"{hb['intervalMinutes']}m",
                f"{hb['graceMinutes']}m",
                names.get(hb["escalationPolicyId"], "(deleted)"),
                hb["lastPingAt"] or "never",
                hb["dueAt"] or "-",
                hb["incidentId"] or "-",
                hb["token"],
            ]
            for hb in items
        ],
    )


@heartbeats_group.command("ping")
@click.argument("heartbeat")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def heartbeats_ping(state: State, heartbeat: str, as_json: bool) -> None:
    """Ping a heartbeat (id or name) by hand, as its ping URL does."""
    ctx = state.ctx()
    answer = heartbeats.ping_heartbeat(ctx, heartbeats.find_heartbeat(ctx, heartbeat)["id"])
    if as_json:
        echo_json(answer)
        return
    echo(f"Pinged; due again by {answer['dueAt']}")
    if answer["resolvedIncidentId"]:
        echo(f"Resolved incident {answer['resolvedIncidentId']}")


@heartbeats_group.command("rotate")
@click.argument("heartbeat")
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True, help=BASE_URL_HELP)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def heartbeats_rotate(state: State, heartbeat: str, base_url: str, as_json: bool) -> None:
    """Replace a heartbeat's ping token; the old URL stops working at once."""
    ctx = state.ctx()
    hb = heartbeats.rotate_token(ctx, heartbeats.find_heartbeat(ctx, heartbeat)["id"])
    if as_json:
        echo_json(hb)
        return
    echo(f"Rotated the token of {hb['name']} ({hb['id']})")
    _show_url(base_url, hb)


@heartbeats_group.command("delete")
@click.argument("heartbeat")
@json_option
@pass_state
@handle_errors
def heartbeats_delete(state: State, heartbeat: str, as_json: bool) -> None:
    """Delete a heartbeat (an incident it opened stays open)."""
    ctx = state.ctx()
    hb = heartbeats.find_heartbeat(ctx, heartbeat)
    heartbeats.delete_heartbeat(ctx, hb["id"])
    report(as_json, {"id": hb["id"], "deleted": True}, f"Deleted heartbeat {hb['name']} ({hb['id']})")
