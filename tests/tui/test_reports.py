"""The reports screen (mode 5): what it shows agrees with the report the service computes from the
database, the period key moves the window; snapshots at 80×24 and 120×40 on fixed data and a frozen clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from textual.pilot import Pilot

from console.tui import OncallApp
from engine.clock import VirtualClock
from engine.service import Ctx, incidents
from engine.service import reports as reports_svc
from engine.service.demo import DemoOrg
from tests.tui.conftest import settle, wait_for
from tests.tui.test_console import flash_text

MakeApp = Callable[..., OncallApp]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _history(ctx: Ctx, demo: DemoOrg, clock: VirtualClock) -> None:
    """Fixed extra history on the frozen clock: a night incident acknowledged after 3 minutes and resolved
    after 25, a daytime one resolved after 2 hours."""
    clock.advance(timedelta(hours=15))  # 05:00 UTC: 00:00 in New York (Platform Primary's zone)
    night = incidents.create_incident(
        ctx, {"title": "Queue backlog", "severity": "high", "escalationPolicyId": demo.policies["default"]}
    )
    clock.advance(timedelta(minutes=3))
    incidents.acknowledge(ctx, night["id"])
    clock.advance(timedelta(minutes=22))
    incidents.resolve_incident(ctx, night["id"])
    clock.advance(timedelta(hours=4, minutes=35))  # 10:00 UTC
    day = incidents.create_incident(
        ctx, {"title": "Slow checkout", "severity": "medium", "escalationPolicyId": demo.policies["sre"]}
    )
    clock.advance(timedelta(hours=2))
    incidents.resolve_incident(ctx, day["id"])
    clock.advance(timedelta(minutes=1))  # the report's window ends at now, exclusive


def _summary(app: OncallApp) -> str:
    return str(app.screen.query_one("#report-summary").render())


async def _open_reports(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("5")
    await wait_for(
        pilot, lambda: pilot.app.current_mode == "reports" and "incidents" in _summary(pilot.app), "reports"
    )
    await settle(pilot)


async def test_reports_screen_agrees_with_the_database(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, clock: VirtualClock
) -> None:
    _history(ctx, demo, clock)
    expected = reports_svc.report(ctx)  # the same 28 days before the clock's now
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_reports(pilot)
        summary = _summary(app)
        assert "Last 28 days" in summary
        assert f"{expected['incidents']} incidents" in summary
        assert f"{expected['resolved']} resolved" in summary
        people = str(app.screen.query_one("#numbers-people").render())
        for p in expected["people"]:
            assert f"{p['name'][:16]:<16} {p['pages']:>5}  {p['nightPages']:>5}" in people
        assert expected["resolved"] == 2
        assert "MTTR 1h 12m" in summary  # (25 min + 120 min) / 2 = 72.5 min
        severity = str(app.screen.query_one("#numbers-severity").render())
        shown = {line.split()[0]: int(line.split()[1]) for line in severity.splitlines()[1:]}
        assert shown == expected["bySeverity"]

        # the period key: the last 90 days, then 7, then 28 again
        await pilot.press("p")
        await wait_for(pilot, lambda: "Last 90 days" in _summary(app), "the 90-day period")
        assert "last 90 days" in flash_text(app)
        await pilot.press("p")
        await wait_for(pilot, lambda: "Last 7 days" in _summary(app), "the 7-day period")

        # a new incident elsewhere shows up when the database changes
        incidents.create_incident(ctx, {"title": "Another", "severity": "low", "escalationPolicyId": None})
        now_expected = reports_svc.report(ctx, f"{(clock.now() - timedelta(days=7)).isoformat()}")
        await wait_for(
            pilot, lambda: f"{now_expected['incidents']} incidents" in _summary(app), "the new incident"
        )


@pytest.mark.parametrize("size", SIZES)
def test_reports_snapshot(  # type: ignore[no-untyped-def]
    snap_compare, make_app: MakeApp, ctx: Ctx, demo: DemoOrg, clock: VirtualClock, size: tuple[int, int]
) -> None:
    _history(ctx, demo, clock)
    assert snap_compare(make_app(), terminal_size=size, run_before=_open_reports)
