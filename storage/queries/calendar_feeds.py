"""Calendar feed tokens (table ``calendar_feeds``): stored as SHA-256 digests, revoked by a timestamp."""

from __future__ import annotations

import sqlite3

from storage.db import Database


def insert_feed(
    db: Database,
    *,
    feed_id: str,
    org_id: str,
    schedule_id: str,
    user_id: str | None,
    token_hash: str,
    created_by: str | None,
    created_at: str,
) -> None:
    db.execute(
        "INSERT INTO calendar_feeds (id, org_id, schedule_id, user_id, token_hash, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (feed_id, org_id, schedule_id, user_id, token_hash, created_by, created_at),
    )


def feed_row(db: Database, feed_id: str) -> sqlite3.Row | None:
    return db.one("SELECT * FROM calendar_feeds WHERE id = ?", (feed_id,))


def active_feed_by_hash(db: Database, token_hash: str) -> sqlite3.Row | None:
    """The live (not revoked) feed whose token hashes to ``token_hash``."""
    return db.one("SELECT * FROM calendar_feeds WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,))


def feed_rows(db: Database, org_id: str, schedule_id: str) -> list[sqlite3.Row]:
    """Every feed of the schedule, revoked ones included, oldest first."""
    return db.all(
        "SELECT * FROM calendar_feeds WHERE org_id = ? AND schedule_id = ? ORDER BY created_at, id",
        (org_id, schedule_id),
    )


def revoke_feeds(db: Database, org_id: str, schedule_id: str, user_id: str | None, at: str) -> int:
    """Revoke the schedule's live feeds of ``user_id`` (None: the whole-schedule feeds); how many."""
    return db.execute(
        "UPDATE calendar_feeds SET revoked_at = ? WHERE org_id = ? AND schedule_id = ? "
        "AND user_id IS ? AND revoked_at IS NULL",
        (at, org_id, schedule_id, user_id),
    ).rowcount
