"""Read models for the console's hot paths: one read transaction per refresh, no writes ever.

The live incident table may hold 10,000 open incidents and refreshes whenever the database changes, so it
reads the few columns it shows in one query instead of calling ``get_incident`` per row. Rows are mappings
(``row["column"]``) with the columns ``id, seq, title, severity, status, owner_id, acknowledged_by,
created_at, is_drill, esc_state, esc_step, due_at_ms, due_kind, policy_snapshot, alert_count`` (``alert_count``:
the alerts received on an incident alerts opened, NULL for the others); what the console shows is
built from them in ``console/tui/readmodel.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.db import Database
from storage.queries import incidents as incident_queries


def open_incidents(db: Database, org_id: str) -> tuple[list[Any], int]:
    """Every open incident of the organisation with its escalation columns, and the timeline position
    (an int) the read is consistent with: one read transaction."""
    with db.read():
        position = incident_queries.timeline_position(db)
        return incident_queries.open_incident_rows(db, org_id), position


def first_open_incidents(db: Database, org_id: str, limit: int) -> tuple[list[Any], int]:
    """The ``limit`` open incidents that come first by severity, then newest first (the console's first
    screenful), and the timeline position the read is consistent with: one read transaction."""
    with db.read():
        position = incident_queries.timeline_position(db)
        return incident_queries.first_open_incident_rows(db, org_id, limit), position


def resolved_incidents(db: Database, org_id: str, limit: int) -> list[Any]:
    """The ``limit`` newest resolved incidents of the organisation (newest first): the console's history."""
    with db.read():
        return incident_queries.resolved_incident_rows(db, org_id, limit)


def my_open_incidents(db: Database, org_id: str, user_id: str) -> list[Any]:
    """Open incidents ``user_id`` owns or was paged for: the "my on-call" view's pages."""
    with db.read():
        return incident_queries.open_incident_rows_of(db, org_id, user_id)


def some_incidents(db: Database, org_id: str, ids: Sequence[str]) -> list[Any]:
    """The rows of ``ids`` (resolved ones included): how a drill's scratch copy is read."""
    with db.read():
        return incident_queries.incident_rows(db, org_id, ids)


def changed_incidents(db: Database, org_id: str, since: int) -> tuple[list[str], list[Any], int]:
    """Incidents with timeline events after position ``since``: their ids (in any organisation), the rows
    of those in ``org_id``, and the new timeline position; one read transaction.

    The live table's hot path: a change touches a handful of incidents, so this reads a handful of rows
    however many incidents are open.
    """
    with db.read():
        ids = incident_queries.incidents_changed_since(db, since)
        position = incident_queries.timeline_position(db)
        if not ids:
            return [], [], position
        return ids, incident_queries.incident_rows(db, org_id, ids), position


def alerts_mark(db: Database, org_id: str) -> str:
    """Where :func:`changed_alert_groups` starts: the latest instant an alert group of the organisation
    saw an alert (ISO 8601, ``""`` for none). Read it before a full read of the table, never after."""
    with db.read():
        return incident_queries.alert_groups_mark(db, org_id)


def changed_alert_groups(db: Database, org_id: str, since: str) -> tuple[list[Any], str]:
    """The rows (as :func:`some_incidents`) of the incidents whose alert count may have moved at or after
    ``since`` (a repeated alert adds to its incident's count without a timeline event), and the next
    mark; one read transaction."""
    with db.read():
        ids, mark = incident_queries.alert_groups_seen_since(db, org_id, since)
        return (incident_queries.incident_rows(db, org_id, ids) if ids else []), mark
