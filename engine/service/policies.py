"""Escalation policies and their layers (1-based positions, schedule or users targets)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from engine.errors import DomainError, NameConflict, NotFound, ValidationError
from engine.ids import new_id
from engine.rotation import TargetResolution
from engine.service import Ctx
from engine.service.orgs import active_user_ids
from engine.service.schedules import check_full_order, renumber_positions
from engine.service.schedules import paged_now as paged_target_now
from engine.service.validate import integer, name_string, only_fields, require, string
from engine.timefmt import to_iso
from storage.db import Database
from storage.queries.policies import load_policy_model
from storage.sync import change_queue as sync_outbox

MAX_ACK_TIMEOUT = 10_080


# -- wire forms ----------------------------------------------------------------------------------


def policy_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "orgId": row["org_id"],
        "name": row["name"],
        "description": row["description"],
        "repeat": row["repeat_count"],
        "repageAfterMinutes": row["repage_after_minutes"],
        "createdBy": row["created_by"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def target_wire(row: sqlite3.Row) -> dict[str, Any]:
    if row["target_type"] == "schedule":
        return {"type": "schedule", "scheduleId": row["schedule_id"]}
    return {"type": "users", "userIds": json.loads(row["user_ids"] or "[]")}


def layer_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "policyId": row["policy_id"],
        "orgId": row["org_id"],
        "position": row["position"],
        "ackTimeoutMinutes": row["ack_timeout_minutes"],
        "target": target_wire(row),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


# -- policies ------------------------------------------------------------------------------------

_POLICY_FIELDS = {"name", "description", "repeat", "repageAfterMinutes"}


def _policy_row(ctx: Ctx, policy_id: str) -> sqlite3.Row:
    row = ctx.db.one("SELECT * FROM policies WHERE id = ? AND org_id = ?", (policy_id, ctx.org_id))
    if row is None:
        raise NotFound("escalation policy", policy_id)
    return row


def _check_name_free(ctx: Ctx, name: str, exclude_id: str | None = None) -> None:
    if ctx.db.one(
        "SELECT 1 FROM policies WHERE org_id = ? AND name = ? AND id IS NOT ?", (ctx.org_id, name, exclude_id)
    ):
        raise NameConflict(f"an escalation policy named {name!r} already exists")


def _extensions(body: dict[str, Any]) -> dict[str, Any]:
    """Local extensions (never sent to the remote service): ``repeat`` and ``repageAfterMinutes``."""
    out: dict[str, Any] = {}
    if "repeat" in body:
        out["repeat_count"] = integer(body["repeat"], "repeat", minimum=0, maximum=20)
    if "repageAfterMinutes" in body:
        v = body["repageAfterMinutes"]
        out["repage_after_minutes"] = (
            None if v is None else integer(v, "repageAfterMinutes", minimum=1, maximum=MAX_ACK_TIMEOUT)
        )
    return out


def create_policy(
    ctx: Ctx, body: Any, *, origin: str = "local", remote_id: str | None = None
) -> dict[str, Any]:
    body = only_fields(body, _POLICY_FIELDS)
    name = name_string(body.get("name"))
    description = string(
        body.get("description"), "description", max_len=10_000, nullable=True, multiline=True
    )
    ext = _extensions(body)
    with ctx.write() as now:
        _check_name_free(ctx, name)
        pid = new_id("pol", now)
        ctx.db.insert(
            "policies",
            {
                "id": pid,
                "org_id": ctx.org_id,
                "name": name,
                "description": description,
                "repeat_count": ext.get("repeat_count", 0),
                "repage_after_minutes": ext.get("repage_after_minutes"),
                "created_by": ctx.actor_id,
                "created_at": to_iso(now),
                "updated_at": to_iso(now),
                "origin": origin,
                "remote_id": remote_id,
            },
        )
        sync_outbox.record_change(ctx, "policy.create", pid, body)
        return policy_wire(_policy_row(ctx, pid))


def list_policies(ctx: Ctx) -> list[dict[str, Any]]:
    rows = ctx.db.all("SELECT * FROM policies WHERE org_id = ? ORDER BY name, id", (ctx.org_id,))
    return [policy_wire(r) for r in rows]


def get_policy(ctx: Ctx, policy_id: str) -> dict[str, Any]:
    """The policy with its layers in position order."""
    with ctx.db.read():
        out = policy_wire(_policy_row(ctx, policy_id))
        out["layers"] = list_layers(ctx, policy_id)
    return out


def find_policy(ctx: Ctx, ident: str) -> dict[str, Any]:
    row = ctx.db.one(
        "SELECT * FROM policies WHERE org_id = ? AND (id = ? OR name = ?)", (ctx.org_id, ident, ident)
    )
    if row is None:
        raise NotFound("escalation policy", ident)
    return policy_wire(row)


def update_policy(ctx: Ctx, policy_id: str, body: Any) -> dict[str, Any]:
    body = only_fields(body, _POLICY_FIELDS)
    changes: dict[str, Any] = _extensions(body)
    if "name" in body:
        changes["name"] = name_string(body["name"])
    if "description" in body:
        changes["description"] = string(
            body["description"], "description", max_len=10_000, nullable=True, multiline=True
        )
    with ctx.write() as now:
        _policy_row(ctx, policy_id)
        if "name" in changes:
            _check_name_free(ctx, changes["name"], exclude_id=policy_id)
        if changes:
            changes["updated_at"] = to_iso(now)
            ctx.db.update("policies", "id", policy_id, changes)
            sync_outbox.record_change(ctx, "policy.update", policy_id, body)
        return policy_wire(_policy_row(ctx, policy_id))


def delete_policy(ctx: Ctx, policy_id: str) -> None:
    """Delete a policy. Refused while an open incident is escalating on it."""
    with ctx.write():
        _policy_row(ctx, policy_id)
        open_count = ctx.db.scalar(
            "SELECT count(*) FROM incidents WHERE escalation_policy_id = ? AND status != 'resolved'",
            (policy_id,),
        )
        if open_count:
            raise DomainError(
                "policy_in_use",
                f"{open_count} open incident(s) use this policy; resolve them or detach first",
            )
        sync_outbox.record_change(ctx, "policy.delete", policy_id)
        ctx.db.execute("DELETE FROM policies WHERE id = ?", (policy_id,))


# -- layers --------------------------------------------------------------------------------------


def _target(ctx: Ctx, value: Any) -> tuple[str, str | None, list[str] | None]:
    """Validate a target union; 400 ``invalid_target`` when it names nothing in this org."""
    if not isinstance(value, dict):
        raise ValidationError("target must be an object with a type", field="target")
    ttype = value.get("type")
    if ttype == "schedule":
        only_fields(value, {"type", "scheduleId"}, "target")
        sid = value.get("scheduleId")
        if not isinstance(sid, str) or not sid:
            raise ValidationError("target.scheduleId must be a schedule id", field="target.scheduleId")
        if not ctx.db.one("SELECT 1 FROM schedules WHERE id = ? AND org_id = ?", (sid, ctx.org_id)):
            raise DomainError("invalid_target", f"schedule {sid!r} does not exist in this organisation")
        return "schedule", sid, None
    if ttype == "users":
        only_fields(value, {"type", "userIds"}, "target")
        uids = value.get("userIds")
        if not isinstance(uids, list) or not uids or not all(isinstance(u, str) and u for u in uids):
            raise ValidationError(
                "target.userIds must be a non-empty array of user ids", field="target.userIds"
            )
        if len(set(uids)) != len(uids):
            raise DomainError("invalid_target", "target.userIds lists a user more than once")
        known = active_user_ids(ctx)
        unknown = [u for u in uids if u not in known]
        if unknown:
            raise DomainError("invalid_target", f"not members of this organisation: {', '.join(unknown)}")
        return "users", None, list(uids)
    raise ValidationError('target.type must be "schedule" or "users"', field="target.type")


def _layer_row(ctx: Ctx, policy_id: str, layer_id: str) -> sqlite3.Row:
    row = ctx.db.one(
        "SELECT * FROM escalation_layers WHERE id = ? AND policy_id = ? AND org_id = ?",
        (layer_id, policy_id, ctx.org_id),
    )
    if row is None:
        raise NotFound("escalation layer", layer_id)
    return row


def _layer_ids(db: Database, policy_id: str) -> list[str]:
    return [
        r["id"]
        for r in db.all(
            "SELECT id FROM escalation_layers WHERE policy_id = ? ORDER BY position, created_at, id",
            (policy_id,),
        )
    ]


def add_layer(
    ctx: Ctx, policy_id: str, body: Any, *, origin: str = "local", remote_id: str | None = None
) -> dict[str, Any]:
    """Add a layer. ``position`` inserts at that point (later layers shift down); positions stay 1..n.

    A position beyond the end appends. (The reference leaves insert semantics open; see docs/API.md.)
    """
    body = only_fields(body, {"position", "ackTimeoutMinutes", "target"})
    position = integer(require(body, "position"), "position", minimum=1)
    timeout = integer(
        require(body, "ackTimeoutMinutes"), "ackTimeoutMinutes", minimum=1, maximum=MAX_ACK_TIMEOUT
    )
    target = require(body, "target")
    with ctx.write() as now:
        _policy_row(ctx, policy_id)
        ttype, sid, uids = _target(ctx, target)
        ids = _layer_ids(ctx.db, policy_id)
        lid = new_id("layer", now)
        ctx.db.insert(
            "escalation_layers",
            {
                "id": lid,
                "policy_id": policy_id,
                "org_id": ctx.org_id,
                "position": 0,
                "ack_timeout_minutes": timeout,
                "target_type": ttype,
                "schedule_id": sid,
                "user_ids": json.dumps(uids) if uids is not None else None,
                "created_at": to_iso(now),
                "updated_at": to_iso(now),
                "origin": origin,
                "remote_id": remote_id,
            },
        )
        index = min(position - 1, len(ids))
        ids.insert(index, lid)
        _renumber_quietly(ctx.db, ids, now=to_iso(now), changed={lid})
        _touch_policy(ctx, policy_id)
        sync_outbox.record_change(ctx, "layer.create", lid, body, root_id=policy_id)
        return layer_wire(_layer_row(ctx, policy_id, lid))


def _renumber_quietly(db: Database, ids: list[str], *, now: str, changed: set[str]) -> None:
    """Renumber 1..n, bumping ``updatedAt`` only on layers whose position (or content) changed."""
    current = {
        r["id"]: r["position"]
        for r in db.all(
            f"SELECT id, position FROM escalation_layers WHERE id IN ({','.join('?' * len(ids))})", ids
        )
    }
    for i, lid in enumerate(ids, start=1):
        if current.get(lid) != i or lid in changed:
            db.execute(
                "UPDATE escalation_layers SET position = ?, updated_at = ? WHERE id = ?", (i, now, lid)
            )


def update_layer(ctx: Ctx, policy_id: str, layer_id: str, body: Any) -> dict[str, Any]:
    """Partial update. A new ``position`` moves the layer there, shifting the others."""
    body = only_fields(body, {"position", "ackTimeoutMinutes", "target"})
    changes: dict[str, Any] = {}
    if "ackTimeoutMinutes" in body:
        changes["ack_timeout_minutes"] = integer(
            body["ackTimeoutMinutes"], "ackTimeoutMinutes", minimum=1, maximum=MAX_ACK_TIMEOUT
        )
    position = integer(body["position"], "position", minimum=1) if "position" in body else None
    with ctx.write() as now_dt:
        now = to_iso(now_dt)
        _layer_row(ctx, policy_id, layer_id)
        if "target" in body:
            ttype, sid, uids = _target(ctx, body["target"])
            changes.update(
                target_type=ttype, schedule_id=sid, user_ids=json.dumps(uids) if uids is not None else None
            )
        if changes:
            changes["updated_at"] = now
            ctx.db.update("escalation_layers", "id", layer_id, changes)
        if position is not None:
            ids = [i for i in _layer_ids(ctx.db, policy_id) if i != layer_id]
            ids.insert(min(position - 1, len(ids)), layer_id)
            _renumber_quietly(ctx.db, ids, now=now, changed=set())
        _touch_policy(ctx, policy_id)
        sync_outbox.record_change(ctx, "layer.update", layer_id, body, root_id=policy_id)
        return layer_wire(_layer_row(ctx, policy_id, layer_id))


def delete_layer(ctx: Ctx, policy_id: str, layer_id: str) -> None:
    with ctx.write() as now:
        _layer_row(ctx, policy_id, layer_id)
        sync_outbox.record_change(ctx, "layer.delete", layer_id, root_id=policy_id)
        ctx.db.execute("DELETE FROM escalation_layers WHERE id = ?", (layer_id,))
        ids = _layer_ids(ctx.db, policy_id)
        if ids:
            _renumber_quietly(ctx.db, ids, now=to_iso(now), changed=set())
        _touch_policy(ctx, policy_id)


def list_layers(ctx: Ctx, policy_id: str) -> list[dict[str, Any]]:
    rows = ctx.db.all(
        "SELECT * FROM escalation_layers WHERE policy_id = ? AND org_id = ? ORDER BY position",
        (policy_id, ctx.org_id),
    )
    return [layer_wire(r) for r in rows]


def reorder_layers(ctx: Ctx, policy_id: str, layer_ids: Any) -> list[dict[str, Any]]:
    """``PUT …/layers/order``: the complete set of the policy's layer ids in the new order.

    Positions are renumbered 1..n in array order and every layer's ``updatedAt`` changes (as the guide
    shows). A missing, extra, repeated or foreign id is rejected (400 ``invalid_layer_order``) and nothing
    changes.
    """
    with ctx.write() as now:
        _policy_row(ctx, policy_id)
        ids = check_full_order(layer_ids, _layer_ids(ctx.db, policy_id), "layer")
        renumber_positions(ctx.db, "escalation_layers", ids, start=1, now=to_iso(now))
        _touch_policy(ctx, policy_id)
        sync_outbox.record_change(ctx, "layer.reorder", policy_id, {"layerIds": ids})
        return list_layers(ctx, policy_id)


def _touch_policy(ctx: Ctx, policy_id: str) -> None:
    with ctx.write() as now:
        ctx.db.update("policies", "id", policy_id, {"updated_at": to_iso(now)})


def paged_now(ctx: Ctx, policy_id: str, at: datetime | None = None) -> dict[str, TargetResolution]:
    """Who each layer of the policy would page at ``at`` (default: now), by layer id: every person, as
    the escalation engine itself would page them (:func:`engine.service.schedules.paged_now`), so a
    removed user is never shown as paged. 404 ``not_found`` outside the organisation."""
    with ctx.db.read():
        _policy_row(ctx, policy_id)
        plan = load_policy_model(ctx.db, policy_id)
        when = at or ctx.now()
        return {layer.id: paged_target_now(ctx, layer.target, when) for layer in plan.layers}
