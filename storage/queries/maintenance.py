"""Maintenance windows (table ``maintenance_windows``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.db import Database
from storage.queries import _rows


def window(db: Database, org_id: str, window_id: str) -> sqlite3.Row | None:
    """The organisation's window ``window_id``, or None."""
    return db.one("SELECT * FROM maintenance_windows WHERE id = ? AND org_id = ?", (window_id, org_id))


def not_ended(db: Database, org_id: str, at: str) -> list[sqlite3.Row]:
    """The organisation's windows that end after ``at`` (ISO text): active or scheduled, by start."""
    return db.all(
        "SELECT * FROM maintenance_windows WHERE org_id = ? AND ends_at > ? ORDER BY starts_at, id",
        (org_id, at),
    )


def every(db: Database, org_id: str) -> list[sqlite3.Row]:
    """All the organisation's windows, ended ones included, by start."""
    return db.all("SELECT * FROM maintenance_windows WHERE org_id = ? ORDER BY starts_at, id", (org_id,))


def end_now(db: Database, window_id: str, at: str) -> None:
    """Bring the window's end forward to ``at`` (ISO text), marking it ended early."""
    db.execute("UPDATE maintenance_windows SET ends_at = ?, ended_early = 1 WHERE id = ?", (at, window_id))


def insert_window(db: Database, values: dict[str, Any]) -> None:
    """Insert a ``maintenance_windows`` row (``values`` by column name)."""
    _rows.insert(db, "maintenance_windows", values)
