"""Issue 15 item 1: screens that told an on-call engineer the wrong thing. Each test drives the console
with the keyboard, then checks both the database and what the screen says."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input, OptionList, Select, Static

from console.tui import OncallApp
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.form import FormScreen
from console.tui.screens.picker import PickerScreen
from console.tui.widgets.incident_table import IncidentTable
from engine.service import Ctx, incidents, policies, schedules
from engine.service.demo import DemoOrg
from tests.tui.conftest import settle, wait_for

MakeApp = Callable[..., OncallApp]


def flash_text(app: OncallApp) -> str:
    return str(app.screen.query_one("#flash", Static).render())


def handoffs(ctx: Ctx, iid: str) -> int:
    return sum(ev["kind"] == "incident_handed_off" for ev in incidents.get_incident(ctx, iid)["timeline"])


async def test_handoff_picker_filters_from_the_start_and_refuses_the_current_owner(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    iid = demo.incidents[0]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen), "the hand-off picker")
        picker = app.screen
        assert picker.query_one("#picker-filter", Input).has_focus  # typing filters at once
        await pilot.press(*"bo")
        listed = picker.query_one("#picker-list", OptionList)
        assert [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)] == [
            "Bob Okafor"
        ]
        await pilot.press("enter")  # the highlighted match
        await wait_for(pilot, lambda: not isinstance(app.screen, PickerScreen), "the picker to close")
        assert incidents.get_incident(ctx, iid)["ownerId"] == demo.users["bob"]
        assert "#1 handed off to Bob Okafor" in flash_text(app)
        assert handoffs(ctx, iid) == 1

        # Bob owns it now: handing it to him again is refused in the picker, nothing is written.
        before = incidents.get_incident(ctx, iid)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen), "the hand-off picker")
        picker = app.screen
        await pilot.press(*"bob", "enter")
        await settle(pilot)
        assert app.screen is picker
        message = str(picker.query_one("#picker-message", Static).render())
        assert "Bob Okafor already owns #1: choose someone else" in message
        assert handoffs(ctx, iid) == 1
        after = incidents.get_incident(ctx, iid)
        assert after["escalation"] == before["escalation"]  # no re-page, the timer was not restarted
        await pilot.press("escape")
        await settle(pilot)


async def test_a_number_field_refuses_what_is_not_a_whole_number(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "policies", "the policies mode")
        await settle(pilot)
        pid = app.screen.policy_id  # type: ignore[attr-defined]
        before = policies.list_layers(ctx, pid)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen), "the add-layer form")
        form = app.screen
        timeout = form.query_one("#field-ackTimeoutMinutes", Input)
        timeout.focus()
        timeout.value = ""
        await pilot.press(*"2.5")
        await settle(pilot)
        assert timeout.value == "2.5"  # kept as typed, never silently 25
        error = str(form.query_one("#err-ackTimeoutMinutes", Static).render())
        assert "Acknowledge timeout (minutes) must be a whole number" in error
        form.query_one("#field-scheduleId", Select).value = demo.schedules["primary"]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert policies.list_layers(ctx, pid) == before
        timeout.value = "25"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        after = policies.list_layers(ctx, pid)
        assert len(after) == len(before) + 1, after
        assert after[-1]["ackTimeoutMinutes"] == 25


async def test_escalate_now_on_an_acknowledged_incident_follows_the_page(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    iid = demo.incidents[0]  # Platform Default, three layers
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(IncidentTable)
        await pilot.press("a")
        await wait_for(pilot, lambda: table.cell_text(iid, "ack") == "Alice Chen", "the ack")
        for layer in (2, 3):
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the escalate dialog")
            question = str(app.screen.query_one(Static).render())
            assert f"Escalate #1 “{incidents.get_incident(ctx, iid)['title']}”" in question
            assert f"page layer {layer} of 3 now" in question
            await pilot.press("y")
            shown = f"{layer}/3"
            await wait_for(pilot, lambda s=shown: table.cell_text(iid, "layer") == s, f"layer {shown}")
            esc = incidents.get_incident(ctx, iid)["escalation"]
            assert (esc["currentLayer"], esc["state"]) == (layer, "acknowledged")
            paged = [
                ev["data"]["position"]
                for ev in incidents.get_incident(ctx, iid)["timeline"]
                if ev["kind"] == "layer_paged"
            ]
            assert paged[-1] == layer
        # At the last layer: nothing further to reach; said in words, nothing written.
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the escalate dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: "last layer" in flash_text(app), "the refusal")
        assert incidents.get_incident(ctx, iid)["escalation"]["currentLayer"] == 3
        assert table.cell_text(iid, "layer") == "3/3"


async def test_new_incident_on_a_policy_that_pages_nobody_warns_before_saving(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    empty = policies.create_policy(ctx, {"name": "Nobody Yet"})["id"]
    count = len(incidents.list_incidents(ctx)["incidents"])
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen), "the new-incident form")
        form = app.screen
        await pilot.press(*"Disk full")
        form.query_one("#field-severity", Select).value = "high"
        form.query_one("#field-escalationPolicyId", Select).value = empty
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        warning = str(form.query_one("#err-escalationPolicyId", Static).render())
        assert "this policy has no layers: nobody would be paged" in warning
        assert len(incidents.list_incidents(ctx)["incidents"]) == count  # nothing saved yet
        await pilot.press("ctrl+s")  # warned once: the second save opens it
        await wait_for(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        opened = [i for i in incidents.list_incidents(ctx)["incidents"] if i["title"] == "Disk full"]
        assert len(opened) == 1 and opened[0]["escalationPolicyId"] == empty
        assert "opened: Disk full" in flash_text(app)


async def test_schedules_until_is_the_end_of_the_owners_shift(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    """Layer 1 (weekly, Monday 09:00) owns the schedule; layer 2 hands off daily. The owner is on call
    until next Monday, not until tomorrow's handoff on the other layer."""
    sid = schedules.create_schedule(ctx, {"name": "Aa Split", "timezone": "UTC"})["id"]
    for name, kind, who in (
        ("weekly", "weekly", ["alice", "bob"]),
        ("daily", "daily", ["carol", "dan"]),
    ):
        schedules.add_rotation_layer(
            ctx,
            sid,
            {
                "name": name,
                "rotationType": kind,
                "handoffTime": "09:00",
                "effectiveFrom": "2026-03-02T09:00:00.000Z",
                "participantIds": [demo.users[p] for p in who],
            },
        )
    res = schedules.on_call(ctx, sid)
    assert res.owner_id == demo.users["alice"]
    assert res.next_handoff is not None and res.next_handoff.day == 3  # the daily layer's, tomorrow
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "schedules", "the schedules mode")
        await settle(pilot)
        slist = app.screen.query_one("#schedule-list", OptionList)
        index = next(i for i in range(slist.option_count) if slist.get_option_at_index(i).id == sid)
        assert "Alice C. → 09 Mar 09:00" in str(slist.get_option_at_index(index).prompt)
        slist.highlighted = index
        await settle(pilot)
        head = str(app.screen.query_one("#schedule-head", Static).render())
        assert "on call now: Alice Chen until 09 Mar 09:00" in head
