"""Personal notification rules (table ``notification_rules``) and the page queue rows written for them
(``outbox.rule_subject`` / ``rule_step``). See :mod:`engine.notification_rules` for the rules themselves."""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.db import Database

_STEPS = (
    "SELECT r.*, c.channel, c.address, c.secret FROM notification_rules r "
    "JOIN contact_methods c ON c.id = r.contact_method_id "
    "WHERE r.user_id = ? AND r.urgency = ? ORDER BY r.delay_minutes, r.position, r.rowid"
)


def steps(db: Database, user_id: str, urgency: str) -> list[sqlite3.Row]:
    """The person's steps for ``urgency`` in firing order (delay, then position), each with its contact
    method's ``channel``, ``address`` and ``secret``."""
    return db.all(_STEPS, (user_id, urgency))


def all_steps(db: Database, user_id: str) -> list[sqlite3.Row]:
    """Both urgencies' steps, high first, each in firing order."""
    return db.all(
        "SELECT r.*, c.channel, c.address FROM notification_rules r "
        "JOIN contact_methods c ON c.id = r.contact_method_id WHERE r.user_id = ? "
        "ORDER BY r.urgency = 'low', r.delay_minutes, r.position, r.rowid",
        (user_id,),
    )


def get_step(db: Database, user_id: str, rule_id: str) -> sqlite3.Row | None:
    return db.one("SELECT * FROM notification_rules WHERE id = ? AND user_id = ?", (rule_id, user_id))


def count(db: Database, user_id: str, urgency: str) -> int:
    return int(
        db.scalar(
            "SELECT count(*) FROM notification_rules WHERE user_id = ? AND urgency = ?", (user_id, urgency)
        )
        or 0
    )


def next_position(db: Database, user_id: str, urgency: str) -> int:
    return int(
        db.scalar(
            "SELECT coalesce(max(position) + 1, 0) FROM notification_rules WHERE user_id = ? AND urgency = ?",
            (user_id, urgency),
        )
        or 0
    )


def insert_step(db: Database, row: dict[str, Any]) -> None:
    db.insert("notification_rules", row)


def delete_step(db: Database, rule_id: str) -> None:
    db.execute("DELETE FROM notification_rules WHERE id = ?", (rule_id,))


def clear(db: Database, user_id: str, urgency: str | None) -> int:
    """Delete the person's steps of ``urgency`` (both when None); returns how many went."""
    if urgency is None:
        return db.execute("DELETE FROM notification_rules WHERE user_id = ?", (user_id,)).rowcount
    return db.execute(
        "DELETE FROM notification_rules WHERE user_id = ? AND urgency = ?", (user_id, urgency)
    ).rowcount


def swap_methods(db: Database, a: sqlite3.Row, b: sqlite3.Row) -> None:
    """Exchange two steps' contact methods: the delays stay in place, the methods change slots."""
    db.execute(
        "UPDATE notification_rules SET contact_method_id = ? WHERE id = ?", (b["contact_method_id"], a["id"])
    )
    db.execute(
        "UPDATE notification_rules SET contact_method_id = ? WHERE id = ?", (a["contact_method_id"], b["id"])
    )


def contact_method(db: Database, contact_id: str) -> sqlite3.Row | None:
    """A contact method by id (any person): what a rule step snapshot names when it fires."""
    return db.one(
        "SELECT id, user_id, channel, address, secret FROM contact_methods WHERE id = ?", (contact_id,)
    )


def sent_through(db: Database, subject: str) -> int | None:
    """The highest rule step written to the page queue for the person's page ``subject``, or None."""
    value = db.scalar("SELECT max(rule_step) FROM outbox WHERE rule_subject = ?", (subject,))
    return None if value is None else int(value)


def mark_rows(db: Database, keys: list[str], subject: str, step: int) -> None:
    """Tag the page queue rows ``keys`` as written for rule step ``step`` of ``subject``."""
    db.executemany(
        "UPDATE outbox SET rule_subject = ?, rule_step = ? WHERE idem_key = ?",
        [(subject, step, k) for k in keys],
    )


def page_context(db: Database, incident_id: str) -> sqlite3.Row | None:
    """What decides whether a person's rule steps go on: the incident's status and acknowledgement and its
    escalation's current layer (``step``, 0-based) and ``round`` (NULL without an escalation)."""
    return db.one(
        "SELECT i.id, i.org_id, i.title, i.severity, i.status, i.acknowledged_at, e.step, e.round, e.state "
        "FROM incidents i LEFT JOIN escalations e ON e.incident_id = i.id WHERE i.id = ?",
        (incident_id,),
    )


def is_active(db: Database, user_id: str) -> bool:
    """Whether the person is still a member (not removed): a removed person's steps stop."""
    return db.one("SELECT 1 FROM users WHERE id = ? AND removed_at IS NULL", (user_id,)) is not None
