"""Subcommands of ``oncall``, one module per area. ``register`` adds every module's commands."""

from __future__ import annotations

import importlib

import click

# Each entry: (module, attribute holding a click command or group).
COMMANDS: list[tuple[str, str]] = [
    ("console.cli.admin", "init_command"),
    ("console.cli.admin", "keys_group"),
    ("console.cli.admin", "users_group"),
    ("console.cli.actions", "incidents_command"),  # the views' group, with ``show`` added
    ("console.cli.policy_edits", "policies_command"),  # the views' group, with its write commands
    ("console.cli.schedule_edits", "schedules_command"),
    ("console.cli.actions", "page_command"),
    ("console.cli.actions", "ack_command"),
    ("console.cli.actions", "resolve_command"),
    ("console.cli.actions", "escalate_command"),
    ("console.cli.actions", "snooze_command"),
    ("console.cli.actions", "handoff_command"),
    ("console.cli.actions", "note_command"),
    ("console.cli.watching", "oncall_command"),
    ("console.cli.watching", "shifts_command"),
    ("console.cli.demo", "demo_command"),
    ("console.cli.engine", "engine_command"),
    ("console.cli.serve", "serve_command"),
    ("console.cli.web", "web_command"),
    ("console.cli.drills", "drill_command"),
    ("console.cli.config", "export_command"),
    ("console.cli.config", "apply_command"),
    ("console.cli.drills", "simulate_command"),
    ("console.cli.drills", "lint_command"),
    ("console.cli.drills", "explain_command"),
    ("console.cli.reports", "report_command"),
    ("console.cli.sync", "sync_group"),
    ("console.cli.watching", "completion_command"),
    ("console.cli.heartbeats", "heartbeats_group"),
    ("console.cli.alerts", "integrations_group"),
    ("console.cli.alerts", "maintenance_group"),
]


# Subcommands added to a group another module owns: (group name, module, attribute).
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("schedules", "console.cli.calendars", "ical_command"),
    ("schedules", "console.cli.calendars", "feed_group"),
]


def register(cli: click.Group) -> None:
    for module_name, attr in COMMANDS:
        cli.add_command(getattr(importlib.import_module(module_name), attr))
    for group_name, module_name, attr in SUBCOMMANDS:
        group = cli.commands[group_name]
        assert isinstance(group, click.Group)
        group.add_command(getattr(importlib.import_module(module_name), attr))
