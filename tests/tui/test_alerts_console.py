"""The console's side of "Alerts in" (issue 12): the incident list's alert-count column, the incident
detail's Alerts tab, and the status bar's maintenance indicator. Alerts arrive through the same service an
integration's URL calls; each test checks that the screen and the database agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import TabbedContent

from console.tui import OncallApp
from console.tui.screens.incident_detail import IncidentDetailScreen
from console.tui.widgets.alerts_view import AlertsView
from console.tui.widgets.incident_table import IncidentTable
from console.tui.widgets.status_bar import maintenance_label
from engine.clock import VirtualClock
from engine.runtime import timers
from engine.service import Ctx, alerts, heartbeats, integrations, maintenance
from engine.service.demo import DemoOrg
from engine.service.timer_kinds import HANDLERS
from storage.db import Database, open_db
from tests.tui.conftest import FROZEN, settle, wait_for

MakeApp = Callable[..., OncallApp]
RUNBOOK = {"href": "https://runbooks.example/checkout-latency", "text": "Runbook"}


def _integration(ctx: Ctx, demo: DemoOrg) -> str:
    """An events integration paging Platform Default; returns its URL token."""
    made = integrations.create_integration(
        ctx, {"name": "Checkout probes", "kind": "events", "escalationPolicyId": demo.policies["default"]}
    )
    return str(made["token"])


def _event(key: str, summary: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "trigger",
        "dedupKey": key,
        "summary": summary,
        "severity": "critical",
        "source": "probe-eu-1",
        "labels": {"service": "checkout", "region": "eu"},
        "links": [RUNBOOK],
        **extra,
    }


def _send(db: Database, clock: VirtualClock, token: str, payload: dict[str, Any]) -> str:
    """Deliver one payload as the integration URL would; returns the incident it went to."""
    answer = alerts.receive(db, clock, token, payload)
    incident_id = answer["alerts"][0]["incidentId"]
    assert incident_id is not None, answer
    return str(incident_id)


def _stored_count(ctx: Ctx, incident_id: str) -> int:
    return alerts.alert_counts(ctx, [incident_id])[incident_id]


def _alerts_view(app: OncallApp) -> AlertsView | None:
    found = app.screen.query(AlertsView)
    return found.first() if found else None


async def test_alert_count_column_follows_the_database(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db: Database, clock: VirtualClock, db_path: Path
) -> None:
    """A repeated alert adds no timeline event; the column still follows the stored count."""
    token = _integration(ctx, demo)
    iid = _send(db, clock, token, _event("latency", "Checkout p99 above 2 s"))
    app = make_app(poll_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(IncidentTable)
        await wait_for(pilot, lambda: iid in table.order, "the alert's incident in the list")
        assert table.cell_text(iid, "alerts").strip() == str(_stored_count(ctx, iid)) == "1"
        assert table.cell_text(demo.incidents[0], "alerts").strip() == ""  # opened by hand: blank
        other = open_db(db_path)  # as the server would: another connection (the console sees its commits)
        try:
            for _ in range(2):  # the same dedup key again: the incident grows, no new one
                clock.advance(timedelta(minutes=1))
                assert _send(other, clock, token, _event("latency", "Checkout p99 above 2 s")) == iid
        finally:
            other.close()
        await wait_for(pilot, lambda: table.cell_text(iid, "alerts").strip() == "3", "the count to grow")
        assert _stored_count(ctx, iid) == 3


async def test_alerts_tab_shows_counts_times_labels_and_links(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db: Database, clock: VirtualClock
) -> None:
    token = _integration(ctx, demo)
    iid = _send(db, clock, token, _event("latency", "Checkout p99 above 2 s"))
    clock.advance(timedelta(minutes=2))
    _send(db, clock, token, _event("latency", "Checkout p99 above 2 s"))
    app = make_app(poll_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(IncidentTable)
        await wait_for(pilot, lambda: iid in table.order, "the alert's incident")
        table.select_key(iid)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the detail screen")
        for _ in range(3):  # timeline → updates → history → alerts
            await pilot.press("t")
        await wait_for(pilot, lambda: app.screen.query_one(TabbedContent).active == "tab-alerts", "the tab")
        view = _alerts_view(app)
        assert view is not None
        stored = alerts.incident_alerts(ctx, iid)
        assert stored is not None and stored["count"] == 2
        text = view.text
        assert text.startswith("2 alerts received · 1 firing")
        assert f"first seen {FROZEN:%Y-%m-%d %H:%M:%S}Z" in text
        assert f"last seen {FROZEN + timedelta(minutes=2):%Y-%m-%d %H:%M:%S}Z" in text
        assert "via Checkout probes" in text
        assert "region=eu" in text and "service=checkout" in text
        assert "Runbook https://runbooks.example/checkout-latency" in text
        assert "×2  Checkout p99 above 2 s" in text
        # A second alert key on the same incident is not grouped here (events group by dedup key):
        # what the tab lists is exactly what the database holds, newest first.
        assert [a["summary"] for a in stored["alerts"]] == ["Checkout p99 above 2 s"]


async def test_alerts_tab_empty_state_says_what_to_do(make_app: MakeApp, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the detail screen")
        app.screen.query_one(TabbedContent).active = "tab-alerts"
        await settle(pilot)
        view = _alerts_view(app)
        assert view is not None
        assert view.text.startswith("No alerts on this incident")
        assert "oncall integrations create" in view.text


async def test_status_bar_shows_maintenance_while_a_window_is_active(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, clock: VirtualClock
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:

        def shown() -> str:
            return str(app.screen.query_one("#status-state").render())

        await settle(pilot)
        assert "maint" not in shown()
        first = maintenance.start_window(ctx, {"scope": "org", "durationMinutes": 60, "reason": "db upgrade"})
        maintenance.start_window(ctx, {"scope": "org", "durationMinutes": 30})
        assert len(maintenance.active_windows(ctx)) == 2
        await wait_for(pilot, lambda: "maint: 2 windows until 15:00" in shown(), "the indicator")
        maintenance.end_window(ctx, first["id"])
        await wait_for(pilot, lambda: "maint: 1 window until 14:30" in shown(), "one window left")
        clock.advance(timedelta(minutes=31))
        assert maintenance.active_windows(ctx) == []
        await wait_for(pilot, lambda: "maint" not in shown(), "the indicator to go")


async def test_status_bar_shows_a_heartbeat_down_until_it_pings(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, clock: VirtualClock, db_path: Path
) -> None:
    body = {
        "name": "backup",
        "escalationPolicyId": demo.policies["default"],
        "intervalMinutes": 5,
        "graceMinutes": 0,
    }
    hb = heartbeats.create_heartbeat(ctx, body)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:

        def shown() -> str:
            return str(app.screen.query_one("#status-state").render())

        await settle(pilot)
        assert "heartbeat" not in shown()
        other = open_db(db_path)  # the engine's own connection
        try:
            timers.drive(other, clock, clock.now() + timedelta(minutes=6), HANDLERS)
        finally:
            other.close()
        assert heartbeats.get_heartbeat(ctx, hb["id"])["status"] == "down"
        await wait_for(pilot, lambda: "♥ 1 heartbeat down" in shown(), "the heartbeat indicator")
        heartbeats.ping_heartbeat(ctx, hb["id"])
        await wait_for(pilot, lambda: "heartbeat" not in shown(), "the indicator to go")


def test_maintenance_label_narrow_and_other_days() -> None:
    windows = [{"endsAt": "2026-03-02T15:00:00.000Z"}, {"endsAt": "2026-03-04T09:30:00.000Z"}]
    assert maintenance_label([], FROZEN, wide=True) is None
    assert maintenance_label(windows[:1], FROZEN, wide=False) == "⏸ maint→15:00"
    assert maintenance_label(windows, FROZEN, wide=True) == "⏸ maint: 2 windows until 04 Mar 09:30"


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_alerts_tab_snapshot(  # type: ignore[no-untyped-def]
    snap_compare, make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db: Database, clock: VirtualClock, size
) -> None:
    token = _integration(ctx, demo)
    iid = _send(db, clock, token, _event("latency", "Checkout p99 above 2 s"))
    clock.advance(timedelta(minutes=3))
    _send(db, clock, token, _event("latency", "Checkout p99 above 2 s"))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.screen.query_one(IncidentTable).select_key(iid)
        await pilot.press("enter")
        await settle(pilot)
        pilot.app.screen.query_one(TabbedContent).active = "tab-alerts"
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
