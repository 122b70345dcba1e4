"""Shared by the command-line tests: a demo database, and the service's view of it to check what changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from engine.service import Ctx
from engine.service.database import bind_clock, open_db
from engine.service.orgs import find_org, find_user, first_admin_id
from tests.helpers import run_oncall


@pytest.fixture(autouse=True)
def no_operator_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No operator configuration file and no ONCALL_AS from the machine running the tests."""
    monkeypatch.setenv("ONCALL_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("ONCALL_AS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A database file holding the demo organisation (7 people, 3 schedules, policies, open incidents)."""
    path = tmp_path / "demo.db"
    run_oncall(path, "demo", "--no-console")
    return path


@contextmanager
def service(path: Path) -> Iterator[Ctx]:
    """The database as the service layer sees it (acting as the first admin), closed afterwards."""
    db = open_db(path)
    try:
        org = find_org(db, None)
        uid = first_admin_id(db, org)
        yield Ctx(
            db=db, org_id=org, actor_id=uid, actor_user_id=uid, clock=bind_clock(db, None), via="operator"
        )
    finally:
        db.close()


def user_id(path: Path, email: str) -> str:
    with service(path) as ctx:
        uid: str = find_user(ctx, email)["id"]
        return uid


def one_error_line(proc: Any, needle: str, code: int = 2) -> None:
    """The command failed with ``code`` and exactly one ``error: …`` line naming ``needle``."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
