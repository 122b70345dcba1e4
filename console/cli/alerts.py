"""``oncall integrations …`` and ``oncall maintenance …``: where alerts come in, and when they may page.

docs/ALERTS.md describes the payloads, grouping, routing and windows; these commands call the use cases in
``engine/service/integrations.py``, ``alerts.py`` and ``maintenance.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from console.cli.main import State, echo, echo_json, fail, handle_errors, json_option, pass_state, report
from console.cli.table import print_table
from engine.alerts import KINDS
from engine.model import SEVERITIES
from engine.service import alerts, integrations, maintenance, policies

# -- integrations ------------------------------------------------------------------------------------


@click.group("integrations")
def integrations_group() -> None:
    """Inbound integrations: Alertmanager, Grafana and generic events open incidents by themselves."""


def _severity_map(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        label, sep, ours = pair.partition("=")
        if not sep or not label:
            fail(f"--severity-map takes LABEL=SEVERITY (e.g. warning=high), not {pair!r}", 2)
        out[label] = ours
    return out


def _selectors(path: str | None) -> list[Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read selectors from {path}: {exc}", 2)
    return data if isinstance(data, list) else data.get("selectors") if isinstance(data, dict) else data


def _receive_url(path: str) -> str:
    """The receiver's URL on ``oncall serve``'s default address (another ``--host``/``--port``: change it)."""
    return f"http://127.0.0.1:8080{path}"


@integrations_group.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="The payload the integration reads.")
@click.option("--policy", default=None, help="Escalation policy (id or name) for alerts no selector routes.")
@click.option("--component", default=None, help="Component name alerts are routed to by default.")
@click.option("--severity", type=click.Choice(SEVERITIES), default=None, help="When a label maps to none.")
@click.option("--severity-map", "severity_map", multiple=True, metavar="LABEL=SEVERITY")
@click.option("--selectors", "selectors_file", default=None, metavar="FILE", help="JSON list of selectors.")
@click.option("--no-auto-resolve", is_flag=True, help="Keep incidents open when their alerts clear.")
@click.option("--flap-window", type=click.IntRange(0, 86_400), default=None, metavar="SECONDS")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def integrations_create(
    state: State,
    name: str,
    kind: str,
    policy: str | None,
    component: str | None,
    severity: str | None,
    severity_map: tuple[str, ...],
    selectors_file: str | None,
    no_auto_resolve: bool,
    flap_window: int | None,
    as_json: bool,
) -> None:
    """Create an integration and print its secret URL (shown once)."""
    ctx = state.ctx()
    body: dict[str, Any] = {"name": name, "kind": kind, "autoResolve": not no_auto_resolve}
    if policy is not None:
        body["escalationPolicyId"] = policies.find_policy(ctx, policy)["id"]
    if component is not None:
        body["component"] = component
    if severity is not None:
        body["severity"] = severity
    if severity_map:
        body["severityMap"] = _severity_map(severity_map)
    selectors = _selectors(selectors_file)
    if selectors is not None:
        body["selectors"] = selectors
    if flap_window is not None:
        body["flapWindowSeconds"] = flap_window
    created = integrations.create_integration(ctx, body)
    if as_json:
        echo_json(created)
        return
    echo(f"Created {created['kind']} integration {created['name']} ({created['id']})")
    echo("Its URL (shown once, store it now; POST the payloads there):")
    echo(f"  {_receive_url(created['receivePath'])}")


@integrations_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def integrations_list(state: State, as_json: bool) -> None:
    """List integrations (tokens are never shown again; rotate to get a new one)."""
    found = integrations.list_integrations(state.ctx())
    if as_json:
        echo_json(found)
        return
    print_table(
        ["ID", "NAME", "KIND", "POLICY", "SELECTORS", "AUTO-RESOLVE", "TOKEN"],
        [
            [
                i["id"],
                i["name"],
                i["kind"],
                i["escalationPolicyId"] or "",
                len(i["selectors"]),
                "yes" if i["autoResolve"] else "no",
                f"…{i['tokenLast4']}",
            ]
            for i in found
        ],
    )


@integrations_group.command("rotate")
@click.argument("integration")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def integrations_rotate(state: State, integration: str, as_json: bool) -> None:
    """Give an integration a new secret URL; the old one stops working at once."""
    rotated = integrations.rotate_token(state.ctx(), integration)
    if as_json:
        echo_json(rotated)
        return
    echo(f"Rotated {rotated['name']} ({rotated['id']}). Its new URL (shown once):")
    echo(f"  {_receive_url(rotated['receivePath'])}")


@integrations_group.command("delete")
@click.argument("integration")
@json_option
@pass_state
@handle_errors
def integrations_delete(state: State, integration: str, as_json: bool) -> None:
    """Delete an integration: its URL stops working; its alerts and incidents stay."""
    ctx = state.ctx()
    found = integrations.get_integration(ctx, integration)
    integrations.delete_integration(ctx, found["id"])
    report(as_json, {"id": found["id"], "deleted": True}, f"Deleted {found['name']} ({found['id']})")


@integrations_group.command("test")
@click.argument("integration")
@click.option("--resolve", "resolved", is_flag=True, help="Send the sample's resolve instead.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def integrations_test(state: State, integration: str, resolved: bool, as_json: bool) -> None:
    """Send a sample payload of the integration's kind, as its monitoring would (it opens, or with
    --resolve clears, a real incident on the integration's routing)."""
    got = alerts.send_test(state.ctx(), integration, resolved=resolved)
    if as_json:
        echo_json(got)
        return
    for a in got["alerts"]:
        echo(f"{a['action']}: alert {a['alertId'] or '-'} incident {a['incidentId'] or '-'}")


# -- maintenance windows -----------------------------------------------------------------------------

_DURATION = re.compile(r"([0-9]{1,6})([mhd]?)", re.ASCII)
_MINUTES = {"": 1, "m": 1, "h": 60, "d": 1440}


def _minutes(text: str) -> int:
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        fail(f"--for takes a duration like 30m, 2h or 1d, not {text!r}", 2)
    return int(m.group(1)) * _MINUTES[m.group(2)]


@click.group("maintenance")
def maintenance_group() -> None:
    """Maintenance windows: alerts are recorded, pages held (or alerts dropped) until the window ends."""


@maintenance_group.command("start")
@click.option("--org", "whole_org", is_flag=True, help="The whole organisation.")
@click.option("--integration", default=None, help="One integration (id or name).")
@click.option("--component", default=None, help="One component (alerts routed to it).")
@click.option("--for", "duration", default=None, metavar="DURATION", help="30m, 2h, 1d (from the start).")
@click.option("--until", default=None, metavar="ISO", help="End instant (ISO 8601 with a zone).")
@click.option("--at", "starts_at", default=None, metavar="ISO", help="Start later (ISO 8601); default now.")
@click.option(
    "--drop", is_flag=True, help="Drop alerts (record them, open no incident) instead of holding pages."
)
@click.option("--reason", default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def maintenance_start(
    state: State,
    whole_org: bool,
    integration: str | None,
    component: str | None,
    duration: str | None,
    until: str | None,
    starts_at: str | None,
    drop: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Start (or schedule) a window on the organisation, an integration or a component."""
    scopes = [
        s for s, on in (("org", whole_org), ("integration", integration), ("component", component)) if on
    ]
    if len(scopes) != 1:
        fail("give exactly one of --org, --integration NAME, --component NAME", 2)
    if (duration is None) == (until is None):
        fail("give exactly one of --for DURATION and --until INSTANT", 2)
    body: dict[str, Any] = {"scope": scopes[0], "mode": "drop" if drop else "hold"}
    if integration is not None:
        body["integrationId"] = integration
    if component is not None:
        body["component"] = component
    if duration is not None:
        body["durationMinutes"] = _minutes(duration)
    if until is not None:
        body["endsAt"] = until
    if starts_at is not None:
        body["startsAt"] = starts_at
    if reason is not None:
        body["reason"] = reason
    window = maintenance.start_window(state.ctx(), body)
    if as_json:
        echo_json(window)
        return
    echo(
        f"Maintenance {window['id']} ({window['mode']}, {_scope(window)}) {window['state']}: {window['startsAt']} → {window['endsAt']}"
    )


def _scope(w: dict[str, Any]) -> str:
    if w["scope"] == "org":
        return "whole organisation"
    return f"{w['scope']} {w['integrationId'] or w['component']}"


@maintenance_group.command("list")
@click.option("--all", "include_ended", is_flag=True, help="Ended windows too.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def maintenance_list(state: State, include_ended: bool, as_json: bool) -> None:
    """Active and scheduled windows (with --all, ended ones too)."""
    windows = maintenance.list_windows(state.ctx(), include_ended=include_ended)
    if as_json:
        echo_json(windows)
        return
    print_table(
        ["ID", "STATE", "MODE", "SCOPE", "STARTS", "ENDS", "REASON"],
        [
            [w["id"], w["state"], w["mode"], _scope(w), w["startsAt"], w["endsAt"], w["reason"] or ""]
            for w in windows
        ],
    )


@maintenance_group.command("end")
@click.argument("window_id")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def maintenance_end(state: State, window_id: str, as_json: bool) -> None:
    """End a window now; incidents it held start paging if their alerts still fire."""
    window = maintenance.end_window(state.ctx(), window_id)
    if as_json:
        echo_json(window)
        return
    echo(f"Maintenance {window['id']} ended at {window['endsAt']}")
