"""Subcommands of ``oncall``, one module per area. ``register`` adds every module's commands."""

from __future__ import annotations

import importlib

import click

# Each entry: (module, attribute holding a click command or group).
COMMANDS: list[tuple[str, str]] = [
    ("console.commands.admin", "init_command"),
    ("console.commands.admin", "keys_group"),
    ("console.commands.admin", "users_group"),
    ("console.commands.views", "incidents_command"),
    ("console.commands.views", "policies_command"),
    ("console.commands.views", "schedules_command"),
    ("console.commands.demo", "demo_command"),
    ("console.commands.engine", "engine_command"),
    ("console.commands.serve", "serve_command"),
    ("console.commands.drills", "drill_command"),
    ("console.commands.drills", "simulate_command"),
    ("console.commands.drills", "lint_command"),
    ("console.commands.drills", "explain_command"),
    ("console.commands.sync", "sync_group"),
]


def register(cli: click.Group) -> None:
    for module_name, attr in COMMANDS:
        cli.add_command(getattr(importlib.import_module(module_name), attr))
