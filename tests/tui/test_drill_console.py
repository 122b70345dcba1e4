"""The console drill: started from the policies screen, watched and acknowledged on the incidents screen.

The drill clock is a VirtualClock the test moves (the console would use a ScaledClock at the chosen speed);
the assertions read the drill's scratch copy and the live database, not only the screen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import OptionList

from console.tui import OncallApp
from console.tui.screens.drill import DrillScoreScreen, DrillSpeedScreen
from console.tui.screens.help import HelpScreen
from console.tui.widgets.incident_table import IncidentTable
from engine.clock import Clock, VirtualClock
from engine.service import Ctx
from engine.service import contacts as contacts_svc
from engine.service.demo import DemoOrg
from storage import timeline
from storage.db import Database
from tests.tui.conftest import wait_for

MakeApp = Callable[..., OncallApp]


def live_state(db: Database) -> dict[str, Any]:
    """Everything a drill must not touch in the live database."""
    return {
        table: [tuple(r) for r in db.all(f"SELECT * FROM {table} ORDER BY rowid")]
        for table in ("incidents", "escalations", "timeline", "outbox")
    }


class DrillClocks:
    """The app's drill clock factory: a VirtualClock per drill, remembered with the speed asked for."""

    def __init__(self) -> None:
        self.made: list[tuple[float, VirtualClock]] = []

    def __call__(self, speed: float, origin: datetime) -> Clock:
        clock = VirtualClock(origin)
        self.made.append((speed, clock))
        return clock


async def start_drill_from_policies(pilot: Pilot[None], policy: str) -> None:
    await pilot.press("2")
    await wait_for(pilot, lambda: pilot.app.current_mode == "policies", "the policies mode")
    plist = pilot.app.screen.query_one("#policy-list", OptionList)
    for index in range(plist.option_count):
        if str(plist.get_option_at_index(index).prompt) == policy:
            plist.highlighted = index
    await pilot.pause()
    await pilot.press("R")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DrillSpeedScreen), "the speed choice")


async def test_drill_from_policies_acknowledged_on_incidents(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db: Database, tmp_path: Path
) -> None:
    # Every person has a real channel: a drill must leave it alone (pages stay in the log).
    marker = tmp_path / "delivered"
    for uid in demo.users.values():
        contacts_svc.add_contact_method(ctx, uid, {"channel": "command", "address": f"touch {marker}"})
    before = live_state(db)
    clocks = DrillClocks()
    app = make_app(drill_clock=clocks, drill_step_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_drill_from_policies(pilot, "Platform Default")
        await pilot.press("up", "down")  # 1×, 10×, 60×: the last is highlighted first
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: app.drills.drill is not None and app.current_mode == "incidents", "the drill"
        )
        assert [speed for speed, _ in clocks.made] == [60.0]
        clock = clocks.made[0][1]
        drill = app.drills.drill
        assert drill is not None
        key = drill.incident_id
        table = app.screen.query_one(IncidentTable)
        assert table.selected_id == key  # the cursor is on the drill, ready for `a`
        assert table.cell_text(key, "title").startswith("⚑ DRILL rehearsal of Platform Default")
        assert table.cell_text(key, "num") == "—"
        assert table.cell_text(key, "layer") == "1/3"
        assert table.cell_text(key, "next") == "⏱5:00"

        # Drill time moves; the countdown follows the drill's clock, not the console's (frozen) one.
        clock.advance(timedelta(minutes=2))
        await wait_for(pilot, lambda: table.cell_text(key, "next") == "⏱3:00", "the countdown at 3:00")
        clock.advance(timedelta(minutes=3))
        await wait_for(pilot, lambda: table.cell_text(key, "layer") == "2/3", "layer 2")
        assert table.cell_text(key, "next") == "⏱10:00"

        clock.advance(timedelta(seconds=42))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, DrillScoreScreen), "the score card")
        card = app.screen
        assert isinstance(card, DrillScoreScreen)
        assert card.summary["acknowledged"] is True
        assert card.summary["acknowledgedBy"] == "Alice Chen"
        assert card.summary["timeToAcknowledgeSeconds"] == 5 * 60 + 42
        assert [(x.layer, x.started, x.paged_for, x.ended, x.responder) for x in card.scores] == [
            (1, timedelta(0), timedelta(minutes=5), "timed out", None),
            (2, timedelta(minutes=5), timedelta(seconds=42), "acknowledged", "Alice Chen"),
        ]
        assert all(x.people for x in card.scores)
        assert card.outcome_text() == "acknowledged by Alice Chen at layer 2"

        # The drill incident's own timeline (on the scratch copy): both pages and the acknowledgement.
        events = timeline.events(drill.db, key)
        kinds = [e["kind"] for e in events]
        assert kinds.count("layer_paged") == 2
        assert "escalation_timeout" in kinds and "escalation_acknowledged" in kinds
        ack = next(e for e in events if e["kind"] == "incident_acknowledged")
        assert ack["data"]["userId"] == demo.users["alice"]
        assert ack["at"].startswith("2026-03-02T14:05:42")  # drill time
        # Its pages were queued for the command channel and never attempted.
        queued = drill.db.all("SELECT channel, status, attempts FROM outbox WHERE incident_id = ?", (key,))
        assert queued and all(r["attempts"] == 0 and r["status"] == "pending" for r in queued)

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.drills.drill is None, "the drill to end")
        assert key not in table.order  # the drill incident went away with its copy
    assert live_state(db) == before  # no live incident, timeline, escalation or outbox row changed
    assert not marker.exists()  # nothing was delivered


async def test_drill_exhausted_shows_score_card(make_app: MakeApp, db: Database) -> None:
    before = live_state(db)
    clocks = DrillClocks()
    app = make_app(drill_clock=clocks, drill_step_seconds=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_drill_from_policies(pilot, "Platform Default")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.drills.drill is not None, "the drill")
        drill = app.drills.drill
        assert drill is not None
        clock = clocks.made[0][1]
        table = app.screen.query_one(IncidentTable)
        for layer, minutes in ((2, 5), (3, 10)):  # each layer's timeout
            clock.advance(timedelta(minutes=minutes))
            shown = f"{layer}/3"
            await wait_for(pilot, lambda: table.cell_text(drill.incident_id, "layer") == shown, shown)  # noqa: B023
        clock.advance(timedelta(minutes=30))
        await wait_for(pilot, lambda: isinstance(app.screen, DrillScoreScreen), "the score card")
        card = app.screen
        assert isinstance(card, DrillScoreScreen)
        assert card.summary["outcome"] == "exhausted"
        assert [(x.layer, x.paged_for, x.ended) for x in card.scores] == [
            (1, timedelta(minutes=5), "timed out"),
            (2, timedelta(minutes=10), "timed out"),
            (3, timedelta(minutes=30), "timed out"),
        ]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.drills.drill is None, "the drill to end")
        live_open = db.scalar("SELECT count(*) FROM incidents WHERE status != 'resolved'")
        assert app.screen.query_one(IncidentTable).row_count == live_open
    assert live_state(db) == before


async def test_drill_key_in_help_and_palette(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "policies", "the policies mode")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert ("R", "Drill", "Policies") in app.screen.rows
        await pilot.press("escape")
        await pilot.press("1")  # from another mode, the palette switches to policies first
        await wait_for(pilot, lambda: app.current_mode == "incidents", "the incidents mode")
        from console.tui.commands import OncallCommands

        titles = [title for title, _, _ in OncallCommands(app.screen)._commands()]
        assert "Policies: Drill" in titles


def test_score_card_snapshot(snap_compare, make_app: MakeApp) -> None:  # type: ignore[no-untyped-def]
    """The score card's layout at the 80×24 baseline: layer 1 times out, layer 2 acknowledges."""
    clocks = DrillClocks()

    async def run_before(pilot: Pilot[None]) -> None:
        await start_drill_from_policies(pilot, "Platform Default")
        await pilot.press("enter")
        app = pilot.app
        await wait_for(pilot, lambda: app.drills.drill is not None, "the drill")  # type: ignore[attr-defined]
        key = app.drills.drill.incident_id  # type: ignore[attr-defined]
        table = app.screen.query_one(IncidentTable)
        clocks.made[0][1].advance(timedelta(minutes=5))
        await wait_for(pilot, lambda: table.cell_text(key, "layer") == "2/3", "layer 2")
        clocks.made[0][1].advance(timedelta(minutes=1, seconds=30))  # as a scaled clock would
        await wait_for(pilot, lambda: table.cell_text(key, "next") == "⏱8:30", "the countdown at 8:30")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, DrillScoreScreen), "the score card")

    app = make_app(drill_clock=clocks, drill_step_seconds=0.05)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
