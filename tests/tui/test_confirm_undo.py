"""Issue 15 item 3: undo and confirmation, consistently (console/tui/screens/reorder_undo.py, confirm.py)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static

from console.tui import OncallApp
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.help import HelpScreen
from engine.service import Ctx, schedules
from engine.service.demo import DemoOrg
from tests.tui.conftest import settle, wait_for

MakeApp = Callable[..., OncallApp]


def flash_text(app: OncallApp) -> str:
    return str(app.screen.query_one("#flash", Static).render())


async def test_x_removes_an_override_from_anywhere_naming_it_and_u_brings_it_back(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    sid = demo.schedules["primary"]
    schedules.add_override(
        ctx,
        sid,
        {
            "userId": demo.users["dan"],
            "start": "2026-03-03T15:00:00.000Z",
            "end": "2026-03-04T10:00:00.000Z",
            "note": "swap",
        },
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "schedules", "the schedules mode")
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#schedule-list").has_focus  # not in the overrides list
        assert screen.schedule_id == sid  # type: ignore[attr-defined]
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        question = str(app.screen.query_one(Static).render())
        tz = schedules.get_schedule(ctx, sid)["timezone"]
        assert "Remove the override Dan" in question and "→" in question, question
        assert ("Tue 03 Mar" in question) and ("04 Mar" in question), (tz, question)
        await pilot.press("n")
        await settle(pilot)
        assert len(schedules.list_overrides(ctx, sid)) == 1
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: not schedules.list_overrides(ctx, sid), "the removal")
        assert "override removed: Dan" in flash_text(app)
        await pilot.press("u")
        await wait_for(pilot, lambda: schedules.list_overrides(ctx, sid), "the undo")
        [back] = schedules.list_overrides(ctx, sid)
        assert (back["userId"], back["start"], back["end"], back["note"]) == (
            demo.users["dan"],
            "2026-03-03T15:00:00.000Z",
            "2026-03-04T10:00:00.000Z",
            "swap",
        )
        assert "undone: removing the override Dan" in flash_text(app)


async def test_help_says_exactly_what_undo_covers(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for key, words in (
            ("2", "a new policy and a rename"),
            ("3", "an added override and a removed override"),
        ):
            await pilot.press(key)
            await settle(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
            assert words in str(app.screen.query_one("#help-undo", Static).render())
            await pilot.press("escape")
            await settle(pilot)


async def test_x_removes_a_rule_step_from_anywhere_naming_it(
    make_app: MakeApp, ctx: Ctx, demo: DemoOrg
) -> None:
    from engine.service import contacts as contacts_svc
    from engine.service import notification_rules as rules_svc

    alice = demo.users["alice"]
    hook = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": "https://hooks.example.com/T0/secret-token"}
    )["id"]
    rules_svc.add_rule(ctx, alice, {"urgency": "high", "contactMethodId": hook, "delayMinutes": 5})
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: app.screen.query("#people-list"), "the people")
        await settle(pilot)
        assert app.screen.query_one("#people-list").has_focus  # not in a rules list
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog")
        question = str(app.screen.query_one(Static).render())
        assert "Remove step 1 of Alice Chen's high-urgency rules (+5 min, webhook" in question, question
        assert "secret-token" not in question
        await pilot.press("y")
        await wait_for(pilot, lambda: rules_svc.list_rules(ctx, alice)["high"] == [], "the removal")
        assert "removed step 1 of Alice Chen's" in flash_text(app)
