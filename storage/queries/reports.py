"""The reads of a report (engine/service/reports.py): the incidents opened in a period and their timeline
events, each read through an index on time so a report never scans more than its window.

* incidents: ``incidents_org_created`` (``org_id, created_at``), drills left out;
* timeline events: those of the incidents opened in the window (found by that index), each incident's
  through ``timeline_incident``, stamped before the window's end and of the kinds asked for; so the
  history before the window is never read, however long it is (tests/cli/test_report.py checks the
  plans);
* the policy snapshot each escalation ran on, and the schedules' zones (to read night pages on the paged
  person's clock).

Timestamps are ISO 8601 text (``…Z``), compared as text (they sort as text).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from storage.db import Database

OPENED_SQL = (
    "SELECT id, seq, severity, escalation_policy_id, created_at FROM incidents "
    "WHERE org_id = ? AND created_at >= ? AND created_at < ? AND is_drill = 0 ORDER BY created_at, id"
)
EVENTS_SQL = (
    "SELECT t.incident_id, t.at, t.kind, t.data FROM timeline t JOIN incidents i ON i.id = t.incident_id "
    "WHERE t.at >= ? AND t.at < ? AND t.kind IN (SELECT value FROM json_each(?)) "
    "AND i.org_id = ? AND i.created_at >= ? AND i.is_drill = 0 ORDER BY t.at, t.seq"
)
SNAPSHOTS_SQL = (
    "SELECT e.incident_id, s.snapshot AS policy_snapshot FROM incidents i "
    "JOIN escalations e ON e.incident_id = i.id JOIN policy_snapshots s ON s.hash = e.snapshot_hash "
    "WHERE i.org_id = ? AND i.created_at >= ? AND i.created_at < ? AND i.is_drill = 0"
)
ZONES_SQL = "SELECT id, timezone FROM schedules WHERE org_id = ?"


def opened_incidents(db: Database, org_id: str, start: str, end: str) -> list[sqlite3.Row]:
    """The incidents opened in ``[start, end)`` (ISO text), drills left out: ``id, seq, severity,
    escalation_policy_id, created_at``, oldest first."""
    return db.all(OPENED_SQL, (org_id, start, end))


def window_events(db: Database, org_id: str, start: str, end: str, kinds: Sequence[str]) -> list[sqlite3.Row]:
    """Timeline events of ``kinds`` stamped in ``[start, end)`` of the incidents opened in that window:
    ``incident_id, at, kind, data`` (JSON text), in time order."""
    return db.all(EVENTS_SQL, (start, end, json.dumps(list(kinds)), org_id, start))


def escalation_snapshots(db: Database, org_id: str, start: str, end: str) -> list[sqlite3.Row]:
    """``incident_id, policy_snapshot`` (JSON text) of the incidents opened in ``[start, end)`` that were
    escalated."""
    return db.all(SNAPSHOTS_SQL, (org_id, start, end))


def schedule_zones(db: Database, org_id: str) -> dict[str, str]:
    """Each schedule's IANA zone, by schedule id."""
    return {r["id"]: r["timezone"] for r in db.all(ZONES_SQL, (org_id,))}
