"""Drills: the pure parts. What ``--ack 2:3m`` and ``--at "2026-03-08 02:30"`` mean, and how a drill's
instants are shown (``t+5m``, ``Sun 08 Mar 03:30 EDT (07:30Z)``).

The drill runner itself (a scratch copy of the database, the real escalator on a virtual or scaled
clock) is :mod:`engine.service.drills`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine.errors import ValidationError
from engine.timeparse import (
    Word,
    next_dst_change,
    parse_local_instant,
    validate_timezone,
)

__all__ = [
    "AckPlan",
    "format_instant",
    "format_offset",
    "next_dst_change",
    "parse_ack",
    "parse_at",
    "parse_duration",
]

_DURATION = re.compile(r"(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,9}", re.ASCII)  # str.isdigit() also admits "²", which int() refuses

MAX_DELAY = timedelta(days=366)
"""The longest ``--ack`` delay: far beyond any policy (a layer waits at most 7 days)."""
EARLIEST_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_AT = datetime(9000, 1, 1, tzinfo=UTC)
"""``--at`` lies in [EARLIEST_AT, LATEST_AT): room for a drill's timers, rotations and local-time display
on either side without leaving the range of :class:`datetime`."""


@dataclass(frozen=True)
class AckPlan:
    """Acknowledge as the first person layer ``layer`` paged, ``delay`` after that layer was paged."""

    layer: int
    delay: timedelta
    text: str | None = field(default=None, compare=False)
    """What was typed (``2:3m``), for messages; None for a plan built in code."""


def parse_duration(text: str) -> timedelta:
    """``90s``, ``3m``, ``1h30m``, ``2m30s``; a bare number is minutes."""
    raw = text.strip().lower()
    if _NUMBER.fullmatch(raw):
        raw += "m"
    m = _DURATION.fullmatch(raw)
    if not raw or m is None or not any(m.groups()):
        raise ValidationError(f"not a duration: {text!r} (use e.g. 90s, 3m, 1h30m)", field="delay")
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    if h * 3600 + mi * 60 + s > MAX_DELAY.total_seconds():
        raise ValidationError(f"duration {text!r} is longer than {MAX_DELAY.days} days", field="delay")
    return timedelta(hours=h, minutes=mi, seconds=s)


def parse_ack(text: str) -> AckPlan:
    """``LAYER:DELAY``, e.g. ``2:3m``: someone paged by layer 2 acknowledges 3 minutes after that page."""
    layer, sep, delay = text.partition(":")
    layer = layer.strip()
    if not sep or not _NUMBER.fullmatch(layer) or int(layer) < 1:
        raise ValidationError(f"--ack must be LAYER:DELAY such as 2:3m or 1:90s, got {text!r}", field="ack")
    return AckPlan(int(layer), parse_duration(delay), text.strip())


def parse_at(text: str, zone: str, now: datetime) -> tuple[datetime, str | None]:
    """When a drill starts, and a note when the wall-clock time is special.

    * ``now``; an ISO 8601 instant with ``Z`` or an offset is taken as is;
    * a wall-clock date and time without an offset (``2026-03-08 02:30`` or ``2026-03-08T02:30``) is read
      in ``zone``. A time the clocks skip (spring forward) or show twice (fall back) is resolved like a
      handoff (docs/TIME_RULES.md rules 2 and 3: the offset in force before the change, i.e. the first
      occurrence) and the note says so;
    * a bare date means midnight in ``zone``;
    * ``spring-forward 02:30``, ``fall-back 01:30`` or ``next-dst 02:30``: that wall-clock time on the
      date of the next such DST change in ``zone`` ("the night the clocks change").

    The forms are :func:`engine.timeparse.parse_local_instant`'s; errors are ``--at`` and its message.
    """
    try:
        read = parse_local_instant(
            text, zone, now=now, words=_AT_WORDS, earliest=EARLIEST_AT, latest=LATEST_AT
        )
    except ValueError as exc:
        raise ValidationError(f"--at {exc}", field="at") from None
    instant, wall = read.instant, read.wall
    if wall is None or read.dst is None:
        return instant, None
    tz = validate_timezone(zone)
    shown = f"{wall:%Y-%m-%d %H:%M}"
    if read.dst == "gap":
        return instant, (
            f"{shown} does not exist in {zone} (the clocks skip it); using "
            f"{instant.astimezone(tz):%H:%M %Z} = {instant:%H:%MZ}, as a handoff at that time would"
        )
    local = instant.astimezone(tz)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return instant, (
        f"{shown} happens twice in {zone}; using the first ({local:%Z}, {instant:%H:%MZ}), "
        f"not the second ({second.astimezone(tz):%Z}, {second:%H:%MZ})"
    )


_AT_WORDS: tuple[Word, ...] = ("now", "spring-forward", "fall-back", "next-dst")


def format_offset(delta: timedelta) -> str:
    """``t+0s``, ``t+45s``, ``t+5m``, ``t+2m30s``, ``t+1h05m``, ``t+1d2h``."""
    secs = int(round(delta.total_seconds()))
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    d, rem = divmod(secs, 86_400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        body = f"{d}d{h}h" if h else f"{d}d"
    elif h:
        body = f"{h}h{m:02d}m"
    elif m:
        body = f"{m}m{s:02d}s" if s else f"{m}m"
    else:
        body = f"{s}s"
    return f"t{sign}{body}"


def format_instant(at: datetime, zone: str, *, year: bool = False) -> str:
    """``Sun 08 Mar 03:30 EDT (07:30Z)``: the wall clock people read, and UTC beside it."""
    tz = validate_timezone(zone)
    local = at.astimezone(tz)
    seconds = f":{local:%S}" if local.second else ""
    day = f"{local:%a %d %b %Y}" if year else f"{local:%a %d %b}"
    utc = at.astimezone(UTC)
    if zone == "UTC":
        return f"{day} {local:%H:%M}{seconds}Z"
    return f"{day} {local:%H:%M}{seconds} {local:%Z} ({utc:%H:%M}{seconds}Z)"
