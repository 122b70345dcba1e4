"""Organisations and their people, as the surfaces name them (tables ``orgs``, ``users``)."""

from __future__ import annotations

import sqlite3

from storage.db import Database


def org_name(db: Database, org_id: str) -> str | None:
    """The organisation's name, or None when there is no such organisation."""
    row = db.one("SELECT name FROM orgs WHERE id = ?", (org_id,))
    return None if row is None else str(row["name"])


def any_org(db: Database) -> bool:
    """Whether the database holds at least one organisation."""
    return db.one("SELECT 1 FROM orgs LIMIT 1") is not None


def people(db: Database, org_id: str) -> list[sqlite3.Row]:
    """Everyone who was ever in the organisation (removed people included), oldest first, then by email:
    rows with ``id``, ``email``, ``first_name``, ``last_name``."""
    return db.all(
        "SELECT id, email, first_name, last_name FROM users WHERE org_id = ? ORDER BY created_at, email",
        (org_id,),
    )


def current_member_ids(db: Database) -> frozenset[str]:
    """The ids of everyone not removed, in every organisation of the file (who the engine may page)."""
    return frozenset(r["id"] for r in db.all("SELECT id FROM users WHERE removed_at IS NULL"))


def active_user_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The whole ``users`` rows of the organisation's current (not removed) people (any order)."""
    return db.all("SELECT * FROM users WHERE org_id = ? AND removed_at IS NULL", (org_id,))
