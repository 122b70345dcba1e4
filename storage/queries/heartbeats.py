"""Heartbeat monitors (table ``heartbeats``): every statement that touches the table.

Rows are :class:`sqlite3.Row` with the table's columns (``SELECT *``). The due time of each heartbeat is
not a column: it is the heartbeat's row in ``timers`` (kind ``heartbeat``, :mod:`storage.queries.timers`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.db import Database


def insert(db: Database, row: dict[str, Any]) -> None:
    """Insert a heartbeat; ``row`` names every column without a default."""
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO heartbeats ({columns}) VALUES ({marks})", tuple(row.values()))


def heartbeat_row(db: Database, org_id: str, heartbeat_id: str) -> sqlite3.Row | None:
    """The organisation's heartbeat ``heartbeat_id``, or None."""
    return db.one("SELECT * FROM heartbeats WHERE id = ? AND org_id = ?", (heartbeat_id, org_id))


def heartbeat_by_name(db: Database, org_id: str, name: str) -> sqlite3.Row | None:
    """The organisation's heartbeat called ``name`` (exact), or None."""
    return db.one("SELECT * FROM heartbeats WHERE org_id = ? AND name = ?", (org_id, name))


def heartbeat_by_id(db: Database, heartbeat_id: str) -> sqlite3.Row | None:
    """The heartbeat ``heartbeat_id`` in any organisation (the engine fires timers for all), or None."""
    return db.one("SELECT * FROM heartbeats WHERE id = ?", (heartbeat_id,))


def heartbeat_by_token_hash(db: Database, token_hash: str) -> sqlite3.Row | None:
    """The heartbeat whose ping token hashes to ``token_hash`` (any organisation), or None."""
    return db.one("SELECT * FROM heartbeats WHERE token_hash = ?", (token_hash,))


def heartbeat_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The organisation's heartbeats, by name."""
    return db.all("SELECT * FROM heartbeats WHERE org_id = ? ORDER BY name, id", (org_id,))


def down_count(db: Database, org_id: str) -> int:
    """How many of the organisation's heartbeats are down (a missed interval opened an incident)."""
    return int(
        db.scalar("SELECT count(*) FROM heartbeats WHERE org_id = ? AND incident_id IS NOT NULL", (org_id,))
    )


def update(db: Database, heartbeat_id: str, changes: dict[str, Any]) -> None:
    """Set the columns of ``changes`` on the heartbeat (keys are column names from this module's callers)."""
    sets = ", ".join(f"{column} = ?" for column in changes)
    db.execute(f"UPDATE heartbeats SET {sets} WHERE id = ?", (*changes.values(), heartbeat_id))


def record_ping(db: Database, heartbeat_id: str, at: str) -> None:
    """Note a ping at ``at`` (ISO 8601): the latest ping, one more in the count, no open incident."""
    db.execute(
        "UPDATE heartbeats SET last_ping_at = ?, ping_count = ping_count + 1, incident_id = NULL, "
        "updated_at = ? WHERE id = ?",
        (at, at, heartbeat_id),
    )


def delete(db: Database, heartbeat_id: str) -> None:
    """Delete the heartbeat row (its timer is the caller's to disarm)."""
    db.execute("DELETE FROM heartbeats WHERE id = ?", (heartbeat_id,))


def policy_name(db: Database, org_id: str, policy_id: str) -> str | None:
    """The name of the organisation's escalation policy ``policy_id``, or None when there is none."""
    value = db.scalar("SELECT name FROM policies WHERE id = ? AND org_id = ?", (policy_id, org_id))
    return None if value is None else str(value)


def incident_status(db: Database, incident_id: str) -> str | None:
    """The status of the incident ``incident_id`` (any organisation), or None when there is none."""
    value = db.scalar("SELECT status FROM incidents WHERE id = ?", (incident_id,))
    return None if value is None else str(value)
