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
"""Packages none of the read commands (nor ``ack``) may import and the console may not import before its
first frame: the console, the HTTP server and client, the scheduler, the delivery channels, calendars,
charts, sqlite-utils (only a migration needs it), the sync client, asyncio and process pools."""

STARTUP_COSTS = ("platformdirs", "tempfile", "secrets", "random", "hmac", "logging")
"""What else the read commands and ``ack`` do not import (issue 17): platformdirs (storage/user_dirs.py
answers its paths; with it come tempfile and random), secrets (random, hmac, hashlib: ids take uuid4's bits) and logging (only when
there is something to log)."""

DEFERRED = ("typing_extensions",)
"""What no command that reads or acts imports (console/cli/deferred.py): msgspec takes typing's
``get_type_hints``, ``Required`` and ``NotRequired`` instead."""

INSPECT_RUN = ("ast", "dis", "tokenize")
"""What :mod:`inspect` imports when its code runs: no light command runs it (click asks only for
``cleandoc``, answered by a stand-in). A dataclass without a docstring created on a command's path would
(``dataclasses`` then asks ``inspect.signature`` for one): engine/model.py's classes have docstrings for
that reason too (docs/PERFORMANCE.md "CLI start-up", Session 6)."""

SCHEDULE_RULES = ("engine.rotation", "zoneinfo", "engine.service.schedules", "engine.service.policies")
"""What only a command that reads schedules (``oncall oncall``, ``policies``, ``schedules``) loads: the
rotation rules, time zones and the schedule and policy use cases; ``incidents`` and ``ack`` do not."""

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
    banned = (*HEAVY, *STARTUP_COSTS, *DEFERRED, *INSPECT_RUN)
    heavy = sorted(m for m in modules if m.split(".")[0] in banned or m in banned)
    assert heavy == [], f"oncall {' '.join(args)} imported {heavy}"
    # only the module of the command invoked is loaded
    loaded = {m for m in modules if m.startswith("console.cli.")}
    assert "console.cli.serve" not in loaded and "console.cli.web" not in loaded
    assert "console.cli.drills" not in loaded and "console.cli.sync" not in loaded
    if args[0] in ("incidents", "ack"):
        schedule_rules = sorted(
            m for m in modules if m.split(".")[0] in SCHEDULE_RULES or m in SCHEDULE_RULES
        )
        assert schedule_rules == [], f"oncall {' '.join(args)} imported {schedule_rules}"
    elif args[0] == "oncall":
        assert "engine.rotation" in modules  # the guard above can fail: oncall does need them


def test_default_paths_without_platformdirs(tmp_path: Path) -> None:
    """With neither ``--db`` nor ``ONCALL_DB`` a command looks for ``$XDG_DATA_HOME/oncall/oncall.db`` as
    before, without importing platformdirs."""
    out = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("ONCALL_DB", "ONCALL_CONFIG", "ONCALL_AS")}
    env |= {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), "incidents", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    modules = set(out.read_text().split())
    assert "platformdirs" not in modules and "tempfile" not in modules
    assert f"no database at {tmp_path / 'data' / 'oncall' / 'oncall.db'} " in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "xdg",
    [
        {},
        {"XDG_DATA_HOME": "/srv/data", "XDG_CONFIG_HOME": "/srv/config/"},
        {"XDG_DATA_HOME": "relative/data", "XDG_CONFIG_HOME": "~/config"},
        {"XDG_DATA_HOME": "", "XDG_CONFIG_HOME": "   "},
        {"HOME": "/"},
        {"HOME": "/home/someone/"},
    ],
    ids=["unset", "absolute", "relative", "blank", "root-home", "trailing-slash"],
)
def test_user_dirs_answer_as_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: dict[str, str]
) -> None:
    """storage/user_dirs.py gives exactly platformdirs' paths for the same environment, and so do the
    default database and operator file paths built on it."""
    import platformdirs

    from engine.runtime.operator_config import config_path
    from storage.db import default_db_path
    from storage.user_dirs import user_config_dir, user_data_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("ONCALL_DB", raising=False)
    monkeypatch.delenv("ONCALL_CONFIG", raising=False)
    for name, value in xdg.items():
        monkeypatch.setenv(name, value)
    assert user_data_dir("oncall") == platformdirs.user_data_dir("oncall", appauthor=False)
    assert user_config_dir("oncall") == platformdirs.user_config_dir("oncall", appauthor=False)
    data, config = (
        platformdirs.user_data_dir("oncall", appauthor=False),
        platformdirs.user_config_dir("oncall"),
    )
    assert default_db_path() == Path(data) / "oncall.db"
    assert config_path() == Path(config) / "config.toml"


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


def _run_python(tmp_path: Path, code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_inspect_is_deferred_until_something_needs_it(tmp_path: Path) -> None:
    """In a fresh interpreter the command line defers inspect: ``import inspect`` and ``cleandoc`` do not
    run it, the first other attribute does (once, for every thread at the same time), and it is then the
    ordinary module, the same object."""
    code = r"""
import sys, threading
import console.cli
from console.cli.deferred import is_deferred
import inspect
assert is_deferred("inspect") and "ast" not in sys.modules
assert inspect.cleandoc("  a\n    b\n") == "a\nb" and is_deferred("inspect")
same = inspect
barrier = threading.Barrier(8)
seen = []
def use():
    barrier.wait()
    seen.append(inspect.signature(len).parameters.keys() and inspect.isfunction(use))
threads = [threading.Thread(target=use) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert seen == [True] * 8, seen
assert not is_deferred("inspect") and sys.modules["inspect"] is same and "ast" in sys.modules
assert type(inspect).__name__ == "module" and inspect.cleandoc is not console.cli.deferred.cleandoc
from inspect import getsource
print("ok")
"""
    assert _run_python(tmp_path, code).split() == ["ok"]


def _help_texts() -> list[str]:
    """Every help text click cleans up: each command's help, short help and epilog, each option's help."""
    texts: list[str] = []

    def walk(command: click.Command) -> None:
        texts.extend(t for t in (command.help, command.short_help, command.epilog) if t)
        texts.extend(p.help for p in command.params if isinstance(p, click.Option) and p.help)
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                walk(sub)

    for name in COMMANDS:
        command = load(name)
        assert command is not None
        walk(command)
    walk(cli)
    return texts


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "one line",
        "  leading\n\n    indented\n      more\n    back\n\n",
        "tabs\n\tone\n\t  two",
        "first\n\u3000ideographic space\n\u3000\u3000two",
        "\f\n  form feed\n  \f  after",
        "   \n   \n  body\n",
    ],
)
def test_cleandoc_stand_in_is_inspects(text: str) -> None:
    import inspect

    from console.cli.deferred import cleandoc

    assert cleandoc(text) == inspect.cleandoc(text)


def test_cleandoc_stand_in_on_every_help_text() -> None:
    import inspect

    from console.cli.deferred import cleandoc

    texts = _help_texts()
    assert len(texts) > 200
    differ = [t for t in texts if cleandoc(t) != inspect.cleandoc(t)]
    assert differ == []


def test_msgspec_without_typing_extensions_generates_the_same_openapi(tmp_path: Path) -> None:
    """msgspec imported the command line's way (typing's hints, not typing_extensions') reads every
    request and response model as before: the OpenAPI document built from them is the same, byte for
    byte, and a body decodes the same."""
    code = """
import json, sys
{setup}
from console.api.openapi import document
from engine.service.models import IncidentCreate
from engine.service.validate import decode
body = decode(IncidentCreate, {{"title": "Disk full", "severity": "high"}})
print(json.dumps(document(), sort_keys=True))
print(repr(body))
"""
    setup = (
        "from console.cli.deferred import import_msgspec\nimport_msgspec()\n"
        "assert 'typing_extensions' not in sys.modules and 'msgspec' in sys.modules"
    )
    lean = _run_python(tmp_path, code.format(setup=setup))
    usual = _run_python(tmp_path, code.format(setup="import typing_extensions, msgspec"))
    assert len(lean) > 10_000 and lean == usual


def test_ascii_integer_check_reads_as_its_pattern() -> None:
    """``AsciiInt``'s check without a regular expression accepts exactly ``[+-]?[0-9]+`` (ASCII)."""
    import re

    from console.cli.main import _ascii_integer

    pattern = re.compile(r"[+-]?[0-9]+", re.ASCII)
    samples = [
        "",
        "+",
        "-",
        "+-1",
        "--1",
        "1.0",
        "1_0",
        "00",
        "+0",
        "-12",
        "1a",
        "\u0661",
        "\uff11",
        "\u00b2",
    ]
    samples += [chr(c) for c in range(0x3000)] + [f"+{chr(c)}" for c in range(0x3000)]
    assert [_ascii_integer(t) for t in samples] == [bool(pattern.fullmatch(t)) for t in samples]
