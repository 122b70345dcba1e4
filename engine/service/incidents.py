"""Incidents: creation (which starts paging), the one-step status lifecycle, updates and redaction,
acknowledgement and handoff. Paging itself is delegated to :mod:`engine.runtime.escalator` inside the same
transaction, so an incident and its first page commit together or not at all.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from engine.errors import DomainError, Forbidden, NotFound, ValidationError
from engine.ids import new_id
from engine.model import SEVERITIES, STATUSES, next_status
from engine.runtime import escalator
from engine.service import Ctx, responses
from engine.service.models import Escalate, Handoff, IncidentCreate, Snooze, StatusChange, UpdateCreate
from engine.service.orgs import active_user_ids, display_name
from engine.service.responses import wire
from engine.service.validate import decode, enum, integer
from engine.timefmt import parse_iso, to_iso
from engine.timeparse import DayBound, parse_day_bound
from storage import timeline
from storage.queries import incidents as queries
from storage.queries import policies as policy_queries
from storage.sync import change_queue as sync_outbox

T = TypeVar("T")

REDACT_WINDOW = timedelta(minutes=5)
# ASCII digits that fit SQLite's INTEGER (str.isdigit() also admits "²", which int() refuses).
_SEQUENCE_NUMBER = re.compile(r"[0-9]{1,18}")


def _given(value: T | UnsetType) -> T | None:
    """A model field's value, None when the body left it out."""
    return None if value is UNSET else value


# -- wire forms ----------------------------------------------------------------------------------


def incident_fields(row: sqlite3.Row) -> dict[str, Any]:
    """The :class:`~engine.service.responses.Incident` fields of an incident row, by attribute name."""
    return {
        "id": row["id"],
        "org_id": row["org_id"],
        "title": row["title"],
        "description": row["description"],
        "severity": row["severity"],
        "status": row["status"],
        "owner_id": row["owner_id"],
        "escalation_policy_id": row["escalation_policy_id"],
        "affected_components": [],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "sequential_id": row["seq"],
        "acknowledged_at": row["acknowledged_at"],
        "acknowledged_by": row["acknowledged_by"],
        "resolved_at": row["resolved_at"],
        "is_drill": bool(row["is_drill"]),
    }


def incident_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An incident in wire form (:class:`~engine.service.responses.Incident`)."""
    return wire(responses.Incident(**incident_fields(row)))


def _status_change(row: sqlite3.Row) -> responses.StatusHistoryEntry:
    return responses.StatusHistoryEntry(
        id=row["id"],
        status=row["status"],
        changed_at=row["changed_at"],
        resolution_note=row["resolution_note"],
    )


def _person(ctx: Ctx, user_id: str | None) -> responses.Person | None:
    if user_id is None:
        return None
    row = queries.user_row(ctx.db, user_id)
    return responses.Person(id=user_id, name=display_name(row) if row else user_id)


def _update(ctx: Ctx, row: sqlite3.Row) -> responses.IncidentUpdate:
    return responses.IncidentUpdate(
        id=row["id"],
        incident_id=row["incident_id"],
        body=row["body"],
        status_change=row["status_change"],
        visibility=row["visibility"],
        posted_by=_person(ctx, row["posted_by"]),
        posted_at=row["posted_at"],
        redacted_at=row["redacted_at"],
        redacted_by=_person(ctx, row["redacted_by"]),
    )


def _update_wire(ctx: Ctx, row: sqlite3.Row) -> dict[str, Any]:
    return wire(_update(ctx, row))


def _escalation(state: dict[str, Any] | None) -> responses.EscalationState | None:
    """The runtime's escalation state (camelCase builtins) read into its response model."""
    return None if state is None else msgspec.convert(state, responses.EscalationState)


def _timeline(events: list[dict[str, Any]]) -> list[responses.TimelineEntry]:
    return msgspec.convert(events, list[responses.TimelineEntry])


# -- create --------------------------------------------------------------------------------------


def _row(ctx: Ctx, incident_id: str) -> sqlite3.Row:
    row = queries.incident_row(ctx.db, ctx.org_id, incident_id)
    if row is None:
        raise NotFound("incident", incident_id)
    return row


def _open_row(ctx: Ctx, incident_id: str, refusal: str) -> sqlite3.Row:
    """The incident's row; 400 ``incident_resolved`` (ending with ``refusal``) if it is resolved."""
    row = _row(ctx, incident_id)
    if row["status"] == "resolved":
        raise DomainError("incident_resolved", f"the incident is resolved; {refusal}")
    return row


def _matching_policy(ctx: Ctx, schedule_id: str) -> str | None:
    """The policy attached for ``ownerScheduleId``: the one whose first layer targets that schedule.

    (The reference leaves the match undocumented; docs/API.md records this rule. Ties go to the oldest.)
    """
    return policy_queries.policy_paging_schedule_first(ctx.db, ctx.org_id, schedule_id)


def create_incident(
    ctx: Ctx,
    body: Any,
    *,
    is_drill: bool = False,
    origin: str = "local",
    remote_id: str | None = None,
    page: bool = True,
) -> dict[str, Any]:
    """Open an incident; with an escalation policy, layer 1 is paged in the same transaction.

    ``page=False`` records an incident whose paging is done elsewhere (a remote incident under sync).
    """
    checked = decode(IncidentCreate, body)
    title, severity = checked.title, checked.severity
    description = _given(checked.description)
    owner_id = _given(checked.owner_id)
    owner_schedule_id = _given(checked.owner_schedule_id)
    policy_id = _given(checked.escalation_policy_id)
    components = _given(checked.component_ids)
    if components is not None:
        if len(set(components)) != len(components):
            raise DomainError("duplicate_component_id", "componentIds lists a component more than once")
        if components:
            raise DomainError(
                "invalid_component_id", f"component {components[0]!r} does not exist in this organisation"
            )
    with ctx.write() as now:
        if owner_id is not None and owner_id not in active_user_ids(ctx):
            raise DomainError("invalid_owner", f"ownerId {owner_id!r} is not a member of this organisation")
        if owner_schedule_id is not None:
            if not policy_queries.schedule_exists(ctx.db, ctx.org_id, owner_schedule_id):
                raise NotFound("schedule", owner_schedule_id)
            if owner_id is None:
                # The schedule's owner now, as the engine sees it: never a removed user (their turn is
                # a gap and the next layer's person owns it; nobody if nobody is on call).
                from engine.service import schedules  # only an owner schedule needs the rotation rules

                owner_id = schedules.on_call(ctx, owner_schedule_id, now).owner_id
            if policy_id is None:
                policy_id = _matching_policy(ctx, owner_schedule_id)
        if policy_id is not None and not policy_queries.policy_exists(ctx.db, ctx.org_id, policy_id):
            raise NotFound("escalation policy", policy_id)
        seq = queries.next_incident_seq(ctx.db, ctx.org_id)
        iid = new_id("inc", now)
        ts = to_iso(now)
        queries.insert_incident(
            ctx.db,
            {
                "id": iid,
                "org_id": ctx.org_id,
                "seq": seq,
                "title": title,
                "description": description,
                "severity": severity,
                "status": "investigating",
                "owner_id": owner_id,
                "owner_schedule_id": owner_schedule_id,
                "escalation_policy_id": policy_id,
                "created_by": ctx.actor_id,
                "created_at": ts,
                "updated_at": ts,
                "is_drill": int(is_drill),
                "origin": origin,
                "remote_id": remote_id,
            },
        )
        queries.insert_status_change(
            ctx.db,
            {
                "id": new_id("sh", now),
                "incident_id": iid,
                "status": "investigating",
                "changed_at": ts,
                "changed_by": ctx.actor_id,
                "resolution_note": None,
            },
        )
        timeline.record(
            ctx.db,
            iid,
            now,
            "incident_created",
            ctx.actor_id,
            title=title,
            severity=severity,
            ownerId=owner_id,
            escalationPolicyId=policy_id,
            isDrill=is_drill,
        )
        synced = sync_outbox.record_change(ctx, "incident.create", iid, body)  # then the remote pages it
        if policy_id is not None and page and not synced:
            escalator.start(ctx.db, now, iid)
        return incident_wire(_row(ctx, iid))


# -- read ----------------------------------------------------------------------------------------


def get_incident(ctx: Ctx, incident_id: str) -> dict[str, Any]:
    """The incident with ``statusHistory``, its escalation state and its paging ``timeline``."""
    with ctx.db.read():
        detail = responses.IncidentDetail(
            **incident_fields(_row(ctx, incident_id)),
            status_history=[_status_change(r) for r in queries.status_history_rows(ctx.db, incident_id)],
            escalation=_escalation(escalator.escalation_state(ctx.db, incident_id)),
            timeline=_timeline(timeline.events(ctx.db, incident_id)),
        )
    return wire(detail)


def find_incident(ctx: Ctx, ident: str) -> dict[str, Any]:
    """By id, or by sequential number (``42`` or ``#42``) as people say it; 404 ``not_found`` otherwise
    (a number too large to be one is looked up as an id, and so not found either)."""
    text = ident.lstrip("#")
    if _SEQUENCE_NUMBER.fullmatch(text):
        row = queries.incident_row_by_seq(ctx.db, ctx.org_id, int(text))
        if row is not None:
            return incident_wire(row)
    return incident_wire(_row(ctx, ident))


def _day(value: Any, field: str, *, end: bool) -> DayBound:
    """``from``/``to``: :func:`engine.timeparse.parse_day_bound`; 422 on ``field`` when unreadable."""
    try:
        return parse_day_bound(value, end=end)
    except ValueError as exc:
        raise ValidationError(f"{field} {exc}", field=field) from None


def _encode_cursor(row: sqlite3.Row) -> str:
    raw = json.dumps({"c": row["created_at"], "i": row["id"]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        pad = "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(cursor + pad))
        return str(data["c"]), str(data["i"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ValidationError("cursor is not a cursor returned by this API", field="cursor") from None


def escalation_states(ctx: Ctx, incident_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The escalation state (as ``GET /v1/incidents/{id}`` answers it under ``escalation``) of each of
    ``incident_ids`` in the organisation, keyed by incident id, in one read; incidents without an
    escalation are left out."""
    with ctx.db.read():
        return escalator.escalation_states(ctx.db, ctx.org_id, incident_ids)


def list_incidents(
    ctx: Ctx,
    *,
    status: Any = None,
    severity: Any = None,
    from_: Any = None,
    to: Any = None,
    limit: Any = 20,
    cursor: Any = None,
    open_only: bool = False,
    include_drills: bool = True,
) -> dict[str, Any]:
    """Newest first, cursor-paginated: ``{"incidents": [...], "nextCursor": str | None}`` (the wire form of
    :func:`incident_page`, whose arguments and errors it takes)."""
    page = incident_page(
        ctx,
        status=status,
        severity=severity,
        from_=from_,
        to=to,
        limit=limit,
        cursor=cursor,
        open_only=open_only,
        include_drills=include_drills,
    )
    return wire(page)  # type: ignore[no-any-return]


def page_walks_an_index(filters: Iterable[str]) -> bool:
    """Whether a page of :func:`incident_page` filtered by ``filters`` (their names: the keyword arguments
    or the HTTP API's query parameters, which share them) is a bounded walk of one index, cheap whatever the
    history's length (``storage.queries.incidents.UNINDEXED_PAGE_FILTERS``)."""
    return queries.UNINDEXED_PAGE_FILTERS.isdisjoint(filters)


def incident_page(
    ctx: Ctx,
    *,
    status: Any = None,
    severity: Any = None,
    from_: Any = None,
    to: Any = None,
    limit: Any = 20,
    cursor: Any = None,
    open_only: bool = False,
    include_drills: bool = True,
) -> responses.IncidentPage:
    """One page of the organisation's incidents, newest first, as the :class:`responses.IncidentPage`
    Struct (the HTTP API encodes it as it is: no builtins in between).

    ``status``/``severity`` filter (422 ``validation_error`` on an unknown value), ``from_``/``to`` bound
    ``createdAt`` (a date or an ISO 8601 instant, inclusive), ``limit`` is 1..100 rows, ``cursor`` the
    ``nextCursor`` of the previous page (422 when it is not one); ``open_only`` leaves resolved incidents
    out, ``include_drills=False`` drill incidents.
    """
    status = None if status is None else enum(status, "status", STATUSES)
    severity = None if severity is None else enum(severity, "severity", SEVERITIES)
    start = None if from_ is None else _day(from_, "from", end=False)
    end = None if to is None else _day(to, "to", end=True)
    limit = integer(limit, "limit", minimum=1, maximum=100)
    after = None if cursor is None else _decode_cursor(cursor)
    rows = queries.incident_page(
        ctx.db,
        ctx.org_id,
        limit=limit + 1,
        status=status,
        severity=severity,
        created_from=None if start is None else to_iso(start.at),
        created_to=None if end is None else to_iso(end.at),
        # A bare date ``to`` is inclusive of that day: before the next day's midnight.
        created_to_inclusive=end is None or not end.whole_day,
        after=after,
        open_only=open_only,
        include_drills=include_drills,
    )
    page = rows[:limit]
    return responses.IncidentPage(
        incidents=incident_structs(page),
        next_cursor=_encode_cursor(page[-1]) if len(rows) > limit else None,
    )


_INCIDENT_COLUMNS = (
    "id",
    "org_id",
    "title",
    "description",
    "severity",
    "status",
    "owner_id",
    "escalation_policy_id",
    "created_by",
    "created_at",
    "updated_at",
    "seq",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "is_drill",
)


def incident_structs(rows: Sequence[sqlite3.Row]) -> list[responses.Incident]:
    """:class:`responses.Incident` Structs of ``incidents`` rows (all from one ``SELECT``): the same fields
    as :func:`incident_fields`, read by position (each column's index is looked up once for all the rows,
    where ``row["name"]`` searches the row's columns for every field of every row)."""
    if not rows:
        return []
    keys = list(rows[0].keys())
    a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q = (keys.index(col) for col in _INCIDENT_COLUMNS)
    incident = responses.Incident
    return [
        incident(
            id=r[a],
            org_id=r[b],
            title=r[c],
            description=r[d],
            severity=r[e],
            status=r[f],
            owner_id=r[g],
            escalation_policy_id=r[h],
            affected_components=[],
            created_by=r[i],
            created_at=r[j],
            updated_at=r[k],
            sequential_id=r[m],
            acknowledged_at=r[n],
            acknowledged_by=r[o],
            resolved_at=r[p],
            is_drill=bool(r[q]),
        )
        for r in rows
    ]


# -- lifecycle -----------------------------------------------------------------------------------


def _apply_status(ctx: Ctx, row: sqlite3.Row, new_status: str, note: str | None, now: datetime) -> None:
    expected = next_status(row["status"])
    if new_status != expected:
        if expected is None:
            msg = "the incident is resolved; its status can no longer change"
        else:
            msg = f"an incident in {row['status']} can only move to {expected}"
        raise DomainError("invalid_status_transition", msg)
    ts = to_iso(now)
    changes: dict[str, Any] = {"status": new_status, "updated_at": ts}
    if new_status == "resolved":
        changes["resolved_at"] = ts
    queries.update_incident(ctx.db, row["id"], changes)
    queries.insert_status_change(
        ctx.db,
        {
            "id": new_id("sh", now),
            "incident_id": row["id"],
            "status": new_status,
            "changed_at": ts,
            "changed_by": ctx.actor_id,
            "resolution_note": note if new_status == "resolved" else None,
        },
    )
    timeline.record(
        ctx.db, row["id"], now, "status_changed", ctx.actor_id, fromStatus=row["status"], toStatus=new_status
    )
    if new_status == "resolved":
        escalator.stop(ctx.db, now, row["id"])


def resolve_from_source(ctx: Ctx, incident_id: str, note: str) -> dict[str, Any]:
    """Resolve an incident from whatever status it is in, one lifecycle step at a time (each step recorded
    as ``PATCH …/status`` records it); the last step carries ``note`` as its resolution note. Used when the
    source of its alerts says they all cleared. A resolved incident is left as it is."""
    with ctx.write() as now:
        row = _row(ctx, incident_id)
        while (step := next_status(row["status"])) is not None:
            note_here = note if step == "resolved" else None
            _apply_status(ctx, row, step, note_here, now)
            _insert_update(ctx, incident_id, None, step, "internal", now)
            change: dict[str, Any] = {"status": step}
            if note_here is not None:
                change["resolutionNote"] = note_here
            sync_outbox.record_change(ctx, "incident.status", incident_id, change)
            row = _row(ctx, incident_id)
        return incident_wire(row)


def advance_status(ctx: Ctx, incident_id: str, body: Any) -> dict[str, Any]:
    """``PATCH …/status``: exactly one step forward; also recorded as an internal update."""
    checked = decode(StatusChange, body)
    new_status, note = checked.status, _given(checked.resolution_note)
    if note is not None and new_status != "resolved":
        raise ValidationError("resolutionNote is only accepted when resolving", field="resolutionNote")
    with ctx.write() as now:
        row = _row(ctx, incident_id)
        _apply_status(ctx, row, new_status, note, now)
        _insert_update(ctx, incident_id, None, new_status, "internal", now)
        sync_outbox.record_change(ctx, "incident.status", incident_id, body)
        return incident_wire(_row(ctx, incident_id))


def _insert_update(
    ctx: Ctx, incident_id: str, body: str | None, status_change: str | None, visibility: str, now: datetime
) -> str:
    uid = new_id("upd", now)
    queries.insert_incident_update(
        ctx.db,
        {
            "id": uid,
            "incident_id": incident_id,
            "body": body,
            "status_change": status_change,
            "visibility": visibility,
            "posted_by": ctx.actor_user_id,
            "posted_at": to_iso(now),
            "redacted_at": None,
            "redacted_by": None,
        },
    )
    return uid


def post_update(ctx: Ctx, incident_id: str, body: Any) -> dict[str, Any]:
    """``POST …/updates``: append an internal or public update, optionally advancing the status."""
    checked = decode(UpdateCreate, body)
    visibility, text, change = checked.visibility, _given(checked.body), _given(checked.status_change)
    if text is None and change is None:
        raise ValidationError("an update needs a body or a statusChange", field="body")
    if visibility == "public" and text is None:
        raise ValidationError("a public update needs a body", field="body")
    with ctx.write() as now:
        row = _open_row(ctx, incident_id, "no more updates can be posted")
        if visibility == "public" and row["origin"] == "local":
            raise DomainError(
                "no_public_surface",
                "no published status page shows this incident's components (local incidents have none)",
            )
        if change is not None:
            _apply_status(ctx, row, change, None, now)
        uid = _insert_update(ctx, incident_id, text, change, visibility, now)
        timeline.record(
            ctx.db, incident_id, now, "update_posted", ctx.actor_id, updateId=uid, visibility=visibility
        )
        sync_outbox.record_change(ctx, "incident.update", uid, body, root_id=incident_id)
        urow = queries.update_row(ctx.db, uid)
        assert urow is not None
        return _update_wire(ctx, urow)


def list_updates(ctx: Ctx, incident_id: str) -> list[dict[str, Any]]:
    with ctx.db.read():
        _row(ctx, incident_id)
        return [_update_wire(ctx, r) for r in queries.update_rows(ctx.db, incident_id)]


def redact_update(ctx: Ctx, incident_id: str, update_id: str) -> dict[str, Any]:
    """Clear an update's body. The author may within 5 minutes of posting; an admin at any time.

    Allowed on resolved incidents (the only change a resolved incident accepts).
    """
    with ctx.write() as now:
        _row(ctx, incident_id)
        urow = queries.incident_update_row(ctx.db, incident_id, update_id)
        if urow is None:
            raise NotFound("update", update_id)
        is_author = ctx.actor_user_id is not None and urow["posted_by"] == ctx.actor_user_id
        in_window = now - parse_iso(urow["posted_at"]) <= REDACT_WINDOW
        if not ctx.is_admin and not (is_author and in_window):
            raise Forbidden(
                "redaction_not_permitted",
                "only the author within 5 minutes of posting, or an admin, may redact an update",
            )
        if urow["redacted_at"] is None:
            queries.update_incident_update(
                ctx.db,
                update_id,
                {"body": None, "redacted_at": to_iso(now), "redacted_by": ctx.actor_user_id},
            )
            timeline.record(ctx.db, incident_id, now, "update_redacted", ctx.actor_id, updateId=update_id)
        urow = queries.update_row(ctx.db, update_id)
        assert urow is not None
        return _update_wire(ctx, urow)


# -- paging actions ------------------------------------------------------------------------------


def acknowledge(ctx: Ctx, incident_id: str) -> dict[str, Any]:
    """Stop the escalation. Idempotent; a no-op on a resolved incident; never changes the status."""
    with ctx.write() as now:
        row = _row(ctx, incident_id)
        if row["status"] != "resolved" and row["acknowledged_at"] is None:
            ts = to_iso(now)
            queries.update_incident(
                ctx.db,
                incident_id,
                {
                    "acknowledged_at": ts,
                    "acknowledged_by": ctx.actor_user_id or ctx.actor_id,
                    "updated_at": ts,
                },
            )
            via = {"via": "acknowledge link"} if ctx.via == "ack_link" else {}
            timeline.record(
                ctx.db,
                incident_id,
                now,
                "incident_acknowledged",
                ctx.actor_id,
                userId=ctx.actor_user_id,
                **via,
            )
            escalator.acknowledge(ctx.db, now, incident_id, ctx.actor_user_id or ctx.actor_id or "")
            sync_outbox.record_change(ctx, "incident.acknowledge", incident_id)
        return _with_escalation(ctx, incident_id)


def _with_escalation(ctx: Ctx, incident_id: str) -> dict[str, Any]:
    answer = responses.IncidentWithEscalation(
        **incident_fields(_row(ctx, incident_id)),
        escalation=_escalation(escalator.escalation_state(ctx.db, incident_id)),
    )
    return wire(answer)


def handoff(ctx: Ctx, incident_id: str, body: Any) -> dict[str, Any]:
    """Change the owner to ``targetUserId``: the target is paged and the current layer's timer restarts."""
    target = decode(Handoff, body).target_user_id
    with ctx.write() as now:
        row = _row(ctx, incident_id)
        if target not in active_user_ids(ctx):
            raise DomainError("invalid_target_user", f"{target!r} is not a member of this organisation")
        if row["status"] == "resolved":
            raise DomainError("incident_resolved", "the incident is resolved; it cannot be handed off")
        queries.update_incident(ctx.db, incident_id, {"owner_id": target, "updated_at": to_iso(now)})
        timeline.record(
            ctx.db,
            incident_id,
            now,
            "incident_handed_off",
            ctx.actor_id,
            previousOwnerId=row["owner_id"],
            newOwnerId=target,
            initiatorId=ctx.actor_user_id or ctx.actor_id,
        )
        escalator.handoff(ctx.db, now, incident_id, target, ctx.actor_id)
        sync_outbox.record_change(ctx, "incident.handoff", incident_id, body)
        return _with_escalation(ctx, incident_id)


def escalate_now(ctx: Ctx, incident_id: str, to_position: Any = None) -> dict[str, Any]:
    """Local extension: page the next layer (or layer N) now instead of waiting for the timeout.

    ``to_position``: a 1-based layer position (the ``toLayer`` of :class:`~engine.service.models.Escalate`)
    or None for the next layer; 422 when it is not a positive integer."""
    pos = _given(decode(Escalate, {} if to_position is None else {"toLayer": to_position}).to_layer)
    with ctx.write() as now:
        _open_row(ctx, incident_id, "nothing to escalate")
        escalator.escalate_now(ctx.db, now, incident_id, pos, ctx.actor_id)
        return _with_escalation(ctx, incident_id)


def snooze(ctx: Ctx, incident_id: str, minutes: Any) -> dict[str, Any]:
    """Local extension: hold the escalation for ``minutes`` (1..10080, :class:`~engine.service.models.Snooze`),
    then carry on where it was; 422 otherwise."""
    mins = decode(Snooze, {"minutes": minutes}).minutes
    with ctx.write() as now:
        _open_row(ctx, incident_id, "nothing to snooze")
        escalator.snooze(ctx.db, now, incident_id, mins, ctx.actor_id)
        return _with_escalation(ctx, incident_id)


def resolve_incident(ctx: Ctx, incident_id: str, note: Any = None) -> dict[str, Any]:
    """Resolve in one transaction, stepping through each remaining status in order (the lifecycle is
    one-way and skips nothing, so a remote sees the same ``PATCH …/status`` steps); ``note`` is the
    ``resolutionNote`` of the last step. Each step is a status-history entry, an internal update and a
    timeline event by the actor, as :func:`advance_status` records it. Answers the incident as
    :func:`advance_status` does. 400 ``invalid_status_transition`` if it is already resolved, 422 for a
    bad note, 404 ``not_found`` outside the organisation; nothing changes on any error."""
    if note is not None:
        decode(StatusChange, {"status": "resolved", "resolutionNote": note})
    with ctx.write():
        row = _row(ctx, incident_id)
        if row["status"] == "resolved":
            raise DomainError(
                "invalid_status_transition", "the incident is resolved; its status can no longer change"
            )
        out = incident_wire(row)
        status = row["status"]
        while (step := next_status(status)) is not None:
            body: dict[str, Any] = {"status": step}
            if step == "resolved" and note is not None:
                body["resolutionNote"] = note
            out = advance_status(ctx, incident_id, body)
            status = step
        return out
