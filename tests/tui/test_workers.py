"""Writes run in workers, never on the event loop: a write waiting behind another connection's transaction
leaves the console answering keys, and lands once the lock goes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from console.tui import OncallApp
from console.tui.widgets.incident_table import IncidentTable
from engine.clock import monotonic
from engine.service import Ctx, incidents
from engine.service.demo import DemoOrg
from storage.db import open_db
from tests.tui.conftest import WAIT_SECONDS, settle, wait_for

MakeApp = Callable[..., OncallApp]


async def until_loop_only(pilot: Pilot[Any], condition: Callable[[], object], what: str) -> None:
    """Like ``wait_for`` but never waits for the app's workers (one is blocked on the lock on purpose):
    only the event loop has to run for ``condition`` to come true."""
    deadline = monotonic() + WAIT_SECONDS
    while not condition():
        if monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: the event loop is not answering")
        await pilot.pause()
        await asyncio.sleep(0.01)


async def test_ack_waiting_for_another_connections_write_lock_does_not_freeze_the_screen(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db_path: Path
) -> None:
    iid = demo.incidents[0]
    other = open_db(db_path)  # another connection, as another process's would be
    app = make_app()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            table = app.screen.query_one(IncidentTable)
            assert table.selected is not None and table.selected.id == iid
            with other.write():  # BEGIN IMMEDIATE: the write lock is held until the block ends
                await pilot.press("a")
                await pilot.press("down")
                await until_loop_only(
                    pilot,
                    lambda: table.selected is not None and table.selected.seq == 2,
                    "the cursor to move while the acknowledgement waits",
                )
                await pilot.press("o")
                await until_loop_only(pilot, lambda: table.sort_by == "age", "the sort to change")
                # The acknowledgement is still waiting for the lock (read on another connection: WAL).
                assert incidents.get_incident(ctx, iid)["acknowledgedBy"] is None
                assert table.cell_text(iid, "ack") == "—"
            await wait_for(
                pilot,
                lambda: incidents.get_incident(ctx, iid)["acknowledgedBy"] == demo.users["alice"],
                "the acknowledgement to land once the lock goes",
            )
            await wait_for(pilot, lambda: table.cell_text(iid, "ack") == "Alice Chen", "the table to show it")
            flash = str(app.screen.query_one("#flash").render())
            assert "#1 acknowledged" in flash
    finally:
        other.close()


async def test_a_refused_write_in_a_worker_is_flashed_and_saves_nothing(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    """The worker's domain error reaches the screen it was started from, as one line."""
    iid = demo.incidents[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.act_in_worker(incidents.advance_status, iid, {"status": "resolved"}, done="never shown")
        await settle(pilot)
        flash = app.screen.query_one("#flash")
        assert "-error" in flash.classes
        assert "can only move to identified" in str(flash.render())
        assert incidents.get_incident(ctx, iid)["status"] == "investigating"
