"""Incidents, their status history and updates (tables ``incidents``, ``status_history``,
``incident_updates``, ``escalations``, ``timeline``), and the people they name (``users``).

The live incident table may hold 10,000 open incidents and refreshes whenever the database changes, so its
reads take the few columns it shows in one query; those rows are :class:`sqlite3.Row` with the columns named
in ``_COLUMNS``. The use cases' reads return whole rows (``SELECT *``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from storage.db import Database
from storage.queries import _rows

_COLUMNS = """
SELECT i.id, i.seq, i.title, i.severity, i.status, i.owner_id, i.acknowledged_by, i.created_at, i.is_drill,
       e.state AS esc_state, e.step AS esc_step, e.due_at_ms, e.due_kind, s.snapshot AS policy_snapshot,
       ag.alert_count
FROM incidents i LEFT JOIN escalations e ON e.incident_id = i.id
     LEFT JOIN policy_snapshots s ON s.hash = e.snapshot_hash
     LEFT JOIN alert_groups ag ON ag.incident_id = i.id
"""
# The live table's reads must not grow with the history (100,000 resolved incidents): the open ones are
# three equality seeks of incidents_org_status_created (the CHECK constraint names every status; ``!= 'resolved'``
# would walk the organisation's resolved entries too), and a few ids are primary-key lookups (the unary
# ``+`` keeps the planner off the org_id indexes, which would scan every incident of the organisation).
_OPEN_SQL = _COLUMNS + "WHERE i.org_id = ? AND i.status IN ('investigating', 'identified', 'monitoring')"
_SOME_SQL = _COLUMNS + "WHERE i.id IN (SELECT value FROM json_each(?)) AND +i.org_id = ?"
# The resolved ones newest first: incidents_org_status_created is in that order, so the read stops at the
# limit (history may hold 100,000).
_RESOLVED_SQL = (
    _COLUMNS + "WHERE i.org_id = ? AND i.status = 'resolved' ORDER BY i.created_at DESC, i.id DESC LIMIT ?"
)
# The first screenful of the console's table (its order: severity, then newest first), before the rest loads:
# the ordering reads only the incidents' own columns of the open ones, then joins the few it keeps.
_FIRST_OPEN_SQL = _COLUMNS + (
    "WHERE i.id IN (SELECT id FROM incidents WHERE org_id = ? "
    "AND status IN ('investigating', 'identified', 'monitoring') "
    "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
    "WHEN 'low' THEN 3 ELSE 9 END, created_at DESC, seq DESC LIMIT ?)"
)
_MINE_SQL = _OPEN_SQL + (
    " AND (i.owner_id = ? OR EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.id AND o.user_id = ?))"
)


def timeline_position(db: Database) -> int:
    """The newest timeline sequence number (0 for none): every change to an incident appends there."""
    return int(db.scalar("SELECT coalesce(max(seq), 0) FROM timeline") or 0)


def open_incident_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """Every incident of the organisation that is not resolved, with its escalation columns (any order)."""
    return db.all(_OPEN_SQL, (org_id,))


def first_open_incident_rows(db: Database, org_id: str, limit: int) -> list[sqlite3.Row]:
    """The ``limit`` open incidents that come first by severity (critical first), then newest first
    (``created_at``, then the higher number), with the columns of :func:`open_incident_rows` (any order):
    what the console shows while it loads the rest."""
    return db.all(_FIRST_OPEN_SQL, (org_id, limit))


def resolved_incident_rows(db: Database, org_id: str, limit: int) -> list[sqlite3.Row]:
    """The organisation's ``limit`` newest resolved incidents (by ``created_at``, then id), with the
    escalation columns of :func:`open_incident_rows`."""
    return db.all(_RESOLVED_SQL, (org_id, limit))


def open_incident_rows_of(db: Database, org_id: str, user_id: str) -> list[sqlite3.Row]:
    """The organisation's open incidents that ``user_id`` owns or was paged for (a page queue row names
    them), with the columns of :func:`open_incident_rows` (any order)."""
    return db.all(_MINE_SQL, (org_id, user_id, user_id))


def incident_rows(db: Database, org_id: str, ids: Sequence[str]) -> list[sqlite3.Row]:
    """The rows of ``ids`` within the organisation (resolved ones included; unknown ids are left out)."""
    return db.all(_SOME_SQL, (json.dumps(list(ids)), org_id))


def incidents_changed_since(db: Database, since: int) -> list[str]:
    """Ids of the incidents with timeline events after sequence number ``since`` (any organisation), in
    the order of their first such event.

    A range of the timeline's integer primary key (the monotonic cursor), so it reads only the new
    events however long the history is; ``DISTINCT`` in SQL would make SQLite walk a whole index of the
    timeline instead, so duplicates are dropped here.
    """
    rows = db.all("SELECT incident_id FROM timeline WHERE seq > ? ORDER BY seq", (since,))
    return list(dict.fromkeys(r["incident_id"] for r in rows))


def incident_row(db: Database, org_id: str, incident_id: str) -> sqlite3.Row | None:
    """The ``incidents`` row of ``incident_id`` within the organisation, or None."""
    return db.one("SELECT * FROM incidents WHERE id = ? AND org_id = ?", (incident_id, org_id))


def incident_row_by_seq(db: Database, org_id: str, seq: int) -> sqlite3.Row | None:
    """The organisation's incident with sequential number ``seq`` (``#42``), or None."""
    return db.one("SELECT * FROM incidents WHERE org_id = ? AND seq = ?", (org_id, seq))


def next_incident_seq(db: Database, org_id: str) -> int:
    """The sequential number the organisation's next incident takes (1 for its first)."""
    return int(db.scalar("SELECT coalesce(max(seq), 0) + 1 FROM incidents WHERE org_id = ?", (org_id,)))


UNINDEXED_PAGE_FILTERS = frozenset({"severity"})
"""The filters of :func:`incident_page` that no index holds: with one of them a page may read far more rows
than it answers (a rare severity: the whole history). Every other filter keeps the page one bounded walk of
``incidents_org_created`` or ``incidents_org_status_created`` in the answer's order, stopped at ``limit``
(tests/service/test_history_plans.py checks the plans)."""


def incident_page(
    db: Database,
    org_id: str,
    *,
    limit: int,
    status: str | None = None,
    severity: str | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    created_to_inclusive: bool = True,
    after: tuple[str, str] | None = None,
    open_only: bool = False,
    include_drills: bool = True,
) -> list[sqlite3.Row]:
    """At most ``limit`` ``incidents`` rows of the organisation, newest first (``created_at`` then id,
    descending), matching every filter given.

    ``created_from``/``created_to`` are ISO 8601 instants (``created_to`` exclusive unless
    ``created_to_inclusive``); ``after`` is the ``(created_at, id)`` of the last row of the previous page.

    Each page walks an index in the answer's order and stops at ``limit``: ``incidents_open`` (partial,
    unresolved only) for ``open_only``, ``incidents_org_status_created`` for a ``status``,
    ``incidents_org_created`` otherwise; so neither filter reads the resolved history (migration 0015).
    """
    where = ["org_id = ?"]
    params: list[Any] = [org_id]
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if severity is not None:
        where.append("severity = ?")
        params.append(severity)
    if created_from is not None:
        where.append("created_at >= ?")
        params.append(created_from)
    if created_to is not None:
        where.append("created_at <= ?" if created_to_inclusive else "created_at < ?")
        params.append(created_to)
    if open_only:
        where.append("status != 'resolved'")
    if not include_drills:
        where.append("is_drill = 0")
    if after is not None:
        c_created, c_id = after
        where.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params += [c_created, c_created, c_id]
    return db.all(
        f"SELECT * FROM incidents WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )


def status_history_rows(db: Database, incident_id: str) -> list[sqlite3.Row]:
    """The incident's ``status_history`` rows, oldest first (in insertion order within one instant)."""
    return db.all(
        "SELECT * FROM status_history WHERE incident_id = ? ORDER BY changed_at, rowid", (incident_id,)
    )


def update_row(db: Database, update_id: str) -> sqlite3.Row | None:
    """The ``incident_updates`` row of ``update_id`` (any incident), or None."""
    return db.one("SELECT * FROM incident_updates WHERE id = ?", (update_id,))


def incident_update_row(db: Database, incident_id: str, update_id: str) -> sqlite3.Row | None:
    """The ``incident_updates`` row of ``update_id`` when it belongs to ``incident_id``, or None."""
    return db.one("SELECT * FROM incident_updates WHERE id = ? AND incident_id = ?", (update_id, incident_id))


def update_rows(db: Database, incident_id: str) -> list[sqlite3.Row]:
    """The incident's ``incident_updates`` rows, oldest first (in insertion order within one instant)."""
    return db.all(
        "SELECT * FROM incident_updates WHERE incident_id = ? ORDER BY posted_at, rowid", (incident_id,)
    )


def user_row(db: Database, user_id: str) -> sqlite3.Row | None:
    """The ``users`` row of ``user_id`` (any organisation, removed people included), or None."""
    return db.one("SELECT * FROM users WHERE id = ?", (user_id,))


def incident_head(db: Database, incident_id: str) -> sqlite3.Row | None:
    """What the engine needs of an incident (any organisation): a row with ``id``, ``org_id``, ``title``,
    ``severity``, ``status``, ``escalation_policy_id``; None when there is no such incident."""
    return db.one(
        "SELECT id, org_id, title, severity, status, escalation_policy_id FROM incidents WHERE id = ?",
        (incident_id,),
    )


def insert_incident(db: Database, values: Mapping[str, Any]) -> None:
    """Insert an ``incidents`` row (``values`` by column name)."""
    _rows.insert(db, "incidents", values)


def update_incident(db: Database, incident_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``incidents`` row of ``incident_id``."""
    _rows.update(db, "incidents", incident_id, changes)


def insert_status_change(db: Database, values: Mapping[str, Any]) -> None:
    """Insert a ``status_history`` row (``values`` by column name)."""
    _rows.insert(db, "status_history", values)


def insert_incident_update(db: Database, values: Mapping[str, Any]) -> None:
    """Insert an ``incident_updates`` row (``values`` by column name)."""
    _rows.insert(db, "incident_updates", values)


def update_incident_update(db: Database, update_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``incident_updates`` row of ``update_id``."""
    _rows.update(db, "incident_updates", update_id, changes)


def open_pulled_incident_remote_ids(db: Database, org_id: str) -> list[str]:
    """The remote ids of the organisation's pulled incidents not yet resolved, oldest first."""
    return [
        r["remote_id"]
        for r in db.all(
            "SELECT remote_id FROM incidents WHERE org_id = ? AND origin = 'remote' AND remote_id IS NOT NULL "
            "AND status != 'resolved' ORDER BY created_at",
            (org_id,),
        )
    ]


def recorded_statuses(db: Database, incident_id: str) -> set[str]:
    """The statuses the incident's ``status_history`` holds a row for."""
    return {
        r["status"] for r in db.all("SELECT status FROM status_history WHERE incident_id = ?", (incident_id,))
    }


def set_status_changed_at(db: Database, incident_id: str, status: str, changed_at: str) -> None:
    """Move the incident's ``status_history`` row(s) of ``status`` to ``changed_at`` (ISO 8601)."""
    db.execute(
        "UPDATE status_history SET changed_at = ? WHERE incident_id = ? AND status = ?",
        (changed_at, incident_id, status),
    )


def alert_groups_seen_since(db: Database, org_id: str, since: str) -> tuple[list[str], str]:
    """Incidents of the organisation whose alert group (table ``alert_groups``) saw an alert at or after
    ``since`` (ISO 8601; ``""`` for all), and the latest such instant (``since`` when none): how the live
    table notices an alert repeating on an incident, which adds no timeline event. At-or-after, so a write
    stamped with the same millisecond as the last one seen is not missed (a few rows are read again)."""
    rows = db.all(
        "SELECT incident_id, last_seen FROM alert_groups WHERE org_id = ? AND last_seen >= ?", (org_id, since)
    )
    mark = max((str(r["last_seen"]) for r in rows), default=since)
    return [r["incident_id"] for r in rows], mark


def alert_groups_mark(db: Database, org_id: str) -> str:
    """The latest instant an alert group of the organisation saw an alert (``""`` for none)."""
    return str(db.scalar("SELECT coalesce(max(last_seen), '') FROM alert_groups WHERE org_id = ?", (org_id,)))
