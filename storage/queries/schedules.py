"""Schedules, their rotation layers and overrides (tables ``schedules``, ``rotation_layers``, ``overrides``)."""

from __future__ import annotations

import json

from engine import rotation
from engine.errors import NotFound
from engine.model import Override, RotationLayer, Schedule
from engine.timefmt import parse_iso
from storage.db import Database


def load_schedule_model(db: Database, schedule_id: str) -> Schedule:
    """The pure-engine view of a schedule (any org: callers have already checked scope)."""
    row = db.one("SELECT * FROM schedules WHERE id = ?", (schedule_id,))
    if row is None:
        raise NotFound("schedule", schedule_id)
    layers = tuple(
        RotationLayer(
            id=r["id"],
            name=r["name"],
            position=r["position"],
            rotation_type=r["rotation_type"],
            rotation_length_days=r["rotation_length_days"],
            handoff_time=rotation.parse_handoff_time(r["handoff_time"]),
            effective_from=parse_iso(r["effective_from"]),
            effective_until=parse_iso(r["effective_until"]) if r["effective_until"] else None,
            participant_ids=tuple(json.loads(r["participant_ids"])),
        )
        for r in db.all(
            "SELECT * FROM rotation_layers WHERE schedule_id = ? ORDER BY position", (schedule_id,)
        )
    )
    overrides = tuple(
        Override(id=r["id"], user_id=r["user_id"], start=parse_iso(r["start_at"]), end=parse_iso(r["end_at"]))
        for r in db.all("SELECT * FROM overrides WHERE schedule_id = ?", (schedule_id,))
    )
    return Schedule(
        id=row["id"], name=row["name"], timezone=row["timezone"], layers=layers, overrides=overrides
    )


def schedule_timezone(db: Database, schedule_id: str) -> str | None:
    """The IANA time zone of the schedule (any organisation), or None when there is no such schedule."""
    row = db.one("SELECT timezone FROM schedules WHERE id = ?", (schedule_id,))
    return None if row is None else str(row["timezone"])


def schedule_names(db: Database, org_id: str) -> dict[str, str]:
    """The organisation's schedule names by schedule id."""
    return {r["id"]: r["name"] for r in db.all("SELECT id, name FROM schedules WHERE org_id = ?", (org_id,))}


def schedule_ids(db: Database, org_id: str) -> list[str]:
    """The ids of the organisation's schedules (any order)."""
    return [r["id"] for r in db.all("SELECT id FROM schedules WHERE org_id = ?", (org_id,))]
