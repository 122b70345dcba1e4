"""The append-only record of everything that happens to an incident.

Rows are only ever inserted (triggers refuse updates and deletes). ``kind`` is a stable snake_case event
name (``incident_created``, ``layer_paged``, ``page_delivery_attempt``, ``incident_acknowledged``, ...);
``data`` is a JSON object whose keys are camelCase, as on the wire.
"""

from __future__ import annotations

import json
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
    """Append one event; call it inside the transaction that made the change it describes."""
    event_id = new_id("evt", at)
    db.insert(
        "timeline",
        {
            "id": event_id,
            "incident_id": incident_id,
            "at": to_iso(at),
            "kind": kind,
            "actor": actor,
            "data": json.dumps(data, separators=(",", ":"), sort_keys=True),
        },
    )
    return event_id


def events(db: Database, incident_id: str) -> list[dict[str, Any]]:
    """The incident's timeline, oldest first, in wire form."""
    rows = db.all(
        "SELECT id, at, kind, actor, data FROM timeline WHERE incident_id = ? ORDER BY seq", (incident_id,)
    )
    return [
        {"id": r["id"], "at": r["at"], "kind": r["kind"], "actor": r["actor"], "data": json.loads(r["data"])}
        for r in rows
    ]
