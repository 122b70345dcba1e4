"""How pages go out (migration 0011): the acknowledge-link key and its uses (``page_link_keys``,
``ack_link_uses``), each contact method's recent messages for the rate limit (``contact_sends``) and
pages folded into a summary (``outbox.folded_into``)."""

from __future__ import annotations

import sqlite3

from storage.db import Database

RATE_WINDOW_MS = 60_000


def link_key(db: Database) -> bytes:
    """The HMAC key acknowledge links are signed with (made by the migration, never shown)."""
    row = db.one("SELECT secret FROM page_link_keys WHERE id = 1")
    if row is None:  # cannot happen after migration 0011; refuse rather than sign with nothing
        raise LookupError("the database has no acknowledge-link key")
    return bytes.fromhex(row["secret"])


def ack_link_use(db: Database, token_id: str) -> sqlite3.Row | None:
    """The recorded use of a token (``used_at``, ``outcome``, ``user_id``), or None if never used."""
    return db.one("SELECT * FROM ack_link_uses WHERE token_id = ?", (token_id,))


def record_ack_link_use(
    db: Database, token_id: str, incident_id: str, user_id: str, used_at: str, outcome: str
) -> None:
    db.execute(
        "INSERT INTO ack_link_uses (token_id, incident_id, user_id, used_at, outcome) VALUES (?, ?, ?, ?, ?)",
        (token_id, incident_id, user_id, used_at, outcome),
    )


def recent_sends(db: Database, contact_id: str, now_ms: int) -> list[int]:
    """When messages went to ``contact_id`` in the minute before ``now_ms`` (epoch ms, oldest first)."""
    return [
        int(r["at_ms"])
        for r in db.all(
            "SELECT at_ms FROM contact_sends WHERE contact_id = ? AND at_ms > ? ORDER BY at_ms",
            (contact_id, now_ms - RATE_WINDOW_MS),
        )
    ]


def record_send(db: Database, contact_id: str, at_ms: int) -> None:
    """One message to ``contact_id`` at ``at_ms``; rows older than the window are dropped as we go."""
    db.execute(
        "DELETE FROM contact_sends WHERE contact_id = ? AND at_ms <= ?", (contact_id, at_ms - RATE_WINDOW_MS)
    )
    db.execute("INSERT INTO contact_sends (contact_id, at_ms) VALUES (?, ?)", (contact_id, at_ms))


def postpone(db: Database, seq: int, until_ms: int) -> None:
    """A page over its contact method's rate limit waits, still pending, until ``until_ms``."""
    db.execute("UPDATE outbox SET next_attempt_ms = ? WHERE seq = ? AND status = 'pending'", (until_ms, seq))


def fold(db: Database, seq: int, into_seq: int) -> None:
    """Page ``seq`` goes out inside the summary page ``into_seq`` rather than on its own."""
    db.execute(
        "UPDATE outbox SET status = 'folded', folded_into = ?, lease_until_ms = NULL WHERE seq = ?",
        (into_seq, seq),
    )


def folded_into(db: Database, seqs: list[int]) -> dict[int, list[sqlite3.Row]]:
    """The pages folded into each of ``seqs``, with their incident's ``number``, ``title``, ``severity``."""
    if not seqs:
        return {}
    marks = ",".join("?" * len(seqs))
    out: dict[int, list[sqlite3.Row]] = {s: [] for s in seqs}
    for row in db.all(
        "SELECT o.seq, o.folded_into, o.incident_id, i.seq AS number, i.title, i.severity "
        f"FROM outbox o JOIN incidents i ON i.id = o.incident_id WHERE o.folded_into IN ({marks}) "
        "ORDER BY o.seq",
        seqs,
    ):
        out[int(row["folded_into"])].append(row)
    return out


def incident_any_org(db: Database, incident_id: str) -> sqlite3.Row | None:
    """The ``incidents`` row of ``incident_id`` whatever its organisation (an acknowledge link names the
    incident only; its signature is what proves the link was ours)."""
    return db.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))


def folded_pages(db: Database, into_seq: int) -> list[sqlite3.Row]:
    """The page queue rows still ``folded`` into ``into_seq`` (with their contact method's ``address``)."""
    return db.all(
        "SELECT o.*, c.address FROM outbox o LEFT JOIN contact_methods c ON c.id = o.contact_id "
        "WHERE o.folded_into = ? AND o.status = 'folded' ORDER BY o.seq",
        (into_seq,),
    )


def settle_folded(db: Database, into_seq: int, status: str, at: str, error: str | None) -> None:
    """The summary page ``into_seq`` was delivered (``sent``) or given up (``failed``): so were its pages."""
    db.execute(
        "UPDATE outbox SET status = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END, last_error = ? "
        "WHERE folded_into = ? AND status = 'folded'",
        (status, status, at, error, into_seq),
    )


def unfold(db: Database, into_seq: int) -> None:
    """The summary page ``into_seq`` will not go (cancelled): its pages wait again on their own."""
    db.execute(
        "UPDATE outbox SET status = 'pending', folded_into = NULL WHERE folded_into = ? AND status = 'folded'",
        (into_seq,),
    )
