"""Escalations under way (table ``escalations``): one row per incident under escalation, the whole truth of
its timers (:mod:`engine.runtime.escalator`).

A row holds the current layer (``step``), repeat ``loop``, pass ``round``, ``state``, ``generation`` and
the next ``due_at_ms`` (epoch milliseconds of the database's clock, NULL when nothing is armed) with its
``due_kind``; ``policy_snapshot`` is the JSON of the policy the escalation started with, stored once per
content in ``policy_snapshots`` and named by ``snapshot_hash`` (migration 0015: thousands of escalations on
one policy share one row) with the policy's fingerprint; every read here returns them as the row's
``policy_snapshot`` and ``policy_hash`` columns. Every function runs inside the caller's write transaction;
:func:`due_rows` and :func:`save_state` are the engine's hot path (one tick fires up to 500 steps).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from storage.db import Database
from storage.migrations import snapshot_hash

# The escalation's columns plus its snapshot's text (a primary-key lookup in ``policy_snapshots``).
_WITH_SNAPSHOT = (
    "SELECT e.*, s.snapshot AS policy_snapshot, s.policy_hash{extra} FROM escalations e "
    "JOIN policy_snapshots s ON s.hash = e.snapshot_hash "
)
_ROW_SQL = _WITH_SNAPSHOT.format(extra="") + "WHERE e.incident_id = ?"
_ROWS_SQL = (
    _WITH_SNAPSHOT.format(extra="") + "JOIN incidents i ON i.id = e.incident_id "
    "WHERE e.incident_id IN (SELECT value FROM json_each(?)) AND +i.org_id = ?"
)


class DueRow(NamedTuple):
    """One escalation claimed by :func:`due_rows`: its state columns, its snapshot's hash (the text is
    read once per hash by :func:`snapshots`), its incident's columns a page and an event need, and
    ``latest_at``, the ISO time of the incident's latest timeline event ("" when it has none)."""

    incident_id: str
    step: int
    loop: int
    round: int
    generation: int
    state: str
    due_at_ms: int
    due_kind: str | None
    acked_by: str | None
    snapshot_hash: str
    policy_id: str
    noted_policy_hash: str | None
    title: str
    severity: str
    status: str
    inc_org: str
    latest_at: str


_DUE_SQL = (
    "SELECT e.incident_id, e.step, e.loop, e.round, e.generation, e.state, e.due_at_ms, e.due_kind, "
    "e.acked_by, e.snapshot_hash, e.policy_id, e.noted_policy_hash, i.title, i.severity, i.status, "
    "i.org_id AS inc_org, "
    "coalesce((SELECT t.at FROM timeline t WHERE t.incident_id = e.incident_id ORDER BY t.seq DESC LIMIT 1), "
    "'') AS latest_at "
    "FROM escalations e JOIN incidents i ON i.id = e.incident_id "
    "WHERE e.due_at_ms IS NOT NULL AND e.due_at_ms <= ? ORDER BY e.due_at_ms, e.incident_id LIMIT ?"
)
_SNAPSHOTS_SQL = (
    "SELECT hash, snapshot, policy_hash FROM policy_snapshots WHERE hash IN (SELECT value FROM json_each(?))"
)
_SAVE_SQL = (
    "UPDATE escalations SET step = ?, loop = ?, round = ?, generation = ?, state = ?, due_at_ms = ?, "
    "due_kind = ?, acked_by = ?, updated_at = ? WHERE incident_id = ? AND generation = ?"
)
_SAVE_KEEP_STATE_SQL = (
    "UPDATE escalations SET step = ?, loop = ?, round = ?, generation = ?, due_at_ms = ?, "
    "due_kind = ?, acked_by = ?, updated_at = ? WHERE incident_id = ? AND generation = ?"
)
_COLUMNS = (
    "incident_id",
    "org_id",
    "policy_id",
    "snapshot_hash",
    "step",
    "loop",
    "round",
    "generation",
    "state",
    "due_at_ms",
    "due_kind",
    "acked_by",
    "started_at",
    "updated_at",
)
_INSERT_SQL = f"INSERT INTO escalations ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_INSERT_SNAPSHOT_SQL = (
    "INSERT INTO policy_snapshots (hash, snapshot, policy_hash) VALUES (?, ?, ?) "
    "ON CONFLICT (hash) DO NOTHING"
)


def escalation_row(db: Database, incident_id: str) -> sqlite3.Row | None:
    """The whole ``escalations`` row of the incident, or None when it never escalated."""
    return db.one(_ROW_SQL, (incident_id,))


def escalation_rows(db: Database, org_id: str, incident_ids: Sequence[str]) -> list[sqlite3.Row]:
    """The whole ``escalations`` rows of those of ``incident_ids`` that belong to the organisation and
    escalate (any order)."""
    return db.all(_ROWS_SQL, (json.dumps(list(incident_ids)), org_id))


def has_escalation(db: Database, incident_id: str) -> bool:
    """Whether the incident has an ``escalations`` row (it started escalating once)."""
    return db.one("SELECT 1 FROM escalations WHERE incident_id = ?", (incident_id,)) is not None


def insert_escalation(db: Database, values: dict[str, Any]) -> None:
    """Insert the row of an escalation that starts: ``values`` holds every column of ``_COLUMNS`` but
    ``snapshot_hash``, and ``policy_snapshot`` (the policy's JSON text) and ``policy_hash`` (its
    fingerprint), stored once per content in ``policy_snapshots``; ``due_at_ms`` in epoch ms,
    ``started_at``/``updated_at`` ISO 8601."""
    text = str(values["policy_snapshot"])
    key = snapshot_hash(text)
    db.execute(_INSERT_SNAPSHOT_SQL, (key, text, values["policy_hash"]))
    row = {**values, "snapshot_hash": key}
    db.execute(_INSERT_SQL, tuple(row[c] for c in _COLUMNS))


def save_state(
    db: Database,
    incident_id: str,
    expected_generation: int,
    *,
    step: int,
    loop: int,
    round: int,
    generation: int,
    state: str,
    due_at_ms: int | None,
    due_kind: str | None,
    acked_by: str | None,
    updated_at: str,
) -> bool:
    """Write the escalation's new state if its ``generation`` is still ``expected_generation``; False
    (nothing written) when it is not. ``due_at_ms`` in epoch ms, ``updated_at`` ISO 8601."""
    cur = db.execute(
        _SAVE_SQL,
        (
            step,
            loop,
            round,
            generation,
            state,
            due_at_ms,
            due_kind,
            acked_by,
            updated_at,
            incident_id,
            expected_generation,
        ),
    )
    return cur.rowcount == 1


StateRow = tuple[int, int, int, int, str, int | None, str | None, str | None, str, str, int]
"""The parameters of one :func:`save_states` row: ``step, loop, round, generation, state, due_at_ms, due_kind,
acked_by, updated_at, incident_id, expected_generation`` (the keywords of :func:`save_state`, in order)."""


def save_states(db: Database, rows: Sequence[StateRow], states: Mapping[str, str] | None = None) -> int:
    """Write many escalations' new states, one row per incident, in ``executemany`` batches (the same
    ``UPDATE … WHERE generation = ?`` as :func:`save_state`). ``states`` (incident id → the ``state`` its
    row holds now, e.g. as claimed) lets the rows whose ``state`` stays the same leave that column out of
    their ``UPDATE``: ``state`` is in the WHERE clause of the partial index ``escalations_live``, so
    setting it, even to the same value, rewrites that index entry. Returns how many rows were written:
    ``len(rows)`` unless a generation had moved."""
    if not rows:
        return 0
    if states is None:
        return db.executemany(_SAVE_SQL, rows)
    changed: list[StateRow] = []
    same: list[tuple[Any, ...]] = []
    for row in rows:
        if states.get(row[9]) == row[4]:
            same.append(row[:4] + row[5:])
        else:
            changed.append(row)
    return (db.executemany(_SAVE_SQL, changed) if changed else 0) + (
        db.executemany(_SAVE_KEEP_STATE_SQL, same) if same else 0
    )


def note_policy_hash(db: Database, incident_id: str, noted: str) -> None:
    """Remember the live policy's fingerprint (or ``deleted``) the timeline last reported a drift to."""
    db.execute("UPDATE escalations SET noted_policy_hash = ? WHERE incident_id = ?", (noted, incident_id))


def due_rows(db: Database, now_ms: int, limit: int) -> list[DueRow]:
    """At most ``limit`` escalations due at ``now_ms`` (epoch ms), in due order (then incident id).

    Each row's ``latest_at`` is the clamp of :mod:`storage.timeline` answered by the claim itself (one
    seek on ``timeline_incident`` per row returned), so a tick reads no timeline before it writes."""
    return [DueRow(*r) for r in db.all(_DUE_SQL, (now_ms, limit))]


def snapshots(db: Database, hashes: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The policy snapshots named by ``hashes``: ``{hash: (snapshot JSON text, policy fingerprint)}``."""
    rows = db.all(_SNAPSHOTS_SQL, (json.dumps(list(hashes)),))
    return {r[0]: (str(r[1]), str(r[2])) for r in rows}


def earliest_due_ms(db: Database) -> int | None:
    """The earliest armed ``due_at_ms`` (epoch ms), or None when nothing is armed."""
    ms = db.scalar("SELECT min(due_at_ms) FROM escalations WHERE due_at_ms IS NOT NULL")
    return None if ms is None else int(ms)


def overdue_count(db: Database, now_ms: int) -> int:
    """How many escalations are due at or before ``now_ms`` (epoch ms)."""
    return int(
        db.scalar(
            "SELECT count(*) FROM escalations WHERE due_at_ms IS NOT NULL AND due_at_ms <= ?", (now_ms,)
        )
        or 0
    )


def policy_snapshot(db: Database, incident_id: str) -> str | None:
    """The JSON text of the policy snapshot the incident's escalation runs on, or None when it never
    escalated."""
    row = db.one(
        "SELECT s.snapshot FROM escalations e JOIN policy_snapshots s ON s.hash = e.snapshot_hash "
        "WHERE e.incident_id = ?",
        (incident_id,),
    )
    return None if row is None else str(row["snapshot"])
