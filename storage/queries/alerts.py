"""Alerts and their per-incident aggregate (tables ``alerts``, ``alert_groups``).

An alert or a group is *open* while its incident is not resolved; the lookups below join ``incidents`` for
that, so an incident resolved by a person needs no bookkeeping here. ``alert_groups`` holds what the
incident list needs (alert count, alerts still firing, first and last seen) so the list never reads the
growing ``alerts`` table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from storage.db import Database
from storage.queries import _rows


def open_alert(db: Database, integration_id: str, dedup_key: str) -> sqlite3.Row | None:
    """The alert with ``dedup_key`` on an open incident of the integration, or None.

    Only the newest alert of a key that opened or joined an incident can be on an open one: a new alert
    row is written only when no alert of its key is on an open incident (:func:`engine.alerts.decide`),
    and a resolved incident stays resolved. So this reads that one alert (``alerts_open_key``, newest by
    rowid) and checks its incident: one seek, however many times the key fired before."""
    return db.one(
        "SELECT a.* FROM alerts a JOIN incidents i ON i.id = a.incident_id "
        "WHERE a.rowid = (SELECT rowid FROM alerts WHERE integration_id = ? AND dedup_key = ? "
        "AND incident_id IS NOT NULL ORDER BY rowid DESC LIMIT 1) AND i.status != 'resolved'",
        (integration_id, dedup_key),
    )


def open_group(db: Database, integration_id: str, group_key: str) -> sqlite3.Row | None:
    """The open incident's ``alert_groups`` row for ``group_key`` of the integration, or None.

    As for :func:`open_alert`, only the newest group of a key can be open (a group is written only when
    its key has no open one), so this reads that group (``alert_groups_key``, newest by rowid) and checks
    its incident."""
    return db.one(
        "SELECT g.* FROM alert_groups g JOIN incidents i ON i.id = g.incident_id "
        "WHERE g.rowid = (SELECT rowid FROM alert_groups WHERE integration_id = ? AND group_key = ? "
        "ORDER BY rowid DESC LIMIT 1) AND i.status != 'resolved'",
        (integration_id, group_key),
    )


def group(db: Database, incident_id: str) -> sqlite3.Row | None:
    """The ``alert_groups`` row of ``incident_id`` (None: the incident was not opened by alerts)."""
    return db.one("SELECT * FROM alert_groups WHERE incident_id = ?", (incident_id,))


def groups(db: Database, org_id: str, incident_ids: Sequence[str]) -> list[sqlite3.Row]:
    """The ``alert_groups`` rows of those of ``incident_ids`` in the organisation that have one."""
    return db.all(
        "SELECT * FROM alert_groups WHERE org_id = ? AND incident_id IN (SELECT value FROM json_each(?))",
        (org_id, json.dumps(list(incident_ids))),
    )


def add_to_group(db: Database, incident_id: str, last_seen: str, *, received: int, firing_delta: int) -> None:
    """Count ``received`` more alert notifications on the group and move its firing count by ``firing_delta``."""
    db.execute(
        "UPDATE alert_groups SET alert_count = alert_count + ?, firing_count = max(0, firing_count + ?), "
        "last_seen = max(last_seen, ?) WHERE incident_id = ?",
        (received, firing_delta, last_seen, incident_id),
    )


def hold(db: Database, incident_id: str, window_id: str | None) -> None:
    """Record which maintenance window holds the incident's pages (None: none does)."""
    db.execute("UPDATE alert_groups SET held_by = ? WHERE incident_id = ?", (window_id, incident_id))


def held_by(db: Database, window_id: str) -> list[sqlite3.Row]:
    """The groups held by ``window_id`` whose incident is open, with the incident's ``acknowledged_at``."""
    return db.all(
        "SELECT g.*, i.acknowledged_at FROM alert_groups g JOIN incidents i ON i.id = g.incident_id "
        "WHERE g.held_by = ? AND i.status != 'resolved'",
        (window_id,),
    )


def touch_alert(db: Database, alert_id: str, changes: dict[str, Any], *, count: int = 0) -> None:
    """Apply ``changes`` (column → value) to the alert and add ``count`` to its notification count."""
    sets = ", ".join(f"{column} = ?" for column in changes)
    db.execute(
        f"UPDATE alerts SET {sets}{', ' if sets else ''}count = count + ? WHERE id = ?",
        (*changes.values(), count, alert_id),
    )


def incident_alerts(db: Database, incident_id: str, limit: int) -> list[sqlite3.Row]:
    """The incident's alerts, most recently seen first, at most ``limit``."""
    return db.all(
        "SELECT * FROM alerts WHERE incident_id = ? ORDER BY last_seen DESC, id LIMIT ?", (incident_id, limit)
    )


def alert_row(db: Database, org_id: str, alert_id: str) -> sqlite3.Row | None:
    """The organisation's alert ``alert_id``, or None."""
    return db.one("SELECT * FROM alerts WHERE id = ? AND org_id = ?", (alert_id, org_id))


def integration_alerts(
    db: Database, org_id: str, integration_id: str | None, limit: int
) -> list[sqlite3.Row]:
    """The organisation's alerts (of one integration when given), most recently seen first."""
    if integration_id is None:
        return db.all(
            "SELECT * FROM alerts WHERE org_id = ? ORDER BY last_seen DESC, id LIMIT ?", (org_id, limit)
        )
    return db.all(
        "SELECT * FROM alerts WHERE org_id = ? AND integration_id = ? ORDER BY last_seen DESC, id LIMIT ?",
        (org_id, integration_id, limit),
    )


def alert_counts(db: Database, integration_id: str) -> sqlite3.Row:
    """``total`` alerts and ``firing`` ones on open incidents of the integration."""
    row = db.one(
        "SELECT count(*) AS total, "
        "coalesce(sum(CASE WHEN a.status = 'firing' AND i.status IS NOT NULL AND i.status != 'resolved' "
        "THEN 1 ELSE 0 END), 0) AS firing "
        "FROM alerts a LEFT JOIN incidents i ON i.id = a.incident_id WHERE a.integration_id = ?",
        (integration_id,),
    )
    assert row is not None
    return row


def insert_alert(db: Database, values: dict[str, Any]) -> None:
    """Insert an ``alerts`` row (``values`` by column name)."""
    _rows.insert(db, "alerts", values)


def insert_alert_group(db: Database, values: dict[str, Any]) -> None:
    """Insert an ``alert_groups`` row (``values`` by column name): an incident's alert aggregate."""
    _rows.insert(db, "alert_groups", values)
