"""The page queue: notifications to people waiting to go out (table ``outbox``), and the contact
methods a page is addressed to as the engine reads them.

Rows are written in the escalation step's own transaction (:mod:`engine.runtime.page_queue`) and
delivered after the commit (:mod:`engine.runtime.delivery`). Times: ``next_attempt_ms`` and
``lease_until_ms`` are epoch milliseconds of the database's clock; ``created_at``/``sent_at`` ISO 8601 text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from storage.db import Database

_INSERT = (
    "INSERT OR IGNORE INTO outbox (idem_key, org_id, incident_id, layer_position, loop, user_id, "
    "channel, contact_id, payload, status, attempts, next_attempt_ms, created_at, sent_at, rule_subject, "
    "rule_step) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

OutboxRow = tuple[Any, ...]
"""One row to insert, in the column order of ``_INSERT``: ``(idem_key, org_id, incident_id,
layer_position, loop, user_id, channel, contact_id, payload, status, attempts, next_attempt_ms,
created_at, sent_at, rule_subject, rule_step)`` (the last two NULL unless a person's notification rules
wrote the row)."""

_CLAIM_SQL = (
    "SELECT o.*, c.address, c.secret, c.address_set_via, c.address_sealed, i.status AS incident_status, "
    "i.acknowledged_at, i.seq AS incident_number "
    "FROM outbox o LEFT JOIN contact_methods c ON c.id = o.contact_id "
    "JOIN incidents i ON i.id = o.incident_id "
    "WHERE o.status = 'pending' AND o.next_attempt_ms <= ? ORDER BY o.next_attempt_ms, o.seq LIMIT ?"
)


def user_contact_rows(db: Database, user_id: str) -> list[sqlite3.Row]:
    """The user's contact methods in creation order: rows with ``id``, ``channel``, ``address``, ``secret``."""
    return db.all(
        "SELECT id, channel, address, secret FROM contact_methods WHERE user_id = ? ORDER BY created_at, rowid",
        (user_id,),
    )


def insert_row(db: Database, row: OutboxRow) -> bool:
    """Insert one row unless its idempotency key is already queued (``INSERT OR IGNORE``); True if inserted."""
    return bool(db.execute(_INSERT, row).rowcount)


def existing_keys(db: Database, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` (idempotency keys) are already in the page queue."""
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in db.all(f"SELECT idem_key FROM outbox WHERE idem_key IN ({marks})", chunk))
    return found


def insert_rows(db: Database, rows: Sequence[OutboxRow]) -> int:
    """Insert many rows in one ``executemany`` (``INSERT OR IGNORE``: a key already queued is skipped);
    returns how many were inserted."""
    return db.executemany(_INSERT, rows)


def last_seq(db: Database) -> int:
    """The highest ``seq`` in the page queue (0 when empty): one seek to the end of its primary key."""
    return int(db.scalar("SELECT coalesce(max(seq), 0) FROM outbox") or 0)


def keys_after(db: Database, seq: int) -> set[str]:
    """The idempotency keys of the rows numbered after ``seq``."""
    return {r[0] for r in db.all("SELECT idem_key FROM outbox WHERE seq > ?", (seq,))}


def sending_rows(db: Database) -> list[sqlite3.Row]:
    """Every whole ``outbox`` row left ``sending`` (by an engine that stopped mid-send)."""
    return db.all("SELECT * FROM outbox WHERE status = 'sending'")


def due_rows(db: Database, now_ms: int, limit: int) -> list[sqlite3.Row]:
    """At most ``limit`` ``pending`` rows due at ``now_ms`` (epoch ms), oldest due first, each with its
    contact method's ``address``, ``secret``, ``address_set_via``, ``address_sealed`` (NULL once deleted)
    and its incident's ``incident_status``, ``acknowledged_at`` and ``incident_number`` (its ``seq``)."""
    return db.all(_CLAIM_SQL, (now_ms, limit))


def mark_unknown(db: Database, seq: int) -> None:
    """A send cut off by a crash: ``unknown``, never resent."""
    db.execute("UPDATE outbox SET status = 'unknown', lease_until_ms = NULL WHERE seq = ?", (seq,))


def mark_cancelled(db: Database, seq: int) -> None:
    """A page that should not go out any more (resolved, or overtaken by an acknowledgement)."""
    db.execute("UPDATE outbox SET status = 'cancelled', lease_until_ms = NULL WHERE seq = ?", (seq,))


def mark_sending(db: Database, seq: int, lease_until_ms: int) -> None:
    """Claim a row for one attempt: ``sending``, one more attempt, held until ``lease_until_ms`` (epoch ms)."""
    db.execute(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until_ms = ? WHERE seq = ?",
        (lease_until_ms, seq),
    )


def mark_sent(db: Database, seq: int, sent_at: str) -> None:
    """The receiver took the page (at ``sent_at``, ISO 8601); only a row still ``sending`` changes."""
    db.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, lease_until_ms = NULL, last_error = NULL "
        "WHERE seq = ? AND status = 'sending'",
        (sent_at, seq),
    )


def mark_failed_attempt(
    db: Database, seq: int, *, give_up: bool, retry_at_ms: int | None, error: str
) -> None:
    """A failed attempt: ``failed`` when ``give_up``, else ``pending`` again from ``retry_at_ms`` (epoch ms;
    None keeps the row's time); only a row still ``sending`` changes."""
    db.execute(
        "UPDATE outbox SET status = ?, next_attempt_ms = coalesce(?, next_attempt_ms), lease_until_ms = NULL, "
        "last_error = ? WHERE seq = ? AND status = 'sending'",
        ("failed" if give_up else "pending", retry_at_ms, error, seq),
    )


def next_pending_ms(db: Database, incident_id: str) -> int | None:
    """When the incident's earliest page still waiting to go out is due (epoch ms), or None."""
    ms = db.scalar(
        "SELECT min(next_attempt_ms) FROM outbox WHERE incident_id = ? AND status = 'pending'", (incident_id,)
    )
    return None if ms is None else int(ms)


def has_due(db: Database, now_ms: int) -> bool:
    """Whether a page is waiting to be sent at ``now_ms`` (epoch ms): one indexed lookup."""
    return (
        db.one("SELECT 1 FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ? LIMIT 1", (now_ms,))
        is not None
    )
