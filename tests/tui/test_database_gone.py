"""The console when its database file is deleted or replaced under it (``oncall demo --reset``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import Static

from console.tui import OncallApp
from console.tui.screens.database_gone import DatabaseGoneScreen
from console.tui.screens.incidents import IncidentsScreen
from engine.service import Ctx, incidents
from storage.db import open_db
from tests.helpers import take_database_away
from tests.tui.conftest import wait_for


async def test_console_blocks_and_writes_nothing_once_its_file_is_replaced(
    make_app: Callable[..., OncallApp], ctx: Ctx, db_path: Path
) -> None:
    before = ctx.db.scalar("SELECT count(*) FROM incidents")
    app = make_app(poll_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, IncidentsScreen)
        take_database_away(db_path, "replace")  # what `oncall demo --reset` does
        # Noticed at the next poll (every 50 ms here).
        await wait_for(pilot, lambda: isinstance(app.screen, DatabaseGoneScreen), "the blocking message")
        text = str(app.screen.query_one("#gone-message", Static).render())
        assert f"{db_path} was deleted or replaced" in text and "Press q to quit" in text
        # Every key but q is dead: no mode switch, no help, no palette.
        await pilot.press("2", "question_mark", "colon", "n")
        await pilot.pause()
        assert isinstance(app.screen, DatabaseGoneScreen)
        assert app.current_mode == "incidents"
        # A write that was already on its way is refused, not half-done.
        assert app.act(incidents.create_incident, {"title": "Late", "severity": "high"}) is None
        assert isinstance(app.screen, DatabaseGoneScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.gone is not None and app.gone.code == "database_gone"
    assert ctx.db.scalar("SELECT count(*) FROM incidents") == before  # the old file: nothing written
    fresh = open_db(db_path)
    try:
        assert fresh.scalar("SELECT count(*) FROM incidents") == 0  # the new file: untouched
    finally:
        fresh.close()
