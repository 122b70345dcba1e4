"""The link between a local row and its twin on the remote (Scaling): the ``remote_id`` column of every
mirrored table (``users``, ``schedules``, ``rotation_layers``, ``policies``, ``escalation_layers``,
``incidents``), as the pull (:mod:`storage.sync.pull`) reads it. Each table keeps its own reads and writes
in its own module; only the lookup by remote id, the same for all of them, is here."""

from __future__ import annotations

import sqlite3

from storage.db import Database

_SCOPES = {
    "users": "org_id",
    "schedules": "org_id",
    "policies": "org_id",
    "incidents": "org_id",
    "rotation_layers": "schedule_id",
    "escalation_layers": "policy_id",
}
"""Each mirrored table and the column its remote ids are unique within (an organisation, or the parent
schedule or policy of a layer)."""


def _scope(table: str) -> str:
    try:
        return _SCOPES[table]
    except KeyError:
        raise ValueError(f"not a mirrored table: {table!r}") from None


def local_id(db: Database, table: str, remote_id: str, within: str) -> str | None:
    """The id of the ``table`` row linked to ``remote_id`` within ``within`` (the organisation's id, or
    the parent schedule's or policy's id for a layer), or None."""
    found = db.scalar(
        f"SELECT id FROM {table} WHERE remote_id = ? AND {_scope(table)} = ?", (remote_id, within)
    )
    return None if found is None else str(found)


def linked_rows(db: Database, table: str, within: str, *, pulled_only: bool = False) -> list[sqlite3.Row]:
    """Every ``table`` row within ``within`` linked to a remote object: rows with ``id`` and ``remote_id``
    (any order). ``pulled_only`` keeps the rows the pull created (``origin = 'remote'``)."""
    origin = " AND origin = 'remote'" if pulled_only else ""
    return db.all(
        f"SELECT id, remote_id FROM {table} WHERE {_scope(table)} = ?{origin} AND remote_id IS NOT NULL",
        (within,),
    )
