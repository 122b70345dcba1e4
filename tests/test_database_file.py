"""The database file under the command line and the engine process: a typo'd path, file modes,
``demo --reset`` next to a running process, the file deleted under ``oncall engine``, a full disk."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.clock import VirtualClock
from engine.errors import DomainError
from engine.service import Ctx, incidents
from storage import lease
from storage.db import Database, open_db
from tests.helpers import ONCALL, run_oncall, seed_demo_file, take_database_away

READ_COMMANDS = [
    ("incidents",),
    ("policies",),
    ("schedules",),
    ("lint",),
    ("explain", "inc_01"),
    ("keys", "list"),
    ("users", "list"),
    ("sync", "status"),
    ("serve", "--port", "0"),
    ("engine",),
    (),  # the console
]


def wait_until(cond: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: " ".join(a) or "console")
def test_a_command_on_a_missing_path_says_so_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    typo = tmp_path / "no-such-dir" / "oncal.db"
    # serve binds its sockets before it looks at the database: a process of its own frees them.
    proc = run_oncall(typo, *args, ok=False, process=args[:1] == ("serve",))
    assert proc.returncode == 1
    assert proc.stderr == (f"error: no database at {typo} (create one with `oncall init` or `oncall demo`)\n")
    assert list(tmp_path.iterdir()) == []  # no folder, no file


def test_init_creates_the_database_private_in_private_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "oncall.db"
    # Even with a umask that would leave everything world-readable.
    proc = subprocess.run(
        [ONCALL, "--db", str(path), "init", "--org", "Acme", "--admin-email", "a@example.com"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0),  # noqa: PLW1509 - the child only sets its umask
    )
    assert proc.returncode == 0, proc.stderr
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    db = open_db(path)  # keeps -wal and -shm in place
    try:
        with db.write():
            db.execute("UPDATE orgs SET name = name")
        for suffix in ("", "-wal", "-shm", "-lock"):
            assert stat.S_IMODE(Path(f"{path}{suffix}").stat().st_mode) == 0o600, suffix
    finally:
        db.close()


def test_demo_creates_what_init_creates(tmp_path: Path) -> None:
    path = tmp_path / "d" / "demo.db"
    run_oncall(path, "demo", "--no-console")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def _engine(path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ONCALL, "--db", str(path), "engine", "--quiet", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _holder(path: Path) -> str:
    db = open_db(path, migrate=False)
    try:
        row = lease.current(db)
        return "" if row is None or not row["alive"] else str(row["holder"])
    finally:
        db.close()


def test_demo_reset_refuses_while_another_process_uses_the_database(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    org_id = json.loads(run_oncall(path, "demo", "--no-console", "--json").stdout)["orgId"]
    inode = path.stat().st_ino
    engine = _engine(path)
    try:
        wait_until(lambda: _holder(path).startswith("engine@"), what="the engine to hold the lease")
        proc = run_oncall(path, "demo", "--no-console", "--reset", ok=False)
        assert proc.returncode == 1
        assert proc.stderr.startswith("error: ") and "in use by another process" in proc.stderr
        assert proc.stderr.count("\n") == 1
        assert path.stat().st_ino == inode  # untouched
        assert engine.poll() is None  # and the engine never noticed anything
    finally:
        engine.terminate()
        engine.wait(15)
    # Once nobody uses it, --reset starts over.
    again = json.loads(run_oncall(path, "demo", "--no-console", "--reset", "--json").stdout)
    assert again["orgId"] != org_id


@pytest.mark.parametrize("engine_through", ["target", "link"])
def test_demo_reset_through_a_symbolic_link_resets_the_file_it_points_to(
    tmp_path: Path, engine_through: str
) -> None:
    """``--reset`` works on the real file: the in-use check is the target's (whichever path the engine
    opened), and the link stays a link to a new database."""
    target = tmp_path / "real" / "demo.db"
    link = tmp_path / "demo-link.db"
    org_id = json.loads(run_oncall(target, "demo", "--no-console", "--json").stdout)["orgId"]
    link.symlink_to(target)
    inode = target.stat().st_ino
    engine = _engine(target if engine_through == "target" else link)
    try:
        wait_until(lambda: _holder(target).startswith("engine@"), what="the engine to hold the lease")
        proc = run_oncall(link, "demo", "--no-console", "--reset", ok=False)
        assert proc.returncode == 1
        assert proc.stderr.startswith("error: ") and "in use by another process" in proc.stderr
        assert link.is_symlink() and target.stat().st_ino == inode  # both untouched
        assert engine.poll() is None
    finally:
        engine.terminate()
        engine.wait(15)
    again = json.loads(run_oncall(link, "demo", "--no-console", "--reset", "--json").stdout)
    assert again["orgId"] != org_id
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # (the freed inode may be reused)
    assert json.loads(run_oncall(target, "incidents", "--json").stdout)  # the target is the new demo


@pytest.mark.parametrize("how", ["delete", "replace"])
def test_engine_exits_with_one_line_when_the_file_goes(tmp_path: Path, how: str) -> None:
    path = tmp_path / "o.db"
    seed_demo_file(path)
    engine = _engine(path)
    try:
        wait_until(lambda: _holder(path).startswith("engine@"), what="the engine to hold the lease")
        take_database_away(path, how)
        rc = engine.wait(60)  # it notices within a second (bench/failover.py); this only stops waiting
        err = engine.stderr.read() if engine.stderr else ""
        assert rc == 1
        assert "Traceback" not in err
        assert err.splitlines()[-1].startswith(f"error: the database file {path} was deleted or replaced")
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(5)


# -- a full disk, made by SQLite itself (max_page_count) ------------------------------------------------


def _fill_up(db: Database) -> None:
    """Let the file grow by no more than one page: the next real write fails with SQLITE_FULL. VACUUM first:
    a migration that rebuilds a table leaves free pages a write could reuse without growing the file."""
    db.execute("VACUUM")
    assert int(db.scalar("PRAGMA freelist_count")) == 0
    pages = int(db.scalar("PRAGMA page_count"))
    db.execute(f"PRAGMA max_page_count={pages}")


def test_a_full_disk_is_disk_full_writes_nothing_and_leaves_the_connection_usable(
    ctx: Ctx, db: Database, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    before = db.scalar("SELECT count(*) FROM incidents")
    _fill_up(db)
    big = "x" * 9_000  # more than two pages: it cannot fit
    for _ in range(3):
        with pytest.raises(DomainError) as info:
            incidents.create_incident(ctx, {"title": "Disk full", "severity": "high", "description": big})
        assert info.value.status_code == 507 and info.value.code == "disk_full"
        assert not db.conn.in_transaction
    assert db.scalar("SELECT count(*) FROM incidents") == before
    assert [r.message for r in caplog.records if r.name == "oncall.db"] == [
        f"disk_full: the disk holding {db.path} is full; nothing was written"
    ]  # one line for the burst, no traceback
    db.execute("PRAGMA max_page_count=1073741823")  # space again
    created = incidents.create_incident(ctx, {"title": "After", "severity": "high", "description": big})
    assert db.scalar("SELECT count(*) FROM incidents WHERE id = ?", (created["id"],)) == 1
