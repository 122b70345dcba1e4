"""Fires the engine's timers other than escalation steps (table ``timers``, :mod:`storage.queries.timers`).

A timer kind (a heartbeat monitor's deadline, a maintenance window's end, a notification rule's next step,
a shift reminder) is a :data:`TimerHandler`: given the database, the instant and the due
:class:`~storage.queries.timers.Timer`, it does its work **inside the engine's write transaction** and
returns the next due time of the same timer (epoch ms) or None to remove it. The table of kinds belongs to
the layer that knows them (``engine.service.timer_kinds.HANDLERS``, because firing may open an incident
through the use cases); the runner is given it and only ever reads or fires timers of the kinds it knows,
so an engine without a kind's handler neither fires it nor wakes for it.

The guarantees are the escalation steps' (ARCHITECTURE.md, "The escalation engine's guarantees"): one
transaction per batch, fenced by the engine lease, so a crash keeps all of a firing or none of it; a
timer armed again while it fired (a newer ``generation``) is neither moved nor deleted by the older firing.
A handler that raises is rolled back to its savepoint alone, logged, and tried again
:data:`RETRY_MS` later.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from engine.clock import Clock, VirtualClock
from engine.runtime import escalator
from engine.timefmt import from_epoch_ms
from storage import db_clock, lease
from storage.db import Database
from storage.queries import timers as queries
from storage.queries.timers import Timer

__all__ = ["RETRY_MS", "Timer", "TimerHandler", "drive", "fire_due", "next_due", "overdue_count"]

TimerHandler = Callable[[Database, datetime, Timer], int | None]
"""Fires one due timer at the instant given, inside the engine's transaction; returns the next due time
(epoch ms) of the same timer, or None to remove it."""

RETRY_MS = 60_000  # a handler that raised is tried again a minute later
DEFAULT_BATCH = 500
log = logging.getLogger("oncall.engine")


def fire_due(
    db: Database,
    at: datetime | Clock,
    handlers: Mapping[str, TimerHandler],
    limit: int = DEFAULT_BATCH,
    *,
    fence: Any = None,
) -> int:
    """Fire every timer due at ``now`` (at most ``limit``), earliest first, in one write transaction.

    ``at`` is the live engine's :class:`Clock` (read once the write lock is held, as
    :func:`engine.runtime.escalator.tick` does) or an instant chosen by a driver that owns the time.
    ``fence`` (a :class:`storage.lease.Fence`) makes the call a no-op unless that lease is still held.
    Returns how many timers were handled (fired, or failed and postponed); call again while it returns
    ``limit``. Only timers of the kinds in ``handlers`` are read.
    """
    if not handlers:
        return 0
    count = 0
    with db.write():
        if fence is not None and not lease.holds(db, fence):
            return 0
        now = at if isinstance(at, datetime) else db_clock.instant(db, at)
        now_ms = math.floor(now.timestamp() * 1000)
        for timer in queries.due(db, now_ms, limit, list(handlers)):
            handler = handlers[timer.kind]
            try:
                with db.write():  # a savepoint: a failing handler takes back only its own writes
                    queries.finish(db, timer, handler(db, now, timer))
            except Exception:  # noqa: BLE001 - one broken timer must not stall the others
                if db.gone:
                    raise
                log.exception(
                    "timer %s (%s %s) failed; retrying in a minute", timer.id, timer.kind, timer.subject_id
                )
                queries.finish(db, timer, now_ms + RETRY_MS)
            count += 1
    return count


def next_due(db: Database, handlers: Mapping[str, TimerHandler]) -> datetime | None:
    """The earliest due time of a timer of the kinds in ``handlers``, or None."""
    if not handlers:
        return None
    ms = queries.next_due_ms(db, list(handlers))
    return None if ms is None else from_epoch_ms(ms)


def overdue_count(db: Database, now: datetime, handlers: Mapping[str, TimerHandler]) -> int:
    """How many timers of the kinds in ``handlers`` are due at or before ``now``."""
    return queries.overdue_count(db, math.floor(now.timestamp() * 1000), list(handlers)) if handlers else 0


def drive(db: Database, clock: VirtualClock, until: datetime, handlers: Mapping[str, TimerHandler]) -> int:
    """Run escalation steps and timers on a virtual clock up to ``until``, in due order: jump to the next
    due instant of either, fire what is due there, repeat. The same :func:`engine.runtime.escalator.tick`
    and :func:`fire_due` the live engine runs; drills and tests use it. Returns the steps and timers fired."""
    total = 0
    while True:
        dues = [d for d in (escalator.next_due(db), next_due(db, handlers)) if d is not None]
        due = min(dues) if dues else None
        if due is None or due > until:
            clock.advance_to(until)
            return total + _fire_all(db, clock, handlers)
        clock.advance_to(due)
        total += _fire_all(db, clock, handlers)


def _fire_all(db: Database, clock: VirtualClock, handlers: Mapping[str, TimerHandler]) -> int:
    total = 0
    while True:
        n = escalator.tick(db, clock) + fire_due(db, clock, handlers)
        total += n
        if n == 0:
            return total
