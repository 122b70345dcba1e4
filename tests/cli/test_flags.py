"""Predictable flags (issue 14, item 3): global options before or after the command, usage errors as
one line, ``--json`` on every command, click's shell completion."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from console.cli.main import cli, make_options_global
from console.cli.registry import register
from tests.cli.conftest import one_error_line
from tests.helpers import oncall_in_process, run_oncall

NO_JSON: dict[str, str] = {
    "oncall engine": "a long-running process: it logs lines until stopped",
    "oncall serve": "a long-running process: the HTTP API answers JSON, the command logs",
    "oncall web": "a long-running process: it serves the console to a browser",
    "oncall completion": "prints a shell script, not data",
}
"""Commands without --json, each with the reason."""


def leaves(group: click.Group, path: str) -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        full = f"{path} {name}"
        if isinstance(command, click.Group):
            out += leaves(command, full)
            if command.invoke_without_command:  # ``oncall incidents`` lists on its own
                out.append((full, command))
        else:
            out.append((full, command))
    return out


def test_every_command_takes_json_or_says_why_not() -> None:
    register(cli)
    make_options_global(cli)
    commands = leaves(cli, "oncall")
    assert len(commands) > 50
    missing = [
        path
        for path, command in commands
        if not any("--json" in p.opts and not getattr(p, "hidden", False) for p in command.params)
    ]
    assert sorted(missing) == sorted(NO_JSON)


def test_global_options_go_before_or_after_the_command(demo: Path, tmp_path: Path) -> None:
    before = oncall_in_process(["--db", str(demo), "--json", "--as", "bob@example.com", "ack", "1"])
    after = oncall_in_process(["ack", "2", "--json", "--db", str(demo), "--as", "bob@example.com"])
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    first, second = json.loads(before.stdout), json.loads(after.stdout)
    assert first["acknowledgedBy"] == second["acknowledgedBy"]
    assert first["sequentialId"] == 1 and second["sequentialId"] == 2
    # deep in the tree, with the org too; the command's own --json and the global one are one switch
    deep = oncall_in_process(
        ["schedules", "overrides", "list", "Platform Primary", "--org", "Acme Platform", "--db", str(demo)]
    )
    assert deep.returncode == 0, deep.stderr
    as_json = oncall_in_process(
        ["--json", "--db", str(demo), "schedules", "overrides", "list", "Platform Primary"]
    )
    assert isinstance(json.loads(as_json.stdout), list)
    # a global option after the command wins over the environment, as before it
    other = tmp_path / "other.db"
    env_only = oncall_in_process(["incidents", "--db", str(demo)], env={"ONCALL_DB": str(other)})
    assert "Payment service degraded" in env_only.stdout
    # init keeps its own --org (the name to create)
    run_oncall(demo, "init", "--org", "Second", "--admin-email", "s@example.com")
    assert "several organisations" in run_oncall(demo, "incidents", ok=False).stderr
    assert run_oncall(demo, "users", "list", "--org", "Second").stdout.count("@") == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("frobnicate",), "no such command 'frobnicate'"),
        (("ack",), "missing argument 'INCIDENT'"),
        (("ack", "1", "--frob"), "no such option '--frob'"),
        (("snooze",), "missing argument"),
        (("incidents", "--status", "melting"), "invalid value for '--status'"),
        (("policies", "layers", "add", "X"), "missing option '--timeout'"),
        (("escalate", "1", "--to", "two"), "invalid value for '--to'"),
        (("completion", "tcsh"), "invalid value"),
    ],
)
def test_usage_errors_are_one_line_exit_2(demo: Path, args: tuple[str, ...], needle: str) -> None:
    proc = run_oncall(demo, *args, ok=False)
    one_error_line(proc, needle)
    assert "--help" in proc.stderr and proc.stdout == ""


def test_help_still_prints_and_exits_0(demo: Path) -> None:
    assert "Acknowledge INCIDENT" in run_oncall(demo, "ack", "--help").stdout
    group = run_oncall(demo, "keys", ok=False)  # a group without its subcommand shows its help
    assert "create" in group.stdout + group.stderr and "Traceback" not in group.stderr


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")]
)
def test_completion_prints_clicks_script(demo: Path, shell: str, marker: str) -> None:
    script = run_oncall(demo, "completion", shell).stdout
    assert "_ONCALL_COMPLETE" in script and marker in script


def test_completion_completes_commands(demo: Path) -> None:
    """What the script asks for: click's own completion of a partial command line."""
    proc = oncall_in_process(
        [], env={"_ONCALL_COMPLETE": "bash_complete", "COMP_WORDS": "oncall sno", "COMP_CWORD": "1"}
    )
    assert "plain,snooze" in proc.stdout


def test_a_command_without_json_refuses_it(demo: Path) -> None:
    one_error_line(run_oncall(demo, "completion", "bash", "--json", ok=False), "no such option '--json'")
    listed = run_oncall(demo, "users", "--json", "list").stdout  # a group passes it on
    assert isinstance(json.loads(listed), list)
