"""On-call schedules, their rotation layers and overrides, and "who is on call"."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec import UNSET

from engine import rotation
from engine.errors import DomainError, NameConflict, NotFound, ValidationError
from engine.ids import new_id
from engine.model import Schedule, Target
from engine.service import Ctx, responses
from engine.service.models import (
    OverrideCreate,
    RotationLayerCreate,
    RotationLayerUpdate,
    ScheduleCreate,
    ScheduleUpdate,
)
from engine.service.orgs import active_user_ids, get_user_row, membership
from engine.service.responses import wire
from engine.service.validate import decode, decode_field, only_fields
from engine.timefmt import to_iso, to_iso_opt
from storage.queries import schedules as schedule_queries
from storage.queries.schedules import load_schedule_model
from storage.sync import change_queue as sync_outbox

ROTATION_LENGTHS = {"daily": 1, "weekly": 7}


# -- wire forms ----------------------------------------------------------------------------------


def _schedule_fields(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "org_id": row["org_id"],
        "name": row["name"],
        "description": row["description"],
        "timezone": row["timezone"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def schedule_wire(row: sqlite3.Row) -> dict[str, Any]:
    """A schedule in wire form (:class:`~engine.service.responses.Schedule`)."""
    return wire(responses.Schedule(**_schedule_fields(row)))


def _rotation_layer(row: sqlite3.Row) -> responses.RotationLayer:
    return responses.RotationLayer(
        id=row["id"],
        schedule_id=row["schedule_id"],
        name=row["name"],
        position=row["position"],
        rotation_type=row["rotation_type"],
        rotation_length_days=row["rotation_length_days"],
        handoff_time=row["handoff_time"],
        effective_from=row["effective_from"],
        effective_until=row["effective_until"],
        participant_ids=json.loads(row["participant_ids"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _rearm_reminders(ctx: Ctx, now: datetime) -> None:
    """The organisation's shifts changed: re-arm people's shift reminders. The reminders (and logging)
    load here, on a write, not with the read commands that import this module."""
    from engine.runtime import shift_reminders

    shift_reminders.rearm_org(ctx.db, ctx.org_id, now)


def rotation_layer_wire(row: sqlite3.Row) -> dict[str, Any]:
    """A rotation layer in wire form (:class:`~engine.service.responses.RotationLayer`)."""
    return wire(_rotation_layer(row))


def _override(row: sqlite3.Row) -> responses.Override:
    return responses.Override(
        id=row["id"],
        schedule_id=row["schedule_id"],
        user_id=row["user_id"],
        start=row["start_at"],
        end=row["end_at"],
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def override_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An override in wire form (:class:`~engine.service.responses.Override`)."""
    return wire(_override(row))


# -- schedules -----------------------------------------------------------------------------------


def _schedule_row(ctx: Ctx, schedule_id: str) -> sqlite3.Row:
    row = schedule_queries.schedule_row(ctx.db, ctx.org_id, schedule_id)
    if row is None:
        raise NotFound("schedule", schedule_id)
    return row


def _timezone(tz: str) -> str:
    """``tz`` (already a 1..64 character string) if the zone is one the rotation rules accept."""
    try:
        rotation.validate_timezone(tz)
    except ValueError as exc:
        raise ValidationError(str(exc), field="timezone") from None
    return tz


def _check_name_free(ctx: Ctx, name: str, exclude_id: str | None = None) -> None:
    if schedule_queries.schedule_name_taken(ctx.db, ctx.org_id, name, exclude_id):
        raise NameConflict(f"a schedule named {name!r} already exists")


def create_schedule(
    ctx: Ctx, body: Any, *, origin: str = "local", remote_id: str | None = None
) -> dict[str, Any]:
    checked = decode(ScheduleCreate, body)
    name = checked.name
    description = None if checked.description is UNSET else checked.description
    tz = _timezone(checked.timezone)
    with ctx.write() as now:
        _check_name_free(ctx, name)
        sid = new_id("sched", now)
        schedule_queries.insert_schedule(
            ctx.db,
            {
                "id": sid,
                "org_id": ctx.org_id,
                "name": name,
                "description": description,
                "timezone": tz,
                "created_by": ctx.actor_id,
                "created_at": to_iso(now),
                "updated_at": to_iso(now),
                "origin": origin,
                "remote_id": remote_id,
            },
        )
        return schedule_wire(_schedule_row(ctx, sid))


def list_schedules(ctx: Ctx) -> list[dict[str, Any]]:
    rows = schedule_queries.schedule_rows(ctx.db, ctx.org_id)
    return [schedule_wire(r) for r in rows]


def get_schedule(ctx: Ctx, schedule_id: str) -> dict[str, Any]:
    """The schedule with its rotation layers (by position) and overrides (by start)."""
    with ctx.db.read():
        out = schedule_wire(_schedule_row(ctx, schedule_id))
        out["layers"] = list_rotation_layers(ctx, schedule_id)
        out["overrides"] = list_overrides(ctx, schedule_id)
    return out


def find_schedule(ctx: Ctx, ident: str) -> dict[str, Any]:
    row = schedule_queries.schedule_row_by_id_or_name(ctx.db, ctx.org_id, ident)
    if row is None:
        raise NotFound("schedule", ident)
    return schedule_wire(row)


def update_schedule(ctx: Ctx, schedule_id: str, body: Any) -> dict[str, Any]:
    checked = decode(ScheduleUpdate, body)
    changes: dict[str, Any] = {}
    if checked.name is not UNSET:
        changes["name"] = checked.name
    if checked.description is not UNSET:
        changes["description"] = checked.description
    if checked.timezone is not UNSET:
        changes["timezone"] = _timezone(checked.timezone)
    with ctx.write() as now:
        _schedule_row(ctx, schedule_id)
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        if "name" in changes:
            _check_name_free(ctx, changes["name"], exclude_id=schedule_id)
        if changes:
            changes["updated_at"] = to_iso(now)
            schedule_queries.update_schedule(ctx.db, schedule_id, changes)
            _rearm_reminders(ctx, now)
        return schedule_wire(_schedule_row(ctx, schedule_id))


def delete_schedule(ctx: Ctx, schedule_id: str) -> None:
    """Delete a schedule. Refused (400 ``schedule_in_use``) while anything would then silently page nobody:
    a layer of a live policy targets it, or an open incident's escalation still does through the policy
    snapshot it runs on (even after the policy itself was edited). The message names the policies and
    the incidents (``#seq``); ``details`` lists them as ``{"policies": [{id, name}], "incidents": [{id,
    sequentialId}]}``. Nothing changes when refused.
    """
    with ctx.write() as now:
        _schedule_row(ctx, schedule_id)
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        used = schedule_queries.policies_targeting(ctx.db, schedule_id)
        running = schedule_queries.incidents_escalating_to(ctx.db, schedule_id)
        if used or running:
            parts = []
            if used:
                parts.append("targeted by escalation policies: " + ", ".join(r["name"] for r in used))
            if running:
                parts.append(
                    "still paged by the escalation of open incidents "
                    + ", ".join(f"#{r['seq']}" for r in running)
                    + " (resolve them first)"
                )
            raise DomainError(
                "schedule_in_use",
                "the schedule is " + "; ".join(parts),
                details={
                    "policies": [{"id": r["id"], "name": r["name"]} for r in used],
                    "incidents": [{"id": r["id"], "sequentialId": r["seq"]} for r in running],
                },
            )
        schedule_queries.delete_schedule(ctx.db, schedule_id)
        _rearm_reminders(ctx, now)


# -- rotation layers -----------------------------------------------------------------------------

_LAYER_FIELDS = set(RotationLayerUpdate.__struct_encode_fields__)


def _layer_row(ctx: Ctx, schedule_id: str, layer_id: str) -> sqlite3.Row:
    row = schedule_queries.rotation_layer_row(ctx.db, ctx.org_id, schedule_id, layer_id)
    if row is None:
        raise NotFound("rotation layer", layer_id)
    return row


def _validated_layer(ctx: Ctx, merged: dict[str, Any]) -> dict[str, Any]:
    """Check a complete rotation-layer body (wire names) field by field against
    :class:`~engine.service.models.RotationLayerCreate`, then the rules across fields; returns column
    values. Raises 422 ``validation_error`` or 400 ``invalid_participant``."""

    def field(name: str, wire: str) -> Any:
        return decode_field(RotationLayerCreate, name, merged.get(wire))

    name = field("name", "name")
    rtype = field("rotation_type", "rotationType")
    length_raw = merged.get("rotationLengthDays", ROTATION_LENGTHS.get(rtype))
    if length_raw is None:
        raise ValidationError(
            "rotationLengthDays is required for a custom rotation", field="rotationLengthDays"
        )
    length = decode_field(RotationLayerCreate, "rotation_length_days", length_raw)
    if rtype in ROTATION_LENGTHS and length != ROTATION_LENGTHS[rtype]:
        raise ValidationError(
            f"a {rtype} rotation has rotationLengthDays {ROTATION_LENGTHS[rtype]}; use custom for {length}",
            field="rotationLengthDays",
        )
    handoff = field("handoff_time", "handoffTime")
    try:
        rotation.parse_handoff_time(handoff)
    except ValueError as exc:
        raise ValidationError(str(exc), field="handoffTime") from None
    if merged.get("effectiveFrom") is None:
        raise ValidationError("effectiveFrom is required", field="effectiveFrom")
    eff_from = field("effective_from", "effectiveFrom")
    eff_until = field("effective_until", "effectiveUntil")
    if eff_until is not None:
        if eff_until <= eff_from:
            raise ValidationError("effectiveUntil must be after effectiveFrom", field="effectiveUntil")
    participants = field("participant_ids", "participantIds")
    known = active_user_ids(ctx)
    unknown = [p for p in participants if p not in known]
    if unknown:
        raise DomainError("invalid_participant", f"not members of this organisation: {', '.join(unknown)}")
    return {
        "name": name,
        "rotation_type": rtype,
        "rotation_length_days": length,
        "handoff_time": handoff,
        "effective_from": to_iso(eff_from),
        "effective_until": to_iso_opt(eff_until),
        "participant_ids": json.dumps(participants),
    }


def _check_layer_name_free(ctx: Ctx, schedule_id: str, name: str, exclude_id: str | None = None) -> None:
    if schedule_queries.rotation_layer_name_taken(ctx.db, schedule_id, name, exclude_id):
        raise NameConflict(f"a rotation layer named {name!r} already exists in this schedule")


def add_rotation_layer(
    ctx: Ctx, schedule_id: str, body: Any, *, origin: str = "local", remote_id: str | None = None
) -> dict[str, Any]:
    """Add a layer at the next free position (positions are server-assigned, 0-based)."""
    body = only_fields(body, set(RotationLayerCreate.__struct_encode_fields__))
    if "position" in body and body["position"] is not None:
        raise ValidationError(
            "position is assigned by the server; reorder layers to change it", field="position"
        )
    with ctx.write() as now:
        _schedule_row(ctx, schedule_id)
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        values = _validated_layer(ctx, body)
        _check_layer_name_free(ctx, schedule_id, values["name"])
        position = schedule_queries.next_rotation_position(ctx.db, schedule_id)
        lid = new_id("rot", now)
        schedule_queries.insert_rotation_layer(
            ctx.db,
            {
                "id": lid,
                "schedule_id": schedule_id,
                "org_id": ctx.org_id,
                "position": position,
                **values,
                "created_at": to_iso(now),
                "updated_at": to_iso(now),
                "origin": origin,
                "remote_id": remote_id,
            },
        )
        _touch_schedule(ctx, schedule_id)
        return rotation_layer_wire(_layer_row(ctx, schedule_id, lid))


def update_rotation_layer(ctx: Ctx, schedule_id: str, layer_id: str, body: Any) -> dict[str, Any]:
    """Partial update (PATCH); a full body (PUT) works the same. ``effectiveUntil: null`` clears it."""
    body = only_fields(body, _LAYER_FIELDS)
    with ctx.write() as now:
        current = rotation_layer_wire(_layer_row(ctx, schedule_id, layer_id))
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        merged = {**current, **body}
        if "rotationType" in body and "rotationLengthDays" not in body:
            merged["rotationLengthDays"] = ROTATION_LENGTHS.get(
                body["rotationType"], current["rotationLengthDays"]
            )
        values = _validated_layer(ctx, merged)
        _check_layer_name_free(ctx, schedule_id, values["name"], exclude_id=layer_id)
        values["updated_at"] = to_iso(now)
        schedule_queries.update_rotation_layer(ctx.db, layer_id, values)
        _touch_schedule(ctx, schedule_id)
        return rotation_layer_wire(_layer_row(ctx, schedule_id, layer_id))


def delete_rotation_layer(ctx: Ctx, schedule_id: str, layer_id: str) -> None:
    """Delete a layer and close the gap in positions (0..n-1 stays dense)."""
    with ctx.write() as now:
        _layer_row(ctx, schedule_id, layer_id)
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        schedule_queries.delete_rotation_layer(ctx.db, layer_id)
        ids = schedule_queries.rotation_layer_ids(ctx.db, schedule_id)
        schedule_queries.renumber_rotation_layers(ctx.db, ids, now=to_iso(now))
        _touch_schedule(ctx, schedule_id)


def list_rotation_layers(ctx: Ctx, schedule_id: str) -> list[dict[str, Any]]:
    rows = schedule_queries.rotation_layer_rows(ctx.db, ctx.org_id, schedule_id)
    return [rotation_layer_wire(r) for r in rows]


def reorder_rotation_layers(ctx: Ctx, schedule_id: str, layer_ids: Any) -> list[dict[str, Any]]:
    """Set the complete order; positions become 0..n-1. Any other set is rejected and changes nothing."""
    with ctx.write() as now:
        _schedule_row(ctx, schedule_id)
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        current = schedule_queries.rotation_layer_ids(ctx.db, schedule_id)
        ids = check_full_order(layer_ids, current, "rotation layer")
        schedule_queries.renumber_rotation_layers(ctx.db, ids, now=to_iso(now))
        _touch_schedule(ctx, schedule_id)
        return list_rotation_layers(ctx, schedule_id)


def check_full_order(layer_ids: Any, current: list[str], what: str) -> list[str]:
    """The reorder rule shared by escalation and rotation layers: exactly the current set, each once."""
    if not isinstance(layer_ids, list) or not all(isinstance(i, str) for i in layer_ids):
        raise ValidationError("layerIds must be an array of layer ids", field="layerIds")
    dupes = sorted({i for i in layer_ids if layer_ids.count(i) > 1})
    missing = [i for i in current if i not in layer_ids]
    extra = [i for i in layer_ids if i not in current]
    if dupes or missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not {what}s of this object: {', '.join(extra)}")
        if dupes:
            parts.append(f"repeated {', '.join(dupes)}")
        raise DomainError(
            "invalid_layer_order",
            f"layerIds must list every {what} exactly once ({'; '.join(parts)})",
            details={"missing": missing, "unknown": extra, "duplicates": dupes},
        )
    return list(layer_ids)


def _touch_schedule(ctx: Ctx, schedule_id: str) -> None:
    with ctx.write() as now:
        schedule_queries.update_schedule(ctx.db, schedule_id, {"updated_at": to_iso(now)})
        _rearm_reminders(ctx, now)  # shifts changed: re-arm people's reminders


# -- overrides -----------------------------------------------------------------------------------


def add_override(ctx: Ctx, schedule_id: str, body: Any) -> dict[str, Any]:
    """A user covers ``[start, end)`` of the schedule, displacing the owner-bearing layer (TIME_RULES.md)."""
    checked = decode(OverrideCreate, body, later={"note"})
    user_id, start, end = checked.user_id, checked.start, checked.end
    if end <= start:
        raise ValidationError("end must be after start", field="end")
    note = None if checked.note is UNSET else decode_field(OverrideCreate, "note", checked.note)
    with ctx.write() as now:
        _schedule_row(ctx, schedule_id)
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        if user_id not in active_user_ids(ctx):
            raise DomainError("invalid_participant", f"{user_id} is not a member of this organisation")
        oid = new_id("ovr", now)
        schedule_queries.insert_override(
            ctx.db,
            {
                "id": oid,
                "schedule_id": schedule_id,
                "org_id": ctx.org_id,
                "user_id": user_id,
                "start_at": to_iso(start),
                "end_at": to_iso(end),
                "note": note,
                "created_by": ctx.actor_id,
                "created_at": to_iso(now),
            },
        )
        _touch_schedule(ctx, schedule_id)
        row = schedule_queries.override_row(ctx.db, oid)
        assert row is not None
        return override_wire(row)


def list_overrides(ctx: Ctx, schedule_id: str) -> list[dict[str, Any]]:
    _schedule_row(ctx, schedule_id)
    rows = schedule_queries.override_rows(ctx.db, ctx.org_id, schedule_id)
    return [override_wire(r) for r in rows]


def delete_override(ctx: Ctx, schedule_id: str, override_id: str) -> None:
    with ctx.write():
        _schedule_row(ctx, schedule_id)
        sync_outbox.refuse_local_edit(ctx, "schedules", schedule_id, "schedule")
        if not schedule_queries.delete_override(ctx.db, ctx.org_id, schedule_id, override_id):
            raise NotFound("override", override_id)
        _touch_schedule(ctx, schedule_id)


# -- resolution ----------------------------------------------------------------------------------


def resolution_wire(res: rotation.Resolution) -> dict[str, Any]:
    """Who is on call (:class:`~engine.service.responses.Resolution`) in wire form."""
    answer = responses.Resolution(
        schedule_id=res.schedule_id,
        at=to_iso(res.at),
        schedule_owner=res.owner_id,
        paging_targets=list(res.paging_targets),
        current_oncall=[
            responses.LayerOnCall(
                layer_id=lr.layer_id,
                name=lr.name,
                position=lr.position,
                active=lr.active,
                user_id=lr.participant_id,
                shift_start=to_iso_opt(lr.shift_start),
                shift_end=to_iso_opt(lr.shift_end),
                displaced_by_override=lr.displaced_by_override,
            )
            for lr in res.layers
        ],
        override=None
        if res.override is None
        else responses.ActiveOverride(
            id=res.override.id,
            user_id=res.override.user_id,
            start=to_iso(res.override.start),
            end=to_iso(res.override.end),
        ),
        next_handoff=to_iso_opt(res.next_handoff),
    )
    return wire(answer)


RESOLVE_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))


def on_call(ctx: Ctx, schedule_id: str, at: datetime | None = None) -> rotation.Resolution:
    """Who is on call at ``at`` (default: now), as :func:`engine.rotation.resolve` answers with the
    organisation's membership: the same answer the escalation engine pages with (a removed user's turn is
    a gap, their overrides do not apply, from the instant of removal). 404 ``not_found`` outside the
    organisation; ``ValueError`` if the stored schedule cannot be resolved (an unknown zone)."""
    with ctx.db.read():
        _schedule_row(ctx, schedule_id)
        model = load_schedule_model(ctx.db, schedule_id)
        members = membership(ctx)
    return rotation.resolve(model, at or ctx.now(), members)


def coverage(ctx: Ctx, schedule_id: str, start: datetime, end: datetime) -> rotation.ScheduleShifts:
    """Every layer's shifts, the owners and the gaps over ``[start, end)`` (:func:`engine.rotation.shifts`
    with the organisation's membership, so it agrees with :func:`on_call`). Errors as :func:`on_call`;
    ``end <= start`` is 422 ``validation_error``."""
    if end <= start:
        raise ValidationError("end must be after start", field="end")
    with ctx.db.read():
        _schedule_row(ctx, schedule_id)
        model = load_schedule_model(ctx.db, schedule_id)
        members = membership(ctx)
    return rotation.shifts(model, start, end, members)


SHIFT_END_HORIZON = timedelta(days=92)


def on_call_until(ctx: Ctx, schedule_id: str, at: datetime | None = None) -> datetime | None:
    """When the person on call at ``at`` (default: now) stops being on call: the end of their own shift,
    carried across back-to-back shifts (not the next handoff of any layer, which may not change the
    owner). None when nobody is on call, or when their stint runs past :data:`SHIFT_END_HORIZON`.
    Errors as :func:`on_call`."""
    when = at or ctx.now()
    res = on_call(ctx, schedule_id, when)
    if res.owner_id is None:
        return None
    cover = coverage(ctx, schedule_id, when, when + SHIFT_END_HORIZON)
    return rotation.owner_shift_end(cover.owners, res.owner_id, when)


def paged_now(ctx: Ctx, target: Target, at: datetime | None = None) -> rotation.TargetResolution:
    """Who an escalation layer's ``target`` would page at ``at`` (default: now): the escalation engine's
    own answer (:func:`engine.rotation.resolve_target`) with the organisation's membership, so a view can
    never disagree with what is paged. A schedule target whose schedule is gone (or not in this
    organisation) pages nobody; a schedule that cannot be resolved raises ``ValueError``."""
    when = at or ctx.now()
    with ctx.db.read():
        members = membership(ctx)
        sched: Schedule | None = None
        if target.type == "schedule" and target.schedule_id:
            if schedule_queries.schedule_row(ctx.db, ctx.org_id, target.schedule_id) is not None:
                sched = load_schedule_model(ctx.db, target.schedule_id)
    return rotation.resolve_target(target, sched, when, members)


def resolve_schedule(ctx: Ctx, schedule_id: str, at: datetime | None = None) -> dict[str, Any]:
    """Who is on call at ``at`` (default: now): owner, paging targets, each layer, the next handoff, in
    wire form (:func:`on_call`). A layer whose turn belongs to a removed user shows ``userId: null``.

    ``at`` must lie in [1900, 9000): beyond that, shift arithmetic would leave the calendar's range.
    """
    if at is not None and not RESOLVE_RANGE[0] <= at < RESOLVE_RANGE[1]:
        raise ValidationError("at must be between 1900-01-01 and 9000-01-01", field="at")
    return resolution_wire(on_call(ctx, schedule_id, at))


def person_shifts(ctx: Ctx, user_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every shift ``user_id`` holds over ``[start, end)`` in any schedule of the organisation, overrides
    included, in start order: each rotation layer's coverage from :func:`coverage` (the same answer as
    :func:`on_call` and the engine), kept where it names the person. Wire form: ``scheduleId``,
    ``scheduleName``, ``layerId`` (None for an override outside every layer), ``layerName``, ``userId``,
    ``start``, ``end`` (ISO instants, clipped to the range), ``source`` (``rotation`` or ``override``),
    ``overrideId``. 422 ``validation_error`` when ``end <= start``; 404 for a user outside the
    organisation."""
    if end <= start:
        raise ValidationError("end must be after start", field="end")
    get_user_row(ctx, user_id, include_removed=True)
    out: list[dict[str, Any]] = []
    for sched in list_schedules(ctx):
        cover = coverage(ctx, sched["id"], start, end)
        layer_names = {layer.layer_id: layer.name for layer in cover.layers}
        found = [s for layer in cover.layers for s in layer.shifts if s.user_id == user_id]
        found += [s for s in cover.owners if s.user_id == user_id and s.layer_id is None]
        for s in found:
            out.append(
                {
                    "scheduleId": sched["id"],
                    "scheduleName": sched["name"],
                    "layerId": s.layer_id,
                    "layerName": None if s.layer_id is None else layer_names.get(s.layer_id),
                    "userId": s.user_id,
                    "start": to_iso(s.start),
                    "end": to_iso(s.end),
                    "source": s.source,
                    "overrideId": s.override_id,
                }
            )
    out.sort(key=lambda s: (s["start"], s["scheduleName"], s["layerName"] or ""))
    return out
