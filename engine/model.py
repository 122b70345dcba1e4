"""The domain objects the pure engine reasons about.

These are frozen ``msgspec.Struct`` values: immutable, hashable, compared field by field, copied with
``msgspec.structs.replace``. Unlike dataclasses they generate no code when this module is imported, which
every CLI command does (docs/PERFORMANCE.md "CLI start-up"). Storage builds them from rows, the engine
takes them with a clock and returns decisions. Field names follow the Scaling reference (snake_case here, camelCase on the wire).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Literal

import msgspec

RotationType = Literal["daily", "weekly", "custom"]
Severity = Literal["critical", "high", "medium", "low"]
Status = Literal["investigating", "identified", "monitoring", "resolved"]
Role = Literal["org:admin", "org:member"]

LONGEST_WAIT_MINUTES = 10_080
"""A week: the longest acknowledgement timeout, re-page interval or snooze, in minutes (the reference's
limit on ``ackTimeoutMinutes``; the local extensions keep it)."""

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
STATUSES: tuple[str, ...] = ("investigating", "identified", "monitoring", "resolved")
ROLES: tuple[str, ...] = ("org:admin", "org:member")
ROTATION_TYPES: tuple[str, ...] = ("daily", "weekly", "custom")


def next_status(status: str) -> str | None:
    """The only status an incident may move to from ``status`` (None once resolved)."""
    i = STATUSES.index(status)
    return STATUSES[i + 1] if i + 1 < len(STATUSES) else None


class RotationLayer(msgspec.Struct, frozen=True):
    """A repeating cycle over ``participant_ids``; see docs/TIME_RULES.md for the arithmetic."""

    id: str
    name: str
    position: int  # 0-based; 0 is owner-bearing
    rotation_type: str
    rotation_length_days: int
    handoff_time: time  # wall clock in the schedule's zone
    effective_from: datetime  # aware, UTC
    effective_until: datetime | None  # aware, UTC, exclusive
    participant_ids: tuple[str, ...]


class Override(msgspec.Struct, frozen=True):
    """A user covering a window ``[start, end)`` of a schedule.

    While active it displaces the owner-bearing layer's participant (see docs/TIME_RULES.md).
    """

    id: str
    user_id: str
    start: datetime
    end: datetime


class Schedule(msgspec.Struct, frozen=True):
    """An on-call schedule: rotation ``layers`` (a later layer wins where it covers) and ``overrides``,
    read in ``timezone`` (IANA); see docs/TIME_RULES.md."""

    id: str
    name: str
    timezone: str  # IANA
    layers: tuple[RotationLayer, ...] = ()
    overrides: tuple[Override, ...] = ()


class Membership(msgspec.Struct, frozen=True):
    """Who belongs to the organisation at any instant: the data every "who is on call / who is paged"
    answer is filtered by (docs/TIME_RULES.md rule 8).

    ``members`` are the current members. ``removed_at`` maps each removed user to the instant (aware, UTC)
    they were removed: they count as members strictly before it and never from it on. An id in neither is
    not a member at any instant (it cannot be paged). A removed user who is in ``members`` again (re-added)
    is a member.
    """

    members: frozenset[str]
    removed_at: Mapping[str, datetime] = msgspec.field(default_factory=dict)

    def is_member(self, user_id: str, at: datetime) -> bool:
        """Whether ``user_id`` belongs to the organisation at instant ``at`` (aware)."""
        if user_id in self.members:
            return True
        removed = self.removed_at.get(user_id)
        return removed is not None and at < removed

    def removal_after(self, user_id: str, at: datetime) -> datetime | None:
        """The instant after ``at`` at which ``user_id`` stops being a member, if there is one."""
        if user_id in self.members:
            return None
        removed = self.removed_at.get(user_id)
        return removed if removed is not None and removed > at else None


class Target(msgspec.Struct, frozen=True):
    """An escalation layer's target: a schedule, or a fixed list of users."""

    type: Literal["schedule", "users"]
    schedule_id: str | None = None
    user_ids: tuple[str, ...] = ()


class EscalationLayer(msgspec.Struct, frozen=True, dict=True):
    """One layer of an escalation policy: its 1-based ``position``, whom it pages (``target``) and how
    long, in minutes, the engine waits for an acknowledgement before paging the next layer."""

    id: str
    position: int  # 1-based
    ack_timeout_minutes: int
    target: Target

    @cached_property
    def ack_timeout(self) -> timedelta:
        """``ack_timeout_minutes`` as a timedelta, built once per layer (every page adds it to an instant).
        Not a field: equality, hashing, repr and ``msgspec.structs.replace`` ignore it (``dict=True`` gives
        the Struct the ``__dict__`` it is cached in)."""
        return timedelta(minutes=self.ack_timeout_minutes)


class Policy(msgspec.Struct, frozen=True):
    """An escalation policy: its ordered ``layers`` and the local extensions ``repeat`` and
    ``repage_after_minutes``."""

    id: str
    name: str
    layers: tuple[EscalationLayer, ...] = ()
    repeat: int = 0  # local extension: run the layers again this many times before exhaustion
    repage_after_minutes: int | None = None  # local extension: re-page an acked, unresolved incident
