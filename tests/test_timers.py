"""Engine timers other than escalation steps (engine/runtime/timers.py): fired once, in due order, fenced,
a failing kind isolated, and woken for by the real runner on a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.runtime import escalator, timers
from engine.runtime.runner import EngineRunner
from engine.service import Ctx
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from engine.timefmt import to_epoch_ms
from storage import lease
from storage.db import Database
from storage.queries import timers as timer_rows
from tests.test_engine_process import wait_for

Fired = list[tuple[str, str, datetime]]


def _recording(fired: Fired, *, again_after_ms: int | None = None) -> timers.TimerHandler:
    """A handler that records what fired (and arms a ``done`` marker row in the same transaction)."""

    def fire(db: Database, now: datetime, timer: timer_rows.Timer) -> int | None:
        fired.append((timer.kind, timer.subject_id, now))
        timer_rows.arm(db, org_id=timer.org_id, kind="done", subject_id=timer.subject_id, due_at_ms=0)
        return None if again_after_ms is None else timer.due_at_ms + again_after_ms

    return fire


def _arm(db: Database, kind: str, subject: str, at: datetime) -> timer_rows.Timer:
    with db.write():
        return timer_rows.arm(db, org_id="org_1", kind=kind, subject_id=subject, due_at_ms=to_epoch_ms(at))


def test_a_timer_fires_once_at_its_due_time_and_is_removed(db: Database, clock: VirtualClock) -> None:
    fired: Fired = []
    handlers = {"ping": _recording(fired)}
    _arm(db, "ping", "hb_1", clock.now() + timedelta(minutes=5))
    assert timers.fire_due(db, clock, handlers) == 0  # not yet
    assert timers.next_due(db, handlers) == clock.now() + timedelta(minutes=5)
    clock.advance(timedelta(minutes=5))
    assert timers.fire_due(db, clock, handlers) == 1
    assert timers.fire_due(db, clock, handlers) == 0  # never twice
    assert fired == [("ping", "hb_1", clock.now())]
    assert timer_rows.get(db, "ping", "hb_1") is None
    assert timer_rows.get(db, "done", "hb_1") is not None  # the handler's own writes committed with it


def test_timers_fire_in_due_order_and_a_returned_time_re_arms(db: Database, clock: VirtualClock) -> None:
    fired: Fired = []
    handlers = {"ping": _recording(fired, again_after_ms=600_000)}
    t0 = clock.now()
    _arm(db, "ping", "b", t0 + timedelta(minutes=2))
    _arm(db, "ping", "a", t0 + timedelta(minutes=1))
    clock.advance(timedelta(minutes=3))
    assert timers.fire_due(db, clock, handlers) == 2
    assert [s for _, s, _ in fired] == ["a", "b"]
    moved = timer_rows.get(db, "ping", "a")
    assert moved is not None and moved.due_at_ms == to_epoch_ms(t0 + timedelta(minutes=11))


def test_a_timer_armed_again_while_it_fired_keeps_the_new_arming(db: Database, clock: VirtualClock) -> None:
    def re_arm(db: Database, now: datetime, timer: timer_rows.Timer) -> int | None:
        timer_rows.arm(db, org_id=timer.org_id, kind=timer.kind, subject_id=timer.subject_id, due_at_ms=123)
        return None  # "delete me": but the row was armed again meanwhile, so it stays

    _arm(db, "ping", "x", clock.now())
    assert timers.fire_due(db, clock, {"ping": re_arm}) == 1
    kept = timer_rows.get(db, "ping", "x")
    assert kept is not None and kept.due_at_ms == 123


def test_a_failing_handler_is_rolled_back_alone_and_retried_a_minute_later(
    db: Database, clock: VirtualClock
) -> None:
    fired: Fired = []

    def broken(db: Database, now: datetime, timer: timer_rows.Timer) -> int | None:
        timer_rows.arm(db, org_id=timer.org_id, kind="done", subject_id="half-written", due_at_ms=0)
        raise RuntimeError("boom")

    handlers = {"bad": broken, "ping": _recording(fired)}
    _arm(db, "bad", "b1", clock.now())
    _arm(db, "ping", "p1", clock.now() + timedelta(seconds=1))
    clock.advance(timedelta(seconds=1))
    assert timers.fire_due(db, clock, handlers) == 2
    assert [s for _, s, _ in fired] == ["p1"]  # the other timer still fired
    assert timer_rows.get(db, "done", "half-written") is None  # nothing of the failed firing kept
    retry = timer_rows.get(db, "bad", "b1")
    assert retry is not None and retry.due_at_ms == to_epoch_ms(clock.now()) + timers.RETRY_MS


def test_an_engine_neither_fires_nor_wakes_for_a_kind_it_does_not_know(
    db: Database, clock: VirtualClock
) -> None:
    _arm(db, "someone-elses", "s1", clock.now())
    fired: Fired = []
    handlers = {"ping": _recording(fired)}
    assert timers.next_due(db, handlers) is None
    assert timers.overdue_count(db, clock.now(), handlers) == 0
    assert timers.fire_due(db, clock, handlers) == 0
    assert timer_rows.get(db, "someone-elses", "s1") is not None


def test_a_lost_lease_fires_nothing(db: Database, clock: VirtualClock) -> None:
    fired: Fired = []
    with db.write():
        fence = lease.acquire(db, "a", 5.0)
    assert fence is not None
    with db.write():
        db.execute("UPDATE engine_lease SET token = token + 1")  # someone else took it over
    _arm(db, "ping", "p", clock.now())
    assert timers.fire_due(db, clock, {"ping": _recording(fired)}, fence=fence) == 0
    assert fired == []


def test_drive_interleaves_escalation_steps_and_timers_in_due_order(ctx: Ctx, clock: VirtualClock) -> None:
    pid = pol_svc.create_policy(ctx, {"name": "P"})["id"]
    for position, minutes in enumerate((5, 10), start=1):
        target = {"type": "users", "userIds": [ctx.actor_user_id]}
        pol_svc.add_layer(ctx, pid, {"position": position, "ackTimeoutMinutes": minutes, "target": target})
    iid = inc_svc.create_incident(ctx, {"title": "x", "severity": "high", "escalationPolicyId": pid})["id"]
    seen: list[tuple[str, int]] = []

    def note(db: Database, now: datetime, timer: timer_rows.Timer) -> int | None:
        state = escalator.escalation_state(db, iid)
        assert state is not None
        seen.append((timer.subject_id, state["currentLayer"]))
        return None

    t0 = clock.now()
    _arm(ctx.db, "note", "at-3m", t0 + timedelta(minutes=3))
    _arm(ctx.db, "note", "at-7m", t0 + timedelta(minutes=7))
    timers.drive(ctx.db, clock, t0 + timedelta(minutes=8), {"note": note})
    assert seen == [("at-3m", 1), ("at-7m", 2)]  # layer 2 was paged at +5, between the two


@pytest.fixture
def runner_box() -> Iterator[list[EngineRunner]]:
    made: list[EngineRunner] = []
    yield made
    for r in made:
        r.stop()


def test_the_runner_wakes_for_a_timer_and_fires_it(
    db_path: Path, db: Database, clock: VirtualClock, runner_box: list[EngineRunner]
) -> None:
    fired: Fired = []
    kw: dict[str, Any] = {"deliver": False, "timer_handlers": {"ping": _recording(fired)}}
    r = EngineRunner(db_path, clock, "solo", **kw).start()
    runner_box.append(r)
    wait_for(lambda: r.mode == "embedded", what="the lease")
    _arm(db, "ping", "hb", clock.now() + timedelta(minutes=1))
    r.poke()
    clock.advance(timedelta(minutes=1))
    r.poke()
    wait_for(lambda: timer_rows.get(db, "done", "hb") is not None, what="the timer to fire")
    assert [s for _, s, _ in fired] == ["hb"]
    assert r.fired_total == 1
