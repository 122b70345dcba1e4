"""Subcommands of ``oncall``, one module per area, loaded only when invoked.

:data:`COMMANDS` is the root's table: a command's name, where it lives (``"module:attribute"``, a click
command or group) and its one-line help, so ``oncall --help`` and shell completion list every command
without importing a single command module (each pulls its own share of the engine; ``oncall ack 1`` needs
only ``actions``). ``tests/cli/test_registry.py`` fails when a name or a line of help drifts from the real
command, and prints the entry to paste. :data:`SUBCOMMANDS` adds commands another module owns to a group
when that group is loaded. Nothing here imports click's commands or the engine: this module is data and the
two loaders, :func:`load` (one command) and :func:`register` (all of them, for tests and tools that walk
the whole tree).
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "console.cli.admin:init_command",
        "Create an organisation and its first admin, and print an API key (shown once).",
    ),
    "keys": (
        "console.cli.admin:keys_group",
        "Create, list and revoke API keys.",
    ),
    "users": (
        "console.cli.admin:users_group",
        "Add, list and remove people.",
    ),
    "incidents": (
        "console.cli.actions:incidents_command",
        "List incidents, newest first (open ones unless --all or --status); ``show`` one of them.",
    ),
    "policies": (
        "console.cli.policy_edits:policies_command",
        "List escalation policies with their layers and everyone each layer would page now; create, edit, delete and reorder them with the subcommands.",
    ),
    "schedules": (
        "console.cli.schedule_edits:schedules_command",
        "List on-call schedules with who is on call now and until when; create, edit and delete schedules, rotation layers and overrides with the subcommands.",
    ),
    "page": (
        "console.cli.actions:page_command",
        "Open an incident; with --policy its first layer is paged at once.",
    ),
    "ack": (
        "console.cli.actions:ack_command",
        "Acknowledge INCIDENT: its escalation stops.",
    ),
    "resolve": (
        "console.cli.actions:resolve_command",
        "Resolve INCIDENT (through any status it has not reached yet), stopping its escalation.",
    ),
    "escalate": (
        "console.cli.actions:escalate_command",
        "Page the next layer of INCIDENT's policy now (or layer N with --to N), without waiting for the timeout.",
    ),
    "snooze": (
        "console.cli.actions:snooze_command",
        "Hold INCIDENT's escalation for DURATION (30m, 2h, 1h30m; a bare number is minutes; at most 7 days), then carry on where it was.",
    ),
    "handoff": (
        "console.cli.actions:handoff_command",
        "Hand INCIDENT off to PERSON (email or user id): they own it and are paged; the current layer's timer restarts.",
    ),
    "note": (
        "console.cli.actions:note_command",
        "Post TEXT as an update on INCIDENT's timeline (internal unless --public).",
    ),
    "oncall": (
        "console.cli.watching:oncall_command",
        "Who is on call now (or at --at): per schedule (owner, everyone paged, until when) and per escalation policy layer (who it would page).",
    ),
    "shifts": (
        "console.cli.watching:shifts_command",
        "A person's on-call shifts in every schedule, overrides included, from --from to --to.",
    ),
    "demo": (
        "console.cli.demo:demo_command",
        "Create the demo organisation (Acme Platform) and open the console on it.",
    ),
    "engine": (
        "console.cli.engine:engine_command",
        "Run the escalation engine without the console.",
    ),
    "serve": (
        "console.cli.serve:serve_command",
        "Serve the Scaling-compatible API (/v1/…) on the local database.",
    ),
    "web": (
        "console.cli.web:web_command",
        "Serve the console in a browser (one console process per open tab).",
    ),
    "drill": (
        "console.cli.drills:drill_command",
        "Rehearse a page with a DRILL incident on POLICY.",
    ),
    "export": (
        "console.cli.config:export_command",
        "Write the organisation's setup as a file: people (no secrets), schedules with their rotation layers and future overrides, escalation policies with their layers, integrations, heartbeats, notification rules and shift reminders, all by name or email (no ids, tokens or addresses).",
    ),
    "apply": (
        "console.cli.config:apply_command",
        "Show what FILE would create, change and delete; with --yes, apply it in one transaction.",
    ),
    "simulate": (
        "console.cli.drills:simulate_command",
        "Simulate weeks of incidents on the real engine.",
    ),
    "lint": (
        "console.cli.drills:lint_command",
        "Check policies and schedules, or a configuration file before it is applied; exit 1 on errors.",
    ),
    "explain": (
        "console.cli.drills:explain_command",
        "Why each person was or was not paged.",
    ),
    "report": (
        "console.cli.reports:report_command",
        "MTTA, MTTR, pages and night pages per person, incidents per policy and severity, exhausted escalations and the busiest hours of a period, from the incident timeline (docs/REPORTS.md).",
    ),
    "sync": (
        "console.cli.sync:sync_group",
        "Keep this organisation in sync with a Scaling organisation (see docs/SYNC.md).",
    ),
    "completion": (
        "console.cli.watching:completion_command",
        "Print the shell completion script for SHELL (click's own).",
    ),
    "heartbeats": (
        "console.cli.heartbeats:heartbeats_group",
        "Heartbeat monitors: a missed ping opens an incident on a policy; the next ping resolves it.",
    ),
    "integrations": (
        "console.cli.alerts:integrations_group",
        "Inbound integrations: Alertmanager, Grafana and generic events open incidents by themselves.",
    ),
    "maintenance": (
        "console.cli.alerts:maintenance_group",
        "Maintenance windows: alerts are recorded, pages held (or alerts dropped) until the window ends.",
    ),
}
"""name → (``"module:attribute"``, one-line help as ``oncall --help`` shows it when there is room)."""

SUBCOMMANDS: dict[str, list[str]] = {
    "schedules": ["console.cli.calendars:ical_command", "console.cli.calendars:feed_group"],
}
"""Group name → commands added to that group (owned by another module) when the group is loaded."""


def _resolve(target: str) -> click.Command:
    module_name, _, attr = target.partition(":")
    command: click.Command = getattr(importlib.import_module(module_name), attr)
    return command


def load(name: str) -> click.Command | None:
    """The command ``name`` of :data:`COMMANDS`, its module imported now, with its :data:`SUBCOMMANDS`
    added; None for a name that is not in the table."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    from console.cli.deferred import import_msgspec

    import_msgspec()  # before the engine: msgspec without typing_extensions (console/cli/deferred.py)
    command = _resolve(entry[0])
    for target in SUBCOMMANDS.get(name, ()):
        assert isinstance(command, click.Group), name
        command.add_command(_resolve(target))
    return command


def register(cli: click.Group) -> None:
    """Load every command of :data:`COMMANDS` into ``cli`` at once (what ``main`` did before it loaded
    lazily): for tests and tools that walk the whole command tree."""
    for name in COMMANDS:
        command = load(name)
        assert command is not None
        cli.add_command(command, name)
