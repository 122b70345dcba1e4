"""Escalation policies and their layers (tables ``policies``, ``escalation_layers``)."""

from __future__ import annotations

import json

from engine.errors import NotFound
from engine.model import EscalationLayer, Policy, Target
from storage.db import Database


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
