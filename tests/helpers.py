"""Shared by the tests that drive the ``oncall`` command on a demo database file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.clock import VirtualClock
from engine.service.demo import DemoOrg, seed_demo
from storage.db import open_db
from tests.conftest import T0

ONCALL = str(Path(sys.executable).with_name("oncall"))


def run_oncall(
    db: Path, *args: str, ok: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``oncall --db DB ARGS…``; with ``ok`` it must succeed. It never ends in a traceback."""
    proc = subprocess.run([ONCALL, "--db", str(db), *args], capture_output=True, text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def seed_demo_file(path: Path, clock: VirtualClock | None = None) -> DemoOrg:
    """A new database file at ``path`` holding the demo organisation, seeded at ``T0`` unless ``clock``."""
    db = open_db(path)
    try:
        return seed_demo(db, clock or VirtualClock(T0))
    finally:
        db.close()
