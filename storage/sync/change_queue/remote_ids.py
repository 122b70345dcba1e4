"""Translating between local and remote ids, and local bodies into the remote's request bodies."""

from __future__ import annotations

import json
from typing import Any

from engine.errors import DomainError
from storage.db import Database


class LocalSyncError(DomainError):
    """A change that cannot be expressed for the remote (it names an object that exists only locally)."""

    def __init__(self, message: str) -> None:
        super().__init__("not_on_remote", message)


_TABLES = {
    "user": "users",
    "schedule": "schedules",
    "policy": "policies",
    "layer": "escalation_layers",
    "incident": "incidents",
    "update": "incident_updates",
}


def remote_id_of(db: Database, what: str, local_id: str | None) -> str:
    """The remote id of a local object, also after the object was deleted locally (from the queue).

    ``what`` is ``user``, ``schedule``, ``policy``, ``layer``, ``incident`` or ``update``; raises
    :class:`LocalSyncError` when the object never reached the remote.
    """
    if local_id is None:
        raise LocalSyncError(f"no {what} id")
    table = _TABLES[what]
    rid = db.scalar(f"SELECT remote_id FROM {table} WHERE id = ?", (local_id,))
    if rid:
        return str(rid)
    rid = db.scalar(
        "SELECT remote_id FROM sync_outbox WHERE object_id = ? AND remote_id IS NOT NULL "
        "AND status = 'done' ORDER BY seq DESC LIMIT 1",
        (local_id,),
    )
    if rid:
        return str(rid)
    raise LocalSyncError(f"{what} {local_id} exists only locally, not on the remote")


def mapped_remote_ids(db: Database, table: str) -> set[str]:
    """Remote ids already linked to a local row of ``table``."""
    return {r[0] for r in db.all(f"SELECT remote_id FROM {table} WHERE remote_id IS NOT NULL")}


def linked_local_id(db: Database, table: str, remote_id: str) -> str | None:
    """The local row of ``table`` linked to ``remote_id``, if any."""
    found = db.scalar(f"SELECT id FROM {table} WHERE remote_id = ?", (remote_id,))
    return None if found is None else str(found)


def policy_shape(db: Database, policy_id: str) -> str:
    """How the remote models this policy: ``layers`` (the reference) or ``steps`` (full replacement)."""
    return str(db.scalar("SELECT remote_shape FROM policies WHERE id = ?", (policy_id,)) or "layers")


def _target_to_remote(db: Database, target: Any) -> dict[str, Any]:
    if not isinstance(target, dict):
        raise LocalSyncError("layer target missing")
    if target.get("type") == "schedule":
        return {"type": "schedule", "scheduleId": remote_id_of(db, "schedule", target.get("scheduleId"))}
    return {"type": "users", "userIds": [remote_id_of(db, "user", u) for u in target.get("userIds") or []]}


def layer_to_remote(db: Database, body: dict[str, Any]) -> dict[str, Any]:
    """A layer body (``position``, ``ackTimeoutMinutes``, ``target``) with remote ids."""
    out: dict[str, Any] = {}
    for k in ("position", "ackTimeoutMinutes"):
        if k in body:
            out[k] = body[k]
    if "target" in body:
        out["target"] = _target_to_remote(db, body["target"])
    return out


def steps_body(db: Database, policy_id: str) -> dict[str, Any]:
    """The full replacement ``PUT`` body for a remote that models a policy as ``steps``."""
    policy = db.one("SELECT * FROM policies WHERE id = ?", (policy_id,))
    if policy is None:
        raise LocalSyncError(f"policy {policy_id} no longer exists locally")
    steps = []
    for r in db.all("SELECT * FROM escalation_layers WHERE policy_id = ? ORDER BY position", (policy_id,)):
        if r["target_type"] != "schedule":
            raise LocalSyncError(
                "this remote policy uses steps, which can only target schedules; a users target cannot be sent"
            )
        steps.append(
            {
                "targetType": "schedule",
                "targetId": remote_id_of(db, "schedule", r["schedule_id"]),
                "escalateAfterSeconds": max(60, int(r["ack_timeout_minutes"]) * 60),
            }
        )
    return {"name": policy["name"], "description": policy["description"], "steps": steps}


def map_steps(db: Database, policy_id: str, steps: list[Any]) -> None:
    """After a steps replacement: the i-th step is the i-th local layer."""
    ordered = sorted(
        (s for s in steps if isinstance(s, dict)),
        key=lambda s: int(s["position"]) if isinstance(s.get("position"), int) else 0,
    )
    local = db.all("SELECT id FROM escalation_layers WHERE policy_id = ? ORDER BY position", (policy_id,))
    for layer, step in zip(local, ordered, strict=False):
        if step.get("id") is not None:
            db.update("escalation_layers", "id", layer["id"], {"remote_id": str(step["id"])})


def local_escalation(db: Database, esc: Any) -> Any:
    """The remote's escalation state with its ids (policy, acknowledger) as local ids where known."""
    if not isinstance(esc, dict):
        return esc
    out = dict(esc)
    for key, table in (("policyId", "policies"), ("acknowledgedBy", "users")):
        if out.get(key) is not None:
            local = db.scalar(f"SELECT id FROM {table} WHERE remote_id = ?", (str(out[key]),))
            out[key] = local or out[key]
    return out


def remote_escalation(db: Database, incident_id: str) -> dict[str, Any] | None:
    """The escalation state the remote last reported for one of its incidents (None if unknown)."""
    raw = db.scalar("SELECT remote_escalation FROM incidents WHERE id = ?", (incident_id,))
    if not raw:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else {"state": value}


def origin(db: Database, table: str, object_id: str) -> str | None:
    """Which side owns a local row: ``remote`` (synced) or ``local``; None when the row is gone."""
    row = db.one(f"SELECT origin FROM {table} WHERE id = ?", (object_id,))
    return None if row is None else str(row["origin"])
