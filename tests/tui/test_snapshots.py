"""Snapshots of every screen at 80×24 and 120×40 (frozen clock, the demo organisation, no engine).

Layout only: behaviour is asserted in test_console.py. Regenerate with ``--snapshot-update`` and look at
the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from console.tui import OncallApp
from engine.service import Ctx, contacts, incidents, notification_rules
from engine.service.demo import DemoOrg
from tests.tui.conftest import settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
MakeApp = Callable[..., OncallApp]


async def _settle(pilot: Pilot[None]) -> None:
    await settle(pilot)


def _pick(pilot: Pilot[None], list_id: str, label_start: str) -> None:
    ol = pilot.app.screen.query_one(list_id, OptionList)
    for index in range(ol.option_count):
        if str(ol.get_option_at_index(index).prompt).startswith(label_start):
            ol.highlighted = index
            return
    raise AssertionError(f"{label_start!r} not in {list_id}")


@pytest.mark.parametrize("size", SIZES)
def test_incidents(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_incident_detail(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("enter")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_policies(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("2")
        await _settle(pilot)
        _pick(pilot, "#policy-list", "Platform Default")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_schedules(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("3")
        await _settle(pilot)
        _pick(pilot, "#schedule-list", "Platform Secondary")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_people(snap_compare, make_app: MakeApp, ctx: Ctx, demo: DemoOrg, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Alice with a webhook (masked), her own log method, two high-urgency steps and reminders."""
    alice = demo.users["alice"]
    hook = contacts.add_contact_method(
        ctx,
        alice,
        {"channel": "webhook", "address": "https://hooks.example.com/T0/secret", "secret": "s" * 24},
    )["id"]
    log = contacts.add_contact_method(ctx, alice, {"channel": "log"})["id"]
    for method, delay in ((hook, 0), (log, 2)):
        notification_rules.add_rule(
            ctx, alice, {"urgency": "high", "contactMethodId": method, "delayMinutes": delay}
        )
    notification_rules.set_reminders(ctx, alice, {"beforeMinutes": 120, "atStart": True})

    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("4")
        await _settle(pilot)
        _pick(pilot, "#people-list", "Alice")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("question_mark")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_new_incident_form_with_errors(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("n")
        await _settle(pilot)
        await pilot.press("ctrl+s")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_incidents_no_color(snap_compare, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_settle)


# -- the flows of issue 15 item 2: schedules and rotation layers edited, history, my on-call ----------


@pytest.mark.parametrize("size", SIZES)
def test_new_schedule_form_with_errors(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("3")
        await _settle(pilot)
        await pilot.press("N")
        await _settle(pilot)
        await pilot.press(*"Platform Primary", "ctrl+s")  # the name is taken: refused inline
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_edit_rotation_layer_form(snap_compare, make_app: MakeApp, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("3")
        await _settle(pilot)
        _pick(pilot, "#schedule-list", "Platform Secondary")
        await _settle(pilot)
        pilot.app.screen.query_one("#rotation-list", OptionList).focus()
        await pilot.press("e")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_resolved_incidents(
    snap_compare, make_app: MakeApp, ctx: Ctx, demo: DemoOrg, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    incidents.resolve_incident(ctx, demo.incidents[1], "index rebuilt")

    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("f")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_resolved_incident_detail(
    snap_compare, make_app: MakeApp, ctx: Ctx, demo: DemoOrg, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    incidents.resolve_incident(ctx, demo.incidents[1], "index rebuilt")

    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("f")
        await _settle(pilot)
        await pilot.press("enter")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_my_oncall(snap_compare, make_app: MakeApp, ctx: Ctx, demo: DemoOrg, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    incidents.escalate_now(ctx, demo.incidents[1], 2)  # SRE Critical's layer 2 pages Alice

    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("m")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
