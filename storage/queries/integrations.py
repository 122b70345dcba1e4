"""Inbound integrations (table ``integrations``): rows by id, by token hash, by name.

A deleted integration keeps its row (its alerts name it) with ``deleted_at`` set and no token hash, so its
URL stops working at once and its name is free again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.db import Database
from storage.queries import _rows


def by_id(db: Database, org_id: str, integration_id: str) -> sqlite3.Row | None:
    """The organisation's live (not deleted) integration ``integration_id``, or None."""
    return db.one(
        "SELECT * FROM integrations WHERE id = ? AND org_id = ? AND deleted_at IS NULL",
        (integration_id, org_id),
    )


def by_name(db: Database, org_id: str, name: str) -> sqlite3.Row | None:
    """The organisation's live integration named ``name`` (exactly), or None."""
    return db.one(
        "SELECT * FROM integrations WHERE org_id = ? AND name = ? AND deleted_at IS NULL", (org_id, name)
    )


def by_token_hash(db: Database, token_hash: str) -> sqlite3.Row | None:
    """The live integration whose URL token hashes to ``token_hash`` (any organisation), or None."""
    return db.one("SELECT * FROM integrations WHERE token_hash = ? AND deleted_at IS NULL", (token_hash,))


def live_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """The organisation's live integrations, oldest first."""
    return db.all(
        "SELECT * FROM integrations WHERE org_id = ? AND deleted_at IS NULL ORDER BY created_at, id",
        (org_id,),
    )


def any_row(db: Database, integration_id: str) -> sqlite3.Row | None:
    """The integration ``integration_id`` whatever its state (a timer firing after it was deleted)."""
    return db.one("SELECT * FROM integrations WHERE id = ?", (integration_id,))


def insert_integration(db: Database, values: dict[str, Any]) -> None:
    """Insert an ``integrations`` row (``values`` by column name)."""
    _rows.insert(db, "integrations", values)


def update_integration(db: Database, integration_id: str, changes: dict[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``integrations`` row of ``integration_id``."""
    _rows.update(db, "integrations", integration_id, changes)
