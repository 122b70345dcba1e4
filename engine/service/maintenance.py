"""Maintenance windows: alerts keep being recorded, but pages wait (``hold``) or no incident opens (``drop``).

A window covers the whole organisation (``org``), one integration, or one component (the component an
alert is routed to), from ``startsAt`` (default: now) to ``endsAt`` (required, or ``durationMinutes``). An
incident opened by alerts under a ``hold`` window is created without paging; when the window ends (its
end is an engine timer, kind ``maintenance_end``, so it survives crashes; ``oncall maintenance end`` ends it
early) the incident's escalation starts if its alerts still fire and nobody acknowledged it. A window
changes nothing for incidents that were already paging when it began. docs/ALERTS.md has the details.

Wire form: ``{id, orgId, scope, integrationId, component, mode, reason, startsAt, endsAt, endedEarly,
state: scheduled|active|ended, createdBy, createdAt}``.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from msgspec import UNSET

from engine import alerts as rules
from engine.errors import NotFound, ValidationError
from engine.ids import new_id
from engine.runtime import escalator
from engine.service import Ctx
from engine.service.models import MaintenanceStart
from engine.service.validate import decode
from engine.timefmt import parse_iso, to_epoch_ms, to_iso
from storage import timeline
from storage.db import Database
from storage.queries import alerts as alert_queries
from storage.queries import integrations as integration_queries
from storage.queries import maintenance as queries
from storage.queries import timers
from storage.queries.timers import Timer

TIMER_KIND = "maintenance_end"


def _state(row: sqlite3.Row, now: datetime) -> str:
    ts = to_iso(now)
    if row["ends_at"] <= ts:
        return "ended"
    return "active" if row["starts_at"] <= ts else "scheduled"


def window_wire(row: sqlite3.Row, now: datetime) -> dict[str, Any]:
    return {
        "id": row["id"],
        "orgId": row["org_id"],
        "scope": row["scope"],
        "integrationId": row["integration_id"],
        "component": row["component"],
        "mode": row["mode"],
        "reason": row["reason"],
        "startsAt": row["starts_at"],
        "endsAt": row["ends_at"],
        "endedEarly": bool(row["ended_early"]),
        "state": _state(row, now),
        "createdBy": row["created_by"],
        "createdAt": row["created_at"],
    }


def as_rule(row: sqlite3.Row) -> rules.Window:
    target = row["integration_id"] if row["scope"] == "integration" else row["component"]
    return rules.Window(
        row["id"], row["scope"], target, parse_iso(row["starts_at"]), parse_iso(row["ends_at"]), row["mode"]
    )


def windows_at(db: Database, org_id: str, now: datetime) -> list[rules.Window]:
    """The organisation's windows not yet ended at ``now`` (active or scheduled), as the pure rules take them."""
    return [as_rule(r) for r in queries.not_ended(db, org_id, to_iso(now))]


def start_window(ctx: Ctx, body: Any) -> dict[str, Any]:
    """Open (or schedule) a window. 422 when the scope's target is missing or extra, when neither or
    both of ``endsAt``/``durationMinutes`` are given, or when it would end before it starts or in the
    past; 404 for an unknown integration."""
    checked = decode(MaintenanceStart, body)
    integration_id = None if checked.integration_id is UNSET else checked.integration_id
    component = None if checked.component is UNSET else checked.component
    if checked.scope == "integration" and integration_id is None:
        raise ValidationError("integrationId is required for an integration window", field="integrationId")
    if checked.scope == "component" and component is None:
        raise ValidationError("component is required for a component window", field="component")
    if checked.scope != "integration" and integration_id is not None:
        raise ValidationError(
            "integrationId is only accepted for an integration window", field="integrationId"
        )
    if checked.scope != "component" and component is not None:
        raise ValidationError("component is only accepted for a component window", field="component")
    if (checked.ends_at is UNSET) == (checked.duration_minutes is UNSET):
        raise ValidationError("give either endsAt or durationMinutes", field="endsAt")
    with ctx.write() as now:
        if integration_id is not None:
            row = integration_queries.by_id(
                ctx.db, ctx.org_id, integration_id
            ) or integration_queries.by_name(ctx.db, ctx.org_id, integration_id)
            if row is None:
                raise NotFound("integration", integration_id)
            integration_id = row["id"]
        starts = now if checked.starts_at is UNSET else max(checked.starts_at, now)
        if checked.ends_at is not UNSET:
            ends = checked.ends_at
        else:
            assert checked.duration_minutes is not UNSET
            ends = starts + timedelta(minutes=checked.duration_minutes)
        if ends <= starts:
            raise ValidationError("endsAt must be after startsAt (and after now)", field="endsAt")
        wid = new_id("mw", now)
        queries.insert_window(
            ctx.db,
            {
                "id": wid,
                "org_id": ctx.org_id,
                "scope": checked.scope,
                "integration_id": integration_id,
                "component": component,
                "mode": "hold" if checked.mode is UNSET else checked.mode,
                "reason": None if checked.reason is UNSET else checked.reason,
                "starts_at": to_iso(starts),
                "ends_at": to_iso(ends),
                "created_by": ctx.actor_id,
                "created_at": to_iso(now),
            },
        )
        timers.arm(ctx.db, org_id=ctx.org_id, kind=TIMER_KIND, subject_id=wid, due_at_ms=to_epoch_ms(ends))
        row = queries.window(ctx.db, ctx.org_id, wid)
        assert row is not None
        return window_wire(row, now)


def list_windows(ctx: Ctx, *, include_ended: bool = False) -> list[dict[str, Any]]:
    """Active and scheduled windows by start (every window with ``include_ended``)."""
    now = ctx.now()
    with ctx.db.read():
        rows = (
            queries.every(ctx.db, ctx.org_id)
            if include_ended
            else queries.not_ended(ctx.db, ctx.org_id, to_iso(now))
        )
        return [window_wire(r, now) for r in rows]


def active_windows(ctx: Ctx) -> list[dict[str, Any]]:
    """The windows in force now (for a status bar)."""
    return [w for w in list_windows(ctx) if w["state"] == "active"]


def end_window(ctx: Ctx, window_id: str) -> dict[str, Any]:
    """End a window now (a scheduled one is cancelled): the pages it held start as at its planned end.
    Ending an ended window changes nothing. 404 ``not_found`` for an unknown window."""
    with ctx.write() as now:
        row = queries.window(ctx.db, ctx.org_id, window_id)
        if row is None:
            raise NotFound("maintenance window", window_id)
        if _state(row, now) != "ended":
            queries.end_now(ctx.db, window_id, to_iso(now))
            timers.disarm(ctx.db, TIMER_KIND, window_id)
            release(ctx.db, now, ctx.org_id, window_id)
        row = queries.window(ctx.db, ctx.org_id, window_id)
        assert row is not None
        return window_wire(row, now)


def release(db: Database, now: datetime, org_id: str, window_id: str) -> int:
    """The window ended at ``now``: each open incident it held is held by another window still covering
    it, or starts its escalation (if its alerts still fire and nobody acknowledged it). Returns how many
    escalations started. Runs inside the caller's write transaction."""
    started = 0
    windows = windows_at(db, org_id, now)
    for group in alert_queries.held_by(db, window_id):
        verdict = rules.window_verdict(windows, group["integration_id"], group["component"], now)
        if verdict.window is not None and verdict.window.id != window_id:
            alert_queries.hold(db, group["incident_id"], verdict.window.id)
            continue
        alert_queries.hold(db, group["incident_id"], None)
        paging = group["firing_count"] > 0 and group["acknowledged_at"] is None
        timeline.record(
            db, group["incident_id"], now, "maintenance_ended", None, windowId=window_id, paging=paging
        )
        if paging:
            escalator.start(db, now, group["incident_id"])
            started += 1
    return started


def fire_window_end(db: Database, now: datetime, timer: Timer) -> int | None:
    """Timer handler (kind ``maintenance_end``): release what the window held; a window whose end moved
    later is re-armed at its new end."""
    row = queries.window(db, timer.org_id, timer.subject_id)
    if row is None:
        return None
    ends = parse_iso(row["ends_at"])
    if ends > now:
        return to_epoch_ms(ends)
    release(db, now, timer.org_id, timer.subject_id)
    return None
