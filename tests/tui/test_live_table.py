"""The live incident table at its own scale: the first screenful before the rest, an order kept by
bisection that always equals a full sort, every change it shows read by the change feed (no full re-read
after start-up), and a clock tick that asks to repaint only the countdown cells whose text moved."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region

from console.tui import OncallApp
from console.tui.readmodel import open_incidents
from console.tui.screens import incidents as incidents_screen
from console.tui.widgets.incident_table import IncidentTable, sort_key
from engine.clock import VirtualClock
from engine.runtime import escalator
from engine.service import Ctx, alerts, incidents, integrations
from engine.service.demo import DemoOrg
from storage.db import open_db
from tests.tui.conftest import settle, wait_for

MakeApp = Callable[..., OncallApp]
SEVERITIES = ("critical", "high", "medium", "low")


def _open_many(ctx: Ctx, demo: DemoOrg, clock: VirtualClock, count: int) -> list[str]:
    """``count`` open incidents of mixed severities, half of them escalating, a second apart."""
    made = []
    with ctx.db.write():
        for i in range(count):
            clock.advance(timedelta(seconds=1))
            body: dict[str, Any] = {"title": f"Load {i:03d}", "severity": SEVERITIES[i % 4]}
            if i % 2:
                body["escalationPolicyId"] = demo.policies["default"]
            else:
                body["ownerId"] = demo.users["erin"]
            made.append(incidents.create_incident(ctx, body)["id"])
    return made


def _full_sort(table: IncidentTable, ctx: Ctx) -> list[str]:
    """The order a fresh read sorted from scratch gives (what the incremental order must equal)."""
    rows, _ = open_incidents(ctx.db, ctx.org_id)
    return sorted(rows, key=lambda k: sort_key(rows[k], table.sort_by))


async def test_first_screenful_comes_first_and_the_rest_follows_in_the_same_order(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_many(ctx, demo, clock, incidents_screen.FIRST_ROWS + 60)
    applied: list[list[str]] = []
    original = IncidentTable.apply

    def recording(self: IncidentTable, rows: Any, now: Any) -> None:
        original(self, rows, now)
        applied.append(self.order)

    monkeypatch.setattr(IncidentTable, "apply", recording)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(IncidentTable)
        total = len(_full_sort(table, ctx))
        await wait_for(pilot, lambda: table.row_count == total, "every open incident to load")
        await settle(pilot)
        expected = _full_sort(table, ctx)
        # The first apply is the first screenful: exactly the top of the full order.
        assert applied[0] == expected[: incidents_screen.FIRST_ROWS]
        assert table.order == expected
        summary = str(app.screen.query_one("#incident-summary").render())
        assert summary.startswith(f"{total} open")


async def test_changes_keep_the_order_a_full_sort_gives(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, clock: VirtualClock, db_path: Path
) -> None:
    """Creates, acknowledgements, status steps and resolves from another connection, in a random order:
    after each, the table's bisected order equals a full sort of a fresh read, and the cursor stays on
    its incident while that incident is shown."""
    ids = _open_many(ctx, demo, clock, 40)
    rng = random.Random(15)
    app = make_app(poll_seconds=0.02)
    other = open_db(db_path)
    other_ctx = Ctx(
        db=other, org_id=ctx.org_id, actor_id=ctx.actor_id, actor_user_id=ctx.actor_user_id, clock=clock
    )
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(IncidentTable)
            await settle(pilot)
            for step in range(25):
                await pilot.press("down")
                kept = table.selected_id
                kind = rng.choice(("create", "ack", "status", "resolve", "sort"))
                clock.advance(timedelta(seconds=1))
                if kind == "sort":
                    await pilot.press("o")
                elif kind == "create":
                    sev = rng.choice(SEVERITIES)
                    ids.append(
                        incidents.create_incident(other_ctx, {"title": f"New {step}", "severity": sev})["id"]
                    )
                else:
                    target = rng.choice([i for i in ids if table.row(i) is not None])
                    if kind == "ack":
                        incidents.acknowledge(other_ctx, target)
                    elif kind == "status":
                        status = incidents.get_incident(other_ctx, target)["status"]
                        if status != "monitoring":
                            nxt = {"investigating": "identified", "identified": "monitoring"}[status]
                            incidents.advance_status(other_ctx, target, {"status": nxt})
                    else:
                        incidents.resolve_incident(other_ctx, target, "done")
                await wait_for(
                    pilot,
                    lambda: table.order == _full_sort(table, ctx),
                    f"the order after step {step} ({kind})",
                )
                if kept is not None and table.row(kept) is not None:
                    assert table.selected_id == kept
    finally:
        other.close()


async def test_every_change_the_table_shows_arrives_through_the_change_feed(
    make_app: MakeApp,
    ctx: Ctx,
    demo: DemoOrg,
    clock: VirtualClock,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Status, acknowledgement, owner, escalation step, alert count and resolve, each written by another
    connection, reach the table without any full re-read after start-up."""
    token = str(
        integrations.create_integration(
            ctx, {"name": "Probes", "kind": "events", "escalationPolicyId": demo.policies["default"]}
        )["token"]
    )
    event = {"action": "trigger", "dedupKey": "k1", "summary": "Checkout slow", "severity": "high"}
    first = alerts.receive(ctx.db, clock, token, event)["alerts"][0]["incidentId"]
    iid = demo.incidents[0]
    app = make_app(poll_seconds=0.02)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(IncidentTable)
        await settle(pilot)
        full_reads: list[int] = []
        original = incidents_screen.open_incidents
        monkeypatch.setattr(
            incidents_screen, "open_incidents", lambda *a: full_reads.append(1) or original(*a)
        )
        other = open_db(db_path)
        other_ctx = Ctx(
            db=other, org_id=ctx.org_id, actor_id=ctx.actor_id, actor_user_id=ctx.actor_user_id, clock=clock
        )
        try:
            assert table.cell_text(iid, "layer") == "1/3"
            clock.advance(timedelta(minutes=6))
            escalator.tick(other, clock.now())  # the engine's timeout: layer 2 is paged
            await wait_for(pilot, lambda: table.cell_text(iid, "layer") == "2/3", "the escalation step")
            incidents.advance_status(other_ctx, iid, {"status": "identified"})
            await wait_for(pilot, lambda: table.cell_text(iid, "status").endswith("identified"), "the status")
            incidents.handoff(other_ctx, iid, {"targetUserId": demo.users["bob"]})
            await wait_for(pilot, lambda: table.row(iid).owner_id == demo.users["bob"], "the new owner")  # type: ignore[union-attr]
            incidents.acknowledge(other_ctx, iid)
            await wait_for(pilot, lambda: table.cell_text(iid, "ack") != "—", "the acknowledgement")
            clock.advance(timedelta(seconds=5))
            alerts.receive(other, clock, token, event)  # a repeat: no timeline event, the count moves
            await wait_for(pilot, lambda: table.cell_text(first, "alerts").strip() == "2", "the alert count")
            incidents.resolve_incident(other_ctx, iid, "fixed")
            await wait_for(pilot, lambda: table.row(iid) is None, "the resolved incident to leave")
        finally:
            other.close()
        assert full_reads == []


async def test_a_clock_tick_repaints_only_countdown_cells_that_changed(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, clock: VirtualClock
) -> None:
    app = make_app(tick_seconds=3600)  # ticks are driven by the test
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(IncidentTable)
        await settle(pilot)
        escalating = [r for r in table.rows_in_order() if r.due_ms is not None]
        assert escalating, "the demo has escalating incidents on screen"
        table._dirty_regions.clear()
        table.tick(clock.now())  # the same instant: no countdown text moved
        assert table._dirty_regions == set()
        clock.advance(timedelta(seconds=1))
        table.tick(clock.now())
        x = 1 + sum(
            table.widths[c] + 2 for c in ("sev", "num", "status", "title", "alerts", "owner", "layer")
        )
        expected = {
            Region(x, (table.index_of(r.id) or 0) + 1, table.widths["next"], 1).translate(
                table.content_offset
            )
            for r in escalating
        }
        assert table._dirty_regions == expected
        await pilot.pause()
        for r in escalating:  # and what is drawn there is the new countdown
            assert table.cell_text(r.id, "next") in str(
                table.render_line((table.index_of(r.id) or 0) + 1).text
            )


def test_countdowns_show_seconds_only_under_a_quarter_of_an_hour() -> None:
    """A countdown moving every second costs a terminal line every second: far-off ones move by minutes."""
    from console.tui.presentation import countdown

    assert [countdown(s) for s in (0, 59, 599, 899, 900, 3599, 3600, 90_000)] == [
        "0:00",
        "0:59",
        "9:59",
        "14:59",
        "15m",
        "59m",
        "1h00m",
        "1d01h",
    ]
