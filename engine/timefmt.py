"""Timestamps on the wire and in the database: ISO 8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


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


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 instant. It must carry a zone (``Z`` or an offset); the result is UTC.

    Raises ValueError with a readable message otherwise.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("expected an ISO 8601 datetime string")
    raw = text.strip()
    if raw.endswith(("z", "Z")):
        raw = raw[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"not an ISO 8601 datetime: {text!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"datetime needs a timezone (Z or an offset): {text!r}")
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        raise ValueError(f"datetime out of range: {text!r}") from None


def parse_iso_opt(text: str | None) -> datetime | None:
    return None if text is None else parse_iso(text)


def to_epoch_ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
