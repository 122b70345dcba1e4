"""Shift reminders (tables ``shift_reminder_settings`` and ``shift_reminders_sent``) and what computing
them reads: the organisation's schedules and its current members."""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.db import Database


def settings(db: Database, user_id: str) -> sqlite3.Row | None:
    """The person's reminder settings, or None when they never set any."""
    return db.one("SELECT * FROM shift_reminder_settings WHERE user_id = ?", (user_id,))


def save_settings(db: Database, row: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO shift_reminder_settings (user_id, org_id, before_minutes, at_start, at_end, updated_at) "
        "VALUES (:user_id, :org_id, :before_minutes, :at_start, :at_end, :updated_at) "
        "ON CONFLICT (user_id) DO UPDATE SET before_minutes = excluded.before_minutes, "
        "at_start = excluded.at_start, at_end = excluded.at_end, updated_at = excluded.updated_at",
        row,
    )


def people_with_reminders(db: Database, org_id: str) -> list[str]:
    """The active people of the organisation who asked for at least one reminder."""
    return [
        r["user_id"]
        for r in db.all(
            "SELECT s.user_id FROM shift_reminder_settings s JOIN users u ON u.id = s.user_id "
            "WHERE s.org_id = ? AND u.removed_at IS NULL "
            "AND (s.before_minutes IS NOT NULL OR s.at_start != 0 OR s.at_end != 0) ORDER BY s.user_id",
            (org_id,),
        )
    ]


def schedule_ids(db: Database, org_id: str) -> list[str]:
    return [r["id"] for r in db.all("SELECT id FROM schedules WHERE org_id = ? ORDER BY id", (org_id,))]


def member_ids(db: Database, org_id: str) -> frozenset[str]:
    """The organisation's current members (removed people are never reminded)."""
    rows = db.all("SELECT id FROM users WHERE org_id = ? AND removed_at IS NULL", (org_id,))
    return frozenset(r["id"] for r in rows)


def record_sent(db: Database, row: dict[str, Any]) -> bool:
    """Record one reminder; False when that shift's reminder of that kind was already sent (UNIQUE)."""
    cur = db.execute(
        "INSERT OR IGNORE INTO shift_reminders_sent (id, org_id, user_id, schedule_id, kind, shift_start, "
        "shift_end, remind_at, sent_at) VALUES (:id, :org_id, :user_id, :schedule_id, :kind, :shift_start, "
        ":shift_end, :remind_at, :sent_at)",
        row,
    )
    return cur.rowcount > 0


def sent(db: Database, user_id: str, limit: int = 20) -> list[sqlite3.Row]:
    """The person's latest reminders, newest first."""
    return db.all(
        "SELECT * FROM shift_reminders_sent WHERE user_id = ? ORDER BY remind_at DESC, kind DESC LIMIT ?",
        (user_id, limit),
    )
