"""Shift reminders through the real engine on a virtual clock: across the end of summer time in London,
with overrides (added after the timer was armed), and never for a shift that no longer exists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.runtime import shift_reminders, timers
from engine.service import Ctx, schedules
from engine.service import notification_rules as rules_svc
from engine.service.orgs import add_user
from engine.service.timer_kinds import HANDLERS
from engine.timefmt import to_epoch_ms
from storage.db import Database
from storage.queries import timers as timer_rows

START = datetime(2026, 10, 23, 12, 0, tzinfo=UTC)  # London leaves summer time on 25 October 2026


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def people(ctx: Ctx) -> dict[str, str]:
    """Alice and Bob take turns daily at 09:00 London time from 20 October (Alice first)."""
    alice = add_user(ctx, email="alice@example.com")["id"]
    bob = add_user(ctx, email="bob@example.com")["id"]
    sched = schedules.create_schedule(ctx, {"name": "Primary", "timezone": "Europe/London"})
    schedules.add_rotation_layer(
        ctx,
        sched["id"],
        {
            "name": "Daily",
            "rotationType": "daily",
            "rotationLengthDays": 1,
            "handoffTime": "09:00",
            "effectiveFrom": "2026-10-20T08:00:00.000Z",
            "effectiveUntil": None,
            "participantIds": [alice, bob],
        },
    )
    return {"alice": alice, "bob": bob, "schedule": sched["id"]}


def _sent(ctx: Ctx, user_id: str) -> list[tuple[str, str]]:
    return sorted((s["at"], s["kind"]) for s in rules_svc.get_reminders(ctx, user_id)["sent"])


def _drive(db: Database, clock: VirtualClock, until: str) -> None:
    timers.drive(db, clock, datetime.fromisoformat(until), HANDLERS)


def test_reminders_follow_local_time_across_the_dst_change(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    alice = people["alice"]
    info = rules_svc.set_reminders(ctx, alice, {"beforeMinutes": 120, "atStart": True})
    assert info["nextReminder"] == {
        "at": "2026-10-24T06:00:00.000Z",  # 07:00 BST, two hours before her 09:00 BST shift
        "kind": "before",
        "scheduleId": people["schedule"],
        "shiftStart": "2026-10-24T08:00:00.000Z",
        "shiftEnd": "2026-10-25T09:00:00.000Z",  # 09:00 GMT: the clocks went back in the night
    }
    _drive(db, clock, "2026-10-27T00:00:00+00:00")
    assert _sent(ctx, alice) == [
        ("2026-10-24T06:00:00.000Z", "before"),
        ("2026-10-24T08:00:00.000Z", "start"),
        ("2026-10-26T07:00:00.000Z", "before"),  # 07:00 GMT now
        ("2026-10-26T09:00:00.000Z", "start"),
    ]
    assert _sent(ctx, people["bob"]) == []  # Bob asked for nothing


def test_overrides_count_and_rearm_the_timer(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    alice, bob = people["alice"], people["bob"]
    rules_svc.set_reminders(ctx, alice, {"beforeMinutes": 120, "atStart": True})
    rules_svc.set_reminders(ctx, bob, {"atEnd": True})
    # Bob covers the middle of Alice's 24 October shift: hers splits in two, his own shifts gain one.
    schedules.add_override(
        ctx,
        people["schedule"],
        {"userId": bob, "start": "2026-10-24T12:00:00Z", "end": "2026-10-24T18:00:00Z"},
    )
    _drive(db, clock, "2026-10-25T00:00:00+00:00")
    assert _sent(ctx, alice) == [
        ("2026-10-24T06:00:00.000Z", "before"),
        ("2026-10-24T08:00:00.000Z", "start"),
        ("2026-10-24T16:00:00.000Z", "before"),
        ("2026-10-24T18:00:00.000Z", "start"),
    ]
    assert _sent(ctx, bob) == [("2026-10-24T08:00:00.000Z", "end"), ("2026-10-24T18:00:00.000Z", "end")]


def test_no_reminder_for_a_shift_that_no_longer_exists(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    alice = people["alice"]
    carol = add_user(ctx, email="carol@example.com")["id"]
    rules_svc.set_reminders(ctx, alice, {"beforeMinutes": 120})
    timer = timer_rows.get(db, shift_reminders.KIND, alice)
    assert timer is not None and timer.due_at_ms == to_epoch_ms(datetime(2026, 10, 24, 6, tzinfo=UTC))
    schedules.add_override(
        ctx,
        people["schedule"],
        {"userId": carol, "start": "2026-10-24T08:00:00Z", "end": "2026-10-25T09:00:00Z"},
    )
    nxt: dict[str, Any] = rules_svc.get_reminders(ctx, alice)["nextReminder"]
    assert nxt["at"] == "2026-10-26T07:00:00.000Z"
    # Even a timer left at the old instant (as if the re-arm had been missed) sends nothing then.
    with db.write():
        timer_rows.arm(
            db,
            org_id=ctx.org_id,
            kind=shift_reminders.KIND,
            subject_id=alice,
            due_at_ms=to_epoch_ms(datetime(2026, 10, 24, 6, tzinfo=UTC)),
        )
    _drive(db, clock, "2026-10-26T08:00:00+00:00")
    assert _sent(ctx, alice) == [("2026-10-26T07:00:00.000Z", "before")]


def test_reminders_use_case_errors(ctx: Ctx, people: dict[str, str]) -> None:
    from engine.errors import NotFound, ValidationError

    with pytest.raises(ValidationError, match="atStart"):
        rules_svc.set_reminders(ctx, people["alice"], {"atStart": "yes"})
    with pytest.raises(ValidationError, match="beforeMinutes"):
        rules_svc.set_reminders(ctx, people["alice"], {"beforeMinutes": 7 * 24 * 60 + 1})
    with pytest.raises(NotFound):
        rules_svc.get_reminders(ctx, "user_missing")
