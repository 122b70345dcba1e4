"""The People screen (mode 4): contact methods masked, notification rule steps added (with an inline error
first), moved and removed, shift reminders set; all through the use cases, checked in the database."""

from __future__ import annotations

from textual.widgets import Input, OptionList, Select

from engine.service import Ctx
from engine.service import contacts as contacts_svc
from engine.service import notification_rules as rules_svc
from engine.service.demo import DemoOrg
from tests.tui.conftest import settle, wait_for
from tests.tui.test_console import MakeApp, flash_text, switch_mode


def _alice_methods(ctx: Ctx, demo: DemoOrg) -> tuple[str, str]:
    alice = demo.users["alice"]
    hook = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": "https://hooks.example.com/T0/secret-token"}
    )["id"]
    log = contacts_svc.add_contact_method(ctx, alice, {"channel": "log"})["id"]
    return hook, log


async def test_add_move_and_remove_steps(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    alice = demo.users["alice"]
    hook, log = _alice_methods(ctx, demo)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_mode(pilot, "4", "people", "#people-list")
        methods = str(app.screen.query_one("#person-methods").render())
        assert "https://hooks.example.com/…" in methods and "secret-token" not in methods
        await pilot.press("a")
        await wait_for(pilot, lambda: app.screen.query("#field-delayMinutes"), "the add-step form")
        form = app.screen
        form.query_one("#field-delayMinutes", Input).value = "-3"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form  # still open, nothing saved
        assert "delayMinutes" in str(form.query_one("#err-delayMinutes").render())
        assert rules_svc.list_rules(ctx, alice) == {"high": [], "low": []}
        form.query_one("#field-delayMinutes", Input).value = "0"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(rules_svc.list_rules(ctx, alice)["high"]) == 1, "the first step")
        await wait_for(pilot, lambda: app.screen is not form, "the form to close")
        await pilot.press("a")
        await wait_for(pilot, lambda: app.screen.query("#field-delayMinutes"), "the add-step form")
        app.screen.query_one("#field-contactMethodId", Select).value = log
        app.screen.query_one("#field-delayMinutes", Input).value = "2"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(rules_svc.list_rules(ctx, alice)["high"]) == 2, "the second step")
        await settle(pilot)
        high = app.screen.query_one("#rules-high", OptionList)
        assert high.option_count == 2
        high.focus()
        high.highlighted = 1
        await pilot.press("K")
        await settle(pilot)
        steps = rules_svc.list_rules(ctx, alice)["high"]
        assert [(s["contactMethodId"], s["delayMinutes"]) for s in steps] == [(log, 0), (hook, 2)]
        assert "moved up" in flash_text(app)
        await pilot.press("K")  # already first: the error is shown inline, nothing changes
        await settle(pilot)
        assert "first" in flash_text(app)
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(rules_svc.list_rules(ctx, alice)["high"]) == 1, "the removal")


async def test_set_shift_reminders(make_app: MakeApp, ctx: Ctx, demo: DemoOrg) -> None:
    alice = demo.users["alice"]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await switch_mode(pilot, "4", "people", "#people-list")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.query("#field-beforeMinutes"), "the reminders form")
        app.screen.query_one("#field-beforeMinutes", Input).value = "120"
        app.screen.query_one("#field-atEnd", Select).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: rules_svc.get_reminders(ctx, alice)["beforeMinutes"] == 120, "the save")
        info = rules_svc.get_reminders(ctx, alice)
        assert (info["atStart"], info["atEnd"]) == (False, True)
        await settle(pilot)
        assert "120 min before, at end" in str(app.screen.query_one("#person-reminders").render())
