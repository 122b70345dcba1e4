"""Tests of the pure engine. Small builders shared by the rotation tests live here so tables stay short."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.model import Override, RotationLayer, Schedule
from engine.rotation import parse_handoff_time

NY = "America/New_York"
LON = "Europe/London"
SYD = "Australia/Sydney"
KOL = "Asia/Kolkata"


def z(text: str) -> datetime:
    """``"2026-03-09T13:00Z"`` (seconds optional) as an aware UTC datetime."""
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def zo(text: str | None) -> datetime | None:
    return None if text is None else z(text)


def layer(
    lid: str = "L0",
    *,
    position: int = 0,
    days: int = 7,
    handoff: str = "09:00",
    start: str = "2026-01-01T00:00Z",
    until: str | None = None,
    people: tuple[str, ...] = ("a", "b"),
) -> RotationLayer:
    rtype = {1: "daily", 7: "weekly"}.get(days, "custom")
    return RotationLayer(
        id=lid,
        name=f"layer {lid}",
        position=position,
        rotation_type=rtype,
        rotation_length_days=days,
        handoff_time=parse_handoff_time(handoff),
        effective_from=z(start),
        effective_until=zo(until),
        participant_ids=people,
    )


def override(oid: str, user: str, start: str, end: str) -> Override:
    return Override(id=oid, user_id=user, start=z(start), end=z(end))


def schedule(tz: str, *layers: RotationLayer, overrides: tuple[Override, ...] = ()) -> Schedule:
    return Schedule(id="sched_t", name="test", timezone=tz, layers=layers, overrides=overrides)
