"""Start-up of the command line (issue 17): commands load lazily from the registry's table, whose names and
one-line help must match the real commands, and the everyday commands import nothing heavy."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from console.cli.main import LazyGroup, cli
from console.cli.registry import COMMANDS, SUBCOMMANDS, load
from tests.cli.conftest import one_error_line
from tests.helpers import oncall_in_process, run_oncall

HEAVY = (
    "textual",
    "rich",
    "pygments",
    "uvicorn",
    "starlette",
    "httpx",
    "apscheduler",
    "apprise",
    "icalendar",
    "plotext",
    "sqlite_utils",
    "storage.sync.client",
    "asyncio",
    "multiprocessing",
)
"""Packages none of the read commands (nor ``ack``) may import: the console, the HTTP server and client,
the scheduler, the delivery channels, calendars, charts, sqlite-utils (only a migration needs it), the
sync client, asyncio and process pools."""

LIGHT_COMMANDS = [["incidents", "--json"], ["oncall"], ["ack", "1"], ["--help"]]

# Runs the real entry point in a fresh interpreter, then writes the names of every imported module to the
# file named by the first argument (whatever the command's exit).
PROBE = """
import sys
out = sys.argv[1]
sys.argv = ["oncall", *sys.argv[2:]]
from console.cli.main import main
try:
    main()
finally:
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
"""


def imported_by(tmp_path: Path, args: list[str]) -> set[str]:
    """The modules a real ``oncall ARGS…`` process had imported when it ended (it must succeed)."""
    out = tmp_path / "modules.txt"
    env = {**os.environ, "ONCALL_CONFIG": str(tmp_path / "no-config.toml")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return set(out.read_text().split())


@pytest.mark.parametrize("args", LIGHT_COMMANDS, ids=lambda a: " ".join(a))
def test_read_commands_and_ack_import_nothing_heavy(demo: Path, tmp_path: Path, args: list[str]) -> None:
    modules = imported_by(tmp_path, ["--db", str(demo), *args])
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)
    assert heavy == [], f"oncall {' '.join(args)} imported {heavy}"
    # only the module of the command invoked is loaded
    loaded = {m for m in modules if m.startswith("console.cli.")}
    assert "console.cli.serve" not in loaded and "console.cli.web" not in loaded
    assert "console.cli.drills" not in loaded and "console.cli.sync" not in loaded


def test_the_probe_sees_heavy_imports(demo: Path, tmp_path: Path) -> None:
    """The guard can fail: a command that does import one of them is seen doing it."""
    modules = imported_by(tmp_path, ["--db", str(demo), "schedules", "ical", "Platform Primary"])
    assert "icalendar" in modules and "console.cli.calendars" in modules


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_table_matches_the_command(name: str) -> None:
    target, short_help = COMMANDS[name]
    command = load(name)
    assert command is not None
    real = command.get_short_help_str(10_000)
    entry = f'"{name}": ("{target}", {real!r}),'
    assert command.name == name, f"console/cli/registry.py COMMANDS: the command is {command.name!r}"
    assert short_help == real, f"console/cli/registry.py COMMANDS is out of date; the entry is\n{entry}"
    assert not command.hidden and not command.short_help, "the table holds the help's first sentence"
    for sub in SUBCOMMANDS.get(name, ()):
        assert isinstance(command, click.Group)
        assert load(name) is command and sub.partition(":")[2]  # loading again adds nothing twice


def test_every_command_module_is_in_the_table() -> None:
    """Every click command or group a command module defines at its top level is in the table (or is a
    subcommand of one that is), so a new command cannot be written and forgotten."""
    reachable: set[int] = set()

    def walk(command: click.Command) -> None:
        reachable.add(id(command))
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                walk(sub)

    modules = set()
    for name in COMMANDS:
        command = load(name)
        assert command is not None
        walk(command)
        modules.add(COMMANDS[name][0].partition(":")[0])
    here = Path(__file__).resolve().parents[2] / "console" / "cli"
    missing = []
    for path in sorted(here.glob("*.py")):
        module = importlib.import_module(f"console.cli.{path.stem}")
        for attr, value in vars(module).items():
            if isinstance(value, click.Command) and value is not cli and id(value) not in reachable:
                missing.append(f"console.cli.{path.stem}:{attr}")
    assert missing == []


def test_help_lists_the_table_as_click_would(tmp_path: Path) -> None:
    """``oncall --help`` in a fresh process (nothing loaded: the table's help) reads exactly as click's own
    listing of the loaded commands."""
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run(
        [sys.executable, "-c", "from console.cli.main import main; main()", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lazy = proc.stdout.partition("Commands:")[2]
    eager = LazyGroup(name="oncall")
    for name in COMMANDS:
        eager.get_command(None, name)
    formatter = click.HelpFormatter(width=78)  # click's width on an 80-column terminal
    click.Group.format_commands(eager, click.Context(eager), formatter)
    assert lazy.strip() and lazy.strip() == formatter.getvalue().partition("Commands:")[2].strip()


def test_global_options_still_go_either_side_of_a_lazy_command(demo: Path) -> None:
    before = oncall_in_process(["--db", str(demo), "--json", "oncall"])
    after = oncall_in_process(["oncall", "--json", "--db", str(demo)])
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert json.loads(before.stdout).keys() == json.loads(after.stdout).keys()


def test_unknown_command_suggests_from_the_table(demo: Path) -> None:
    proc = run_oncall(demo, "incidnts", ok=False)
    one_error_line(proc, "no such command 'incidnts'")
    assert "incidents" in proc.stderr.replace("'incidnts'", "")  # click's "did you mean", from the table


def test_completion_lists_commands_from_the_table(tmp_path: Path) -> None:
    env = {**os.environ, "_ONCALL_COMPLETE": "bash_complete", "COMP_WORDS": "oncall ac", "COMP_CWORD": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv[0] = 'oncall'; from console.cli.main import main; main()",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert "plain,ack" in proc.stdout.split("\n"), proc.stdout + proc.stderr


def test_the_console_loads_textual_and_the_engine_only(tmp_path: Path) -> None:
    """``oncall`` with no command imports the console (Textual, Rich, asyncio: its first frame needs them)
    and nothing else heavy before that frame: no HTTP server or client, no scheduler, no delivery channels."""
    probe = (
        "import sys; from console.cli.main import run_console; import console.tui.app; "
        "print('\\n'.join(sorted(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    modules = set(proc.stdout.split())
    assert "textual.app" in modules
    forbidden = set(HEAVY) - {"textual", "rich", "asyncio", "pygments"}
    heavy = sorted(m for m in modules if m.split(".")[0] in forbidden or m in forbidden)
    assert heavy == [], f"the console imported {heavy} before its first frame"
