"""The notices queue: messages to people that belong to no incident, such as shift reminders (tables
``notices`` and ``notice_events``, migration 0014).

Rows are written in the engine's transaction that decided to send them (:mod:`engine.runtime.notices`)
and delivered afterwards by the page queue's delivery loop (:mod:`engine.runtime.delivery`), with the same
statuses and columns as ``outbox``. Times: ``next_attempt_ms`` and ``lease_until_ms`` are epoch
milliseconds of the database's clock; ``created_at``/``sent_at``/``at`` ISO 8601 text.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from storage.db import Database

NoticeRow = tuple[Any, ...]
"""One row to insert: ``(idem_key, org_id, user_id, kind, channel, contact_id, payload, status,
attempts, next_attempt_ms, created_at, sent_at)``."""

_INSERT = (
    "INSERT OR IGNORE INTO notices (idem_key, org_id, user_id, kind, channel, contact_id, payload, status, "
    "attempts, next_attempt_ms, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# The claim's rows have the page queue's shape where delivery reads it (no incident, no layer), and
# ``is_notice`` (1) says which queue they came from.
_SELECT = (
    "SELECT n.*, 1 AS is_notice, NULL AS incident_id, NULL AS layer_position, c.address, c.secret, c.address_set_via, "
    "c.address_sealed FROM notices n LEFT JOIN contact_methods c ON c.id = n.contact_id "
)


def insert(db: Database, row: NoticeRow) -> int | None:
    """Insert one notice unless its idempotency key is already queued; its ``seq``, or None if it was."""
    seq = db.scalar(_INSERT + " RETURNING seq", row)
    return None if seq is None else int(seq)


def due_rows(db: Database, now_ms: int, limit: int) -> list[sqlite3.Row]:
    """At most ``limit`` ``pending`` notices due at ``now_ms`` (epoch ms), oldest due first, each with its
    contact method's ``address``, ``secret``, ``address_set_via``, ``address_sealed`` (NULL once deleted)
    and NULL ``incident_id`` and ``layer_position``."""
    return db.all(
        _SELECT + "WHERE n.status = 'pending' AND n.next_attempt_ms <= ? ORDER BY n.next_attempt_ms, n.seq "
        "LIMIT ?",
        (now_ms, limit),
    )


def sending_rows(db: Database) -> list[sqlite3.Row]:
    """Every notice left ``sending`` (by an engine that stopped mid-send), with its contact's address."""
    return db.all(_SELECT + "WHERE n.status = 'sending'")


def mark_unknown(db: Database, seq: int) -> None:
    """A send cut off by a crash: ``unknown``, never resent."""
    db.execute("UPDATE notices SET status = 'unknown', lease_until_ms = NULL WHERE seq = ?", (seq,))


def mark_sending(db: Database, seq: int, lease_until_ms: int) -> None:
    """Claim a notice for one attempt: ``sending``, one more attempt, held until ``lease_until_ms``."""
    db.execute(
        "UPDATE notices SET status = 'sending', attempts = attempts + 1, lease_until_ms = ? WHERE seq = ?",
        (lease_until_ms, seq),
    )


def postpone(db: Database, seq: int, until_ms: int) -> None:
    """A notice over its contact method's rate limit waits, still pending, until ``until_ms``."""
    db.execute("UPDATE notices SET next_attempt_ms = ? WHERE seq = ? AND status = 'pending'", (until_ms, seq))


def mark_sent(db: Database, seq: int, sent_at: str) -> None:
    """The receiver took the notice (at ``sent_at``); only a row still ``sending`` changes."""
    db.execute(
        "UPDATE notices SET status = 'sent', sent_at = ?, lease_until_ms = NULL, last_error = NULL "
        "WHERE seq = ? AND status = 'sending'",
        (sent_at, seq),
    )


def mark_failed_attempt(
    db: Database, seq: int, *, give_up: bool, retry_at_ms: int | None, error: str
) -> None:
    """A failed attempt: ``failed`` when ``give_up``, else ``pending`` again from ``retry_at_ms``."""
    db.execute(
        "UPDATE notices SET status = ?, next_attempt_ms = coalesce(?, next_attempt_ms), "
        "lease_until_ms = NULL, last_error = ? WHERE seq = ? AND status = 'sending'",
        ("failed" if give_up else "pending", retry_at_ms, error, seq),
    )


def record_event(db: Database, notice_seq: int, at: str, kind: str, data: dict[str, Any]) -> None:
    """Append one attempt or outcome of a notice (``notice_delivery_attempt``, ``…_failed``, …)."""
    db.execute(
        "INSERT INTO notice_events (notice_seq, at, kind, data) VALUES (?, ?, ?, ?)",
        (notice_seq, at, kind, json.dumps(data, separators=(",", ":"))),
    )


def for_user(db: Database, user_id: str, limit: int = 50) -> list[sqlite3.Row]:
    """The person's latest notices, newest first (whole rows)."""
    return db.all("SELECT * FROM notices WHERE user_id = ? ORDER BY seq DESC LIMIT ?", (user_id, limit))


def events(db: Database, notice_seq: int) -> list[sqlite3.Row]:
    """A notice's attempts and outcomes, oldest first (``at``, ``kind``, ``data`` JSON text)."""
    return db.all("SELECT * FROM notice_events WHERE notice_seq = ? ORDER BY seq", (notice_seq,))
