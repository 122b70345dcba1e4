"""Organisations, their people, invitations and API keys (tables ``orgs``, ``users``, ``invitations``,
``api_keys``). Times are ISO 8601 text; a removed person keeps their row with ``removed_at`` set."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from storage.db import Database
from storage.queries import _rows


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


# -- organisations ---------------------------------------------------------------------------------


def org_name_taken(db: Database, name: str) -> bool:
    """Whether an organisation is named exactly ``name``."""
    return db.one("SELECT 1 FROM orgs WHERE name = ?", (name,)) is not None


def insert_org(db: Database, org_id: str, name: str, created_at: str) -> None:
    """Insert an ``orgs`` row (``created_at`` ISO 8601)."""
    db.execute("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)", (org_id, name, created_at))


def org_row(db: Database, org_id: str) -> sqlite3.Row | None:
    """The whole ``orgs`` row of ``org_id``, or None."""
    return db.one("SELECT * FROM orgs WHERE id = ?", (org_id,))


def org_rows(db: Database) -> list[sqlite3.Row]:
    """Every whole ``orgs`` row, oldest first (ties by id)."""
    return db.all("SELECT * FROM orgs ORDER BY created_at, id")


def org_id_by_id_or_name(db: Database, ident: str) -> str | None:
    """The id of the organisation whose id or name is ``ident``, or None."""
    row = db.one("SELECT id FROM orgs WHERE id = ? OR name = ?", (ident, ident))
    return None if row is None else str(row["id"])


# -- people ----------------------------------------------------------------------------------------


def active_email_taken(db: Database, org_id: str, email: str) -> bool:
    """Whether a current (not removed) person of the organisation has ``email`` (lower-cased)."""
    return (
        db.one("SELECT 1 FROM users WHERE org_id = ? AND email = ? AND removed_at IS NULL", (org_id, email))
        is not None
    )


def insert_user(db: Database, values: Mapping[str, Any]) -> None:
    """Insert a ``users`` row (``values`` by column name)."""
    _rows.insert(db, "users", values)


def update_user(db: Database, user_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``users`` row of ``user_id``."""
    _rows.update(db, "users", user_id, changes)


def org_user_row(
    db: Database, org_id: str, user_id: str, *, include_removed: bool = False
) -> sqlite3.Row | None:
    """The whole ``users`` row of ``user_id`` in the organisation (removed people only when
    ``include_removed``), or None."""
    sql = "SELECT * FROM users WHERE id = ? AND org_id = ?"
    if not include_removed:
        sql += " AND removed_at IS NULL"
    return db.one(sql, (user_id, org_id))


def active_user_by_id_or_email(db: Database, org_id: str, user_id: str, email: str) -> sqlite3.Row | None:
    """The current person of the organisation whose id is ``user_id`` or whose email is ``email``, or None."""
    return db.one(
        "SELECT * FROM users WHERE org_id = ? AND removed_at IS NULL AND (id = ? OR email = ?)",
        (org_id, user_id, email),
    )


def active_users_in_order(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The whole ``users`` rows of the organisation's current people, oldest first (ties by id)."""
    return db.all(
        "SELECT * FROM users WHERE org_id = ? AND removed_at IS NULL ORDER BY created_at, id", (org_id,)
    )


def user_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The whole ``users`` rows of everyone ever in the organisation, removed people included (any order)."""
    return db.all("SELECT * FROM users WHERE org_id = ?", (org_id,))


def first_admin_id(db: Database, org_id: str) -> str | None:
    """The id of the organisation's oldest current admin (ties by id), or None."""
    found = db.scalar(
        "SELECT id FROM users WHERE org_id = ? AND role = 'org:admin' AND removed_at IS NULL "
        "ORDER BY created_at, id LIMIT 1",
        (org_id,),
    )
    return None if found is None else str(found)


def active_user_ids(db: Database, org_id: str) -> set[str]:
    """The ids of the organisation's current people."""
    return {
        r["id"] for r in db.all("SELECT id FROM users WHERE org_id = ? AND removed_at IS NULL", (org_id,))
    }


def removal_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """Everyone ever in the organisation: rows with ``id`` and ``removed_at`` (ISO 8601, NULL for members)."""
    return db.all("SELECT id, removed_at FROM users WHERE org_id = ?", (org_id,))


def active_admin_count(db: Database, org_id: str) -> int:
    """How many current admins the organisation has."""
    return int(
        db.scalar(
            "SELECT count(*) FROM users WHERE org_id = ? AND role = 'org:admin' AND removed_at IS NULL",
            (org_id,),
        )
        or 0
    )


# -- invitations -----------------------------------------------------------------------------------


def insert_invitation(db: Database, values: Mapping[str, Any]) -> None:
    """Insert an ``invitations`` row (``values`` by column name)."""
    _rows.insert(db, "invitations", values)


def invitation_row(db: Database, invitation_id: str) -> sqlite3.Row | None:
    """The whole ``invitations`` row of ``invitation_id``, or None."""
    return db.one("SELECT * FROM invitations WHERE id = ?", (invitation_id,))


def pending_invitation_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The organisation's ``pending`` invitations, oldest first."""
    return db.all(
        "SELECT * FROM invitations WHERE org_id = ? AND status = 'pending' ORDER BY created_at", (org_id,)
    )


def revoke_pending_invitation(db: Database, org_id: str, invitation_id: str) -> bool:
    """Mark the organisation's pending invitation ``revoked``; False when there is no such pending one."""
    return bool(
        db.execute(
            "UPDATE invitations SET status = 'revoked' WHERE id = ? AND org_id = ? AND status = 'pending'",
            (invitation_id, org_id),
        ).rowcount
    )


# -- API keys --------------------------------------------------------------------------------------


def insert_api_key(db: Database, values: Mapping[str, Any]) -> None:
    """Insert an ``api_keys`` row (``values`` by column name; the key itself is never stored, its
    SHA-256 ``key_hash`` is)."""
    _rows.insert(db, "api_keys", values)


def api_key_row(db: Database, key_id: str, org_id: str | None = None) -> sqlite3.Row | None:
    """The whole ``api_keys`` row of ``key_id`` (within ``org_id`` when given), or None."""
    if org_id is None:
        return db.one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
    return db.one("SELECT * FROM api_keys WHERE id = ? AND org_id = ?", (key_id, org_id))


def api_key_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The organisation's ``api_keys`` rows, revoked ones included, oldest first (ties by id)."""
    return db.all("SELECT * FROM api_keys WHERE org_id = ? ORDER BY created_at, id", (org_id,))


def revoke_api_key(db: Database, key_id: str, revoked_at: str) -> None:
    """Stamp the key revoked at ``revoked_at`` (ISO 8601)."""
    _rows.update(db, "api_keys", key_id, {"revoked_at": revoked_at})


def revoke_user_keys(db: Database, user_id: str, revoked_at: str) -> None:
    """Revoke every key of ``user_id`` not yet revoked, at ``revoked_at`` (ISO 8601)."""
    db.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", (revoked_at, user_id)
    )


def api_key_by_hash(db: Database, key_hash: str) -> sqlite3.Row | None:
    """The whole ``api_keys`` row whose ``key_hash`` is ``key_hash``, with its user's ``user_role`` and
    ``user_removed`` (NULL for a key without a user), or None."""
    return db.one(
        "SELECT k.*, u.role AS user_role, u.removed_at AS user_removed FROM api_keys k "
        "LEFT JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?",
        (key_hash,),
    )


# -- people mirrored from the remote ---------------------------------------------------------------

PLACEHOLDER_DOMAIN = "@unknown.scaling.invalid"
"""The address of a person the remote named but never listed (a placeholder until a pull lists them)."""


def user_row_by_remote_id(db: Database, org_id: str, remote_id: str) -> sqlite3.Row | None:
    """The whole ``users`` row linked to the remote person ``remote_id`` (removed people included), or None."""
    return db.one("SELECT * FROM users WHERE org_id = ? AND remote_id = ?", (org_id, remote_id))


def unlinked_user_by_email(db: Database, org_id: str, email: str) -> sqlite3.Row | None:
    """The current person of the organisation with ``email`` (lower-cased) not yet linked to a remote
    person, or None."""
    return db.one(
        "SELECT * FROM users WHERE org_id = ? AND email = ? AND removed_at IS NULL AND remote_id IS NULL",
        (org_id, email),
    )


def restore_pulled_user(db: Database, user_id: str) -> None:
    """A removed person the pull created is a member again, unless their address now belongs to a
    current member of the organisation."""
    db.execute(
        "UPDATE users SET removed_at = NULL WHERE id = ? AND origin = 'remote' AND removed_at IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM users o WHERE o.org_id = users.org_id AND o.email = users.email "
        "AND o.removed_at IS NULL)",
        (user_id,),
    )


def listed_pulled_users(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The current people the pull created from the remote's list (placeholders left out): rows with
    ``id`` and ``remote_id``."""
    return db.all(
        "SELECT id, remote_id FROM users WHERE org_id = ? AND origin = 'remote' AND remote_id IS NOT NULL "
        f"AND removed_at IS NULL AND email NOT LIKE '%{PLACEHOLDER_DOMAIN}'",
        (org_id,),
    )
