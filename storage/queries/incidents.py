"""Incidents with their escalation position, as the live incident table reads them (tables ``incidents``,
``escalations``, ``timeline``).

The table may hold 10,000 open incidents and refreshes whenever the database changes, so these read the few
columns it shows in one query; rows are :class:`sqlite3.Row` with the columns named in ``_COLUMNS``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from storage.db import Database

_COLUMNS = """
SELECT i.id, i.seq, i.title, i.severity, i.status, i.owner_id, i.acknowledged_by, i.created_at, i.is_drill,
       e.state AS esc_state, e.step AS esc_step, e.due_at_ms, e.due_kind, e.policy_snapshot
FROM incidents i LEFT JOIN escalations e ON e.incident_id = i.id
"""
_OPEN_SQL = _COLUMNS + "WHERE i.org_id = ? AND i.status != 'resolved'"
_SOME_SQL = _COLUMNS + "WHERE i.org_id = ? AND i.id IN (SELECT value FROM json_each(?))"


def timeline_position(db: Database) -> int:
    """The newest timeline sequence number (0 for none): every change to an incident appends there."""
    return int(db.scalar("SELECT coalesce(max(seq), 0) FROM timeline") or 0)


def open_incident_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """Every incident of the organisation that is not resolved, with its escalation columns (any order)."""
    return db.all(_OPEN_SQL, (org_id,))


def incident_rows(db: Database, org_id: str, ids: Sequence[str]) -> list[sqlite3.Row]:
    """The rows of ``ids`` within the organisation (resolved ones included; unknown ids are left out)."""
    return db.all(_SOME_SQL, (org_id, json.dumps(list(ids))))


def incidents_changed_since(db: Database, since: int) -> list[str]:
    """Ids of the incidents with timeline events after sequence number ``since`` (any organisation)."""
    return [
        r["incident_id"] for r in db.all("SELECT DISTINCT incident_id FROM timeline WHERE seq > ?", (since,))
    ]
