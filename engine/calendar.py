"""Calendar feeds: a schedule's shifts, or one person's, as iCalendar (RFC 5545).

Pure: the caller (engine/service/calendars.py) passes the schedule's shifts (:func:`engine.rotation.shifts`
with the organisation's membership, so a feed never disagrees with who is paged), the people's names and
the instant of the fetch. Every event is one piece of on-call time ``[start, end)`` in UTC (``…Z``), so
daylight-saving changes need no VTIMEZONE: the instants are the engine's own, and a calendar app shows
them in its zone. Overrides are included: a displaced rotation shift is split around the override, which
is an event of its own.

Each event's UID is a hash of what identifies the piece (schedule, layer, override, person, start), so the
same shift has the same UID at every fetch and a subscribed calendar updates it instead of adding a copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event

from engine.rotation import ScheduleShifts, Shift
from engine.timefmt import to_iso

__all__ = ["FeedEvent", "events", "feed"]

PRODID = "-//oncall//calendar feed//EN"


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    user_id: str
    start: datetime  # aware, UTC
    end: datetime
    summary: str
    description: str


def _uid(schedule_id: str, shift: Shift) -> str:
    key = "|".join(
        [schedule_id, shift.layer_id or "-", shift.override_id or "-", shift.user_id, to_iso(shift.start)]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@oncall"


def _pieces(coverage: ScheduleShifts) -> Iterable[tuple[str | None, Shift]]:
    """Every layer's pieces (rotation and override), then the overrides no layer carries (rule 6: an
    override covering a moment when no layer is active), each with its layer's name."""
    for layer in coverage.layers:
        for shift in layer.shifts:
            yield layer.name, shift
    for shift in coverage.owners:
        if shift.layer_id is None:
            yield None, shift


def events(
    schedule_id: str,
    schedule_name: str,
    coverage: ScheduleShifts,
    names: Mapping[str, str],
    *,
    user_id: str | None = None,
    start: datetime | None = None,
) -> list[FeedEvent]:
    """The feed's events, by start then layer order: every piece of ``coverage`` (optionally only
    ``user_id``'s) that ends after ``start`` (default: all of them)."""
    out: list[FeedEvent] = []
    for layer_name, shift in _pieces(coverage):
        if user_id is not None and shift.user_id != user_id:
            continue
        if start is not None and shift.end <= start:
            continue
        who = names.get(shift.user_id, shift.user_id)
        where = schedule_name + (f" / {layer_name}" if layer_name else "")
        kind = " (override)" if shift.source == "override" else ""
        summary = f"On call{kind}: {where}" if user_id is not None else f"{who} on call{kind}: {where}"
        description = f"{who} is on call for {schedule_name}" + (
            f", layer {layer_name}" if layer_name else ""
        )
        if shift.source == "override":
            description += ", covering by an override"
        out.append(
            FeedEvent(_uid(schedule_id, shift), shift.user_id, shift.start, shift.end, summary, description)
        )
    return sorted(out, key=lambda e: (e.start, e.end, e.uid))


def feed(name: str, items: Iterable[FeedEvent], stamp: datetime) -> bytes:
    """An iCalendar document (``text/calendar``) named ``name`` holding ``items``; ``stamp`` (the fetch)
    is every event's DTSTAMP."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for item in items:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", item.start)
        event.add("dtend", item.end)
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return cal.to_ical()
