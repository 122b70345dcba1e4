"""Issue 15 item 4: polish that can be seen. Each test drives the console and reads what the screen shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textual.widgets import DataTable, Input, OptionList, Select, Static
from textual.widgets._footer import Footer, FooterKey

from console.tui import OncallApp
from console.tui.screens.form import CheckList, FormScreen
from console.tui.screens.incident_detail import IncidentDetailScreen
from engine.clock import ScaledClock, VirtualClock
from engine.service import Ctx, incidents, policies
from engine.service.demo import DemoOrg
from tests.tui.conftest import FROZEN, settle, wait_for

MakeApp = Callable[..., OncallApp]


def flash_text(app: OncallApp) -> str:
    return str(app.screen.query_one("#flash", Static).render())


async def test_flash_clears_by_itself_and_at_the_next_action(make_app: MakeApp, demo: DemoOrg) -> None:
    app = make_app(flash_seconds=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await wait_for(pilot, lambda: "sorted by age" in flash_text(app), "the flash")
        await wait_for(pilot, lambda: flash_text(app) == "", "the flash to clear by itself")
    app = make_app(flash_seconds=600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: "#1 acknowledged" in flash_text(app), "the flash")
        await pilot.press("slash")  # the next action (it says nothing itself)
        await settle(pilot)
        assert flash_text(app) == ""


async def test_j_and_k_move_in_every_list(make_app: MakeApp, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for key, list_id in (("2", "#policy-list"), ("3", "#schedule-list"), ("4", "#people-list")):
            await pilot.press(key)
            await wait_for(pilot, lambda lid=list_id: app.screen.query(lid), f"{list_id}")
            await settle(pilot)
            ol = app.screen.query_one(list_id, OptionList)
            ol.focus()
            start = ol.highlighted or 0
            await pilot.press("j")
            await settle(pilot)
            assert ol.highlighted == start + 1, list_id
            await pilot.press("k")
            await settle(pilot)
            assert ol.highlighted == start, list_id
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the details")
        await settle(pilot)
        table = app.screen.query_one("#timeline-table", DataTable)
        assert table.has_focus and table.cursor_row == 0
        await pilot.press("j")
        await settle(pilot)
        assert table.cursor_row == 1


async def test_ticked_and_unticked_boxes_differ_by_glyph(
    make_app: MakeApp, demo: DemoOrg, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.screen.query("#schedule-list"), "the schedules")
        await settle(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen), "the form")
        boxes = app.screen.query_one("#field-participantIds", CheckList)
        boxes.select(boxes.get_option_at_index(1).value)
        await settle(pilot)
        lines = [boxes.render_line(y).text for y in range(2)]
        assert lines[0][:3] == "▐ ▌" and lines[1][:3] == "▐✓▌", lines


async def test_status_bar_shows_the_clock_speed_when_not_1x(ctx: Ctx, db_path: Path, demo: DemoOrg) -> None:
    for speed, shown in ((60.0, True), (1.0, False)):
        fast = replace(ctx, clock=ScaledClock(speed, FROZEN, real=VirtualClock(FROZEN)))
        app = OncallApp(fast, db_path=str(db_path), run_engine=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            state = str(app.screen.query_one("#status-state", Static).render())
            assert ("⏩ 60×" in state) is shown and ("×" in state) is shown, state


async def test_80x24_footers_fit(make_app: MakeApp, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("1", "2", "3", "4"):
            await pilot.press(key)
            await settle(pilot)
            footer = app.screen.query_one(Footer)
            keys = [k for k in footer.query(FooterKey) if k.display]
            assert keys and footer.max_scroll_x == 0, (key, footer.virtual_size, footer.size)
            assert max(k.region.right for k in keys) <= 80
        await pilot.press("1", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the details")
        await settle(pilot)
        assert app.screen.query_one(Footer).max_scroll_x == 0


async def test_palette_lists_actions_before_navigation_each_once(make_app: MakeApp) -> None:
    from console.tui.commands import MODE_TITLES, OncallCommands

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = [title for title, _, _ in OncallCommands(app.screen)._commands()]
        assert len(titles) == len(set(titles))
        navigation = [i for i, t in enumerate(titles) if t.startswith("Go to")]
        modes = len(MODE_TITLES)  # incidents, policies, schedules, people, reports, my on-call
        assert modes == 6 and navigation == list(range(len(titles) - modes, len(titles)))
        assert not any("go to" in t.lower() for t in titles[: navigation[0]])  # no "App: Go to …" twin


async def test_empty_states_say_what_to_do(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    policies.create_policy(ctx, {"name": "Aaa Empty"})
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zzzz")
        await settle(pilot)
        summary = str(app.screen.query_one("#incident-summary", Static).render())
        assert "no incident matches the filter · esc clears it" in summary
        await pilot.press("enter", "escape")
        await settle(pilot)
        await pilot.press("enter")  # details of an incident with no updates
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the details")
        await settle(pilot)
        updates = app.screen.query_one("#updates-list", OptionList)
        assert "no updates yet · p posts one" in str(updates.get_option_at_index(0).prompt)
        await pilot.press("escape", "2")
        await wait_for(pilot, lambda: app.screen.query("#policy-list"), "the policies")
        await settle(pilot)
        assert app.screen.policy_id == policies.find_policy(ctx, "Aaa Empty")["id"]  # type: ignore[attr-defined]
        layers = app.screen.query_one("#layer-list", OptionList)
        assert "no layers yet · a adds one" in str(layers.get_option_at_index(0).prompt)


async def test_timeline_rows_end_in_an_ellipsis(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    everyone = list(demo.users.values())
    pid = policies.create_policy(ctx, {"name": "All hands"})["id"]
    policies.add_layer(
        ctx, pid, {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": everyone}}
    )
    iid = incidents.create_incident(ctx, {"title": "Everyone", "severity": "low", "escalationPolicyId": pid})[
        "id"
    ]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(IncidentDetailScreen(iid))
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentDetailScreen), "the details")
        await settle(pilot)
        table = app.screen.query_one("#timeline-table", DataTable)
        rows = [table.render_line(y).text for y in range(1, table.row_count + 1)]
        paged = [r for r in rows if "paged" in r]
        assert paged and paged[0].rstrip().endswith("…"), rows
        assert all(len(r) <= 80 for r in rows)


async def test_form_messages_are_words_not_field_names(make_app: MakeApp, demo: DemoOrg) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.screen.query("#schedule-list"), "the schedules")
        await settle(pilot)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen), "the override form")
        form = app.screen
        form.query_one("#field-userId", Select).value = demo.users["dan"]
        form.query_one("#field-start", Input).value = "someday"
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = str(form.query_one("#err-start", Static).render())
        assert error.startswith("the start must be a local date and time") and "someday" in error, error
