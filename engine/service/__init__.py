"""The service layer: the one place that creates, changes and deletes domain objects.

The console, the CLI, the local HTTP API and sync all call these functions with a :class:`Ctx`. Each
function validates its input by the reference's rules, runs in one write transaction, and returns the
object in wire form (camelCase dicts, exactly as the HTTP API answers), raising
:class:`engine.errors.DomainError` subclasses carrying the reference's error codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from engine.clock import Clock, WallClock
from engine.runtime.operator_config import OperatorConfig
from storage.db import Database

Via = Literal["operator", "api_key", "sync", "ack_link"]
"""Through what the actor reaches the service: ``operator`` is the person who runs oncall on this machine
(the CLI and the console, with the database file in hand); ``api_key`` is a caller of the HTTP API, member
or admin; ``sync`` is a pull from a remote organisation; ``ack_link`` is a person acknowledging from a page's
signed link (engine/service/ack_links.py), trusted for that one act only. Only the operator may manage ``command`` contact
methods or point a webhook outside the operator's allow-list (engine/service/contacts.py)."""


@dataclass
class Ctx:
    """Who is acting, on which organisation, against which database, at what time, and through what.

    ``via`` defaults to the least trusted surface, ``api_key``: a context only acts as the machine's
    operator when its builder says so (console/cli/main.py). ``config`` is the operator's configuration the
    rules read (the webhook allow-list); the HTTP API passes the server's.
    """

    db: Database
    org_id: str
    actor_id: str | None = None  # a user id or an API key id
    actor_user_id: str | None = None  # the user behind the actor, when there is one
    is_admin: bool = True
    clock: Clock = field(default_factory=WallClock)
    via: Via = "api_key"
    config: OperatorConfig = field(default_factory=OperatorConfig)

    @property
    def is_operator(self) -> bool:
        return self.via == "operator"

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
        """The same context acting as ``user_id`` (same ``via``, configuration and clock)."""
        return replace(
            self,
            actor_id=user_id,
            actor_user_id=user_id,
            is_admin=self.is_admin if is_admin is None else is_admin,
        )
