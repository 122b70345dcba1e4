"""Shared by the tests that drive the ``oncall`` command on a demo database file.

:func:`run_oncall` runs the command in this process by default: the real entry point
(``console.cli.main.main``, the same function the installed ``oncall`` script calls) with its own argv,
environment, stdin, stdout and stderr, captured through click's ``CliRunner`` isolation, and its exit
code taken from ``SystemExit`` as a process's would be. ``process=True`` spawns the installed script
instead, for the tests where the process is the point (a crash, a lease, a long-running ``serve`` or
``engine``, signals, the environment a command runs in, what reaches the real stderr).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner

from engine.clock import VirtualClock
from engine.service.demo import DemoOrg, seed_demo
from storage.db import open_db
from tests.conftest import T0

ONCALL = str(Path(sys.executable).with_name("oncall"))


def run_oncall(
    db: Path,
    *args: str,
    ok: bool = True,
    timeout: float = 60,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``oncall --db DB ARGS…``, in this process unless ``process``; with ``ok`` it must succeed. It never
    ends in a traceback. ``env`` adds to the environment (in process: for the run only);
    ``timeout`` (seconds) bounds only a spawned process."""
    argv = ["--db", str(db), *args]
    if process:
        proc = subprocess.run(
            [ONCALL, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env={**os.environ, **(env or {})},
        )
    else:
        proc = oncall_in_process(argv, input=input, env=env)
    if ok:
        assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def oncall_in_process(
    argv: list[str], *, input: str | None = None, env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """``oncall ARGV…`` through the entry point ``console.cli.main.main`` in this process, captured like a
    process: stdout and stderr apart, the exit code from ``SystemExit`` (``None`` is 0, a message is 1).
    ``env`` sets variables for the run (``None`` unsets one). Any other exception is not caught: ``main`` turns every ``Exception`` into an ``error:`` line, so
    one that escapes is a bug the test must show."""
    from console.cli.main import main

    runner = CliRunner()
    code: int = 0
    with runner.isolation(input=input, env=dict(env or {})) as (out, err, _):
        saved = sys.argv
        sys.argv = ["oncall", *argv]
        try:
            main()
        except SystemExit as exc:
            code = _exit_code(exc.code)
        finally:
            sys.argv = saved
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode()
        stderr = err.getvalue().decode()
    return subprocess.CompletedProcess(["oncall", *argv], code, stdout, stderr)


def _exit_code(code: object) -> int:
    """What a process's exit status would be for ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")  # as the interpreter prints a non-integer exit message
    return 1


def seed_demo_file(path: Path, clock: VirtualClock | None = None) -> DemoOrg:
    """A new database file at ``path`` holding the demo organisation, seeded at ``T0`` unless ``clock``."""
    db = open_db(path)
    try:
        return seed_demo(db, clock or VirtualClock(T0))
    finally:
        db.close()


def take_database_away(path: Path, how: str) -> None:
    """What ``oncall demo --reset`` (or a careless ``rm``) does to a database in use: ``delete`` removes the
    file and its ``-wal``/``-shm``; ``replace`` also puts a fresh migrated database at the same path."""
    if how not in ("delete", "replace"):
        raise ValueError(f"how must be 'delete' or 'replace', not {how!r}")
    for suffix in ("-wal", "-shm") if how == "replace" else ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if how == "replace":  # a new inode at the same path, as a reset leaves it
        other = path.with_name(path.name + ".new")
        open_db(other).close()
        os.replace(other, path)
