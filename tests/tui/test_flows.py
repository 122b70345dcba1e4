"""Pilot tests of the console's everyday flows (issue 15 item 2): schedules created, edited and deleted;
rotation layers edited and deleted; resolved incidents found and opened; the "my on-call" view. Each
drives the keys, then checks the database through the use cases and what the screen shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Select, Static

from console.tui import OncallApp
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.form import FormScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.incident_detail import IncidentDetailScreen
from console.tui.screens.my_oncall import MyOncallScreen
from console.tui.widgets.incident_table import IncidentTable
from console.tui.widgets.layer_list import LayerList
from engine.clock import VirtualClock
from engine.service import Ctx, incidents, schedules
from engine.service.demo import DemoOrg
from tests.tui.conftest import FROZEN, settle, wait_for

MakeApp = Callable[..., OncallApp]


def listed(app: OncallApp, list_id: str) -> list[str]:
    lists = app.screen.query(list_id)
    if not lists:
        return []
    ol = lists.first(OptionList)
    return [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]


def rendered(app: OncallApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def error_of(form: FormScreen, name: str) -> str:
    return str(form.query_one(f"#err-{name}", Static).render())


async def go_schedules(pilot: Pilot[None], name: str | None = None) -> None:
    await pilot.press("3")
    await wait_for(pilot, lambda: listed(pilot.app, "#schedule-list"), "the schedules mode")  # type: ignore[arg-type]
    if name is not None:
        ol = pilot.app.screen.query_one("#schedule-list", OptionList)
        for i in range(ol.option_count):
            if str(ol.get_option_at_index(i).prompt).startswith(name):
                ol.highlighted = i
        await settle(pilot)


async def form_opened(pilot: Pilot[None], key: str) -> FormScreen:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormScreen), f"a form after {key}")
    form = pilot.app.screen
    assert isinstance(form, FormScreen)
    return form


async def confirm_opened(pilot: Pilot[None], key: str) -> ConfirmScreen:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), f"a confirmation after {key}")
    dialog = pilot.app.screen
    assert isinstance(dialog, ConfirmScreen)
    return dialog


def schedule_named(ctx: Ctx, name: str) -> dict[str, Any] | None:
    return next((s for s in schedules.list_schedules(ctx) if s["name"] == name), None)


# -- schedules -----------------------------------------------------------------------------------------


async def test_schedule_create_edit_delete(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    before = len(schedules.list_schedules(ctx))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await go_schedules(pilot)
        form = await form_opened(pilot, "N")
        form.query_one("#field-name", Input).value = "Platform Primary"  # taken
        form.query_one("#field-timezone", Input).value = "Mars/Olympus"  # no such zone
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert error_of(form, "timezone")  # the service's words, under the field
        form.query_one("#field-timezone", Input).value = "Europe/Berlin"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "already exists" in error_of(form, "name")
        assert len(schedules.list_schedules(ctx)) == before  # nothing saved half-way
        form.query_one("#field-name", Input).value = "Databases"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        created = schedule_named(ctx, "Databases")
        assert created is not None and created["timezone"] == "Europe/Berlin"
        await wait_for(pilot, lambda: any(s.startswith("Databases") for s in listed(app, "#schedule-list")))
        assert app.screen.schedule_id == created["id"]  # type: ignore[attr-defined]
        assert "Databases" in rendered(app, "#schedule-head")
        assert "N creates" not in rendered(app, "#schedule-head")

        form = await form_opened(pilot, "r")
        assert form.query_one("#field-name", Input).value == "Databases"
        assert form.query_one("#field-timezone", Input).value == "Europe/Berlin"
        form.query_one("#field-name", Input).value = "Database team"
        form.query_one("#field-timezone", Input).value = "UTC"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        stored = schedules.get_schedule(ctx, created["id"])
        assert (stored["name"], stored["timezone"]) == ("Database team", "UTC")
        await wait_for(pilot, lambda: "Database team" in rendered(app, "#schedule-head"))

        dialog = await confirm_opened(pilot, "D")
        assert "Database team" in dialog.question
        await pilot.press("y")
        await wait_for(pilot, lambda: schedule_named(ctx, "Database team") is None, "the delete")
        await wait_for(pilot, lambda: not any("Database team" in s for s in listed(app, "#schedule-list")))
        assert len(schedules.list_schedules(ctx)) == before


async def test_deleting_a_schedule_in_use_is_refused_in_words(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await go_schedules(pilot, "Platform Primary")
        dialog = await confirm_opened(pilot, "D")
        assert "Platform Primary" in dialog.question
        assert "1 rotation layer and 0 overrides" in dialog.question
        await pilot.press("y")
        await wait_for(pilot, lambda: "✗" in rendered(app, "#flash"), "the refusal")
        assert "Platform Default" in rendered(app, "#flash")  # the policy that targets it, by name
        assert "sched_" not in rendered(app, "#flash")
        assert schedules.get_schedule(ctx, demo.schedules["primary"])["name"] == "Platform Primary"


# -- rotation layers -------------------------------------------------------------------------------


async def test_edit_rotation_layer_every_field(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    sid = demo.schedules["secondary"]
    backup = schedules.list_rotation_layers(ctx, sid)[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await go_schedules(pilot, "Platform Secondary")
        rotations = app.screen.query_one("#rotation-list", LayerList)
        rotations.focus()
        rotations.highlighted = 0
        form = await form_opened(pilot, "e")
        assert form.query_one("#field-name", Input).value == "Backup"
        assert form.value("rotationType") == "weekly"
        assert form.value("participantIds") == [demo.users["dan"], demo.users["erin"]]  # rotation order
        assert form.query_one("#field-effectiveUntil", Input).value == ""
        form.query_one("#field-name", Input).value = "Backup EU"
        form.query_one("#field-rotationType", Select).value = "custom"
        await settle(pilot)
        form.query_one("#field-rotationLengthDays", Input).value = "14"
        form.query_one("#field-handoffTime", Input).value = "11:30"
        form.query_one("#field-effectiveUntil", Input).value = "2020-01-01 00:00"  # before it starts
        participants = form.query_one("#field-participantIds")
        participants.deselect(demo.users["dan"])  # type: ignore[attr-defined]
        participants.select(demo.users["grace"])  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "after" in error_of(form, "effectiveUntil")
        assert schedules.list_rotation_layers(ctx, sid)[0] == backup  # nothing saved half-way
        form.query_one("#field-effectiveUntil", Input).value = "2026-06-01 10:00"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        stored = schedules.list_rotation_layers(ctx, sid)[0]
        assert stored["id"] == backup["id"]
        assert stored["name"] == "Backup EU"
        assert (stored["rotationType"], stored["rotationLengthDays"]) == ("custom", 14)
        assert stored["handoffTime"] == "11:30"
        assert stored["effectiveFrom"] == backup["effectiveFrom"]
        assert stored["effectiveUntil"] == "2026-06-01T09:00:00.000Z"  # London is UTC+1 in June
        assert stored["participantIds"] == [demo.users["erin"], demo.users["grace"]]
        await wait_for(pilot, lambda: "Backup EU" in str(rotations.get_option_at_index(0).prompt))
        assert "every 14d at 11:30" in str(rotations.get_option_at_index(0).prompt)

        form = await form_opened(pilot, "e")  # the window is shown back as it was typed, and clears
        assert form.query_one("#field-effectiveUntil", Input).value == "2026-06-01 10:00"
        form.query_one("#field-effectiveUntil", Input).value = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, FormScreen), "the form to close")
        assert schedules.list_rotation_layers(ctx, sid)[0]["effectiveUntil"] is None


async def test_delete_rotation_layer_confirms_by_name(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    sid = demo.schedules["secondary"]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await go_schedules(pilot, "Platform Secondary")
        rotations = app.screen.query_one("#rotation-list", LayerList)
        rotations.focus()
        rotations.highlighted = 1
        dialog = await confirm_opened(pilot, "d")
        assert "Shadow" in dialog.question
        await pilot.press("n")
        await settle(pilot)
        assert [la["name"] for la in schedules.list_rotation_layers(ctx, sid)] == ["Backup", "Shadow"]
        await confirm_opened(pilot, "d")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(schedules.list_rotation_layers(ctx, sid)) == 1, "the delete")
        assert [la["name"] for la in schedules.list_rotation_layers(ctx, sid)] == ["Backup"]
        await wait_for(pilot, lambda: rotations.option_count == 1, "the list to follow")
        assert "Backup" in str(rotations.get_option_at_index(0).prompt)
        assert "Shadow" in rendered(app, "#flash")


# -- resolved incidents ------------------------------------------------------------------------------


async def test_resolved_incidents_are_found_and_opened(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    iid = demo.incidents[1]
    incidents.post_update(ctx, iid, {"body": "rolled back the search index", "visibility": "internal"})
    incidents.resolve_incident(ctx, iid, "index rebuilt")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(IncidentTable)
        assert table.row(iid) is None and table.row_count == 3  # the live view: open ones only
        await pilot.press("f")
        await wait_for(pilot, lambda: table.row_count == 1, "the resolved view")
        assert table.order == [iid]
        assert table.cell_text(iid, "status") == "✓ resolved"
        assert "1 resolved" in rendered(app, "#incident-summary")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the detail screen")
        detail = app.screen
        await settle(pilot)
        head = rendered(app, "#detail-head")
        assert "resolution: index rebuilt" in head
        assert detail.query_one("#timeline-table", DataTable).row_count > 0
        updates = listed(app, "#updates-list")
        assert any("rolled back the search index" in u for u in updates)
        await pilot.press("a")  # nothing to do on a resolved incident
        await settle(pilot)
        assert incidents.get_incident(ctx, iid)["acknowledgedBy"] is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, IncidentDetailScreen))
        await pilot.press("f")
        await wait_for(pilot, lambda: table.row_count == 4, "open and resolved")
        assert "4 open or resolved" in rendered(app, "#incident-summary")
        await pilot.press("f")
        await wait_for(pilot, lambda: table.row_count == 3, "the open view again")


async def test_filter_by_status_word_finds_resolved(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    iid = demo.incidents[3]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(IncidentTable)
        await pilot.press("slash", *"resolved")
        await wait_for(pilot, lambda: table.row_count == 0, "no resolved incident yet")
        incidents.resolve_incident(ctx, iid, "disk cleaned")  # another writer resolves one meanwhile
        app.data_changed()
        await wait_for(pilot, lambda: table.order == [iid], "the resolved incident to appear")
        await pilot.press("enter", "escape")  # back to the table, then the filter cleared
        await wait_for(pilot, lambda: table.row_count == 4, "every incident, open or resolved")


# -- my on-call --------------------------------------------------------------------------------------


async def test_my_oncall_view(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    me = demo.users["alice"]
    now = FROZEN
    incidents.escalate_now(ctx, demo.incidents[1], 2)  # SRE Critical's layer 2 pages Alice and Grace
    shifts = [
        s
        for s in schedules.person_shifts(ctx, me, now - timedelta(days=7), now + timedelta(days=14))
        if s["end"] > "2026-03-02T14:00:00.000Z"
    ]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MyOncallScreen), "the my on-call view")
        await settle(pilot)
        head = rendered(app, "#mine-head")
        assert "Alice Chen" in head
        on_now = [s for s in shifts if s["start"] <= "2026-03-02T14:00:00.000Z"]
        assert ("on call now" in head and "not on call" not in head) == bool(on_now)
        assert "next handoff:" in head
        assert len(listed(app, "#mine-shifts")) == len(shifts)
        assert all("Platform Primary" in s for s in listed(app, "#mine-shifts"))
        pages = listed(app, "#mine-pages")
        paged = [
            i
            for i in demo.incidents
            if any(
                ev["kind"] == "layer_paged" and me in (ev.get("data") or {}).get("userIds", [])
                for ev in incidents.get_incident(ctx, i)["timeline"]
            )
        ]
        assert demo.incidents[1] in paged
        assert len([p for p in pages if "no open pages" not in p]) == len(paged)
        if paged:
            target = next(i for i in paged if incidents.get_incident(ctx, i)["acknowledgedBy"] is None)
            seq = incidents.get_incident(ctx, target)["sequentialId"]
            ol = app.screen.query_one("#mine-pages", OptionList)
            ol.highlighted = next(i for i, p in enumerate(pages) if p.startswith(f"#{seq} "))
            await pilot.press("a")
            await wait_for(pilot, lambda: incidents.get_incident(ctx, target)["acknowledgedBy"] == me)
            await wait_for(pilot, lambda: any("acked by Alice" in p for p in listed(app, "#mine-pages")))


async def test_my_oncall_follows_the_acting_identity(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db_path: Any
) -> None:
    erin = demo.users["erin"]
    app = OncallApp(ctx.as_user(erin, is_admin=False), db_path=str(db_path), run_engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MyOncallScreen), "the my on-call view")
        await settle(pilot)
        assert "Erin" in rendered(app, "#mine-head")
        pages = listed(app, "#mine-pages")  # she owns the unpaged disk incident
        assert any("Disk 80%" in p and "owner" in p for p in pages)
        ol = app.screen.query_one("#mine-pages", OptionList)
        ol.focus()
        ol.highlighted = next(i for i, p in enumerate(pages) if "Disk 80%" in p)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the detail screen")
        assert app.screen.incident_id == demo.incidents[3]  # type: ignore[attr-defined]


async def test_help_lists_the_new_keys(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = {desc: keys for keys, desc, _ in app.screen.rows}  # type: ignore[attr-defined]
        assert rows["Status filter: open, resolved, all"] == "f"
        assert rows["Go to my on-call"] == "m"
        await pilot.press("escape")
        await go_schedules(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = {desc: keys for keys, desc, _ in app.screen.rows}  # type: ignore[attr-defined]
        for desc, key in [
            ("New schedule", "N"),
            ("Edit schedule", "r"),
            ("Delete schedule", "D"),
            ("Edit rotation", "e"),
            ("Delete rotation", "d"),
        ]:
            assert rows[desc] == key


async def test_my_oncall_follows_the_clock(make_app: MakeApp, clock: VirtualClock) -> None:
    """Alice's next Platform Primary shift starts Tue 03 Mar 09:00 New York (14:00Z): once the clock
    passes it, the view says she is on call, without any write to the database."""
    app = make_app(tick_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MyOncallScreen), "the my on-call view")
        await wait_for(pilot, lambda: "not on call now" in rendered(app, "#mine-head"))
        assert "Tue 03 Mar 09:00 · your Platform Primary shift starts" in rendered(app, "#mine-head")
        clock.advance_to(FROZEN + timedelta(days=1, minutes=1))
        await wait_for(pilot, lambda: "● on call now" in rendered(app, "#mine-head"), "the shift to start")
        head = rendered(app, "#mine-head")
        assert "Platform Primary until Wed 09:00" in head
        assert "Wed 04 Mar 09:00 · your Platform Primary shift ends" in head
