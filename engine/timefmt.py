"""Timestamps on the wire and in the database: ISO 8601 UTC with milliseconds and ``Z``.

Reading them back is :func:`engine.timeparse.parse_iso` (re-exported here), beside every other parser of
times.
"""

from __future__ import annotations

from datetime import UTC, datetime

from engine.timeparse import parse_iso

__all__ = ["from_epoch_ms", "parse_iso", "parse_iso_opt", "to_epoch_ms", "to_iso", "to_iso_opt"]


def to_iso(dt: datetime) -> str:
    """``2026-04-07T10:00:00.000Z``. Naive datetimes are refused: they are always a bug here."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    dt = dt.astimezone(UTC)
    # Not strftime: glibc's %Y does not zero-pad years before 1000 ("145-03-10"), which breaks both the
    # format and the text ordering the database relies on.
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}."
        f"{dt.microsecond // 1000:03d}Z"
    )


def to_iso_opt(dt: datetime | None) -> str | None:
    return None if dt is None else to_iso(dt)


def parse_iso_opt(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)


def to_epoch_ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
