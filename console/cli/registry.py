"""Subcommands of ``oncall``, one module per area. ``register`` adds every module's commands."""

from __future__ import annotations

import importlib

import click

# Each entry: (module, attribute holding a click command or group).
COMMANDS: list[tuple[str, str]] = [
    ("console.cli.admin", "init_command"),
    ("console.cli.admin", "keys_group"),
    ("console.cli.admin", "users_group"),
    ("console.cli.views", "incidents_command"),
    ("console.cli.views", "policies_command"),
    ("console.cli.views", "schedules_command"),
    ("console.cli.demo", "demo_command"),
    ("console.cli.engine", "engine_command"),
    ("console.cli.serve", "serve_command"),
    ("console.cli.drills", "drill_command"),
    ("console.cli.drills", "simulate_command"),
    ("console.cli.drills", "lint_command"),
    ("console.cli.drills", "explain_command"),
    ("console.cli.sync", "sync_group"),
    ("console.cli.heartbeats", "heartbeats_group"),
    ("console.cli.alerts", "integrations_group"),
    ("console.cli.alerts", "maintenance_group"),
]


def register(cli: click.Group) -> None:
    for module_name, attr in COMMANDS:
        cli.add_command(getattr(importlib.import_module(module_name), attr))
