"""The console's link to a drill: one drill at a time, on a scratch copy, at the speed the person chose.

The drill itself is :mod:`engine.service.drills` (the live database is only read, once, for the copy; the real
:func:`engine.runtime.escalator.tick` runs on the copy on the drill's own clock; nothing is delivered). This
holds the running :class:`~engine.service.drills.Drill`, steps it to the drill clock's ``now`` when the app's
timer asks, reads its incident as a table row, and acknowledges it as the console's user.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from console.tui.readmodel import IncidentRow, some_incidents
from engine.clock import Clock, ScaledClock
from engine.errors import DomainError
from engine.service import Ctx
from engine.service.database import Database

if TYPE_CHECKING:
    from engine.service import drills as drills_store

# engine.service.drills (and the escalator it runs) is imported when a drill starts, not with the console.

SPEEDS: tuple[float, ...] = (1.0, 10.0, 60.0)

ClockFactory = Callable[[float, datetime], Clock]


def scaled_drill_clock(speed: float, origin: datetime) -> Clock:
    """The default drill clock: ``speed`` times real time, starting at the console's ``now``."""
    return ScaledClock(speed, origin=origin)


class DrillLink:
    """``drill`` is the drill on screen (running, or finished and waiting for its score card to close)."""

    def __init__(self, db: Database, org_id: str, make_clock: ClockFactory = scaled_drill_clock) -> None:
        self.db = db
        self.org_id = org_id
        self.make_clock = make_clock
        self.drill: drills_store.Drill | None = None
        self.speed = 1.0

    def start(self, policy_id: str, speed: float, now: datetime) -> drills_store.Drill:
        """Copy the live database and page layer 1 of ``policy_id`` at ``now`` on a clock ``speed`` times
        real time. Refused while another drill is on screen."""
        if self.drill is not None:
            raise DomainError("drill_running", "a drill is already running: acknowledge it or let it end")
        clock = self.make_clock(speed, now)
        from engine.service import drills as drills_store

        self.drill = drills_store.start_drill(self.db, self.org_id, policy_id, at=now, clock=clock)
        self.speed = speed
        return self.drill

    def step(self) -> list[drills_store.DrillLine]:
        """Run what is due by the drill clock's ``now`` (timeouts, the next layer's pages)."""
        if self.drill is None or self.drill.finished:
            return []
        from engine.service import drills as drills_store

        return drills_store.advance_drill(self.drill, until=self.drill.clock.now())

    def acknowledge(self, actor: Ctx) -> list[drills_store.DrillLine]:
        """Acknowledge the drill incident as ``actor``'s user, at the drill clock's ``now``."""
        if self.drill is None or self.drill.finished:
            return []
        user = actor.actor_user_id or actor.actor_id
        from engine.service import drills as drills_store

        return drills_store.acknowledge_drill(self.drill, user, is_admin=actor.is_admin)

    def now(self) -> datetime | None:
        return None if self.drill is None else self.drill.clock.now()

    def rows(self) -> dict[str, IncidentRow]:
        """The drill incident as a row of the incident table (empty when no drill is on screen)."""
        if self.drill is None:
            return {}
        return some_incidents(self.drill.db, self.org_id, [self.drill.incident_id])

    def owns(self, incident_id: str) -> bool:
        return self.drill is not None and self.drill.incident_id == incident_id

    def close(self) -> None:
        """Forget the drill (its copy disappears)."""
        drill, self.drill = self.drill, None
        if drill is not None:
            drill.close()
