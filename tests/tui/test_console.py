"""Pilot tests: each action through the keyboard or the mouse, then the database is checked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, OptionList, Select, Static
from textual.widgets._footer import FooterKey

from console.tui import OncallApp
from console.tui.screens.form import FormScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.incident_detail import IncidentDetailScreen
from console.tui.screens.picker import PickerScreen
from console.tui.widgets.incident_table import IncidentTable
from console.tui.widgets.layer_list import LayerList
from engine.clock import VirtualClock
from engine.runtime import escalator
from engine.service import Ctx, incidents, policies
from engine.service.demo import DemoOrg
from storage.db import open_db
from tests.tui.conftest import settle, wait_for

MakeApp = Callable[..., OncallApp]


def layer_order(ctx: Ctx, policy_id: str) -> list[str]:
    return [layer["id"] for layer in policies.list_layers(ctx, policy_id)]


def best_hit(app: OncallApp) -> str:
    """The command palette's highlighted hit, as text ("" while it has none): what ``enter`` runs."""
    from textual.command import CommandList

    lists = app.screen.query(CommandList)
    if not lists or lists.first().highlighted is None:
        return ""
    command_list = lists.first()
    prompt = command_list.get_option_at_index(command_list.highlighted or 0).prompt
    return str(getattr(prompt, "plain", prompt))


def undo_shown(app: OncallApp) -> bool:
    """Whether the footer shows the undo key as available (not dimmed)."""
    keys = [k for k in app.screen.query(FooterKey) if k.action == "undo"]
    assert keys, "the footer has no undo key"
    return not keys[0].has_class("-disabled")


def listed(pilot, list_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The options the current screen's ``list_id`` shows (none while the screen is not there yet)."""
    lists = pilot.app.screen.query(list_id)
    if not lists:
        return []
    ol = lists.first(OptionList)
    return [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]


async def switch_mode(pilot, key: str, mode: str, list_id: str) -> None:  # type: ignore[no-untyped-def]
    """Press the mode key and wait until that mode's screen lists something in ``list_id``."""
    await pilot.press(key)
    await wait_for(
        pilot, lambda: pilot.app.current_mode == mode and listed(pilot, list_id), f"the {mode} mode"
    )


async def open_policy(pilot, name: str) -> LayerList:  # type: ignore[no-untyped-def]
    """Switch to the policies mode, highlight ``name`` and focus its layer list."""
    await switch_mode(pilot, "2", "policies", "#policy-list")
    screen = pilot.app.screen
    plist = screen.query_one("#policy-list", OptionList)
    for index in range(plist.option_count):
        if str(plist.get_option_at_index(index).prompt) == name:
            plist.highlighted = index
    await pilot.pause()
    plist.focus()
    await pilot.press("enter")
    await pilot.pause()
    layers = screen.query_one("#layer-list", LayerList)
    assert layers.has_focus
    return layers


# -- policies: reorder by keys, by drag, undo --------------------------------------------------------


async def test_reorder_layer_by_keys(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    pid = demo.policies["default"]
    l1, l2, l3 = layer_order(ctx, pid)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_policy(pilot, "Platform Default")
        await pilot.press("J")  # the terminal-safe key
        await pilot.pause()
        assert layer_order(ctx, pid) == [l2, l1, l3]
        await pilot.press("shift+down")
        await pilot.pause()
        assert layer_order(ctx, pid) == [l2, l3, l1]
        await pilot.press("K")
        await pilot.pause()
        assert layer_order(ctx, pid) == [l2, l1, l3]
        await pilot.press("shift+up")
        await pilot.pause()
        assert layer_order(ctx, pid) == [l1, l2, l3]


async def test_reorder_layer_by_drag_persists_across_restart(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db_path
) -> None:  # type: ignore[no-untyped-def]
    pid = demo.policies["default"]
    l1, l2, l3 = layer_order(ctx, pid)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        layers = await open_policy(pilot, "Platform Default")
        await pilot.mouse_down(layers, offset=(4, 0))
        await pilot.hover(layers, offset=(4, 2))
        assert layers.order == [l2, l3, l1]  # moved on screen while dragging
        assert layer_order(ctx, pid) == [l1, l2, l3]  # persisted only on release
        await pilot.mouse_up(layers, offset=(4, 2))
        await pilot.pause()
        assert layer_order(ctx, pid) == [l2, l3, l1]
        assert not isinstance(pilot.app.screen, FormScreen)  # the release is not a click on the layer
    # A fresh connection (a restart) sees the new order.
    other = open_db(db_path)
    try:
        rows = other.all("SELECT id FROM escalation_layers WHERE policy_id = ? ORDER BY position", (pid,))
        assert [r["id"] for r in rows] == [l2, l3, l1]
    finally:
        other.close()
    app2 = make_app()
    async with app2.run_test(size=(120, 40)) as pilot:
        layers = await open_policy(pilot, "Platform Default")
        assert layers.order == [l2, l3, l1]


async def test_undo_reorder(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    pid = demo.policies["default"]
    original = layer_order(ctx, pid)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        layers = await open_policy(pilot, "Platform Default")
        assert not undo_shown(app)
        await pilot.press("J", "J")
        await pilot.pause()
        assert layer_order(ctx, pid) == [original[1], original[2], original[0]]
        assert undo_shown(app)  # the footer offers the undo at once
        await pilot.press("u")
        await pilot.pause()
        assert layer_order(ctx, pid) == [original[1], original[0], original[2]]
        await pilot.press("u")
        await pilot.pause()
        assert layer_order(ctx, pid) == original
        assert layers.order == original
        assert not undo_shown(app)
        await pilot.press("u")  # nothing left: says so, changes nothing
        await pilot.pause()
        assert layer_order(ctx, pid) == original


async def test_drag_undo(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    pid = demo.policies["default"]
    original = layer_order(ctx, pid)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        layers = await open_policy(pilot, "Platform Default")
        await pilot.mouse_down(layers, offset=(4, 2))
        await pilot.hover(layers, offset=(4, 0))
        await pilot.mouse_up(layers, offset=(4, 0))
        await pilot.pause()
        assert layer_order(ctx, pid) == [original[2], original[0], original[1]]
        await pilot.press("u")
        await pilot.pause()
        assert layer_order(ctx, pid) == original


# -- incidents ---------------------------------------------------------------------------------------


def selected_seq(app: OncallApp) -> int:
    row = app.screen.query_one(IncidentTable).selected
    assert row is not None
    return row.seq


async def test_acknowledge(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert selected_seq(app) == 1  # critical first
        await pilot.press("a")
        await settle(pilot)  # the write runs in a worker
        inc = incidents.get_incident(ctx, demo.incidents[0])
        assert inc["acknowledgedBy"] == demo.users["alice"]
        assert inc["escalation"]["state"] == "acknowledged"
        table = app.screen.query_one(IncidentTable)
        assert table.cell_text(demo.incidents[0], "ack") == "Alice Chen"
        assert table.cell_text(demo.incidents[0], "next") == "acked"


async def test_advance_status_and_resolve_with_note(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    iid = demo.incidents[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("s")  # asks first, naming the incident and the step
        await settle(pilot)
        assert "from investigating to identified?" in str(app.screen.query_one(Static).render())
        await pilot.press("y")
        await settle(pilot)
        assert incidents.get_incident(ctx, iid)["status"] == "identified"
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("n")  # no: nothing changes
        await settle(pilot)
        assert incidents.get_incident(ctx, iid)["status"] == "identified"
        await pilot.press("s", "y")
        await settle(pilot)
        assert incidents.get_incident(ctx, iid)["status"] == "monitoring"
        await pilot.press("s")  # resolving asks for a note
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        await pilot.press("ctrl+s")  # empty: refused inline
        await pilot.pause()
        assert "required" in str(form.query_one("#err-resolutionNote").render())
        assert incidents.get_incident(ctx, iid)["status"] == "monitoring"
        await pilot.press(*"rolled back [deploy]")
        await pilot.press("enter")
        await pilot.pause()
        inc = incidents.get_incident(ctx, iid)
        assert inc["status"] == "resolved"
        assert inc["statusHistory"][-1]["resolutionNote"] == "rolled back [deploy]"
        table = app.screen.query_one(IncidentTable)
        assert table.row(iid) is None  # resolved incidents leave the live table


async def test_handoff(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    iid = demo.incidents[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        app.screen.query_one("#picker-filter", Input).focus()
        await pilot.press(*"bob")
        await pilot.press("enter")
        await settle(pilot)
        inc = incidents.get_incident(ctx, iid)
        assert inc["ownerId"] == demo.users["bob"]
        assert any(ev["kind"] == "incident_handed_off" for ev in inc["timeline"])


async def test_escalate_now(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    iid = demo.incidents[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("e", "y")
        await settle(pilot)
        assert incidents.get_incident(ctx, iid)["escalation"]["currentLayer"] == 2
        table = app.screen.query_one(IncidentTable)
        assert table.cell_text(iid, "layer") == "2/3"


async def test_new_incident_invalid_then_valid(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Title is required" in str(form.query_one("#err-title").render())
        assert "Severity is required" in str(form.query_one("#err-severity").render())
        # A 101-character title passes the form's check but not the service's: shown under the field.
        form.query_one("#field-title", Input).focus()
        await pilot.press(*("x" * 101))
        form.query_one("#field-severity", Select).value = "high"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "title" in str(form.query_one("#err-title").render())
        assert app.screen is form
        count = ctx.db.scalar("SELECT count(*) FROM incidents")
        assert count == 4
        form.query_one("#field-title", Input).value = ""
        await pilot.press(*"Queue [backlog] growing")
        form.query_one("#field-escalationPolicyId", Select).value = demo.policies["sre"]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        row = ctx.db.one("SELECT * FROM incidents WHERE seq = 5")
        assert row["title"] == "Queue [backlog] growing"
        assert row["severity"] == "high"
        assert row["escalation_policy_id"] == demo.policies["sre"]
        table = app.screen.query_one(IncidentTable)
        assert table.cell_text(row["id"], "title") == "Queue [backlog] growing"


async def test_details_post_and_redact_update(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    iid = demo.incidents[0]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, IncidentDetailScreen)
        timeline = detail.query_one("#timeline-table", DataTable)
        assert timeline.row_count >= 3  # created, escalation started, layer paged
        await pilot.press("p")
        await pilot.pause()
        await pilot.press(*"rollback started")
        await pilot.press("ctrl+s")
        await pilot.pause()
        updates = incidents.list_updates(ctx, iid)
        assert [u["body"] for u in updates] == ["rollback started"]
        await pilot.press("x")  # asks first
        await pilot.pause()
        assert incidents.list_updates(ctx, iid)[0]["redactedAt"] is None
        await pilot.press("y")
        await pilot.pause()
        assert incidents.list_updates(ctx, iid)[0]["redactedAt"] is not None
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, IncidentDetailScreen)


@pytest.mark.both_backends
async def test_live_update_from_another_process(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg, db_path, clock: VirtualClock
) -> None:  # type: ignore[no-untyped-def]
    """A change committed by another connection (the engine, another console) appears within a poll."""
    iid = demo.incidents[0]
    app = make_app(poll_seconds=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(IncidentTable)
        assert table.cell_text(iid, "layer") == "1/3"
        other = open_db(db_path)
        try:
            clock.advance(timedelta(minutes=6))
            escalator.tick(other, clock.now())
        finally:
            other.close()
        await wait_for(pilot, lambda: table.cell_text(iid, "layer") == "2/3", "the other process's step")


async def test_filter_and_sort(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(IncidentTable)
        await pilot.press("slash", *"search")
        await pilot.pause()
        assert table.row_count == 1
        await pilot.press("enter")
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 4
        before = selected_seq(app)
        await pilot.press("o")
        assert table.sort_by == "age"
        assert selected_seq(app) == before  # the cursor stays on its incident
        assert table.cell_text(table.order[0], "num") == "#4"  # newest first (same instant: highest number)


async def test_help_lists_every_binding(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(desc for _, desc, _ in app.screen.rows)
        for word in ("Ack", "Status", "Hand off", "Escalate", "New", "Filter", "Sort", "Help", "Quit"):
            assert word in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_markup_in_titles_is_escaped(make_app: MakeApp, ctx: Ctx) -> None:
    title = "[bold]not markup[/] [link=https://evil.example]click[/link]"
    incidents.create_incident(ctx, {"title": title, "severity": "low"})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"markup", "enter")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, IncidentDetailScreen)
        head = app.screen.query_one("#detail-head", Static).content
        assert isinstance(head, Text) and title in head.plain
        assert not any(span.style and "link" in str(span.style) for span in head.spans)


async def test_control_characters_in_stored_text_are_shown_not_sent(make_app: MakeApp, ctx: Ctx) -> None:
    # Written by an older version (the service refuses it now): the console must not emit the escapes.
    inc = incidents.create_incident(ctx, {"title": "legacy", "severity": "low"})
    ctx.db.execute(
        "UPDATE incidents SET title = ? WHERE id = ?", ("Disk\x1b]0;pwned\x07 \u202efull", inc["id"])
    )
    ctx.db.execute("UPDATE users SET first_name = ? WHERE id = ?", ("Al\x1b[2Jice", ctx.actor_user_id))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(IncidentTable)
        row = table._all[inc["id"]]
        shown = table.cells(row, ctx.clock.now())["title"].plain
        assert shown == "Disk\\x1b]0;pwned\\x07 \\u202efull"
        assert app.directory.name(ctx.actor_user_id).startswith("Al\\x1b[2Jice")


async def test_command_palette_runs_actions(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    from textual.command import CommandPalette

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"incidents ack")
        await wait_for(pilot, lambda: best_hit(app).startswith("Incidents: Ack"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: incidents.get_incident(ctx, demo.incidents[0])["acknowledgedAt"] is not None,
            "the acknowledgement",
        )
        # Another mode's action: switches there and runs it.
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"policies new policy")
        await wait_for(pilot, lambda: best_hit(app).startswith("Policies: New policy"), "the palette's hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen), "the new policy form")
        assert app.current_mode == "policies"


async def test_live_refresh_during_a_drag_does_not_undo_it(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    """The engine commits every second (its lease); a refresh mid-drag must not reset the moved layer."""
    pid = demo.policies["default"]
    l1, l2, l3 = layer_order(ctx, pid)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        layers = await open_policy(pilot, "Platform Default")
        await pilot.mouse_down(layers, offset=(4, 2))
        await pilot.hover(layers, offset=(4, 1))
        app.data_changed()  # as if another connection had committed
        await pilot.pause()
        screen = app.screen
        screen._shown_signature = None  # force a full re-render, as a real change would
        screen.refresh_data()
        await pilot.hover(layers, offset=(4, 0))
        await pilot.mouse_up(layers, offset=(4, 0))
        await pilot.pause()
        assert layer_order(ctx, pid) == [l3, l1, l2]


async def test_reorder_rotation_layers_and_undo(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    from engine.service import schedules

    sid = demo.schedules["secondary"]
    original = [layer["id"] for layer in schedules.list_rotation_layers(ctx, sid)]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_mode(pilot, "3", "schedules", "#schedule-list")
        slist = app.screen.query_one("#schedule-list", OptionList)
        slist.highlighted = 1  # Platform Secondary (by name)
        await pilot.pause()
        slist.focus()
        await pilot.press("enter")
        await pilot.press("J")
        await pilot.pause()
        assert [layer["id"] for layer in schedules.list_rotation_layers(ctx, sid)] == original[::-1]
        await pilot.press("u")
        await pilot.pause()
        assert [layer["id"] for layer in schedules.list_rotation_layers(ctx, sid)] == original


def flash_text(app: OncallApp) -> str:
    return str(app.screen.query_one("#flash").render())


async def test_rotation_undo_behaves_as_on_policies(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    """The schedules screen shares the policies screen's reorder/undo component: the footer's undo key
    follows the stack, each step says what it did, and with an empty stack ``u`` is dimmed and does nothing."""
    from engine.service import schedules

    sid = demo.schedules["secondary"]
    original = [layer["id"] for layer in schedules.list_rotation_layers(ctx, sid)]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.1)
        slist = app.screen.query_one("#schedule-list", OptionList)
        slist.highlighted = 1  # Platform Secondary (by name)
        await pilot.pause()
        slist.focus()
        await pilot.press("enter")
        assert not undo_shown(app)
        await pilot.press("J")
        await pilot.pause()
        assert "rotation layers reordered · u undoes" in flash_text(app)
        assert undo_shown(app)
        await pilot.press("u")
        await pilot.pause()
        assert [layer["id"] for layer in schedules.list_rotation_layers(ctx, sid)] == original
        assert "undone: the reorder of Platform Secondary's layers" in flash_text(app)
        assert not undo_shown(app)  # the stack is empty: the key dims at once, as on policies
        await pilot.press("u")  # dimmed: nothing happens
        await pilot.pause()
        assert "undone: the reorder of Platform Secondary's layers" in flash_text(app)
        assert [layer["id"] for layer in schedules.list_rotation_layers(ctx, sid)] == original


async def test_undo_covers_add_edit_delete_and_older_reorders(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    """Undo covers every change on the policies screen, newest first: a deleted layer comes back (same
    position, timeout and target), and an older reorder still finds it under its new id."""
    pid = demo.policies["default"]
    original = policies.list_layers(ctx, pid)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        layers = await open_policy(pilot, "Platform Default")
        await pilot.press("J")
        await pilot.pause()
        assert undo_shown(app) and "layer moved to position 2 · u undoes" in flash_text(app)
        assert layers.selected_key == original[0]["id"]
        await pilot.press("d")
        await pilot.pause()
        question = str(app.screen.query_one(Static).render())
        assert "Delete layer 2 of Platform Default (after 5 min:" in question
        await pilot.press("y")
        await pilot.pause()
        assert layer_order(ctx, pid) == [original[1]["id"], original[2]["id"]]
        assert undo_shown(app)  # the delete itself is on the stack
        await pilot.press("u")
        await pilot.pause()
        assert "undone: deleting layer 2 of Platform Default" in flash_text(app)
        back = policies.list_layers(ctx, pid)
        assert [(la["position"], la["ackTimeoutMinutes"], la["target"]) for la in back] == [
            (1, original[1]["ackTimeoutMinutes"], original[1]["target"]),
            (2, original[0]["ackTimeoutMinutes"], original[0]["target"]),
            (3, original[2]["ackTimeoutMinutes"], original[2]["target"]),
        ]
        await pilot.press("u")  # the reorder, with the re-created layer's new id
        await pilot.pause()
        assert "undone: the reorder of Platform Default's layers" in flash_text(app)
        after = policies.list_layers(ctx, pid)
        assert [(la["ackTimeoutMinutes"], la["target"]) for la in after] == [
            (la["ackTimeoutMinutes"], la["target"]) for la in original
        ]
        assert not undo_shown(app)


async def test_a_failed_undo_says_why_in_words_and_is_dropped(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    pid = demo.policies["default"]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_policy(pilot, "Platform Default")
        await pilot.press("J")
        await pilot.pause()
        # Someone else deletes a layer meanwhile: the old order can no longer be stored.
        policies.delete_layer(ctx, pid, layer_order(ctx, pid)[2])
        stored = layer_order(ctx, pid)
        await pilot.press("u")
        await pilot.pause()
        flash = flash_text(app)
        assert "could not undo the reorder of Platform Default's layers" in flash
        assert "dropped from the undo list" in flash
        assert "layer_" not in flash and "pol_" not in flash  # words, never internal ids
        assert layer_order(ctx, pid) == stored
        assert not undo_shown(app)


async def test_add_and_remove_override(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    from engine.service import schedules

    sid = demo.schedules["primary"]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_mode(pilot, "3", "schedules", "#schedule-list")
        await pilot.press("o")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-userId", Select).value = demo.users["dan"]
        end = form.query_one("#field-end", Input)
        end.value = "2026-03-01 10:00"  # before the start: refused inline
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "after" in str(form.query_one("#err-end").render())
        end.value = "2026-03-04 10:00"
        await pilot.press("ctrl+s")
        await pilot.pause()
        overrides = schedules.list_overrides(ctx, sid)
        assert [o["userId"] for o in overrides] == [demo.users["dan"]]
        ol = app.screen.query_one("#override-list", OptionList)
        ol.focus()
        ol.highlighted = 0
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert schedules.list_overrides(ctx, sid) == []


async def test_policy_create_add_layer_rename_delete(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_mode(pilot, "2", "policies", "#policy-list")
        await pilot.press("N")
        await pilot.pause()
        await pilot.press(*"Platform Default", "ctrl+s")  # taken: the name conflict shows inline
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        assert "already exists" in str(form.query_one("#err-name").render())
        form.query_one("#field-name", Input).value = "Night shift"
        await pilot.press("ctrl+s")
        await pilot.pause()
        pol = policies.find_policy(ctx, "Night shift")
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-targetType", Select).value = "users"
        await pilot.pause()
        await pilot.press("ctrl+s")  # no users chosen
        await pilot.pause()
        assert "required" in str(form.query_one("#err-userIds").render())
        form.query_one("#field-userIds").select(demo.users["bob"])
        await pilot.press("ctrl+s")
        await pilot.pause()
        layers = policies.list_layers(ctx, pol["id"])
        assert [(la["position"], la["target"]) for la in layers] == [
            (1, {"type": "users", "userIds": [demo.users["bob"]]})
        ]
        await pilot.press("r")
        await pilot.pause()
        app.screen.query_one("#field-name", Input).value = "Night owls"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert policies.get_policy(ctx, pol["id"])["name"] == "Night owls"
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert all(p["id"] != pol["id"] for p in policies.list_policies(ctx))


async def test_status_bar_shows_sync_state_when_on(make_app: MakeApp) -> None:
    app = make_app(sync_on=True)
    async with app.run_test(size=(120, 40)) as pilot:

        def shown() -> str:
            return str(app.screen.query_one("#status-state").render())

        await wait_for(pilot, lambda: "sync" in shown(), "the sync state")
        state = shown()  # not linked in the test database: the runner reports its state
        assert "14:00:00" in state  # the injected (frozen) clock


async def test_timeline_marks_dst_handoffs_and_gaps(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    """A 02:30 handoff in New York on 8 March 2026 never happens on the clock (DST gap): marked; a layer
    that only starts in three days leaves the schedule uncovered until then: a gap."""
    from console.tui.widgets.schedule_timeline import ScheduleTimeline
    from engine.service import schedules

    sched = schedules.create_schedule(ctx, {"name": "Night desk", "timezone": "America/New_York"})
    schedules.add_rotation_layer(
        ctx,
        sched["id"],
        {
            "name": "Nights",
            "rotationType": "daily",
            "handoffTime": "02:30",
            "effectiveFrom": "2026-03-05T07:30:00Z",
            "participantIds": [demo.users["alice"], demo.users["bob"]],
        },
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_mode(pilot, "3", "schedules", "#schedule-list")
        slist = app.screen.query_one("#schedule-list", OptionList)
        slist.highlighted = 0  # "Night desk" sorts first
        await pilot.pause()
        lines = [line.plain for line in app.screen.query_one(ScheduleTimeline)._lines(100)]
        assert any("DST gap" in line for line in lines), lines
        assert any(line.startswith("░ gap") for line in lines), lines
        assert any(line.startswith("On call") and "░" in line for line in lines)


async def test_mode_tabs_are_clickable(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tabs = app.screen.query_one("#status-tabs")
        text = str(tabs.render())
        await pilot.click(tabs, offset=(text.index("Policies"), 0))
        await wait_for(pilot, lambda: app.current_mode == "policies", "the policies mode")


async def test_every_mode_shows_where_you_are_in_the_tabs(make_app: MakeApp) -> None:
    """People (4), reports (5) and my on-call (m) have no permanent tab at 80 columns: while one is open,
    the tab bar names it, as it names the first three."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, mode, label in (
            ("4", "people", "4 People"),
            ("5", "reports", "5 Reports"),
            ("m", "mine", "m My"),
        ):
            await pilot.press(key)
            await wait_for(pilot, lambda mode=mode: app.current_mode == mode, f"the {mode} mode")
            await settle(pilot)
            assert label in str(app.screen.query_one("#status-tabs").render())
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "incidents", "the incidents mode")
        await settle(pilot)
        assert "People" not in str(app.screen.query_one("#status-tabs").render())


async def test_add_rotation_layer_in_tick_order(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    from engine.service import schedules

    sid = demo.schedules["primary"]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await switch_mode(pilot, "3", "schedules", "#schedule-list")
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        await pilot.press(*"Weekend")
        await pilot.press("ctrl+s")  # no participants yet
        await pilot.pause()
        assert "required" in str(form.query_one("#err-participantIds").render())
        participants = form.query_one("#field-participantIds")
        participants.select(demo.users["grace"])
        participants.select(demo.users["dan"])
        form.query_one("#field-handoffTime", Input).value = "25:00"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert str(form.query_one("#err-handoffTime").render())  # the service's message, inline
        form.query_one("#field-handoffTime", Input).value = "08:00"
        await pilot.press("ctrl+s")
        await pilot.pause()
        layers = schedules.list_rotation_layers(ctx, sid)
        assert layers[-1]["name"] == "Weekend"
        assert layers[-1]["participantIds"] == [demo.users["grace"], demo.users["dan"]]


async def test_domain_errors_show_inline(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    """Escalating an incident without a policy, or redoing a hand-off to a removed user: a message, no crash."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("G")  # the low-severity incident without a policy
        await pilot.pause()
        assert app.screen.check_action("escalate", ()) is None  # dimmed in the footer
        app.screen.action_escalate()  # from the palette anyway: refused with the service's words
        await pilot.pause()
        flash = app.screen.query_one("#flash")
        assert flash.has_class("-error")
        assert "no escalation policy" in str(flash.render())
        assert app.is_running


# -- people who leave ----------------------------------------------------------------------------------


async def test_schedules_and_policies_screens_do_not_name_a_removed_member(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    from rich.text import Text
    from textual.widgets import Static

    from engine.service import orgs, schedules

    sid = demo.schedules["secondary"]
    backup = schedules.on_call(ctx, sid).layers[0].participant_id
    assert backup is not None
    full = orgs.user_names(ctx)[backup]
    first, last = full.split()
    short = f"{first} {last[0]}."
    orgs.remove_user(ctx, backup)
    paged = schedules.on_call(ctx, sid).paging_targets
    assert paged and backup not in paged

    def shown(widget: Static | OptionList) -> str:
        if isinstance(widget, OptionList):
            return "\n".join(str(widget.get_option_at_index(i).prompt) for i in range(widget.option_count))
        content = widget.render()
        return content.plain if isinstance(content, Text) else str(content)

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_mode(pilot, "3", "schedules", "#schedule-list")
        slist = app.screen.query_one("#schedule-list", OptionList)
        slist.highlighted = 1  # Platform Secondary (by name)
        await pilot.pause()
        assert "Platform Secondary" in shown(app.screen.query_one("#schedule-head", Static))
        assert first not in shown(slist)
        head = shown(app.screen.query_one("#schedule-head", Static))
        assert "on call now: " in head and full not in head and first not in head
        rotations = shown(app.screen.query_one("#rotation-list", LayerList))
        assert f"{short} (removed)" in rotations  # the roster says so; no "on call" line names them

        layers = await open_policy(pilot, "Platform Default")
        texts = [str(layers.get_option_at_index(i).prompt) for i in range(layers.option_count)]
        secondary = next(t for t in texts if "Platform Secondary" in t)
        on_call, _, removed = secondary.partition(" · removed ")
        assert short not in on_call and first not in on_call
        assert removed == short
        assert all(
            orgs.user_names(ctx)[u].split()[0] in on_call for u in paged
        )  # everyone the layer pages, not only the first
