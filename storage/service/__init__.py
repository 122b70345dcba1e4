"""The service layer: the one place that creates, changes and deletes domain objects.

The console, the CLI, the local HTTP API and sync all call these functions with a :class:`Ctx`. Each
function validates its input by the reference's rules, runs in one write transaction, and returns the
object in wire form (camelCase dicts, exactly as the HTTP API answers), raising
:class:`engine.errors.DomainError` subclasses carrying the reference's error codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from engine.clock import Clock, WallClock
from storage.db import Database


@dataclass
class Ctx:
    """Who is acting, on which organisation, against which database, at what time."""

    db: Database
    org_id: str
    actor_id: str | None = None  # a user id or an API key id
    actor_user_id: str | None = None  # the user behind the actor, when there is one
    is_admin: bool = True
    clock: Clock = field(default_factory=WallClock)

    def now(self) -> datetime:
        """The instant for reading (who is on call now, countdowns). Writes take theirs from :meth:`write`."""
        return self.clock.now()

    @contextmanager
    def write(self) -> Iterator[datetime]:
        """``with ctx.write() as now:`` one write transaction and its instant, taken once ``BEGIN
        IMMEDIATE`` holds the write lock, so commit order is timestamp order across processes
        (:func:`storage.db_clock.write_at`). Nested inside another write it is a savepoint."""
        from storage.db_clock import write_at

        with write_at(self.db, self.clock) as now:
            yield now

    def as_user(self, user_id: str | None, *, is_admin: bool | None = None) -> Ctx:
        return Ctx(
            db=self.db,
            org_id=self.org_id,
            actor_id=user_id,
            actor_user_id=user_id,
            is_admin=self.is_admin if is_admin is None else is_admin,
            clock=self.clock,
        )
