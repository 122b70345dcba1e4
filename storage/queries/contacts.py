"""Contact methods: how a person is paged (table ``contact_methods``).

Rows: ``id``, ``org_id``, ``user_id``, ``channel`` (``webhook``, ``command``...), ``address``, ``secret``,
``created_at`` (ISO 8601), ``address_set_via`` (``operator``, ``api_key`` or NULL for "unknown").
The engine's read of a person's methods for paging is :func:`storage.queries.page_queue.user_contact_rows`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from storage.db import Database
from storage.queries import _rows


def insert_contact_method(db: Database, values: Mapping[str, Any]) -> None:
    """Insert a ``contact_methods`` row (``values`` by column name, as above)."""
    _rows.insert(db, "contact_methods", values)


def contact_method_row(db: Database, org_id: str, user_id: str, contact_id: str) -> sqlite3.Row | None:
    """The whole row of ``contact_id`` when it belongs to ``user_id`` in the organisation, or None."""
    return db.one(
        "SELECT * FROM contact_methods WHERE id = ? AND user_id = ? AND org_id = ?",
        (contact_id, user_id, org_id),
    )


def contact_method_rows(db: Database, org_id: str, user_id: str) -> list[sqlite3.Row]:
    """The user's whole ``contact_methods`` rows in the organisation, in creation order."""
    return db.all(
        "SELECT * FROM contact_methods WHERE user_id = ? AND org_id = ? ORDER BY created_at, rowid",
        (user_id, org_id),
    )


def update_contact_method(db: Database, contact_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name: ``address``, ``address_set_via``, ``secret``) on the method."""
    _rows.update(db, "contact_methods", contact_id, changes)


def delete_contact_method(db: Database, contact_id: str) -> None:
    """Delete the ``contact_methods`` row of ``contact_id``."""
    db.execute("DELETE FROM contact_methods WHERE id = ?", (contact_id,))
