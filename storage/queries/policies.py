"""Escalation policies and their layers (tables ``policies``, ``escalation_layers``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import NotFound
from engine.model import EscalationLayer, Policy, Target
from storage.db import Database
from storage.queries import _rows


def load_policy_model(db: Database, policy_id: str) -> Policy:
    """The pure-engine view of a policy and its layers."""
    row = db.one("SELECT * FROM policies WHERE id = ?", (policy_id,))
    if row is None:
        raise NotFound("escalation policy", policy_id)
    layers = tuple(
        EscalationLayer(
            id=r["id"],
            position=r["position"],
            ack_timeout_minutes=r["ack_timeout_minutes"],
            target=Target(
                type=r["target_type"],
                schedule_id=r["schedule_id"],
                user_ids=tuple(json.loads(r["user_ids"] or "[]")),
            ),
        )
        for r in db.all("SELECT * FROM escalation_layers WHERE policy_id = ? ORDER BY position", (policy_id,))
    )
    return Policy(
        id=row["id"],
        name=row["name"],
        layers=layers,
        repeat=row["repeat_count"],
        repage_after_minutes=row["repage_after_minutes"],
    )


def policy_shape(db: Database, policy_id: str) -> str | None:
    """Every column of the policy that changes how it escalates (repeat, re-page, each layer's position,
    id, timeout and target), as one text from two indexed reads, or None when the policy was deleted:
    equal texts mean equal :func:`load_policy_model` results as far as escalating goes, so the engine's
    policy-drift check caches its fingerprint by this text. Portable SQL (SQLite and PostgreSQL)."""
    row = db.one("SELECT repeat_count, repage_after_minutes FROM policies WHERE id = ?", (policy_id,))
    if row is None:
        return None
    layers = db.all(
        "SELECT position, id, ack_timeout_minutes, target_type, schedule_id, user_ids FROM escalation_layers "
        "WHERE policy_id = ? ORDER BY position",
        (policy_id,),
    )
    text = "|".join("/".join(_or_dash(v) for v in tuple(layer)) for layer in layers)
    return f"{row[0]}/{_or_dash(row[1])}:{text}"


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def policy_row(db: Database, org_id: str, policy_id: str) -> sqlite3.Row | None:
    """The ``policies`` row of ``policy_id`` within the organisation, or None."""
    return db.one("SELECT * FROM policies WHERE id = ? AND org_id = ?", (policy_id, org_id))


def policy_exists(db: Database, org_id: str, policy_id: str) -> bool:
    """Whether the organisation has a policy with id ``policy_id``."""
    return db.one("SELECT 1 FROM policies WHERE id = ? AND org_id = ?", (policy_id, org_id)) is not None


def policy_name_taken(db: Database, org_id: str, name: str, exclude_id: str | None = None) -> bool:
    """Whether another policy of the organisation (any but ``exclude_id``) is named exactly ``name``."""
    return (
        db.one(
            "SELECT 1 FROM policies WHERE org_id = ? AND name = ? AND id IS NOT ?", (org_id, name, exclude_id)
        )
        is not None
    )


def policy_rows(db: Database, org_id: str) -> list[sqlite3.Row]:
    """Every ``policies`` row of the organisation, by name then id."""
    return db.all("SELECT * FROM policies WHERE org_id = ? ORDER BY name, id", (org_id,))


def policy_row_by_id_or_name(db: Database, org_id: str, ident: str) -> sqlite3.Row | None:
    """The organisation's policy whose id or name is ``ident``, or None."""
    return db.one("SELECT * FROM policies WHERE org_id = ? AND (id = ? OR name = ?)", (org_id, ident, ident))


def open_incident_count(db: Database, policy_id: str) -> int:
    """How many incidents not yet resolved escalate on ``policy_id``."""
    return int(
        db.scalar(
            "SELECT count(*) FROM incidents WHERE escalation_policy_id = ? AND status != 'resolved'",
            (policy_id,),
        )
        or 0
    )


def delete_policy(db: Database, policy_id: str) -> None:
    """Delete the ``policies`` row (its layers go with it by foreign-key cascade)."""
    db.execute("DELETE FROM policies WHERE id = ?", (policy_id,))


def schedule_exists(db: Database, org_id: str, schedule_id: str) -> bool:
    """Whether the organisation has a schedule with id ``schedule_id`` (a layer's or an owner's target)."""
    return db.one("SELECT 1 FROM schedules WHERE id = ? AND org_id = ?", (schedule_id, org_id)) is not None


def layer_row(db: Database, org_id: str, policy_id: str, layer_id: str) -> sqlite3.Row | None:
    """The ``escalation_layers`` row of ``layer_id`` on ``policy_id`` within the organisation, or None."""
    return db.one(
        "SELECT * FROM escalation_layers WHERE id = ? AND policy_id = ? AND org_id = ?",
        (layer_id, policy_id, org_id),
    )


def layer_rows(db: Database, org_id: str, policy_id: str) -> list[sqlite3.Row]:
    """The policy's ``escalation_layers`` rows within the organisation, by position."""
    return db.all(
        "SELECT * FROM escalation_layers WHERE policy_id = ? AND org_id = ? ORDER BY position",
        (policy_id, org_id),
    )


def layer_ids(db: Database, policy_id: str) -> list[str]:
    """The policy's layer ids by position (ties, mid-insert, by creation time then id)."""
    return [
        r["id"]
        for r in db.all(
            "SELECT id FROM escalation_layers WHERE policy_id = ? ORDER BY position, created_at, id",
            (policy_id,),
        )
    ]


def layer_positions(db: Database, layer_ids: Sequence[str]) -> dict[str, int]:
    """The current 1-based position of each of ``layer_ids``, by layer id (unknown ids left out)."""
    marks = ",".join("?" * len(layer_ids))
    return {
        r["id"]: r["position"]
        for r in db.all(f"SELECT id, position FROM escalation_layers WHERE id IN ({marks})", list(layer_ids))
    }


def set_layer_position(db: Database, layer_id: str, position: int, updated_at: str) -> None:
    """Move one layer to ``position`` and stamp ``updated_at`` (an ISO 8601 instant)."""
    db.execute(
        "UPDATE escalation_layers SET position = ?, updated_at = ? WHERE id = ?",
        (position, updated_at, layer_id),
    )


def delete_layer(db: Database, layer_id: str) -> None:
    """Delete one ``escalation_layers`` row (the caller renumbers the rest)."""
    db.execute("DELETE FROM escalation_layers WHERE id = ?", (layer_id,))


def policy_paging_schedule_first(db: Database, org_id: str, schedule_id: str) -> str | None:
    """The id of the organisation's oldest policy (ties by id) whose layer 1 targets ``schedule_id``, or None."""
    row = db.one(
        "SELECT p.id FROM policies p JOIN escalation_layers l ON l.policy_id = p.id "
        "WHERE p.org_id = ? AND l.position = 1 AND l.target_type = 'schedule' AND l.schedule_id = ? "
        "ORDER BY p.created_at, p.id LIMIT 1",
        (org_id, schedule_id),
    )
    return None if row is None else str(row["id"])


def policy_ids(db: Database, org_id: str) -> list[str]:
    """The ids of the organisation's policies, by name."""
    return [r["id"] for r in db.all("SELECT id FROM policies WHERE org_id = ? ORDER BY name", (org_id,))]


def insert_policy(db: Database, values: Mapping[str, Any]) -> None:
    """Insert a ``policies`` row (``values`` by column name)."""
    _rows.insert(db, "policies", values)


def update_policy(db: Database, policy_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``policies`` row of ``policy_id``."""
    _rows.update(db, "policies", policy_id, changes)


def insert_layer(db: Database, values: Mapping[str, Any]) -> None:
    """Insert an ``escalation_layers`` row (``values`` by column name)."""
    _rows.insert(db, "escalation_layers", values)


def update_layer(db: Database, layer_id: str, changes: Mapping[str, Any]) -> None:
    """Set ``changes`` (by column name) on the ``escalation_layers`` row of ``layer_id``."""
    _rows.update(db, "escalation_layers", layer_id, changes)


def renumber_layers(db: Database, layer_ids: Sequence[str], *, now: str) -> None:
    """Give the policy's layers ``layer_ids`` positions 1, 2, … in list order, stamped ``now`` (ISO 8601)."""
    _rows.renumber_positions(db, "escalation_layers", layer_ids, start=1, now=now)
