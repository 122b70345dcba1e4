"""The OpenAPI 3.1 document served at ``/v1/openapi.json``.

The request bodies of escalation policies, their layers and the incident operations are generated from
the msgspec models the services validate with (:mod:`engine.service.models`, through
``msgspec.json.schema_components``), so they cannot drift from what the code accepts; the responses and
the other endpoints' request bodies are still written out here. It describes what the server really does: strict request schemas (unknown fields are rejected, as the
service rejects them), the error responses each operation can return, and our local extensions marked
with ``x-local-extension: true``. ``tests/api/test_openapi.py`` checks that it lists exactly the
operations in :data:`console.api.routes.OPERATIONS`, and a schemathesis run checks it against a live
server.
"""

from __future__ import annotations

import copy
from typing import Any
from zoneinfo import available_timezones

import msgspec

from engine.model import ROLES, ROTATION_TYPES, SEVERITIES, STATUSES
from engine.rotation import validate_timezone
from engine.service import models
from engine.service.contacts import CHANNELS
from engine.service.models import NAME_PATTERN, TEXT_PATTERN

Schema = dict[str, Any]

LOCAL = {"x-local-extension": True}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(props: dict[str, Schema], required: list[str] | None = None, *, strict: bool = False) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if strict:
        out["additionalProperties"] = False
    return out


def record(props: dict[str, Schema], *, strict: bool = False) -> Schema:
    """An object whose every property is required: most responses, and a few request bodies."""
    return obj(props, list(props), strict=strict)


STR = {"type": "string"}
ID = {"type": "string", "minLength": 1, "description": "an opaque id"}
TS = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 UTC with milliseconds, e.g. 2026-04-07T10:00:00.000Z",
}


# Text rules (engine/service/validate.py, docs/API.md "Text fields"): no control characters anywhere;
# free text may also hold tab, LF and CR LF; names and titles need a visible character.
def name_schema(max_length: int = 255) -> Schema:
    """A one-line name or title: no control characters, at least one visible character."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NAME_PATTERN}


def text_schema(max_length: int, min_length: int = 0) -> Schema:
    """Free text (descriptions, notes, update bodies), nullable; line breaks and tabs allowed."""
    schema: Schema = {"type": "string", "maxLength": max_length, "pattern": TEXT_PATTERN}
    if min_length:
        schema["minLength"] = min_length
    return nullable(schema)


NAME = name_schema()
DESCRIPTION = text_schema(10_000)
# JSON Schema's "date-time" is RFC 3339, which always carries a zone: what the server needs.
INSTANT = {"type": "string", "format": "date-time"}
DAY_OR_INSTANT = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}


# -- resources (responses) ---------------------------------------------------------------------------

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "statusCode": {"type": "integer"},
            "type": {
                "type": "string",
                "enum": [
                    "not_authorized_error",
                    "invalid_request_error",
                    "validation_error",
                    "internal_error",
                ],
            },
            "code": STR,
            "requestId": {"type": "string", "format": "uuid"},
            "message": STR,
            "field": {**STR, "description": "validation errors: the offending field, when known", **LOCAL},
            "details": {
                "description": "extra machine-readable detail, e.g. for invalid_layer_order",
                **LOCAL,
            },
        },
        ["statusCode", "type", "code", "requestId", "message"],
    ),
    "Policy": obj(
        {
            "id": ID,
            "orgId": ID,
            "name": STR,
            "description": nullable(STR),
            "repeat": {
                "type": "integer",
                "description": "times the whole policy is repeated after the last layer",
                **LOCAL,
            },
            "repageAfterMinutes": {**nullable({"type": "integer"}), **LOCAL},
            "createdBy": nullable(STR),
            "createdAt": TS,
            "updatedAt": TS,
        },
        ["id", "orgId", "name", "description", "createdBy", "createdAt", "updatedAt"],
    ),
    "PolicyWithLayers": {
        "allOf": [
            ref("Policy"),
            record({"layers": {"type": "array", "items": ref("EscalationLayer")}}),
        ]
    },
    "Target": {
        "oneOf": [ref("ScheduleTarget"), ref("UsersTarget")],  # generated from engine.service.models
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                "schedule": "#/components/schemas/ScheduleTarget",
                "users": "#/components/schemas/UsersTarget",
            },
        },
    },
    "EscalationLayer": record(
        {
            "id": ID,
            "policyId": ID,
            "orgId": ID,
            "position": {"type": "integer", "minimum": 1, "description": "1-based; 1 is paged first"},
            "ackTimeoutMinutes": {"type": "integer"},
            "target": ref("Target"),
            "createdAt": TS,
            "updatedAt": TS,
        }
    ),
    "Schedule": record(
        {
            "id": ID,
            "orgId": ID,
            "name": STR,
            "description": nullable(STR),
            "timezone": STR,
            "createdBy": nullable(STR),
            "createdAt": TS,
            "updatedAt": TS,
        }
    ),
    "ScheduleWithLayers": {
        "allOf": [
            ref("Schedule"),
            record(
                {
                    "layers": {"type": "array", "items": ref("RotationLayer")},
                    "overrides": {"type": "array", "items": ref("Override"), **LOCAL},
                }
            ),
        ]
    },
    "RotationLayer": record(
        {
            "id": ID,
            "scheduleId": ID,
            "name": STR,
            "position": {
                "type": "integer",
                "minimum": 0,
                "description": "0-based, server-assigned; 0 bears the owner",
            },
            "rotationType": {"type": "string", "enum": list(ROTATION_TYPES)},
            "rotationLengthDays": {"type": "integer"},
            "handoffTime": STR,
            "effectiveFrom": TS,
            "effectiveUntil": nullable(TS),
            "participantIds": {"type": "array", "items": STR},
            "createdAt": TS,
            "updatedAt": TS,
        }
    ),
    "Override": {
        **record(
            {
                "id": ID,
                "scheduleId": ID,
                "userId": ID,
                "start": TS,
                "end": TS,
                "note": nullable(STR),
                "createdBy": nullable(STR),
                "createdAt": TS,
            }
        ),
        "description": "A user covering [start, end) of a schedule; it displaces the owner-bearing layer.",
        **LOCAL,
    },
    "Resolution": record(
        {
            "scheduleId": ID,
            "at": TS,
            "scheduleOwner": nullable(STR),
            "pagingTargets": {"type": "array", "items": STR},
            "currentOncall": {
                "type": "array",
                "items": record(
                    {
                        "layerId": ID,
                        "name": STR,
                        "position": {"type": "integer"},
                        "active": {"type": "boolean"},
                        "userId": nullable(STR),
                        "shiftStart": nullable(TS),
                        "shiftEnd": nullable(TS),
                        "displacedByOverride": {"type": "boolean"},
                    }
                ),
            },
            "override": nullable(record({"id": ID, "userId": ID, "start": TS, "end": TS})),
            "nextHandoff": nullable(TS),
        }
    ),
    "Incident": obj(
        {
            "id": ID,
            "orgId": ID,
            "title": STR,
            "description": nullable(STR),
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "status": {"type": "string", "enum": list(STATUSES)},
            "ownerId": nullable(STR),
            "escalationPolicyId": nullable(STR),
            "affectedComponents": {
                "type": "array",
                "items": record({"id": ID, "name": STR}),
                "description": "always [] locally: there is no component catalog",
            },
            "createdBy": nullable(STR),
            "createdAt": TS,
            "updatedAt": TS,
            "sequentialId": {"type": "integer", **LOCAL},
            "acknowledgedAt": {**nullable(TS), **LOCAL},
            "acknowledgedBy": {**nullable(STR), **LOCAL},
            "resolvedAt": {**nullable(TS), **LOCAL},
            "isDrill": {"type": "boolean", **LOCAL},
        },
        [
            "id",
            "orgId",
            "title",
            "description",
            "severity",
            "status",
            "ownerId",
            "escalationPolicyId",
            "affectedComponents",
            "createdBy",
            "createdAt",
            "updatedAt",
        ],
    ),
    "Escalation": {
        **nullable({"type": "object"}),
        "description": "the escalation state (current layer, next due time, round; null without a policy)",
        **LOCAL,
    },
    "IncidentWithEscalation": {"allOf": [ref("Incident"), record({"escalation": ref("Escalation")})]},
    "IncidentDetail": {
        "allOf": [
            ref("Incident"),
            record(
                {
                    "statusHistory": {
                        "type": "array",
                        "items": record(
                            {
                                "id": ID,
                                "status": {"type": "string", "enum": list(STATUSES)},
                                "changedAt": TS,
                                "resolutionNote": nullable(STR),
                            }
                        ),
                    },
                    "escalation": ref("Escalation"),
                    "timeline": {
                        "type": "array",
                        "description": "the paging audit trail, oldest first (incident_created, layer_paged, ...)",
                        "items": record(
                            {
                                "id": ID,
                                "at": TS,
                                "kind": STR,
                                "actor": nullable(STR),
                                "data": {"type": "object"},
                            }
                        ),
                    },
                }
            ),
        ]
    },
    "Person": nullable(record({"id": ID, "name": STR})),
    "IncidentUpdate": record(
        {
            "id": ID,
            "incidentId": ID,
            "body": nullable(STR),
            "statusChange": nullable({"type": "string", "enum": list(STATUSES)}),
            "visibility": {"type": "string", "enum": ["internal", "public"]},
            "postedBy": ref("Person"),
            "postedAt": TS,
            "redactedAt": nullable(TS),
            "redactedBy": ref("Person"),
        }
    ),
    "Member": record(
        {
            "id": ID,
            "email": STR,
            "firstName": nullable(STR),
            "lastName": nullable(STR),
            "imageUrl": nullable(STR),
            "role": {"type": "string", "enum": list(ROLES)},
            "joinedAt": TS,
        }
    ),
    "ContactMethod": {
        **record(
            {
                "id": ID,
                "userId": ID,
                "channel": {"type": "string", "enum": list(CHANNELS)},
                "address": {
                    **nullable(STR),
                    "description": "the webhook URL or the command line; null for log",
                },
                "hasSecret": {"type": "boolean", "description": "a webhook has a signing secret"},
                "createdAt": TS,
            }
        ),
        "description": "How a user is paged: log (the timeline only), webhook (a signed JSON POST) or "
        "command (a program run with the page as JSON on stdin). The secret is never shown again.",
        **LOCAL,
    },
    "ContactMethodCreated": {
        "allOf": [
            ref("ContactMethod"),
            obj(
                {
                    "secret": {
                        "type": "string",
                        "description": "webhooks only: the HMAC signing secret, shown in this answer only",
                    }
                }
            ),
        ],
        **LOCAL,
    },
    "Invitation": record(
        {
            "id": ID,
            "emailAddress": STR,
            "role": {"type": "string", "enum": list(ROLES)},
            "status": {"type": "string", "enum": ["pending", "accepted", "revoked"]},
            "createdAt": TS,
        }
    ),
}

# -- request bodies (strict: unknown fields are 422) ---------------------------------------------------


def _timezones() -> list[str]:
    """The zone names the service accepts (IANA region names and UTC; no abbreviations)."""
    out = []
    for name in sorted(available_timezones()):
        try:
            validate_timezone(name)
        except ValueError:
            continue
        out.append(name)
    return out


REQUESTS: dict[str, Schema] = {
    "Timezone": {
        "type": "string",
        "enum": _timezones(),
        "description": "an IANA region name (e.g. Europe/London) or UTC; abbreviations such as EST are refused",
    },
}

LOCAL_REQUESTS = (
    "Escalate",
    "Snooze",
    "UserCreate",
    "ContactMethodCreate",
    "ContactMethodUpdate",
    "HeartbeatCreate",
    "HeartbeatUpdate",
    "IntegrationCreate",
    "IntegrationUpdate",
    "MaintenanceStart",
)
"""Request models of operations the Scaling API does not have."""


def generated_requests() -> dict[str, Schema]:
    """The JSON Schema of every model in :data:`engine.service.models.REQUESTS` (and the structs they
    hold), by model name; strict (``additionalProperties: false``) as the models forbid unknown fields."""
    _, components = msgspec.json.schema_components(
        models.REQUESTS, ref_template="#/components/schemas/{name}"
    )
    for name, schema in components.items():
        schema.pop("title", None)
        if not schema.get("required", True):
            del schema["required"]
        if name in LOCAL_REQUESTS:
            schema.update(LOCAL)
    return components


# -- responses ---------------------------------------------------------------------------------------

ERROR_TEXT = {
    400: "Business rule broken (invalid_request_error), e.g. {codes}",
    401: "missing_authorization_header, invalid_api_key{codes}",
    403: "Not permitted: {codes}",
    404: "not_found: it does not exist or belongs to another organisation",
    409: "name_conflict: the name is taken in this organisation{codes}",
    422: "validation_error: wrong type, missing or unknown field, out of range, malformed JSON",
    500: "internal_error (server_error): a bug; quote the requestId",
    503: (
        "Local: the database file cannot be used (database_gone: deleted or replaced, the server exits; "
        "database_read_only: nothing written, retry once it is writable)"
    ),
    507: "Local: disk_full: no space for the database; nothing was written",
}


SYNCED = {409: ["synced_object_read_only (the object is managed by the linked Scaling organisation)"]}
"""The 409 of a local edit to a schedule, its layers or overrides, or a person pulled from Scaling."""


def _errors(*statuses: int, codes: dict[int, list[str]] | None = None) -> dict[str, Any]:
    codes = codes or {}
    out: dict[str, Any] = {}
    for status in (401, *statuses, 500, 503):
        listed = codes.get(status, [])
        if status in (401, 409):
            text = ERROR_TEXT[status].format(codes="".join(f", {c}" for c in listed))
        else:
            text = ERROR_TEXT[status].format(codes=", ".join(listed) or "see the description")
        out[str(status)] = {
            "description": text,
            "content": {"application/json": {"schema": ref("Error")}},
        }
    return out


def _data(schema: Schema, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}},
        "content": {"application/json": {"schema": record({"data": schema}, strict=True)}},
    }


def _no_content(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}},
    }


def _body(name: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": ref(name)}}}


def _with_disk_full(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every operation that writes may also answer 507 ``disk_full``."""
    for item in paths.values():
        for method, operation in item.items():
            if method != "get":
                operation["responses"]["507"] = {
                    "description": ERROR_TEXT[507],
                    "content": {"application/json": {"schema": ref("Error")}},
                }
    return paths


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _operation(
    op_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    local: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses}
    if params:
        out["parameters"] = params
    if body:
        out["requestBody"] = body
    if local:
        out["x-local-extension"] = True
        description = "**Local extension** (not in the Scaling API). " + (description or "")
    if description:
        out["description"] = description
    return out


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


def _paths() -> dict[str, dict[str, Any]]:
    P, S, INC, T = "/v1/escalation/policies", "/v1/oncall/schedules", "/v1/incidents", "/v1/team/members"
    pol, lay, sch, inc = (
        _path("policyId"),
        _path("policyId", "layerId"),
        _path("scheduleId"),
        _path("incidentId"),
    )
    rlay = _path("scheduleId", "layerId")
    array = lambda name: {"type": "array", "items": ref(name)}  # noqa: E731
    policy_400 = {400: ["policy_in_use"]}
    layer_400 = {400: ["invalid_target"]}
    order_400 = {400: ["invalid_layer_order (the layerIds are not exactly the current set)"]}
    rotation_400 = {400: ["invalid_participant"]}
    incident_400 = {400: ["invalid_owner", "invalid_component_id", "duplicate_component_id"]}
    status_400 = {400: ["invalid_status_transition"]}
    update_400 = {400: ["incident_resolved", "invalid_status_transition", "no_public_surface"]}
    team = {401: ["not_authorized (the key's user is not org:admin)"]}
    ext_400 = {400: ["incident_resolved", "not_escalating", "invalid_layer (toLayer outside the policy)"]}
    per_user = {401: ["not_authorized (a member key on another user than its own)"]}
    operator_only = {
        **per_user,
        403: ["operator_only (a command contact method: the operator's, via the CLI)"],
    }
    cm_user, cm_one = _path("userId"), _path("userId", "contactMethodId")

    paths: dict[str, dict[str, Any]] = {
        P: {
            "get": _operation(
                "listPolicies",
                "List escalation policies (metadata only)",
                "Escalation policies",
                {"200": _data(array("Policy"), "Every policy of the organisation"), **_errors()},
            ),
            "post": _operation(
                "createPolicy",
                "Create an escalation policy",
                "Escalation policies",
                {"201": _data(ref("Policy"), "The new policy (no layers yet)"), **_errors(409, 422)},
                body=_body("PolicyCreate"),
            ),
        },
        P + "/{policyId}": {
            "get": _operation(
                "getPolicy",
                "Get a policy with its layers",
                "Escalation policies",
                {
                    "200": _data(ref("PolicyWithLayers"), "The policy and its layers by position"),
                    **_errors(404),
                },
                params=pol,
            ),
            "patch": _operation(
                "updatePolicy",
                "Update a policy (partial)",
                "Escalation policies",
                {"200": _data(ref("Policy"), "The updated policy"), **_errors(404, 409, 422)},
                params=pol,
                body=_body("PolicyUpdate"),
            ),
            "delete": _operation(
                "deletePolicy",
                "Delete a policy and its layers",
                "Escalation policies",
                {"204": _no_content("Deleted"), **_errors(400, 404, codes=policy_400)},
                params=pol,
                description="Refused (400 policy_in_use) while an open incident uses it.",
            ),
        },
        P + "/{policyId}/layers": {
            "post": _operation(
                "createEscalationLayer",
                "Add an escalation layer",
                "Escalation policies",
                {
                    "201": _data(ref("EscalationLayer"), "The created layer"),
                    **_errors(400, 404, 422, codes=layer_400),
                },
                params=pol,
                body=_body("EscalationLayerCreate"),
                description="`position` inserts at that point and shifts later layers down; a position past the end appends.",
            ),
        },
        P + "/{policyId}/layers/order": {
            "put": _operation(
                "reorderEscalationLayers",
                "Set the order of all layers",
                "Escalation policies",
                {
                    "200": _data(array("EscalationLayer"), "Every layer, renumbered 1..n"),
                    **_errors(400, 404, 422, codes=order_400),
                },
                params=pol,
                body=_body("LayerOrder"),
            ),
        },
        P + "/{policyId}/layers/{layerId}": {
            "patch": _operation(
                "updateEscalationLayer",
                "Update a layer (partial)",
                "Escalation policies",
                {
                    "200": _data(ref("EscalationLayer"), "The updated layer"),
                    **_errors(400, 404, 422, codes=layer_400),
                },
                params=lay,
                body=_body("EscalationLayerUpdate"),
            ),
            "delete": _operation(
                "deleteEscalationLayer",
                "Delete a layer (later layers move up)",
                "Escalation policies",
                {"204": _no_content("Deleted"), **_errors(404)},
                params=lay,
            ),
        },
        S: {
            "get": _operation(
                "listSchedules",
                "List on-call schedules (metadata only)",
                "On-call schedules",
                {"200": _data(array("Schedule"), "Every schedule of the organisation"), **_errors()},
            ),
            "post": _operation(
                "createSchedule",
                "Create a schedule",
                "On-call schedules",
                {"201": _data(ref("Schedule"), "The new schedule"), **_errors(409, 422)},
                body=_body("ScheduleCreate"),
            ),
        },
        S + "/{scheduleId}": {
            "get": _operation(
                "getSchedule",
                "Get a schedule with its rotation layers and overrides",
                "On-call schedules",
                {"200": _data(ref("ScheduleWithLayers"), "The schedule"), **_errors(404)},
                params=sch,
            ),
            "patch": _operation(
                "updateSchedule",
                "Update a schedule (partial)",
                "On-call schedules",
                {
                    "200": _data(ref("Schedule"), "The updated schedule"),
                    **_errors(404, 409, 422, codes=SYNCED),
                },
                params=sch,
                body=_body("ScheduleUpdate"),
            ),
            "put": _operation(
                "replaceSchedule",
                "Update a schedule (PUT, as the Terraform provider sends it)",
                "On-call schedules",
                {
                    "200": _data(ref("Schedule"), "The updated schedule"),
                    **_errors(404, 409, 422, codes=SYNCED),
                },
                params=sch,
                body=_body("ScheduleUpdate"),
                description="Same as PATCH: fields left out keep their value.",
            ),
            "delete": _operation(
                "deleteSchedule",
                "Delete a schedule",
                "On-call schedules",
                {
                    "204": _no_content("Deleted"),
                    **_errors(400, 404, 409, codes={400: ["schedule_in_use"], **SYNCED}),
                },
                params=sch,
                description="Refused (400 schedule_in_use) while an escalation layer targets it or an open "
                "incident's escalation still pages it through its policy snapshot; the message names them and "
                "details is {policies: [{id, name}], incidents: [{id, sequentialId}]}.",
            ),
        },
        S + "/{scheduleId}/resolve": {
            "get": _operation(
                "resolveSchedule",
                "Who is on call now, or at another instant",
                "On-call schedules",
                {
                    "200": _data(
                        ref("Resolution"), "Schedule Owner, Paging Targets and each layer's on-call"
                    ),
                    **_errors(404, 422),
                },
                params=[
                    *sch,
                    {
                        "name": "at",
                        "in": "query",
                        "required": False,
                        "schema": INSTANT,
                        "description": "ISO 8601 instant with a zone; default: now",
                    },
                ],
            ),
        },
        S + "/{scheduleId}/layers": {
            "post": _operation(
                "createRotationLayer",
                "Add a rotation layer at the next position",
                "On-call schedules",
                {
                    "201": _data(ref("RotationLayer"), "The created layer"),
                    **_errors(400, 404, 409, 422, codes={**rotation_400, **SYNCED}),
                },
                params=sch,
                body=_body("RotationLayerCreate"),
            ),
        },
        S + "/{scheduleId}/layers/order": {
            "put": _operation(
                "reorderRotationLayers",
                "Set the order of all rotation layers",
                "On-call schedules",
                {
                    "200": _data(array("RotationLayer"), "Every layer, renumbered 0..n-1"),
                    **_errors(400, 404, 409, 422, codes={**order_400, **SYNCED}),
                },
                params=sch,
                body=_body("LayerOrder"),
            ),
        },
        S + "/{scheduleId}/layers/{layerId}": {
            "patch": _operation(
                "updateRotationLayer",
                "Update a rotation layer (partial)",
                "On-call schedules",
                {
                    "200": _data(ref("RotationLayer"), "The updated layer"),
                    **_errors(400, 404, 409, 422, codes={**rotation_400, **SYNCED}),
                },
                params=rlay,
                body=_body("RotationLayerUpdate"),
            ),
            "put": _operation(
                "replaceRotationLayer",
                "Update a rotation layer (PUT, as the Terraform provider sends it)",
                "On-call schedules",
                {
                    "200": _data(ref("RotationLayer"), "The updated layer"),
                    **_errors(400, 404, 409, 422, codes={**rotation_400, **SYNCED}),
                },
                params=rlay,
                body=_body("RotationLayerUpdate"),
                description="Same as PATCH; send effectiveUntil: null to clear it.",
            ),
            "delete": _operation(
                "deleteRotationLayer",
                "Delete a rotation layer (positions stay dense)",
                "On-call schedules",
                {"204": _no_content("Deleted"), **_errors(404, 409, codes=SYNCED)},
                params=rlay,
            ),
        },
        S + "/{scheduleId}/overrides": {
            "get": _operation(
                "listOverrides",
                "List a schedule's overrides",
                "On-call schedules",
                {"200": _data(array("Override"), "Overrides by start"), **_errors(404)},
                params=sch,
                local=True,
            ),
            "post": _operation(
                "createOverride",
                "Add an override",
                "On-call schedules",
                {
                    "201": _data(ref("Override"), "The created override"),
                    **_errors(400, 404, 409, 422, codes={**rotation_400, **SYNCED}),
                },
                params=sch,
                body=_body("OverrideCreate"),
                local=True,
                description="While active, the override's user displaces the owner-bearing layer's participant.",
            ),
        },
        S + "/{scheduleId}/overrides/{overrideId}": {
            "delete": _operation(
                "deleteOverride",
                "Delete an override",
                "On-call schedules",
                {"204": _no_content("Deleted"), **_errors(404, 409, codes=SYNCED)},
                params=_path("scheduleId", "overrideId"),
                local=True,
            ),
        },
        INC: {
            "get": _operation(
                "listIncidents",
                "List incidents, newest first",
                "Incidents",
                {
                    "200": _data(
                        record({"incidents": array("Incident"), "nextCursor": nullable(STR)}),
                        "One page; nextCursor is null on the last page",
                    ),
                    **_errors(422),
                },
                params=[
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                    {
                        "name": "severity",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(SEVERITIES)},
                    },
                    {
                        "name": "from",
                        "in": "query",
                        "schema": DAY_OR_INSTANT,
                        "description": "created on/after: a date (YYYY-MM-DD, from 00:00Z) or an ISO 8601 instant",
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "schema": DAY_OR_INSTANT,
                        "description": "created on/before: a date (whole day, UTC, inclusive) or an ISO 8601 instant (inclusive)",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string", "minLength": 1},
                        "description": "nextCursor of the previous page",
                    },
                ],
            ),
            "post": _operation(
                "createIncident",
                "Open an incident (starts paging with a policy)",
                "Incidents",
                {
                    "201": _data(ref("Incident"), "The new incident"),
                    **_errors(400, 404, 422, codes=incident_400),
                },
                body=_body("IncidentCreate"),
                description="ownerId and ownerScheduleId are optional: an incident with only escalationPolicyId "
                "(or neither) is accepted with ownerId null, as the escalation guide shows.",
            ),
        },
        INC + "/{incidentId}": {
            "get": _operation(
                "getIncident",
                "Get an incident with statusHistory, escalation state and timeline",
                "Incidents",
                {"200": _data(ref("IncidentDetail"), "The incident"), **_errors(404)},
                params=inc,
            ),
        },
        INC + "/{incidentId}/status": {
            "patch": _operation(
                "advanceStatus",
                "Move the status exactly one step forward",
                "Incidents",
                {
                    "200": _data(ref("Incident"), "The updated incident"),
                    **_errors(400, 404, 422, codes=status_400),
                },
                params=inc,
                body=_body("StatusChange"),
            ),
        },
        INC + "/{incidentId}/updates": {
            "get": _operation(
                "listUpdates",
                "List updates, oldest first (redacted ones included)",
                "Incidents",
                {
                    "200": _data(record({"updates": array("IncidentUpdate")}), "All updates"),
                    **_errors(404),
                },
                params=inc,
            ),
            "post": _operation(
                "postUpdate",
                "Post an update",
                "Incidents",
                {
                    "201": _data(ref("IncidentUpdate"), "The posted update"),
                    **_errors(400, 404, 422, codes=update_400),
                },
                params=inc,
                body=_body("UpdateCreate"),
                description="Local incidents have no status page: visibility public is 400 no_public_surface.",
            ),
        },
        INC + "/{incidentId}/updates/{updateId}/redact": {
            "post": _operation(
                "redactUpdate",
                "Redact an update's body",
                "Incidents",
                {
                    "200": _data(ref("IncidentUpdate"), "The redacted update"),
                    **_errors(403, 404, codes={403: ["redaction_not_permitted"]}),
                },
                params=_path("incidentId", "updateId"),
            ),
        },
        INC + "/{incidentId}/acknowledge": {
            "post": _operation(
                "acknowledgeIncident",
                "Acknowledge: stop the escalation (idempotent)",
                "Incidents",
                {
                    "200": _data(ref("IncidentWithEscalation"), "The incident with its escalation state"),
                    **_errors(404),
                },
                params=inc,
            ),
        },
        INC + "/{incidentId}/handoff": {
            "post": _operation(
                "handoffIncident",
                "Hand off to another member",
                "Incidents",
                {
                    "200": _data(ref("IncidentWithEscalation"), "The incident with its new owner"),
                    **_errors(400, 404, 422, codes={400: ["invalid_target_user", "incident_resolved"]}),
                },
                params=inc,
                body=_body("Handoff"),
            ),
        },
        INC + "/{incidentId}/escalate": {
            "post": _operation(
                "escalateIncident",
                "Page the next layer (or layer toLayer) now",
                "Incidents",
                {
                    "200": _data(ref("IncidentWithEscalation"), "The incident with its escalation state"),
                    **_errors(400, 404, 422, codes=ext_400),
                },
                params=inc,
                body=_body("Escalate", required=False),
                local=True,
                description="The body is optional.",
            ),
        },
        INC + "/{incidentId}/snooze": {
            "post": _operation(
                "snoozeIncident",
                "Hold the escalation for some minutes",
                "Incidents",
                {
                    "200": _data(ref("IncidentWithEscalation"), "The incident with its escalation state"),
                    **_errors(400, 404, 422, codes=ext_400),
                },
                params=inc,
                body=_body("Snooze"),
                local=True,
            ),
        },
        T: {
            "get": _operation(
                "listMembers",
                "List members and pending invitations (org:admin)",
                "Team",
                {
                    "200": _data(
                        record({"members": array("Member"), "invitations": array("Invitation")}),
                        "Members and invitations",
                    ),
                    **_errors(codes=team),
                },
            ),
        },
        T + "/invite": {
            "post": _operation(
                "inviteMember",
                "Invite someone by email (org:admin)",
                "Team",
                {"201": _data(ref("Invitation"), "The pending invitation"), **_errors(422, codes=team)},
                body=_body("Invite"),
            ),
        },
        T + "/{userId}/role": {
            "patch": _operation(
                "changeRole",
                "Change a member's role (org:admin)",
                "Team",
                {
                    "200": _data(ref("Member"), "The member"),
                    **_errors(400, 404, 409, 422, codes={**team, 400: ["cannot_change_own_role"], **SYNCED}),
                },
                params=_path("userId"),
                body=_body("RoleChange"),
            ),
        },
        T + "/invitations/{invitationId}": {
            "delete": _operation(
                "revokeInvitation",
                "Revoke a pending invitation (org:admin)",
                "Team",
                {"204": _no_content("Revoked"), **_errors(404, codes=team)},
                params=_path("invitationId"),
            ),
        },
        T + "/{userId}": {
            "delete": _operation(
                "removeMember",
                "Remove a member (org:admin)",
                "Team",
                {
                    "204": _no_content("Removed; their API keys are revoked"),
                    **_errors(
                        400, 404, 409, codes={**team, 400: ["cannot_remove_self", "last_admin"], **SYNCED}
                    ),
                },
                params=_path("userId"),
            ),
        },
        "/v1/users": {
            "get": _operation(
                "listUsers",
                "List the organisation's users (unpaginated)",
                "Team",
                {"200": _data(record({"users": array("Member")}), "Every active user"), **_errors()},
            ),
            "post": _operation(
                "createUser",
                "Create a user directly (org:admin)",
                "Team",
                {"201": _data(ref("Member"), "The new user"), **_errors(409, 422, codes=team)},
                body=_body("UserCreate"),
                local=True,
                description="A local organisation has no sign-up flow, so an admin key can add people directly.",
            ),
        },
        CM: {
            "get": _operation(
                "listContactMethods",
                "List a user's contact methods (org:admin, or the user's own key)",
                "Team",
                {
                    "200": _data(
                        record({"contactMethods": array("ContactMethod")}),
                        "The user's contact methods, oldest first (no secrets)",
                    ),
                    **_errors(404, codes=per_user),
                },
                params=cm_user,
                local=True,
                description=CM_WHO,
            ),
            "post": _operation(
                "createContactMethod",
                "Add a contact method (org:admin, or the user's own key)",
                "Team",
                {
                    "201": _data(
                        ref("ContactMethodCreated"), "The new contact method; a webhook's secret, once"
                    ),
                    **_errors(403, 404, 422, codes=operator_only),
                },
                params=cm_user,
                body=_body("ContactMethodCreate"),
                local=True,
                description=CM_WHO + CM_WEBHOOK + " A webhook's signing secret is generated when not given "
                "and is returned in this answer only. Rules across fields are 422: log takes no address, a "
                "webhook needs an http(s) URL, only a webhook takes a secret.",
            ),
        },
        CM + "/{contactMethodId}": {
            "get": _operation(
                "getContactMethod",
                "Get a contact method (org:admin, or the user's own key)",
                "Team",
                {"200": _data(ref("ContactMethod"), "The contact method"), **_errors(404, codes=per_user)},
                params=cm_one,
                local=True,
                description=CM_WHO,
            ),
            "patch": _operation(
                "updateContactMethod",
                "Change a contact method's address or secret (org:admin, or the user's own key)",
                "Team",
                {
                    "200": _data(ref("ContactMethod"), "The updated contact method"),
                    **_errors(403, 404, 422, codes=operator_only),
                },
                params=cm_one,
                body=_body("ContactMethodUpdate"),
                local=True,
                description=CM_WHO
                + CM_WEBHOOK
                + " The channel is fixed (add a new method instead); a new secret is "
                "not echoed back.",
            ),
            "delete": _operation(
                "deleteContactMethod",
                "Delete a contact method (org:admin, or the user's own key)",
                "Team",
                {"204": _no_content("Deleted"), **_errors(403, 404, codes=operator_only)},
                params=cm_one,
                local=True,
                description=CM_WHO,
            ),
        },
    }
    paths.update(_heartbeat_paths())
    _add_links(paths)
    return paths


# -- heartbeats (local extension) ---------------------------------------------------------------------

HEARTBEAT_SCHEMAS: dict[str, Schema] = {
    "Heartbeat": {
        **record(
            {
                "id": ID,
                "orgId": ID,
                "name": STR,
                "escalationPolicyId": ID,
                "severity": {"type": "string", "enum": list(SEVERITIES)},
                "intervalMinutes": {"type": "integer", "minimum": 1},
                "graceMinutes": {"type": "integer", "minimum": 0},
                "status": {
                    "type": "string",
                    "enum": ["waiting", "up", "down"],
                    "description": "waiting: never pinged; up: pinged in time; down: missed, incidentId open",
                },
                "lastPingAt": nullable(TS),
                "pingCount": {"type": "integer", "minimum": 0},
                "dueAt": {
                    **nullable(TS),
                    "description": "when a missed ping opens an incident; null while down",
                },
                "incidentId": {**nullable(ID), "description": "the incident the last missed interval opened"},
                "token": {"type": "string", "description": "the ping token, masked (hbt_…abcd)"},
                "createdAt": TS,
                "updatedAt": TS,
            }
        ),
        "description": "A dead man's switch: a job pings its URL every intervalMinutes; a ping later than "
        "interval + grace opens an incident on the escalation policy, and the next ping resolves it.",
        **LOCAL,
    },
    "HeartbeatWithToken": {
        "allOf": [
            ref("Heartbeat"),
            record(
                {
                    "token": {"type": "string", "description": "the ping token, shown in this answer only"},
                    "pingPath": {
                        "type": "string",
                        "description": "/v1/integrations/inbound/heartbeats/{token}",
                    },
                }
            ),
        ],
        **LOCAL,
    },
    "HeartbeatPing": {
        **record(
            {
                "heartbeatId": ID,
                "status": {"type": "string", "enum": ["up"]},
                "dueAt": TS,
                "resolvedIncidentId": {**nullable(ID), "description": "the incident this ping resolved"},
            }
        ),
        **LOCAL,
    },
}

HB_WHO = (
    "Any API key of the organisation. Pings go to the ping URL, which needs no key (the token is the secret)."
)


def _heartbeat_paths() -> dict[str, dict[str, Any]]:
    """The heartbeat operations (docs/ALERTS.md, "Heartbeats")."""
    one = _path("heartbeatId")
    bad_policy = {400: ["invalid_escalation_policy"]}
    ping_errors = {
        "404": {
            "description": "not_found: no heartbeat has this token (unknown, or rotated away)",
            "content": {"application/json": {"schema": ref("Error")}},
        },
        **{k: v for k, v in _errors().items() if k != "404"},
    }

    def ping(op_id: str, method: str) -> dict[str, Any]:
        out = _operation(
            op_id,
            f"Ping a heartbeat ({method}, no API key)",
            "Heartbeats",
            {"202": _data(ref("HeartbeatPing"), "Recorded; the next ping is due by dueAt"), **ping_errors},
            params=_path("token"),
            local=True,
            description="Resets the heartbeat's timer; if it was down, resolves the incident it opened, "
            "with a note. Any request body is ignored. Needs no Authorization header.",
        )
        out["security"] = []
        return out

    return {
        "/v1/heartbeats": {
            "get": _operation(
                "listHeartbeats",
                "List heartbeats",
                "Heartbeats",
                {
                    "200": _data(
                        record({"heartbeats": {"type": "array", "items": ref("Heartbeat")}}),
                        "The organisation's heartbeats by name (tokens masked)",
                    ),
                    **_errors(),
                },
                local=True,
                description=HB_WHO,
            ),
            "post": _operation(
                "createHeartbeat",
                "Create a heartbeat",
                "Heartbeats",
                {
                    "201": _data(ref("HeartbeatWithToken"), "The heartbeat, with its ping token once"),
                    **_errors(400, 409, 422, codes=bad_policy),
                },
                body=_body("HeartbeatCreate"),
                local=True,
                description=HB_WHO + " Armed from now: due by now + interval + grace (grace 5, severity high "
                "unless given).",
            ),
        },
        "/v1/heartbeats/{heartbeatId}": {
            "get": _operation(
                "getHeartbeat",
                "Get a heartbeat",
                "Heartbeats",
                {"200": _data(ref("Heartbeat"), "The heartbeat"), **_errors(404)},
                params=one,
                local=True,
                description=HB_WHO,
            ),
            "patch": _operation(
                "updateHeartbeat",
                "Change a heartbeat",
                "Heartbeats",
                {
                    "200": _data(ref("Heartbeat"), "The updated heartbeat"),
                    **_errors(400, 404, 409, 422, codes=bad_policy),
                },
                params=one,
                body=_body("HeartbeatUpdate"),
                local=True,
                description=HB_WHO + " A new interval or grace moves the due time of a heartbeat that is not "
                "down (from its last ping, or its creation).",
            ),
            "delete": _operation(
                "deleteHeartbeat",
                "Delete a heartbeat",
                "Heartbeats",
                {"204": _no_content("Deleted"), **_errors(404)},
                params=one,
                local=True,
                description=HB_WHO + " An incident it opened stays as it is.",
            ),
        },
        "/v1/heartbeats/{heartbeatId}/rotate": {
            "post": _operation(
                "rotateHeartbeatToken",
                "Replace a heartbeat's ping token",
                "Heartbeats",
                {
                    "200": _data(ref("HeartbeatWithToken"), "The heartbeat with its new token, once"),
                    **_errors(404),
                },
                params=one,
                local=True,
                description=HB_WHO + " The old ping URL stops working at once.",
            ),
        },
        "/v1/integrations/inbound/heartbeats/{token}": {
            "post": ping("pingHeartbeat", "POST"),
            "get": ping("pingHeartbeatByGet", "GET"),
        },
    }


ALERT_SCHEMAS: dict[str, Schema] = {
    "AlertPayload": {
        "description": "the integration kind's own payload (Alertmanager v4, Grafana alerting, or an event); "
        "any JSON value is read, and one without the kind's shape is 422",
    },
}


def _alert_paths() -> dict[str, dict[str, Any]]:
    """Alerts in (docs/ALERTS.md): inbound integrations, their receiver, alerts, maintenance windows."""
    inb, one, mw = (
        "/v1/integrations/inbound",
        "/v1/integrations/inbound/{integrationId}",
        "/v1/maintenance-windows",
    )
    integ = _path("integrationId")
    tag = "Alerts"
    admin = {401: ["not_authorized (the key's user is not org:admin)"]}
    integration = record(
        {
            "id": ID,
            "orgId": ID,
            "name": STR,
            "kind": {"type": "string", "enum": ["alertmanager", "grafana", "events"]},
            "escalationPolicyId": nullable(STR),
            "component": nullable(STR),
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "severityMap": {"type": "object"},
            "selectors": {"type": "array", "items": {"type": "object"}},
            "autoResolve": {"type": "boolean"},
            "flapWindowSeconds": {"type": "integer"},
            "tokenLast4": nullable(STR),
            "createdAt": TS,
            "updatedAt": TS,
        }
    )
    with_token = {"allOf": [integration, record({"token": STR, "receivePath": STR})]}
    alert = record(
        {
            "id": ID,
            "integrationId": ID,
            "incidentId": nullable(STR),
            "dedupKey": STR,
            "groupKey": STR,
            "status": {"type": "string", "enum": ["firing", "resolved", "acknowledged"]},
            "summary": STR,
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "labels": {"type": "object"},
            "links": {"type": "array", "items": {"type": "object"}},
            "count": {"type": "integer"},
            "firstSeen": TS,
            "lastSeen": TS,
        }
    )
    window = record(
        {
            "id": ID,
            "scope": {"type": "string", "enum": ["org", "integration", "component"]},
            "mode": {"type": "string", "enum": ["hold", "drop"]},
            "startsAt": TS,
            "endsAt": TS,
            "state": {"type": "string", "enum": ["scheduled", "active", "ended"]},
        }
    )
    receipt = record(
        {
            "integrationId": ID,
            "accepted": {"type": "integer"},
            "alerts": {
                "type": "array",
                "items": record({"alertId": nullable(STR), "incidentId": nullable(STR), "action": STR}),
            },
        }
    )
    receive = _operation(
        "receiveAlerts",
        "Receive an alert payload on an integration's secret URL (no API key)",
        tag,
        {
            "202": _data(
                receipt, "What each alert of the payload did (open, attach, repeat, refire, resolve, ...)"
            ),
            **_errors(404, 422),
        },
        params=_path("token"),
        body=_body("AlertPayload"),
        local=True,
        description="The body is the integration kind's payload: Alertmanager's webhook (version 4), Grafana "
        "alerting's webhook, or an event (action trigger|acknowledge|resolve, dedupKey, summary, severity, "
        "source, details; PagerDuty Events v2 names accepted). An unknown or revoked token is 404 before the "
        "body is read; a body without the kind's shape, not JSON, or over 1,000,000 bytes is 422 and stores "
        "nothing. Authenticated by the URL token alone.",
    )
    receive["security"] = []
    paths: dict[str, dict[str, Any]] = {
        inb: {
            "get": _operation(
                "listIntegrations",
                "List inbound integrations (never their tokens)",
                tag,
                {
                    "200": _data(
                        record({"integrations": {"type": "array", "items": integration}}), "Oldest first"
                    ),
                    **_errors(),
                },
            ),
            "post": _operation(
                "createIntegration",
                "Create an inbound integration (org:admin); its URL token is in this answer only",
                tag,
                {
                    "201": _data(with_token, "The integration with token and receivePath"),
                    **_errors(404, 409, 422, codes=admin),
                },
                body=_body("IntegrationCreate"),
                local=True,
            ),
        },
        one: {
            "get": _operation(
                "getIntegration",
                "Get an inbound integration (by id or name)",
                tag,
                {"200": _data(integration, "The integration"), **_errors(404)},
                params=integ,
            ),
            "patch": _operation(
                "updateIntegration",
                "Change an integration's routing (org:admin)",
                tag,
                {"200": _data(integration, "The integration"), **_errors(404, 409, 422, codes=admin)},
                params=integ,
                body=_body("IntegrationUpdate"),
                local=True,
            ),
            "delete": _operation(
                "deleteIntegration",
                "Delete an integration and revoke its token (org:admin)",
                tag,
                {"204": _no_content("Deleted; its alerts and incidents stay"), **_errors(404, codes=admin)},
                params=integ,
                local=True,
            ),
        },
        one + "/selectors": {
            "put": _operation(
                "replaceIntegrationSelectors",
                "Replace an integration's ordered selectors (org:admin)",
                tag,
                {"200": _data(integration, "The integration"), **_errors(404, 422, codes=admin)},
                params=integ,
                body=_body("SelectorsReplace"),
                description="Matchers are label key/value pairs compared case-insensitively, all of them must "
                "match, the first matching selector wins; no match uses the integration's default routing. "
                "Locally a selector names an escalationPolicyId (Scaling's names a routingPolicyId).",
            ),
        },
        one + "/rotate": {
            "post": _operation(
                "rotateIntegrationToken",
                "Replace an integration's URL token (org:admin); the old one stops now",
                tag,
                {
                    "200": _data(with_token, "The integration with its new token and receivePath"),
                    **_errors(404, codes=admin),
                },
                params=integ,
                local=True,
            ),
        },
        "/v1/integrations/inbound/{token}/alerts": {"post": receive},
        "/v1/incidents/{incidentId}/alerts": {
            "get": _operation(
                "getIncidentAlerts",
                "The alerts of an incident (null when alerts did not open it)",
                tag,
                {
                    "200": _data(
                        nullable({"type": "object"}),
                        "count, firing, firstSeen, lastSeen, labels, links, alerts",
                    ),
                    **_errors(404),
                },
                params=_path("incidentId"),
                local=True,
            ),
        },
        "/v1/alerts": {
            "get": _operation(
                "listAlerts",
                "Alerts, most recently seen first",
                tag,
                {
                    "200": _data(record({"alerts": {"type": "array", "items": alert}}), "Alerts"),
                    **_errors(404, 422),
                },
                params=[
                    {"name": "integrationId", "in": "query", "required": False, "schema": STR},
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
                local=True,
            ),
        },
        "/v1/alerts/{alertId}": {
            "get": _operation(
                "getAlert",
                "One alert with its stored raw payload (cut at 16 KiB)",
                tag,
                {"200": _data(alert, "The alert"), **_errors(404)},
                params=_path("alertId"),
                local=True,
            ),
        },
        mw: {
            "get": _operation(
                "listMaintenanceWindows",
                "Active and scheduled maintenance windows (include=ended: all)",
                tag,
                {
                    "200": _data(
                        record({"maintenanceWindows": {"type": "array", "items": window}}), "By start"
                    ),
                    **_errors(422),
                },
                params=[
                    {
                        "name": "include",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["ended"]},
                    }
                ],
                local=True,
            ),
            "post": _operation(
                "startMaintenanceWindow",
                "Start or schedule a maintenance window",
                tag,
                {"201": _data(window, "The window"), **_errors(404, 422)},
                body=_body("MaintenanceStart"),
                local=True,
                description="hold: incidents opened by alerts are not paged until the window ends (then they "
                "are, if still firing and unacknowledged); drop: alerts are recorded, no incident opens.",
            ),
        },
        mw + "/{windowId}/end": {
            "post": _operation(
                "endMaintenanceWindow",
                "End a maintenance window now",
                tag,
                {"200": _data(window, "The window"), **_errors(404)},
                params=_path("windowId"),
                local=True,
            ),
        },
    }
    _add_links(paths, ALERT_LINKS)
    return paths


# Where a created object's id can be used next: OpenAPI links (they also drive schemathesis's stateful
# phase). Each entry: (source path, method, status) -> [(target operationId, {param: expression})].
_NEW_ID = "$response.body#/data/id"
LINKS: dict[tuple[str, str, str], list[tuple[str, dict[str, str]]]] = {
    ("/v1/escalation/policies", "post", "201"): [
        (op_id, {"policyId": _NEW_ID})
        for op_id in (
            "getPolicy",
            "updatePolicy",
            "deletePolicy",
            "createEscalationLayer",
            "reorderEscalationLayers",
        )
    ],
    ("/v1/escalation/policies/{policyId}/layers", "post", "201"): [
        (op_id, {"policyId": "$request.path.policyId", "layerId": _NEW_ID})
        for op_id in ("updateEscalationLayer", "deleteEscalationLayer")
    ],
    ("/v1/oncall/schedules", "post", "201"): [
        (op_id, {"scheduleId": _NEW_ID})
        for op_id in (
            "getSchedule",
            "updateSchedule",
            "replaceSchedule",
            "deleteSchedule",
            "resolveSchedule",
            "createRotationLayer",
            "reorderRotationLayers",
            "listOverrides",
            "createOverride",
        )
    ],
    ("/v1/oncall/schedules/{scheduleId}/layers", "post", "201"): [
        (op_id, {"scheduleId": "$request.path.scheduleId", "layerId": _NEW_ID})
        for op_id in ("updateRotationLayer", "replaceRotationLayer", "deleteRotationLayer")
    ],
    ("/v1/oncall/schedules/{scheduleId}/overrides", "post", "201"): [
        ("deleteOverride", {"scheduleId": "$request.path.scheduleId", "overrideId": _NEW_ID})
    ],
    ("/v1/incidents", "post", "201"): [
        (op_id, {"incidentId": _NEW_ID})
        for op_id in (
            "getIncident",
            "advanceStatus",
            "listUpdates",
            "postUpdate",
            "acknowledgeIncident",
            "handoffIncident",
            "escalateIncident",
            "snoozeIncident",
        )
    ],
    ("/v1/incidents/{incidentId}/updates", "post", "201"): [
        ("redactUpdate", {"incidentId": "$request.path.incidentId", "updateId": _NEW_ID})
    ],
    ("/v1/users", "post", "201"): [
        (op_id, {"userId": _NEW_ID})
        for op_id in ("changeRole", "removeMember", "listContactMethods", "createContactMethod")
    ],
    (CM, "post", "201"): [
        (op_id, {"userId": "$request.path.userId", "contactMethodId": _NEW_ID})
        for op_id in ("getContactMethod", "updateContactMethod", "deleteContactMethod")
    ],
    ("/v1/team/members/invite", "post", "201"): [("revokeInvitation", {"invitationId": _NEW_ID})],
    ("/v1/heartbeats", "post", "201"): [
        (op_id, {"heartbeatId": _NEW_ID})
        for op_id in ("getHeartbeat", "updateHeartbeat", "deleteHeartbeat", "rotateHeartbeatToken")
    ],
}


ALERT_LINKS: dict[tuple[str, str, str], list[tuple[str, dict[str, str]]]] = dict(
    {
        ("/v1/integrations/inbound", "post", "201"): [
            (op_id, {"integrationId": _NEW_ID})
            for op_id in (
                "getIntegration",
                "updateIntegration",
                "deleteIntegration",
                "replaceIntegrationSelectors",
                "rotateIntegrationToken",
            )
        ]
        + [("receiveAlerts", {"token": "$response.body#/data/token"})],
        ("/v1/maintenance-windows", "post", "201"): [("endMaintenanceWindow", {"windowId": _NEW_ID})],
    }
)


def _add_links(
    paths: dict[str, dict[str, Any]],
    table: dict[tuple[str, str, str], list[tuple[str, dict[str, str]]]] | None = None,
) -> None:
    for (path, method, status), links in (LINKS if table is None else table).items():
        response = paths[path][method]["responses"][status]
        response["links"] = {
            op_id[0].upper() + op_id[1:]: {"operationId": op_id, "parameters": params}
            for op_id, params in links
        }


INFO_DESCRIPTION = """\
The local, offline counterpart of the Scaling API (https://api.scaling.cloud/v1), served by
`oncall serve`. Paths, fields, envelopes, limits and error bodies follow the Scaling reference;
docs/API.md records every choice made where the reference is silent.

* Auth: `Authorization: Bearer scl_live_…` (a key from `oncall init` or `oncall keys create`).
* Success bodies are `{"data": …}`; deletes answer 204 with no body.
* Errors are `{statusCode, type, code, requestId, message}`; every response has an `X-Request-Id`.
* An unknown path is 404 `not_found` and a method a path does not support is 405 `method_not_allowed`
  (with an `Allow` header), both in the same error shape.
* Operations and fields marked `x-local-extension: true` do not exist in the Scaling API.
"""


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may mutate it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "oncall local Scaling-compatible API",
                "version": "1",
                "description": INFO_DESCRIPTION,
            },
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
            "tags": [
                {"name": t}
                for t in (
                    "Escalation policies",
                    "On-call schedules",
                    "Incidents",
                    "Team",
                    "Alerts",
                    "Heartbeats",
                )
            ],
            "paths": _with_disk_full({**_paths(), **_alert_paths()}),
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "scl_live_… API key"}
                },
                "headers": {
                    "RequestId": {
                        "description": "a UUID4 naming this request",
                        "schema": {"type": "string", "format": "uuid"},
                    }
                },
                "schemas": {
                    **SCHEMAS,
                    **ALERT_SCHEMAS,
                    **HEARTBEAT_SCHEMAS,
                    **REQUESTS,
                    **generated_requests(),
                },
            },
        }
    )
