"""``oncall users rules …`` and ``oncall users reminders …``: a person's notification rules and shift
reminders (docs/PAGES.md). Registered under ``oncall users`` by :mod:`console.cli.admin`."""

from __future__ import annotations

import re
from typing import Any

import click

from console.cli.main import State, echo, echo_json, handle_errors, pass_state
from console.cli.table import print_table
from engine.errors import ValidationError
from engine.service import notification_rules as rules_svc
from engine.service import orgs

ACTIONS = ("list", "add", "remove", "clear", "up", "down")


@click.command("rules")
@click.argument("user")
@click.argument("action", type=click.Choice(ACTIONS), default="list")
@click.argument("rule_id", required=False)
@click.option(
    "--urgency",
    type=click.Choice(rules_svc.URGENCIES),
    default=None,
    help="high: critical and high incidents; low: medium and low.",
)
@click.option("--after", "after", type=int, default=0, show_default=True, help="add: minutes after the page.")
@click.option(
    "--method", "method", default=None, help="add: the contact method id (see `users contacts list`)."
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def rules_command(
    state: State,
    user: str,
    action: str,
    rule_id: str | None,
    urgency: str | None,
    after: int,
    method: str | None,
    as_json: bool,
) -> None:
    """USER's notification rules: list, add (--urgency --after MIN --method ID), remove RULE_ID, clear
    [--urgency], up/down RULE_ID (swap a step's method with its neighbour's). A person without rules for an
    incident's urgency is paged on every contact method at once."""
    ctx = state.ctx()
    uid = orgs.find_user(ctx, user)["id"]
    if action == "add":
        body: dict[str, Any] = {"delayMinutes": after}
        if urgency is not None:
            body["urgency"] = urgency
        if method is not None:
            body["contactMethodId"] = method
        step = rules_svc.add_rule(ctx, uid, body)
        if as_json:
            echo_json(step)
        else:
            echo(
                f"Added {step['urgency']}-urgency step {step['step']}: {step['channel']} {step['contactMethodId']} at +{step['delayMinutes']} min ({step['id']})"
            )
        return
    if action in ("remove", "up", "down"):
        if rule_id is None:
            raise ValidationError(
                f"{action} needs the step's id (see `oncall users rules {user}`)", field="ruleId"
            )
        if action == "remove":
            rules_svc.remove_rule(ctx, uid, rule_id)
            echo(f"Removed {rule_id}")
            return
        rules_svc.move_rule(ctx, uid, rule_id, {"direction": action})
    if action == "clear":
        n = rules_svc.clear_rules(ctx, uid, urgency)
        echo(f"Removed {n} step{'s' if n != 1 else ''}")
        return
    current = rules_svc.list_rules(ctx, uid)
    if as_json:
        echo_json(current)
        return
    rows = [
        [
            s["urgency"],
            str(s["step"]),
            f"+{s['delayMinutes']} min",
            s["channel"],
            s["contactMethodId"],
            s["id"],
        ]
        for u in rules_svc.URGENCIES
        for s in current[u]
        if urgency in (None, u)
    ]
    if not rows:
        echo("No notification rules: every contact method is paged at once.")
        return
    print_table(["URGENCY", "STEP", "AFTER", "CHANNEL", "METHOD", "ID"], rows)


_LEAD = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?", re.ASCII)


def parse_lead(text: str) -> int | None:
    """``2h``, ``90m``, ``1h30m`` or a number of minutes → minutes; ``off`` → None. 422 on ``before``."""
    value = text.strip().lower()
    if value in ("off", "none", "no"):
        return None
    if value.isdigit():
        return int(value)
    m = _LEAD.fullmatch(value)
    if not value or m is None or not any(m.groups()):
        raise ValidationError("--before takes a lead such as 2h, 90m, 1h30m, or off", field="beforeMinutes")
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


@click.command("reminders")
@click.argument("user")
@click.option(
    "--before", "before", default=None, help="Remind this long before a shift starts: 2h, 90m, off."
)
@click.option("--at-start/--no-at-start", default=None, help="Tell when a shift starts.")
@click.option("--at-end/--no-at-end", default=None, help="Tell when a shift ends.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def reminders_command(
    state: State, user: str, before: str | None, at_start: bool | None, at_end: bool | None, as_json: bool
) -> None:
    """Show or set USER's shift reminders (overrides count). Without options: show them."""
    ctx = state.ctx()
    uid = orgs.find_user(ctx, user)["id"]
    body: dict[str, Any] = {}
    if before is not None:
        body["beforeMinutes"] = parse_lead(before)
    if at_start is not None:
        body["atStart"] = at_start
    if at_end is not None:
        body["atEnd"] = at_end
    info = rules_svc.set_reminders(ctx, uid, body) if body else rules_svc.get_reminders(ctx, uid)
    if as_json:
        echo_json(info)
        return
    lead = info["beforeMinutes"]
    parts = [
        f"{lead} min before" if lead is not None else None,
        "at start" if info["atStart"] else None,
        "at end" if info["atEnd"] else None,
    ]
    echo("Reminders: " + (", ".join(p for p in parts if p) or "none"))
    nxt = info["nextReminder"]
    if nxt is not None:
        echo(
            f"Next: {nxt['kind']} at {nxt['at']} (schedule {nxt['scheduleId']}, shift {nxt['shiftStart']} to {nxt['shiftEnd']})"
        )
