"""Schedules, their rotation layers and overrides (tables ``schedules``, ``rotation_layers``, ``overrides``).

Rotation layer positions are 0-based and dense; times are ISO 8601 text."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import NotFound
from engine.model import Override, RotationLayer, Schedule
from engine.timefmt import parse_iso
from storage.db import Database
from storage.queries import _rows


def load_schedule_model(db: Database, schedule_id: str) -> Schedule:
    """The pure-engine view of a schedule (any org: callers have already checked scope)."""
    from engine import rotation  # the rotation rules load with the first schedule read, not at import

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


# -- schedules -------------------------------------------------------------------------------------

# Through ``escalations_live`` (partial: state != 'stopped'), so stopped history is never read.
_RUNNING_ESCALATIONS_SQL = """
SELECT i.id, i.seq FROM escalations e JOIN incidents i ON i.id = e.incident_id
     JOIN policy_snapshots s ON s.hash = e.snapshot_hash
WHERE e.state != 'stopped' AND i.status != 'resolved'
  AND EXISTS (SELECT 1 FROM json_each(s.snapshot, '$.layers') l
              WHERE json_extract(l.value, '$.target.scheduleId') = ?)
ORDER BY i.seq
"""


def schedule_row(db: Database, org_id: str, schedule_id: str) -> sqlite3.Row | None:
    """The whole ``schedules`` row of ``schedule_id`` within the organisation, or None."""
    return db.one("SELECT * FROM schedules WHERE id = ? AND org_id = ?", (schedule_id, org_id))


def schedule_name_taken(db: Database, org_id: str, name: str, exclude_id: str | None = None) -> bool:
    """Whether another schedule of the organisation (any but ``exclude_id``) is named exactly ``name``."""
    return (
        db.one(
            "SELECT id FROM schedules WHERE org_id = ? AND name = ? AND id IS NOT ?",
            (org_id, name, exclude_id),
        )
        is not None
    )


def insert_schedule(db: Database, values: Mapping[str, Any]) -> None:
    """Insert a ``schedules`` row (``values`` by column name)."""
    _rows.insert(db, "schedules", values)


def update_schedule(db: Database, schedule_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``schedules`` row of ``schedule_id``."""
    _rows.update(db, "schedules", schedule_id, changes)


def schedule_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The organisation's whole ``schedules`` rows, by name then id."""
    return db.all("SELECT * FROM schedules WHERE org_id = ? ORDER BY name, id", (org_id,))


def schedule_row_by_id_or_name(db: Database, org_id: str, ident: str) -> sqlite3.Row | None:
    """The organisation's schedule whose id or name is ``ident``, or None."""
    return db.one("SELECT * FROM schedules WHERE org_id = ? AND (id = ? OR name = ?)", (org_id, ident, ident))


def policies_targeting(db: Database, schedule_id: str) -> list[sqlite3.Row]:
    """The policies with a layer targeting the schedule: rows with ``id``, ``name``, by name then id."""
    return db.all(
        "SELECT DISTINCT p.id, p.name FROM escalation_layers l JOIN policies p ON p.id = l.policy_id "
        "WHERE l.schedule_id = ? ORDER BY p.name, p.id",
        (schedule_id,),
    )


def incidents_escalating_to(db: Database, schedule_id: str) -> list[sqlite3.Row]:
    """Open incidents whose running escalation's policy snapshot targets the schedule in some layer:
    rows with ``id``, ``seq``, by ``seq``."""
    return db.all(_RUNNING_ESCALATIONS_SQL, (schedule_id,))


def delete_schedule(db: Database, schedule_id: str) -> None:
    """Delete the ``schedules`` row (its layers and overrides go with it by foreign-key cascade)."""
    db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))


# -- rotation layers -------------------------------------------------------------------------------


def rotation_layer_row(db: Database, org_id: str, schedule_id: str, layer_id: str) -> sqlite3.Row | None:
    """The whole ``rotation_layers`` row of ``layer_id`` on the schedule within the organisation, or None."""
    return db.one(
        "SELECT * FROM rotation_layers WHERE id = ? AND schedule_id = ? AND org_id = ?",
        (layer_id, schedule_id, org_id),
    )


def rotation_layer_name_taken(
    db: Database, schedule_id: str, name: str, exclude_id: str | None = None
) -> bool:
    """Whether another rotation layer of the schedule (any but ``exclude_id``) is named exactly ``name``."""
    return (
        db.one(
            "SELECT 1 FROM rotation_layers WHERE schedule_id = ? AND name = ? AND id IS NOT ?",
            (schedule_id, name, exclude_id),
        )
        is not None
    )


def next_rotation_position(db: Database, schedule_id: str) -> int:
    """The position a new rotation layer of the schedule takes (0 for its first)."""
    return int(
        db.scalar(
            "SELECT coalesce(max(position) + 1, 0) FROM rotation_layers WHERE schedule_id = ?", (schedule_id,)
        )
    )


def insert_rotation_layer(db: Database, values: Mapping[str, Any]) -> None:
    """Insert a ``rotation_layers`` row (``values`` by column name)."""
    _rows.insert(db, "rotation_layers", values)


def update_rotation_layer(db: Database, layer_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``rotation_layers`` row of ``layer_id``."""
    _rows.update(db, "rotation_layers", layer_id, changes)


def delete_rotation_layer(db: Database, layer_id: str) -> None:
    """Delete one ``rotation_layers`` row (the caller renumbers the rest)."""
    db.execute("DELETE FROM rotation_layers WHERE id = ?", (layer_id,))


def rotation_layer_ids(db: Database, schedule_id: str) -> list[str]:
    """The schedule's rotation layer ids by position (ties by id)."""
    return [
        r["id"]
        for r in db.all(
            "SELECT id FROM rotation_layers WHERE schedule_id = ? ORDER BY position, id", (schedule_id,)
        )
    ]


def rotation_layer_rows(db: Database, org_id: str, schedule_id: str) -> list[sqlite3.Row]:
    """The schedule's whole ``rotation_layers`` rows within the organisation, by position."""
    return db.all(
        "SELECT * FROM rotation_layers WHERE schedule_id = ? AND org_id = ? ORDER BY position",
        (schedule_id, org_id),
    )


def renumber_rotation_layers(db: Database, layer_ids: Sequence[str], *, now: str) -> None:
    """Give the rotation layers ``layer_ids`` positions 0, 1, … in list order, stamped ``now`` (ISO 8601)."""
    _rows.renumber_positions(db, "rotation_layers", layer_ids, start=0, now=now)


# -- overrides -------------------------------------------------------------------------------------


def insert_override(db: Database, values: Mapping[str, Any]) -> None:
    """Insert an ``overrides`` row (``values`` by column name; ``start_at``/``end_at`` ISO 8601)."""
    _rows.insert(db, "overrides", values)


def override_row(db: Database, override_id: str) -> sqlite3.Row | None:
    """The whole ``overrides`` row of ``override_id``, or None."""
    return db.one("SELECT * FROM overrides WHERE id = ?", (override_id,))


def override_rows(db: Database, org_id: str, schedule_id: str) -> list[sqlite3.Row]:
    """The schedule's whole ``overrides`` rows within the organisation, by start then id."""
    return db.all(
        "SELECT * FROM overrides WHERE schedule_id = ? AND org_id = ? ORDER BY start_at, id",
        (schedule_id, org_id),
    )


def delete_override(db: Database, org_id: str, schedule_id: str, override_id: str) -> bool:
    """Delete the schedule's override ``override_id``; False when the schedule has no such override."""
    return bool(
        db.execute(
            "DELETE FROM overrides WHERE id = ? AND schedule_id = ? AND org_id = ?",
            (override_id, schedule_id, org_id),
        ).rowcount
    )
