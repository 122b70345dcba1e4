"""The one place the named row writers of ``storage/queries`` build an ``INSERT`` or an ``UPDATE … SET``
from a mapping of column names to values. Column names come from code, never from input: a name that is
not a plain identifier is a bug and raises :class:`ValueError`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from storage.db import Database

_IDENT = re.compile(r"[a-z_][a-z0-9_]*\Z")


def _checked(values: Mapping[str, Any]) -> dict[str, Any]:
    bad = [c for c in values if not _IDENT.match(c)]
    if bad:
        raise ValueError(f"not a column name: {bad!r}")
    return dict(values)


def insert(db: Database, table: str, values: Mapping[str, Any]) -> None:
    """Insert one row of ``table`` with ``values`` by column name."""
    db.insert(table, _checked(values))


def update(db: Database, table: str, row_id: str, values: Mapping[str, Any]) -> int:
    """Set ``values`` (by column name) on the ``table`` row whose ``id`` is ``row_id``; returns the number
    of rows changed (0 or 1; 0 for empty ``values``)."""
    return db.update(table, "id", row_id, _checked(values))


def renumber_positions(db: Database, table: str, ids: Sequence[str], *, start: int, now: str) -> None:
    """Give the ``table`` rows ``ids`` positions ``start, start+1, …`` in list order and stamp their
    ``updated_at`` with ``now`` (ISO 8601). Two passes keep any future UNIQUE(position) constraint
    satisfied mid-update."""
    for i, row_id in enumerate(ids):
        db.execute(f"UPDATE {table} SET position = ? WHERE id = ?", (-1 - i, row_id))
    for i, row_id in enumerate(ids):
        db.execute(f"UPDATE {table} SET position = ?, updated_at = ? WHERE id = ?", (start + i, now, row_id))
