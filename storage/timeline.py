"""The append-only record of everything that happens to an incident.

Rows are only ever inserted (triggers refuse updates and deletes). ``kind`` is a stable snake_case event
name (``incident_created``, ``layer_paged``, ``page_delivery_attempt``, ``incident_acknowledged``, ...);
``data`` is a JSON object whose keys are camelCase, as on the wire.

Timestamps never run backwards within an incident: the instant is taken inside the write transaction
(:func:`storage.db_clock.write_at`), and an event is never stamped earlier than the latest event already
in that incident's timeline (``max(at, latest)``), should the machine's clock step back (NTP).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from engine.ids import new_id
from engine.timefmt import to_iso
from storage.db import Database


def record(
    db: Database,
    incident_id: str,
    at: datetime,
    kind: str,
    actor: str | None = None,
    **data: Any,
) -> str:
    """Append one event; call it inside the transaction that made the change it describes. Stamped
    ``max(at, the latest event already in the incident's timeline)``. Returns the event id."""
    event_id = new_id("evt", at)
    at_iso = to_iso(at)
    latest = db.scalar("SELECT max(at) FROM timeline WHERE incident_id = ?", (incident_id,))
    db.insert(
        "timeline",
        {
            "id": event_id,
            "incident_id": incident_id,
            "at": at_iso if latest is None or latest <= at_iso else latest,
            "kind": kind,
            "actor": actor,
            "data": json.dumps(data, separators=(",", ":"), sort_keys=True),
        },
    )
    return event_id


EventRow = tuple[str, str, str, str, str | None, str]
"""One event to insert as it is stored: ``(id, incident_id, at, kind, actor, data)`` with ``at`` ISO 8601
and ``data`` JSON text."""


def insert_rows(db: Database, rows: Sequence[EventRow]) -> None:
    """Append many events in one ``executemany``, already stamped (clamp them with :func:`latest_at`)."""
    db.executemany(
        "INSERT INTO timeline (id, incident_id, at, kind, actor, data) VALUES (?, ?, ?, ?, ?, ?)", rows
    )


def count_of_kind(db: Database, incident_id: str, kind: str) -> int:
    """How many events of ``kind`` the incident's timeline holds."""
    return int(
        db.scalar("SELECT count(*) FROM timeline WHERE incident_id = ? AND kind = ?", (incident_id, kind))
        or 0
    )


def latest_at(db: Database, incident_ids: Iterable[str]) -> dict[str, str]:
    """The latest event timestamp (ISO text) of each incident that has one, for clamping a batch.

    Events never run backwards within an incident (see the module docstring), so the latest is the last
    one appended: one seek per incident on ``timeline_incident`` (incident_id, seq), however long its
    timeline is."""
    ids = json.dumps(list(dict.fromkeys(incident_ids)))
    rows = db.all(
        "SELECT t.incident_id, t.at FROM (SELECT value FROM json_each(?)) j JOIN timeline t "
        "ON t.seq = (SELECT max(s.seq) FROM timeline s WHERE s.incident_id = j.value)",
        (ids,),
    )
    return {row["incident_id"]: row["at"] for row in rows}


def events(db: Database, incident_id: str) -> list[dict[str, Any]]:
    """The incident's timeline, oldest first, in wire form."""
    rows = db.all(
        "SELECT id, at, kind, actor, data FROM timeline WHERE incident_id = ? ORDER BY seq", (incident_id,)
    )
    return [
        {"id": r["id"], "at": r["at"], "kind": r["kind"], "actor": r["actor"], "data": json.loads(r["data"])}
        for r in rows
    ]
