"""The operations of the local Scaling-compatible API: one thin function per method and path, and the
description of each.

Each handler parses nothing but the HTTP bits (path ids, query strings, the JSON body) and calls the
service layer, which owns every schema check and business rule and already answers in wire form. The
table :data:`OPERATIONS` is the single list the router is built from, and the OpenAPI document
(:mod:`console.api.openapi`) is generated from it: each ``@op(...)`` names its operationId (the handler's
name in camelCase unless ``id=`` says otherwise), summary, tag, request model (``request=``, a Struct of
:mod:`engine.service.models`), query model, response model (``response=``, from
:mod:`engine.service.responses`; none for a 204), the business error codes it can answer (``errors=``:
status -> codes; 401, 404 for a path id, 422 for a body or query, 500, 503 and 507 for writes are added by
the generator), whether it is a local extension, a description and the operations a created id links to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from engine.errors import ValidationError
from engine.service import (
    Ctx,
    alerts,
    calendars,
    contacts,
    heartbeats,
    incidents,
    integrations,
    maintenance,
    notification_rules,
    orgs,
    policies,
    schedules,
)
from engine.service import models as req
from engine.service import responses as res
from engine.service.models import Escalate, LayerOrder, RoleChange, Snooze
from engine.service.validate import decode
from engine.timefmt import parse_iso

NO_BODY: Any = object()  # the request had no body at all


@dataclass(frozen=True)
class Call:
    """One authenticated request, as a handler sees it."""

    ctx: Ctx
    path: Mapping[str, str]
    query: Mapping[str, str]
    body: Any  # decoded JSON, or NO_BODY

    def json(self) -> Any:
        """The body for an endpoint that needs one: a missing body is an empty one (the service says 422)."""
        return None if self.body is NO_BODY else self.body

    def optional_json(self) -> dict[str, Any]:
        """The body for an endpoint whose body is optional: none (or ``null``) means ``{}``."""
        if self.body is NO_BODY or self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ValidationError("body must be a JSON object")
        return self.body


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Raw:
    """A handler's answer that is not JSON (a calendar feed): sent as it is, with its media type."""

    body: bytes
    media_type: str


Errors = Mapping[int, Sequence[str]]
"""HTTP status -> the error codes an operation answers with it (empty: the status's usual code)."""

POLICIES, SCHEDULES, INCIDENTS, TEAM = "Escalation policies", "On-call schedules", "Incidents", "Team"
ALERTS = "Alerts"
HEARTBEATS = "Heartbeats"
TAGS = (POLICIES, SCHEDULES, INCIDENTS, TEAM, ALERTS, HEARTBEATS)


@dataclass(frozen=True)
class Operation:
    """One method on one path: how the router serves it and how the OpenAPI document describes it."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    status: int = 200  # 201 for creates, 204 (no body) for deletes
    body: str = "none"  # "none" | "required" | "optional"
    admin: bool = False  # team endpoints: org:admin only (else 401 not_authorized)
    # Per-user endpoints: the path parameter naming the user. An org:admin key may act on anyone, a
    # member key on its own user only (else 401 not_authorized, before the user is looked up).
    self_or_admin: str | None = None
    request: type[msgspec.Struct] | None = None  # the body's model (engine.service.models)
    query: type[msgspec.Struct] | None = None  # the query string's model (below)
    response: Any = None  # the ``data`` model (engine.service.responses), a list of one, or None (204)
    errors: Errors = field(default_factory=dict)
    local: bool = False  # not in the Scaling API
    description: str | None = None
    links: tuple[str, ...] = ()  # operationIds that take the id this operation creates
    # "api_key": the Bearer key names the caller (every operation of the reference). "feed_token": no
    # key; the query's ``token`` is the only credential (calendar feeds), checked by the handler, and
    # ``call.ctx`` is in no organisation until the token names one.
    auth: str = "api_key"
    media_type: str | None = None  # a handler answering :class:`Raw` (not JSON): its media type
    # Public endpoints (an inbound integration's receiver) take no API key: ``precheck`` authenticates
    # the call from its path (the URL token) before the body is read; their ``ctx`` has no organisation.
    precheck: Handler | None = None
    write: bool | None = None  # None: every method but GET writes (a heartbeat's GET ping writes)
    # A read cheaper than its hand-off to a thread: given the query string, whether this request is a
    # bounded walk of an index (a page of at most 100 rows); then, on SQLite, it is answered on the event
    # loop itself (console/api/app.py). None: always in the thread pool.
    inline: Callable[[Mapping[str, str]], bool] | None = None

    @property
    def writes(self) -> bool:
        return self.method != "GET" if self.write is None else self.write


OPERATIONS: list[Operation] = []


def _camel(name: str) -> str:
    first, *rest = name.strip("_").split("_")
    return first + "".join(word.title() for word in rest)


def op(  # type: ignore[no-untyped-def]
    method: str,
    path: str,
    summary: str,
    tag: str,
    *,
    id: str | None = None,
    status: int = 200,
    body: str = "none",
    admin: bool = False,
    self_or_admin: str | None = None,
    request: type[msgspec.Struct] | None = None,
    query: type[msgspec.Struct] | None = None,
    response: Any = None,
    errors: Errors | None = None,
    local: bool = False,
    description: str | None = None,
    links: tuple[str, ...] = (),
    auth: str = "api_key",
    media_type: str | None = None,
    precheck: Handler | None = None,
    write: bool | None = None,
    inline: Callable[[Mapping[str, str]], bool] | None = None,
):
    """Register the decorated handler as ``method path`` in :data:`OPERATIONS`, with its description."""

    def register(fn: Handler) -> Handler:
        OPERATIONS.append(
            Operation(
                method,
                path,
                fn,
                operation_id=id or _camel(fn.__name__),
                summary=summary,
                tag=tag,
                status=status,
                body=body,
                admin=admin,
                self_or_admin=self_or_admin,
                request=request,
                query=query,
                response=response,
                errors=errors or {},
                local=local,
                description=description,
                links=links,
                auth=auth,
                media_type=media_type,
                precheck=precheck,
                write=write,
                inline=inline,
            )
        )
        return fn

    return register


# -- query strings (documented from these models; parsed by the handlers and the services) ----------

DayOrInstant = Annotated[
    str, Meta(extra_json_schema={"anyOf": [{"format": "date"}, {"format": "date-time"}]})
]


class IncidentListQuery(msgspec.Struct, kw_only=True):
    """The query string of ``GET /v1/incidents``."""

    status: req.Status | UnsetType = UNSET
    severity: req.Severity | UnsetType = UNSET
    from_: (
        Annotated[
            DayOrInstant,
            Meta(description="created on/after: a date (YYYY-MM-DD, from 00:00Z) or an ISO 8601 instant"),
        ]
        | UnsetType
    ) = msgspec.field(default=UNSET, name="from")
    to: (
        Annotated[
            DayOrInstant,
            Meta(
                description="created on/before: a date (whole day, UTC, inclusive) or an ISO 8601 instant "
                "(inclusive)"
            ),
        ]
        | UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Annotated[str, Meta(min_length=1, description="nextCursor of the previous page")] | UnsetType = (
        UNSET
    )


class ResolveQuery(msgspec.Struct, kw_only=True):
    """The query string of ``GET /v1/oncall/schedules/{scheduleId}/resolve``."""

    at: Annotated[req.Instant, Meta(description="ISO 8601 instant with a zone; default: now")] | UnsetType = (
        UNSET
    )


class FeedQuery(msgspec.Struct, kw_only=True):
    """The query string of ``GET /v1/oncall/schedules/{scheduleId}/ical``."""

    token: Annotated[
        str, Meta(min_length=1, description="the feed's secret token (`oncall schedules feed create`)")
    ]
    days: Annotated[
        int,
        Meta(ge=1, le=calendars.MAX_DAYS, description="how far ahead (the last week is included too)"),
    ] = calendars.DEFAULT_DAYS


# -- query-string helpers ----------------------------------------------------------------------------

_INT = re.compile(r"[+-]?[0-9]{1,12}", re.ASCII)  # ASCII digits only: int() also reads "١" as 1


def _int_param(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default
    if not _INT.fullmatch(raw.strip()):
        raise ValidationError(f"{name} must be an integer", field=name)
    return int(raw)


_SPACE_OFFSET = re.compile(r" ([0-9]{2}(?::?[0-9]{2})?)$", re.ASCII)


def _instant_param(query: Mapping[str, str], name: str) -> str | None:
    """A date/instant query value. An unencoded ``+`` of an offset (``…T09:00:00+02:00``) arrives as a
    space after form decoding; put it back rather than fail on a curl user's missing ``%2B``."""
    raw = query.get(name)
    return None if raw is None else _SPACE_OFFSET.sub(r"+\1", raw)


def _layer_ids(call: Call) -> list[str]:
    return decode(LayerOrder, call.json()).layer_ids


# -- escalation policies and layers ------------------------------------------------------------------

P = "/v1/escalation/policies"
IN_USE = "policy_in_use"
LAYER_ORDER = "invalid_layer_order (the layerIds are not exactly the current set)"
NAME_TAKEN = "name_conflict"
SYNCED = "synced_object_read_only (the object is managed by the linked Scaling organisation)"


@op(
    "GET",
    P,
    "List escalation policies (metadata only)",
    POLICIES,
    response=list[res.Policy],
)
def list_policies(call: Call) -> Any:
    return policies.list_policies(call.ctx)


@op(
    "POST",
    P,
    "Create an escalation policy",
    POLICIES,
    status=201,
    body="required",
    request=req.PolicyCreate,
    response=res.Policy,
    errors={409: [NAME_TAKEN]},
    links=("getPolicy", "updatePolicy", "deletePolicy", "createEscalationLayer", "reorderEscalationLayers"),
)
def create_policy(call: Call) -> Any:
    return policies.create_policy(call.ctx, call.json())


@op("GET", P + "/{policyId}", "Get a policy with its layers", POLICIES, response=res.PolicyWithLayers)
def get_policy(call: Call) -> Any:
    return policies.get_policy(call.ctx, call.path["policyId"])


@op(
    "PATCH",
    P + "/{policyId}",
    "Update a policy (partial)",
    POLICIES,
    body="required",
    request=req.PolicyUpdate,
    response=res.Policy,
    errors={409: [NAME_TAKEN]},
)
def update_policy(call: Call) -> Any:
    return policies.update_policy(call.ctx, call.path["policyId"], call.json())


@op(
    "DELETE",
    P + "/{policyId}",
    "Delete a policy and its layers",
    POLICIES,
    status=204,
    errors={400: [IN_USE]},
    description="Refused (400 policy_in_use) while an open incident uses it.",
)
def delete_policy(call: Call) -> Any:
    policies.delete_policy(call.ctx, call.path["policyId"])


@op(
    "POST",
    P + "/{policyId}/layers",
    "Add an escalation layer",
    POLICIES,
    status=201,
    body="required",
    request=req.EscalationLayerCreate,
    response=res.EscalationLayer,
    errors={400: ["invalid_target"]},
    description="`position` inserts at that point and shifts later layers down; a position past the end "
    "appends.",
    links=("updateEscalationLayer", "deleteEscalationLayer"),
)
def create_escalation_layer(call: Call) -> Any:
    return policies.add_layer(call.ctx, call.path["policyId"], call.json())


@op(
    "PUT",
    P + "/{policyId}/layers/order",
    "Set the order of all layers",
    POLICIES,
    body="required",
    request=req.LayerOrder,
    response=list[res.EscalationLayer],
    errors={400: [LAYER_ORDER]},
    description="Answers every layer, renumbered 1..n.",
)
def reorder_escalation_layers(call: Call) -> Any:
    return policies.reorder_layers(call.ctx, call.path["policyId"], _layer_ids(call))


@op(
    "PATCH",
    P + "/{policyId}/layers/{layerId}",
    "Update a layer (partial)",
    POLICIES,
    body="required",
    request=req.EscalationLayerUpdate,
    response=res.EscalationLayer,
    errors={400: ["invalid_target"]},
)
def update_escalation_layer(call: Call) -> Any:
    return policies.update_layer(call.ctx, call.path["policyId"], call.path["layerId"], call.json())


@op(
    "DELETE",
    P + "/{policyId}/layers/{layerId}",
    "Delete a layer (later layers move up)",
    POLICIES,
    status=204,
)
def delete_escalation_layer(call: Call) -> Any:
    policies.delete_layer(call.ctx, call.path["policyId"], call.path["layerId"])


# -- on-call schedules, rotation layers, overrides ---------------------------------------------------

S = "/v1/oncall/schedules"


@op("GET", S, "List on-call schedules (metadata only)", SCHEDULES, response=list[res.Schedule])
def list_schedules(call: Call) -> Any:
    return schedules.list_schedules(call.ctx)


@op(
    "POST",
    S,
    "Create a schedule",
    SCHEDULES,
    status=201,
    body="required",
    request=req.ScheduleCreate,
    response=res.Schedule,
    errors={409: [NAME_TAKEN]},
    links=(
        "getSchedule",
        "updateSchedule",
        "replaceSchedule",
        "deleteSchedule",
        "resolveSchedule",
        "createRotationLayer",
        "reorderRotationLayers",
        "listOverrides",
        "createOverride",
    ),
)
def create_schedule(call: Call) -> Any:
    return schedules.create_schedule(call.ctx, call.json())


@op(
    "GET",
    S + "/{scheduleId}",
    "Get a schedule with its rotation layers and overrides",
    SCHEDULES,
    response=res.ScheduleWithLayers,
)
def get_schedule(call: Call) -> Any:
    return schedules.get_schedule(call.ctx, call.path["scheduleId"])


def _update_schedule(call: Call) -> Any:
    return schedules.update_schedule(call.ctx, call.path["scheduleId"], call.json())


_SCHEDULE_UPDATE: dict[str, Any] = {
    "body": "required",
    "request": req.ScheduleUpdate,
    "response": res.Schedule,
    "errors": {409: [NAME_TAKEN, SYNCED]},
}
op("PATCH", S + "/{scheduleId}", "Update a schedule (partial)", SCHEDULES, **_SCHEDULE_UPDATE)(
    _update_schedule
)
op(
    "PUT",
    S + "/{scheduleId}",
    "Update a schedule (PUT, as the Terraform provider sends it)",
    SCHEDULES,
    id="replaceSchedule",
    description="Same as PATCH: fields left out keep their value.",
    **_SCHEDULE_UPDATE,
)(_update_schedule)


@op(
    "DELETE",
    S + "/{scheduleId}",
    "Delete a schedule",
    SCHEDULES,
    status=204,
    errors={400: ["schedule_in_use"], 409: [SYNCED]},
    description="Refused (400 schedule_in_use) while an escalation layer targets it or an open incident's "
    "escalation still pages it through its policy snapshot; the message names them and details is "
    "{policies: [{id, name}], incidents: [{id, sequentialId}]}.",
)
def delete_schedule(call: Call) -> Any:
    schedules.delete_schedule(call.ctx, call.path["scheduleId"])


@op(
    "GET",
    S + "/{scheduleId}/ical",
    "A schedule's on-call shifts as iCalendar (RFC 5545), by a secret token",
    SCHEDULES,
    query=FeedQuery,
    errors={404: ["not_found (a missing, wrong or revoked token, or another schedule's)"]},
    local=True,
    auth="feed_token",
    media_type="text/calendar",
    description="A secret, revocable URL a calendar app subscribes to: the `token` (made by `oncall "
    "schedules feed create SCHEDULE [--user P]`, revoked by `oncall schedules feed revoke`) is the only "
    "credential, so no Authorization header is needed. One VEVENT per piece of on-call time in UTC, "
    "overrides included, UIDs stable across fetches; a feed made for one person holds only their shifts.",
)
def schedule_feed(call: Call) -> Any:
    """The calendar feed a secret token opens (engine/service/calendars.py): no API key."""
    document = calendars.feed_document(
        call.ctx.db,
        call.ctx.clock,
        call.path["scheduleId"],
        call.query.get("token"),
        days=_int_param(call.query, "days"),
    )
    return Raw(document, "text/calendar; charset=utf-8")


@op(
    "GET",
    S + "/{scheduleId}/resolve",
    "Who is on call now, or at another instant",
    SCHEDULES,
    query=ResolveQuery,
    response=res.Resolution,
)
def resolve_schedule(call: Call) -> Any:
    raw = _instant_param(call.query, "at")
    at = None
    if raw is not None:
        try:
            at = parse_iso(raw)
        except ValueError as exc:
            raise ValidationError(f"at: {exc}", field="at") from None
    return schedules.resolve_schedule(call.ctx, call.path["scheduleId"], at)


@op(
    "POST",
    S + "/{scheduleId}/layers",
    "Add a rotation layer at the next position",
    SCHEDULES,
    status=201,
    body="required",
    request=req.RotationLayerCreate,
    response=res.RotationLayer,
    errors={400: ["invalid_participant"], 409: [NAME_TAKEN, SYNCED]},
    links=("updateRotationLayer", "replaceRotationLayer", "deleteRotationLayer"),
)
def create_rotation_layer(call: Call) -> Any:
    return schedules.add_rotation_layer(call.ctx, call.path["scheduleId"], call.json())


@op(
    "PUT",
    S + "/{scheduleId}/layers/order",
    "Set the order of all rotation layers",
    SCHEDULES,
    body="required",
    request=req.LayerOrder,
    response=list[res.RotationLayer],
    errors={400: [LAYER_ORDER], 409: [SYNCED]},
    description="Answers every layer, renumbered 0..n-1.",
)
def reorder_rotation_layers(call: Call) -> Any:
    return schedules.reorder_rotation_layers(call.ctx, call.path["scheduleId"], _layer_ids(call))


def _update_rotation_layer(call: Call) -> Any:
    return schedules.update_rotation_layer(
        call.ctx, call.path["scheduleId"], call.path["layerId"], call.json()
    )


_ROTATION_UPDATE: dict[str, Any] = {
    "body": "required",
    "request": req.RotationLayerUpdate,
    "response": res.RotationLayer,
    "errors": {400: ["invalid_participant"], 409: [NAME_TAKEN, SYNCED]},
}
op(
    "PATCH",
    S + "/{scheduleId}/layers/{layerId}",
    "Update a rotation layer (partial)",
    SCHEDULES,
    **_ROTATION_UPDATE,
)(_update_rotation_layer)
op(
    "PUT",
    S + "/{scheduleId}/layers/{layerId}",
    "Update a rotation layer (PUT, as the Terraform provider sends it)",
    SCHEDULES,
    id="replaceRotationLayer",
    description="Same as PATCH; send effectiveUntil: null to clear it.",
    **_ROTATION_UPDATE,
)(_update_rotation_layer)


@op(
    "DELETE",
    S + "/{scheduleId}/layers/{layerId}",
    "Delete a rotation layer (positions stay dense)",
    SCHEDULES,
    status=204,
    errors={409: [SYNCED]},
)
def delete_rotation_layer(call: Call) -> Any:
    schedules.delete_rotation_layer(call.ctx, call.path["scheduleId"], call.path["layerId"])


@op(
    "GET",
    S + "/{scheduleId}/overrides",
    "List a schedule's overrides",
    SCHEDULES,
    response=list[res.Override],
    local=True,
    description="Overrides by start.",
)
def list_overrides(call: Call) -> Any:
    return schedules.list_overrides(call.ctx, call.path["scheduleId"])


@op(
    "POST",
    S + "/{scheduleId}/overrides",
    "Add an override",
    SCHEDULES,
    status=201,
    body="required",
    request=req.OverrideCreate,
    response=res.Override,
    errors={400: ["invalid_participant"], 409: [SYNCED]},
    local=True,
    description="While active, the override's user displaces the owner-bearing layer's participant.",
    links=("deleteOverride",),
)
def create_override(call: Call) -> Any:
    return schedules.add_override(call.ctx, call.path["scheduleId"], call.json())


@op(
    "DELETE",
    S + "/{scheduleId}/overrides/{overrideId}",
    "Delete an override",
    SCHEDULES,
    status=204,
    errors={409: [SYNCED]},
    local=True,
)
def delete_override(call: Call) -> Any:
    schedules.delete_override(call.ctx, call.path["scheduleId"], call.path["overrideId"])


# -- incidents ---------------------------------------------------------------------------------------

INC = "/v1/incidents"
RESOLVED = "incident_resolved"
TRANSITION = "invalid_status_transition"
EXTENSION_400 = [RESOLVED, "not_escalating", "invalid_layer (toLayer outside the policy)"]


def _index_walk(query: Mapping[str, str]) -> bool:
    """Whether a list page is a bounded walk of an index (:func:`engine.service.incidents.page_walks_an_index`
    over the query's parameter names): answered on the event loop when it is."""
    return incidents.page_walks_an_index(query)


@op(
    "GET",
    INC,
    "List incidents, newest first",
    INCIDENTS,
    query=IncidentListQuery,
    response=res.IncidentPage,
    inline=_index_walk,
)
def list_incidents(call: Call) -> Any:
    q = call.query
    return incidents.incident_page(
        call.ctx,
        status=q.get("status"),
        severity=q.get("severity"),
        from_=_instant_param(q, "from"),
        to=_instant_param(q, "to"),
        limit=_int_param(q, "limit", 20),
        cursor=q.get("cursor"),
    )


@op(
    "POST",
    INC,
    "Open an incident (starts paging with a policy)",
    INCIDENTS,
    status=201,
    body="required",
    request=req.IncidentCreate,
    response=res.Incident,
    errors={400: ["invalid_owner", "invalid_component_id", "duplicate_component_id"], 404: []},
    description="ownerId and ownerScheduleId are optional: an incident with only escalationPolicyId (or "
    "neither) is accepted with ownerId null, as the escalation guide shows.",
    links=(
        "getIncident",
        "advanceStatus",
        "listUpdates",
        "postUpdate",
        "acknowledgeIncident",
        "handoffIncident",
        "escalateIncident",
        "snoozeIncident",
    ),
)
def create_incident(call: Call) -> Any:
    return incidents.create_incident(call.ctx, call.json())


@op(
    "GET",
    INC + "/{incidentId}",
    "Get an incident with statusHistory, escalation state and timeline",
    INCIDENTS,
    response=res.IncidentDetail,
)
def get_incident(call: Call) -> Any:
    return incidents.get_incident(call.ctx, call.path["incidentId"])


@op(
    "PATCH",
    INC + "/{incidentId}/status",
    "Move the status exactly one step forward",
    INCIDENTS,
    body="required",
    request=req.StatusChange,
    response=res.Incident,
    errors={400: [TRANSITION]},
)
def advance_status(call: Call) -> Any:
    return incidents.advance_status(call.ctx, call.path["incidentId"], call.json())


@op(
    "GET",
    INC + "/{incidentId}/updates",
    "List updates, oldest first (redacted ones included)",
    INCIDENTS,
    response=res.IncidentUpdates,
)
def list_updates(call: Call) -> Any:
    return {"updates": incidents.list_updates(call.ctx, call.path["incidentId"])}


@op(
    "POST",
    INC + "/{incidentId}/updates",
    "Post an update",
    INCIDENTS,
    status=201,
    body="required",
    request=req.UpdateCreate,
    response=res.IncidentUpdate,
    errors={400: [RESOLVED, TRANSITION, "no_public_surface"]},
    description="Local incidents have no status page: visibility public is 400 no_public_surface.",
    links=("redactUpdate",),
)
def post_update(call: Call) -> Any:
    return incidents.post_update(call.ctx, call.path["incidentId"], call.json())


@op(
    "POST",
    INC + "/{incidentId}/updates/{updateId}/redact",
    "Redact an update's body",
    INCIDENTS,
    response=res.IncidentUpdate,
    errors={403: ["redaction_not_permitted"]},
)
def redact_update(call: Call) -> Any:
    return incidents.redact_update(call.ctx, call.path["incidentId"], call.path["updateId"])


@op(
    "POST",
    INC + "/{incidentId}/acknowledge",
    "Acknowledge: stop the escalation (idempotent)",
    INCIDENTS,
    response=res.IncidentWithEscalation,
)
def acknowledge_incident(call: Call) -> Any:
    return incidents.acknowledge(call.ctx, call.path["incidentId"])


@op(
    "POST",
    INC + "/{incidentId}/handoff",
    "Hand off to another member",
    INCIDENTS,
    body="required",
    request=req.Handoff,
    response=res.IncidentWithEscalation,
    errors={400: ["invalid_target_user", RESOLVED]},
)
def handoff_incident(call: Call) -> Any:
    return incidents.handoff(call.ctx, call.path["incidentId"], call.json())


@op(
    "POST",
    INC + "/{incidentId}/escalate",
    "Page the next layer (or layer toLayer) now",
    INCIDENTS,
    body="optional",
    request=req.Escalate,
    response=res.IncidentWithEscalation,
    errors={400: EXTENSION_400},
    local=True,
    description="The body is optional.",
)
def escalate_incident(call: Call) -> Any:
    to_layer = decode(Escalate, call.optional_json()).to_layer
    return incidents.escalate_now(call.ctx, call.path["incidentId"], None if to_layer is UNSET else to_layer)


@op(
    "POST",
    INC + "/{incidentId}/snooze",
    "Hold the escalation for some minutes",
    INCIDENTS,
    body="required",
    request=req.Snooze,
    response=res.IncidentWithEscalation,
    errors={400: EXTENSION_400},
    local=True,
)
def snooze_incident(call: Call) -> Any:
    return incidents.snooze(call.ctx, call.path["incidentId"], decode(Snooze, call.json()).minutes)


# -- team members, invitations, users ----------------------------------------------------------------

T = "/v1/team/members"


@op(
    "GET",
    T,
    "List members and pending invitations (org:admin)",
    TEAM,
    admin=True,
    response=res.MembersAndInvitations,
)
def list_members(call: Call) -> Any:
    return {"members": orgs.list_users(call.ctx), "invitations": orgs.list_invitations(call.ctx)}


@op(
    "POST",
    T + "/invite",
    "Invite someone by email (org:admin)",
    TEAM,
    status=201,
    body="required",
    admin=True,
    request=req.Invite,
    response=res.Invitation,
    links=("revokeInvitation",),
)
def invite_member(call: Call) -> Any:
    return orgs.invite(call.ctx, call.json())


@op(
    "PATCH",
    T + "/{userId}/role",
    "Change a member's role (org:admin)",
    TEAM,
    body="required",
    admin=True,
    request=req.RoleChange,
    response=res.Member,
    errors={400: ["cannot_change_own_role"], 409: [SYNCED]},
)
def change_role(call: Call) -> Any:
    checked = decode(RoleChange, call.json(), later={"role"})
    return orgs.change_role(call.ctx, call.path["userId"], checked.role)


@op(
    "DELETE",
    T + "/invitations/{invitationId}",
    "Revoke a pending invitation (org:admin)",
    TEAM,
    status=204,
    admin=True,
)
def revoke_invitation(call: Call) -> Any:
    orgs.revoke_invitation(call.ctx, call.path["invitationId"])


@op(
    "DELETE",
    T + "/{userId}",
    "Remove a member (org:admin)",
    TEAM,
    status=204,
    admin=True,
    errors={400: ["cannot_remove_self", "last_admin"], 409: [SYNCED]},
    description="Their API keys are revoked.",
)
def remove_member(call: Call) -> Any:
    orgs.remove_user(call.ctx, call.path["userId"])


@op("GET", "/v1/users", "List the organisation's users (unpaginated)", TEAM, response=res.Users)
def list_users(call: Call) -> Any:
    return {"users": orgs.list_users(call.ctx)}


@op(
    "POST",
    "/v1/users",
    "Create a user directly (org:admin)",
    TEAM,
    status=201,
    body="required",
    admin=True,
    request=req.UserCreate,
    response=res.Member,
    errors={409: [NAME_TAKEN + " (the email is taken)"]},
    local=True,
    description="A local organisation has no sign-up flow, so an admin key can add people directly.",
    links=("changeRole", "removeMember", "listContactMethods", "createContactMethod"),
)
def create_user(call: Call) -> Any:
    return orgs.create_user(call.ctx, call.json())


# -- contact methods (local extension): how a user is paged ------------------------------------------

CM = "/v1/users/{userId}/contact-methods"
CM_WHO = (
    "An org:admin key may manage anyone's contact methods; a member key only its own user's (any other "
    "userId is 401 not_authorized, whether or not it exists). An unknown or removed user is 404. "
    "Command methods are the machine operator's: readable here, but creating, changing or deleting one "
    "through any API key, admin included, is 403 operator_only (use `oncall users contacts` on the server)."
)
CM_WEBHOOK = (
    " A webhook address must be a well-formed http(s) URL without user:password (else 422 on address) and "
    "every address its host resolves to must be public or on the operator's allow-list: loopback, "
    "link-local, private, unspecified, CGNAT and other non-public addresses, and names that do not "
    "resolve, are 422 validation_error on address."
)
OPERATOR_ONLY = {403: ["operator_only (a command contact method: the operator's, via the CLI)"]}


def _user_id(call: Call) -> str:
    """The path's user, 404 before any body error when it is not an active user of this organisation."""
    user_id = call.path["userId"]
    orgs.get_user_row(call.ctx, user_id)
    return user_id


@op(
    "GET",
    CM,
    "List a user's contact methods (org:admin, or the user's own key)",
    TEAM,
    self_or_admin="userId",
    response=res.ContactMethods,
    local=True,
    description=CM_WHO + " Oldest first; no secrets.",
)
def list_contact_methods(call: Call) -> Any:
    return {"contactMethods": contacts.list_contact_methods(call.ctx, call.path["userId"])}


@op(
    "POST",
    CM,
    "Add a contact method (org:admin, or the user's own key)",
    TEAM,
    status=201,
    body="required",
    self_or_admin="userId",
    request=req.ContactMethodCreate,
    response=res.ContactMethodCreated,
    errors=OPERATOR_ONLY,
    local=True,
    description=CM_WHO + CM_WEBHOOK + " A webhook's signing secret is generated when not given and is "
    "returned in this answer only. Rules across fields are 422: log takes no address, a webhook needs an "
    "http(s) URL, only a webhook takes a secret.",
    links=("getContactMethod", "updateContactMethod", "deleteContactMethod"),
)
def create_contact_method(call: Call) -> Any:
    return contacts.add_contact_method(call.ctx, _user_id(call), call.json())


@op(
    "GET",
    CM + "/{contactMethodId}",
    "Get a contact method (org:admin, or the user's own key)",
    TEAM,
    self_or_admin="userId",
    response=res.ContactMethod,
    local=True,
    description=CM_WHO,
)
def get_contact_method(call: Call) -> Any:
    return contacts.get_contact_method(call.ctx, call.path["userId"], call.path["contactMethodId"])


@op(
    "PATCH",
    CM + "/{contactMethodId}",
    "Change a contact method's address or secret (org:admin, or the user's own key)",
    TEAM,
    body="required",
    self_or_admin="userId",
    request=req.ContactMethodUpdate,
    response=res.ContactMethod,
    errors=OPERATOR_ONLY,
    local=True,
    description=CM_WHO + CM_WEBHOOK + " The channel is fixed (add a new method instead); a new secret is "
    "not echoed back.",
)
def update_contact_method(call: Call) -> Any:
    return contacts.update_contact_method(
        call.ctx, call.path["userId"], call.path["contactMethodId"], call.json()
    )


@op(
    "DELETE",
    CM + "/{contactMethodId}",
    "Delete a contact method (org:admin, or the user's own key)",
    TEAM,
    status=204,
    self_or_admin="userId",
    errors=OPERATOR_ONLY,
    local=True,
    description=CM_WHO,
)
def delete_contact_method(call: Call) -> Any:
    contacts.delete_contact_method(call.ctx, call.path["userId"], call.path["contactMethodId"])


# -- notification rules and shift reminders (local extension): when a person is paged --------------------

NR = "/v1/users/{userId}/notification-rules"
NR_WHO = (
    "A person's notification rules (docs/PAGES.md): per urgency (high: critical and high incidents; low: "
    "medium and low), their contact methods in order with delays after the page, while it is "
    "unacknowledged. An org:admin key may manage anyone's; a member key only its own user's (401 "
    "not_authorized). An unknown or removed user is 404."
)


@op(
    "GET",
    NR,
    "A person's notification rules, both urgencies, in firing order",
    TEAM,
    self_or_admin="userId",
    response=res.NotificationRules,
    local=True,
    description=NR_WHO,
)
def list_notification_rules(call: Call) -> Any:
    return notification_rules.list_rules(call.ctx, call.path["userId"])


@op(
    "POST",
    NR,
    "Add a notification rule step",
    TEAM,
    status=201,
    body="required",
    self_or_admin="userId",
    request=req.NotificationRuleCreate,
    response=res.NotificationRuleStep,
    errors={400: ["too_many_rule_steps"]},
    local=True,
    description=NR_WHO,
)
def create_notification_rule(call: Call) -> Any:
    return notification_rules.add_rule(call.ctx, _user_id(call), call.json())


@op(
    "DELETE",
    NR + "/{ruleId}",
    "Remove a notification rule step",
    TEAM,
    status=204,
    self_or_admin="userId",
    local=True,
    description=NR_WHO,
)
def delete_notification_rule(call: Call) -> Any:
    notification_rules.remove_rule(call.ctx, call.path["userId"], call.path["ruleId"])


@op(
    "POST",
    NR + "/{ruleId}/move",
    "Move a step up or down (its contact method swaps slots with the neighbour's)",
    TEAM,
    body="required",
    self_or_admin="userId",
    request=req.RuleMove,
    response=res.NotificationRules,
    errors={400: ["cannot_move"]},
    local=True,
    description=NR_WHO,
)
def move_notification_rule(call: Call) -> Any:
    return notification_rules.move_rule(call.ctx, _user_id(call), call.path["ruleId"], call.json())


SR = "/v1/users/{userId}/shift-reminders"


@op(
    "GET",
    SR,
    "A person's shift reminders, the next one and the latest sent",
    TEAM,
    self_or_admin="userId",
    response=res.ShiftReminderSettings,
    local=True,
    description=NR_WHO,
)
def get_shift_reminders(call: Call) -> Any:
    return notification_rules.get_reminders(call.ctx, call.path["userId"])


@op(
    "PATCH",
    SR,
    "Change a person's shift reminders (partial)",
    TEAM,
    body="required",
    self_or_admin="userId",
    request=req.ShiftReminders,
    response=res.ShiftReminderSettings,
    local=True,
    description=NR_WHO,
)
def update_shift_reminders(call: Call) -> Any:
    return notification_rules.set_reminders(call.ctx, _user_id(call), call.json())


# -- alerts in: inbound integrations, alerts, maintenance windows (docs/ALERTS.md) --------------------

INB = "/v1/integrations/inbound"
ADMIN_WRITES = "Needs an org:admin key (the URL token is a credential)."


class AlertListQuery(msgspec.Struct, kw_only=True):
    """The query string of ``GET /v1/alerts``."""

    integration_id: Annotated[str, Meta(description="an integration's id or name")] | UnsetType = (
        msgspec.field(default=UNSET, name="integrationId")
    )
    limit: Annotated[int, Meta(ge=1, le=500)] = 100


class MaintenanceListQuery(msgspec.Struct, kw_only=True):
    """The query string of ``GET /v1/maintenance-windows``."""

    include: Annotated[Literal["ended"], Meta(description="ended: list ended windows too")] | UnsetType = (
        UNSET
    )


class AlertPayload(msgspec.Struct):
    """The integration kind's own payload: Alertmanager's webhook (version 4), Grafana alerting's
    webhook, or an event (action, dedupKey, summary, severity, source, details; PagerDuty Events v2
    names accepted). Read by engine/alerts.py; one without the kind's shape is 422."""


@op(
    "GET",
    INB,
    "List inbound integrations (never their tokens)",
    ALERTS,
    response=res.Integrations,
    local=True,
)
def list_integrations(call: Call) -> Any:
    return {"integrations": integrations.list_integrations(call.ctx)}


@op(
    "POST",
    INB,
    "Create an inbound integration; its URL token is in this answer only",
    ALERTS,
    status=201,
    body="required",
    admin=True,
    request=req.IntegrationCreate,
    response=res.IntegrationWithToken,
    errors={404: [], 409: [NAME_TAKEN]},
    local=True,
    description=ADMIN_WRITES + " An unknown escalationPolicyId (default or in a selector) is 404.",
    links=("getIntegration", "updateIntegration", "deleteIntegration", "replaceIntegrationSelectors",
           "rotateIntegrationToken"),
)  # fmt: skip
def create_integration(call: Call) -> Any:
    return integrations.create_integration(call.ctx, call.json())


@op(
    "GET",
    INB + "/{integrationId}",
    "Get an inbound integration (by id or name)",
    ALERTS,
    response=res.Integration,
)
def get_integration(call: Call) -> Any:
    return integrations.get_integration(call.ctx, call.path["integrationId"])


@op(
    "PATCH",
    INB + "/{integrationId}",
    "Change an integration's name or routing",
    ALERTS,
    body="required",
    admin=True,
    request=req.IntegrationUpdate,
    response=res.Integration,
    errors={409: [NAME_TAKEN]},
    local=True,
    description=ADMIN_WRITES + " selectors, given, replaces the whole list.",
)
def update_integration(call: Call) -> Any:
    return integrations.update_integration(call.ctx, call.path["integrationId"], call.json())


@op(
    "DELETE",
    INB + "/{integrationId}",
    "Delete an integration: its token stops working; its alerts and incidents stay",
    ALERTS,
    status=204,
    admin=True,
    local=True,
    description=ADMIN_WRITES,
)
def delete_integration(call: Call) -> Any:
    integrations.delete_integration(call.ctx, call.path["integrationId"])


@op(
    "PUT",
    INB + "/{integrationId}/selectors",
    "Replace an integration's ordered selectors",
    ALERTS,
    body="required",
    admin=True,
    request=req.SelectorsReplace,
    response=res.Integration,
    description="Matchers are label key/value pairs compared case-insensitively; all must match; the first "
    "matching selector wins; no match uses the integration's default routing. Locally a selector names an "
    "escalationPolicyId (Scaling's names a routingPolicyId). " + ADMIN_WRITES,
)
def replace_integration_selectors(call: Call) -> Any:
    return integrations.replace_selectors(call.ctx, call.path["integrationId"], call.json())


@op(
    "POST",
    INB + "/{integrationId}/rotate",
    "Replace an integration's URL token; the old one stops working now",
    ALERTS,
    admin=True,
    response=res.IntegrationWithToken,
    local=True,
    description=ADMIN_WRITES,
)
def rotate_integration_token(call: Call) -> Any:
    return integrations.rotate_token(call.ctx, call.path["integrationId"])


def _known_token(call: Call) -> None:
    alerts.check_token(call.ctx.db, call.path["token"])


@op(
    "POST",
    INB + "/{token}/alerts",
    "Receive an alert payload on an integration's secret URL (no API key)",
    ALERTS,
    status=202,
    body="required",
    request=AlertPayload,
    response=res.AlertReceipt,
    local=True,
    precheck=_known_token,
    description="Authenticated by the URL token alone. An unknown, rotated or deleted token is 404 before "
    "the body is read; a body that is not JSON, over 1,000,000 bytes or without the kind's shape is 422 "
    "and stores nothing. Every alert of the payload is stored in one transaction; opening an incident "
    "pages layer 1 in it, as any create does.",
)
def receive_alerts(call: Call) -> Any:
    return alerts.receive(
        call.ctx.db, call.ctx.clock, call.path["token"], call.json(), config=call.ctx.config
    )


@op(
    "GET",
    INC + "/{incidentId}/alerts",
    "The alerts of an incident (null when alerts did not open it)",
    ALERTS,
    response=res.IncidentAlerts | None,
    local=True,
)
def get_incident_alerts(call: Call) -> Any:
    return alerts.incident_alerts(call.ctx, call.path["incidentId"])


@op(
    "GET",
    "/v1/alerts",
    "Alerts, most recently seen first",
    ALERTS,
    query=AlertListQuery,
    response=res.Alerts,
    errors={404: ["not_found (integrationId names no integration)"]},
    local=True,
)
def list_alerts(call: Call) -> Any:
    limit = _int_param(call.query, "limit", 100)
    if limit is None or not 1 <= limit <= 500:
        raise ValidationError("limit must be between 1 and 500", field="limit")
    return {"alerts": alerts.list_alerts(call.ctx, integration=call.query.get("integrationId"), limit=limit)}


@op(
    "GET",
    "/v1/alerts/{alertId}",
    "One alert with its stored raw payload (cut at 16 KiB)",
    ALERTS,
    response=res.AlertWithRaw,
    local=True,
)
def get_alert(call: Call) -> Any:
    return alerts.get_alert(call.ctx, call.path["alertId"])


MW = "/v1/maintenance-windows"


@op(
    "GET",
    MW,
    "Active and scheduled maintenance windows (include=ended: all)",
    ALERTS,
    query=MaintenanceListQuery,
    response=res.MaintenanceWindows,
    local=True,
)
def list_maintenance_windows(call: Call) -> Any:
    include = call.query.get("include")
    if include not in (None, "ended"):
        raise ValidationError('include must be "ended"', field="include")
    return {"maintenanceWindows": maintenance.list_windows(call.ctx, include_ended=include == "ended")}


@op(
    "POST",
    MW,
    "Start or schedule a maintenance window",
    ALERTS,
    status=201,
    body="required",
    request=req.MaintenanceStart,
    response=res.MaintenanceWindow,
    errors={404: []},
    local=True,
    description="hold: incidents opened by alerts are not paged until the window ends (then they are, if "
    "still firing and unacknowledged); drop: alerts are recorded, no incident opens.",
    links=("endMaintenanceWindow",),
)
def start_maintenance_window(call: Call) -> Any:
    return maintenance.start_window(call.ctx, call.json())


@op(
    "POST",
    MW + "/{windowId}/end",
    "End a maintenance window now",
    ALERTS,
    response=res.MaintenanceWindow,
    local=True,
)
def end_maintenance_window(call: Call) -> Any:
    return maintenance.end_window(call.ctx, call.path["windowId"])


# -- heartbeats (local extension): dead man's switches (docs/ALERTS.md, "Heartbeats") ------------------

HB = "/v1/heartbeats"
HB_WHO = (
    "Any API key of the organisation. Pings go to the ping URL, which needs no key (the token is the secret)."
)
BAD_POLICY = {400: ["invalid_escalation_policy"]}


@op("GET", HB, "List heartbeats", HEARTBEATS, response=res.Heartbeats, local=True, description=HB_WHO)
def list_heartbeats(call: Call) -> Any:
    return {"heartbeats": heartbeats.list_heartbeats(call.ctx)}


@op(
    "POST",
    HB,
    "Create a heartbeat; its ping token is in this answer only",
    HEARTBEATS,
    status=201,
    body="required",
    request=req.HeartbeatCreate,
    response=res.HeartbeatWithToken,
    errors={**BAD_POLICY, 409: ["name_conflict"]},
    local=True,
    description=HB_WHO + " Armed from now: due by now + interval + grace (grace 5, severity high unless "
    "given).",
    links=("getHeartbeat", "updateHeartbeat", "deleteHeartbeat", "rotateHeartbeatToken"),
)
def create_heartbeat(call: Call) -> Any:
    return heartbeats.create_heartbeat(call.ctx, call.json())


@op(
    "GET",
    HB + "/{heartbeatId}",
    "Get a heartbeat",
    HEARTBEATS,
    response=res.Heartbeat,
    local=True,
    description=HB_WHO,
)
def get_heartbeat(call: Call) -> Any:
    return heartbeats.get_heartbeat(call.ctx, call.path["heartbeatId"])


@op(
    "PATCH",
    HB + "/{heartbeatId}",
    "Change a heartbeat",
    HEARTBEATS,
    body="required",
    request=req.HeartbeatUpdate,
    response=res.Heartbeat,
    errors={**BAD_POLICY, 409: ["name_conflict"]},
    local=True,
    description=HB_WHO + " A new interval or grace moves the due time of a heartbeat that is not down "
    "(from its last ping, or its creation).",
)
def update_heartbeat(call: Call) -> Any:
    return heartbeats.update_heartbeat(call.ctx, call.path["heartbeatId"], call.json())


@op(
    "DELETE",
    HB + "/{heartbeatId}",
    "Delete a heartbeat",
    HEARTBEATS,
    status=204,
    local=True,
    description=HB_WHO + " An incident it opened stays as it is.",
)
def delete_heartbeat(call: Call) -> Any:
    heartbeats.delete_heartbeat(call.ctx, call.path["heartbeatId"])


@op(
    "POST",
    HB + "/{heartbeatId}/rotate",
    "Replace a heartbeat's ping token; the old ping URL stops now",
    HEARTBEATS,
    id="rotateHeartbeatToken",
    response=res.HeartbeatWithToken,
    local=True,
    description=HB_WHO,
)
def rotate_heartbeat_token(call: Call) -> Any:
    return heartbeats.rotate_token(call.ctx, call.path["heartbeatId"])


def _known_heartbeat_token(call: Call) -> None:
    heartbeats.check_token(call.ctx.db, call.path["token"])


PING = (
    "Resets the heartbeat's timer; if it was down, resolves the incident it opened, with a note. Any request "
    "body is ignored. Needs no Authorization header: an unknown or rotated token is 404."
)


@op(
    "POST",
    heartbeats.PING_PATH,
    "Ping a heartbeat (POST, no API key)",
    HEARTBEATS,
    status=202,
    precheck=_known_heartbeat_token,
    response=res.HeartbeatPing,
    local=True,
    description=PING,
)
def ping_heartbeat(call: Call) -> Any:
    """The monitored job's ping: no API key, the token in the path is the secret; any body is ignored."""
    return heartbeats.ping_by_token(call.ctx.db, call.path["token"], call.ctx.clock)


@op(
    "GET",
    heartbeats.PING_PATH,
    "Ping a heartbeat (GET, no API key)",
    HEARTBEATS,
    id="pingHeartbeatByGet",
    status=202,
    precheck=_known_heartbeat_token,
    write=True,
    response=res.HeartbeatPing,
    local=True,
    description=PING,
)
def ping_heartbeat_by_get(call: Call) -> Any:
    return heartbeats.ping_by_token(call.ctx.db, call.path["token"], call.ctx.clock)
