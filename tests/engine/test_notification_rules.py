"""The pure arithmetic of notification rules and shift reminders (engine/notification_rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import notification_rules as nr

T = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)
PLAN = nr.ordered(
    [nr.RuleStep("email", 5), nr.RuleStep("ntfy", 0), nr.RuleStep("sms", 2), nr.RuleStep("call", 2)]
)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def test_urgency_of_severities() -> None:
    assert [nr.urgency_of(s) for s in ("critical", "high", "medium", "low", None)] == [
        "high",
        "high",
        "low",
        "low",
        "low",
    ]


def test_ordered_by_delay_then_added_order() -> None:
    assert [s.contact_method_id for s in PLAN] == ["ntfy", "sms", "call", "email"]


@pytest.mark.parametrize(
    ("now", "next_step", "send", "next_at", "after"),
    [
        (0, 0, (0,), at(2), 1),
        (1.99, 1, (), at(2), 1),
        (2, 1, (1, 2), at(5), 3),
        (60, 0, (0, 1, 2, 3), None, 4),  # a late engine catches every step up at once, in order
        (60, 4, (), None, 4),
    ],
)
def test_steps_due(
    now: float, next_step: int, send: tuple[int, ...], next_at: datetime | None, after: int
) -> None:
    assert nr.steps_due(PLAN, T, at(now), next_step) == nr.StepsDue(send, next_at, after)


def test_fall_through_sends_the_next_delay_group_at_once() -> None:
    decision = nr.steps_due(PLAN, T, at(0.5), 1, fall_through=True)
    assert decision == nr.StepsDue((1, 2), at(5), 3)


def test_steps_due_refuses_a_step_outside_the_plan() -> None:
    with pytest.raises(ValueError):
        nr.steps_due(PLAN, T, T, 5)


def test_merge_shifts_joins_touching_pieces() -> None:
    merged = nr.merge_shifts("s", [(at(60), at(120)), (at(0), at(60)), (at(200), at(300))])
    assert merged == (nr.OwnShift("s", at(0), at(120)), nr.OwnShift("s", at(200), at(300)))


def test_reminders_in_a_window_and_the_next_one() -> None:
    shifts = [nr.OwnShift("s", at(600), at(1200)), nr.OwnShift("t", at(600), at(700))]
    settings = nr.ReminderSettings(before_minutes=60, at_start=True, at_end=True)
    got = [(r.at, r.kind, r.shift.schedule_id) for r in nr.reminders(shifts, settings, at(0), at(1200))]
    assert got == [
        (at(540), "before", "s"),
        (at(540), "before", "t"),
        (at(600), "start", "s"),
        (at(600), "start", "t"),
        (at(700), "end", "t"),
    ]  # the end at 1200 is the window's edge: outside it
    nxt = nr.next_reminder_after(shifts, settings, at(600), at(2000))
    assert nxt is not None and (nxt.at, nxt.kind) == (at(700), "end")
    assert nr.reminders_at(shifts, settings, at(600.5)) == []
    assert not nr.ReminderSettings().any
