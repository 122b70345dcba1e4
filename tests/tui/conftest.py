"""Fixtures for the console tests: a temporary database file, a frozen clock, the demo organisation.

Snapshots must not depend on anything random or on the time of day: the clock is a VirtualClock at a fixed
instant, ids are never rendered, and the engine is not started (tests drive the escalator explicitly).
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.tui import OncallApp
from engine.clock import VirtualClock, monotonic
from engine.service import Ctx
from engine.service.demo import DemoOrg, seed_demo
from storage.db import Database, open_db

WAIT_SECONDS = 30.0  # only when to stop waiting (generous: parallel workers on a loaded machine): a test's verdict is its condition, never a duration
POLL_SECONDS = 0.01

FROZEN = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday; US DST starts 6 days later


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("textual.widgets._input.Input._toggle_cursor", lambda self: None, raising=False)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(FROZEN)


@pytest.fixture(scope="session")
def demo_template(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoOrg]:
    """The demo organisation seeded at ``FROZEN`` once per session (per xdist worker: each has its own
    temporary directory), and its ids. Never opened for writing again."""
    path = tmp_path_factory.mktemp("demo-template") / "demo.db"
    shutil.copy(migrated_template, path)
    database = open_db(path)
    try:
        org = seed_demo(database, VirtualClock(FROZEN))
    finally:
        database.close()
    return path, org


@pytest.fixture
def demo(db: Database, clock: VirtualClock, demo_template: tuple[Path, DemoOrg]) -> DemoOrg:
    """The demo organisation in the test's own database: the template's pages copied in (SQLite's backup,
    into the open connection), which is what seeding at ``FROZEN`` writes, in a fraction of the time (2-4x less here)."""
    if clock.now() != FROZEN or getattr(db, "dialect", "sqlite") != "sqlite":
        return seed_demo(db, clock)  # a moved clock, or PostgreSQL (no SQLite backup): seeded here
    path, org = demo_template
    source = sqlite3.connect(path)
    try:
        with db.lock:
            source.backup(db.conn)
    finally:
        source.close()
    return copy.deepcopy(org)


@pytest.fixture
def ctx(db: Database, demo: DemoOrg, clock: VirtualClock) -> Ctx:
    alice = demo.users["alice"]
    return Ctx(
        db=db,
        org_id=demo.org_id,
        actor_id=alice,
        actor_user_id=alice,
        is_admin=True,
        clock=clock,
        via="operator",
    )


@pytest.fixture
def make_app(ctx: Ctx, db_path: Path) -> Callable[..., OncallApp]:
    def make(**kwargs: Any) -> OncallApp:
        kwargs.setdefault("run_engine", False)
        return OncallApp(ctx, db_path=str(db_path), **kwargs)

    return make


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], object], what: str = "", timeout: float = WAIT_SECONDS
) -> None:
    """Let the app run (message queues drained, then workers finished) until ``condition()`` is true;
    fail naming ``what`` once ``timeout`` seconds pass without it. Returns as soon as it holds, so a
    test waits for what it needs and never for a fixed time."""
    deadline = monotonic() + timeout
    while True:
        await pilot.pause()
        if condition():
            return
        await pilot.app.workers.wait_for_complete()
        if condition():
            return
        if monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(POLL_SECONDS)  # a poll interval: timers (the app's data poll) run meanwhile


async def settle(pilot: Pilot[Any]) -> None:
    """Drain the app's message queues and wait for its workers: what a screen shows is then final."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
