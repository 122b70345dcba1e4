"""Escalation policies and their layers (1-based positions, schedule or users targets)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from msgspec import UNSET

from engine.errors import DomainError, NameConflict, NotFound
from engine.ids import new_id
from engine.rotation import TargetResolution
from engine.service import Ctx, responses
from engine.service.models import (
    Body,
    EscalationLayerCreate,
    EscalationLayerUpdate,
    PolicyCreate,
    PolicyUpdate,
    ScheduleTarget,
    UsersTarget,
)
from engine.service.orgs import active_user_ids
from engine.service.responses import wire
from engine.service.schedules import check_full_order, renumber_positions
from engine.service.schedules import paged_now as paged_target_now
from engine.service.validate import decode, decode_field
from engine.timefmt import to_iso
from storage.db import Database
from storage.queries import policies as queries
from storage.queries.policies import load_policy_model
from storage.sync import change_queue as sync_outbox

# -- wire forms ----------------------------------------------------------------------------------


def policy_wire(row: sqlite3.Row) -> dict[str, Any]:
    """A policy in wire form (:class:`~engine.service.responses.Policy`)."""
    return wire(responses.Policy(**_policy_fields(row)))


def _policy_fields(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "org_id": row["org_id"],
        "name": row["name"],
        "description": row["description"],
        "repeat": row["repeat_count"],
        "repage_after_minutes": row["repage_after_minutes"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _target_model(row: sqlite3.Row) -> ScheduleTarget | UsersTarget:
    if row["target_type"] == "schedule":
        return ScheduleTarget(schedule_id=row["schedule_id"])
    return UsersTarget(user_ids=json.loads(row["user_ids"] or "[]"))


def target_wire(row: sqlite3.Row) -> dict[str, Any]:
    """A layer's target in wire form: ``{"type": "schedule", "scheduleId"}`` or ``{"type": "users", "userIds"}``."""
    return wire(_target_model(row))


def _layer(row: sqlite3.Row) -> responses.EscalationLayer:
    return responses.EscalationLayer(
        id=row["id"],
        policy_id=row["policy_id"],
        org_id=row["org_id"],
        position=row["position"],
        ack_timeout_minutes=row["ack_timeout_minutes"],
        target=_target_model(row),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def layer_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An escalation layer in wire form (:class:`~engine.service.responses.EscalationLayer`)."""
    return wire(_layer(row))


# -- policies ------------------------------------------------------------------------------------


def _policy_row(ctx: Ctx, policy_id: str) -> sqlite3.Row:
    row = queries.policy_row(ctx.db, ctx.org_id, policy_id)
    if row is None:
        raise NotFound("escalation policy", policy_id)
    return row


def _check_name_free(ctx: Ctx, name: str, exclude_id: str | None = None) -> None:
    if queries.policy_name_taken(ctx.db, ctx.org_id, name, exclude_id):
        raise NameConflict(f"an escalation policy named {name!r} already exists")


def _extensions(body: PolicyCreate | PolicyUpdate) -> dict[str, Any]:
    """Local extensions (never sent to the remote service): ``repeat`` and ``repageAfterMinutes``."""
    out: dict[str, Any] = {}
    if body.repeat is not UNSET:
        out["repeat_count"] = body.repeat
    if body.repage_after_minutes is not UNSET:
        out["repage_after_minutes"] = body.repage_after_minutes
    return out


def create_policy(
    ctx: Ctx, body: Any, *, origin: str = "local", remote_id: str | None = None
) -> dict[str, Any]:
    checked = decode(PolicyCreate, body)
    name = checked.name
    description = None if checked.description is UNSET else checked.description
    ext = _extensions(checked)
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
    return [policy_wire(r) for r in queries.policy_rows(ctx.db, ctx.org_id)]


def get_policy(ctx: Ctx, policy_id: str) -> dict[str, Any]:
    """The policy with its layers in position order."""
    with ctx.db.read():
        answer = responses.PolicyWithLayers(
            **_policy_fields(_policy_row(ctx, policy_id)),
            layers=[_layer(r) for r in queries.layer_rows(ctx.db, ctx.org_id, policy_id)],
        )
    return wire(answer)


def find_policy(ctx: Ctx, ident: str) -> dict[str, Any]:
    row = queries.policy_row_by_id_or_name(ctx.db, ctx.org_id, ident)
    if row is None:
        raise NotFound("escalation policy", ident)
    return policy_wire(row)


def update_policy(ctx: Ctx, policy_id: str, body: Any) -> dict[str, Any]:
    checked = decode(PolicyUpdate, body)
    changes: dict[str, Any] = _extensions(checked)
    if checked.name is not UNSET:
        changes["name"] = checked.name
    if checked.description is not UNSET:
        changes["description"] = checked.description
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
        open_count = queries.open_incident_count(ctx.db, policy_id)
        if open_count:
            raise DomainError(
                "policy_in_use",
                f"{open_count} open incident(s) use this policy; resolve them or detach first",
            )
        sync_outbox.record_change(ctx, "policy.delete", policy_id)
        queries.delete_policy(ctx.db, policy_id)


# -- layers --------------------------------------------------------------------------------------


def _target(ctx: Ctx, value: Any, model: type[Body]) -> tuple[str, str | None, list[str] | None]:
    """Check a target union (422 by ``model``'s declaration); 400 ``invalid_target`` when it names
    nothing in this org."""
    target = decode_field(model, "target", value)
    if isinstance(target, ScheduleTarget):
        sid = target.schedule_id
        if not queries.schedule_exists(ctx.db, ctx.org_id, sid):
            raise DomainError("invalid_target", f"schedule {sid!r} does not exist in this organisation")
        return "schedule", sid, None
    uids = target.user_ids
    if len(set(uids)) != len(uids):
        raise DomainError("invalid_target", "target.userIds lists a user more than once")
    known = active_user_ids(ctx)
    unknown = [u for u in uids if u not in known]
    if unknown:
        raise DomainError("invalid_target", f"not members of this organisation: {', '.join(unknown)}")
    return "users", None, list(uids)


def _layer_row(ctx: Ctx, policy_id: str, layer_id: str) -> sqlite3.Row:
    row = queries.layer_row(ctx.db, ctx.org_id, policy_id, layer_id)
    if row is None:
        raise NotFound("escalation layer", layer_id)
    return row


def add_layer(
    ctx: Ctx, policy_id: str, body: Any, *, origin: str = "local", remote_id: str | None = None
) -> dict[str, Any]:
    """Add a layer. ``position`` inserts at that point (later layers shift down); positions stay 1..n.

    A position beyond the end appends. (The reference leaves insert semantics open; see docs/API.md.)
    """
    checked = decode(EscalationLayerCreate, body, later={"target"})
    position, timeout = checked.position, checked.ack_timeout_minutes
    with ctx.write() as now:
        _policy_row(ctx, policy_id)
        ttype, sid, uids = _target(ctx, checked.target, EscalationLayerCreate)
        ids = queries.layer_ids(ctx.db, policy_id)
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
    current = queries.layer_positions(db, ids)
    for i, lid in enumerate(ids, start=1):
        if current.get(lid) != i or lid in changed:
            queries.set_layer_position(db, lid, i, now)


def update_layer(ctx: Ctx, policy_id: str, layer_id: str, body: Any) -> dict[str, Any]:
    """Partial update. A new ``position`` moves the layer there, shifting the others."""
    checked = decode(EscalationLayerUpdate, body, later={"target"})
    changes: dict[str, Any] = {}
    if checked.ack_timeout_minutes is not UNSET:
        changes["ack_timeout_minutes"] = checked.ack_timeout_minutes
    position = None if checked.position is UNSET else checked.position
    with ctx.write() as now_dt:
        now = to_iso(now_dt)
        _layer_row(ctx, policy_id, layer_id)
        if checked.target is not UNSET:
            ttype, sid, uids = _target(ctx, checked.target, EscalationLayerUpdate)
            changes.update(
                target_type=ttype, schedule_id=sid, user_ids=json.dumps(uids) if uids is not None else None
            )
        if changes:
            changes["updated_at"] = now
            ctx.db.update("escalation_layers", "id", layer_id, changes)
        if position is not None:
            ids = [i for i in queries.layer_ids(ctx.db, policy_id) if i != layer_id]
            ids.insert(min(position - 1, len(ids)), layer_id)
            _renumber_quietly(ctx.db, ids, now=now, changed=set())
        _touch_policy(ctx, policy_id)
        sync_outbox.record_change(ctx, "layer.update", layer_id, body, root_id=policy_id)
        return layer_wire(_layer_row(ctx, policy_id, layer_id))


def delete_layer(ctx: Ctx, policy_id: str, layer_id: str) -> None:
    with ctx.write() as now:
        _layer_row(ctx, policy_id, layer_id)
        sync_outbox.record_change(ctx, "layer.delete", layer_id, root_id=policy_id)
        queries.delete_layer(ctx.db, layer_id)
        ids = queries.layer_ids(ctx.db, policy_id)
        if ids:
            _renumber_quietly(ctx.db, ids, now=to_iso(now), changed=set())
        _touch_policy(ctx, policy_id)


def list_layers(ctx: Ctx, policy_id: str) -> list[dict[str, Any]]:
    return [layer_wire(r) for r in queries.layer_rows(ctx.db, ctx.org_id, policy_id)]


def reorder_layers(ctx: Ctx, policy_id: str, layer_ids: Any) -> list[dict[str, Any]]:
    """``PUT …/layers/order``: the complete set of the policy's layer ids in the new order.

    Positions are renumbered 1..n in array order and every layer's ``updatedAt`` changes (as the guide
    shows). A missing, extra, repeated or foreign id is rejected (400 ``invalid_layer_order``) and nothing
    changes.
    """
    with ctx.write() as now:
        _policy_row(ctx, policy_id)
        ids = check_full_order(layer_ids, queries.layer_ids(ctx.db, policy_id), "layer")
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
