"""Subcommands of ``oncall``, one module per area. ``register`` adds every module's commands."""

from __future__ import annotations

import importlib

import click

# Each entry: (module, attribute holding a click command or group). A module that is not there yet
# (an area still being built) is skipped rather than breaking the whole command line.
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
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        cli.add_command(getattr(module, attr))
