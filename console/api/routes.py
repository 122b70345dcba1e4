"""The operations of the local Scaling-compatible API: one thin function per method and path.

Each handler parses nothing but the HTTP bits (path ids, query strings, the JSON body) and calls the
service layer, which owns every schema check and business rule and already answers in wire form. The
table :data:`OPERATIONS` is the single list the router is built from; a test checks that the OpenAPI
document (:mod:`console.api.openapi`) describes exactly these operations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from engine.errors import ValidationError
from engine.service import (
    Ctx,
    alerts,
    contacts,
    heartbeats,
    incidents,
    integrations,
    maintenance,
    orgs,
    policies,
    schedules,
)
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
class Operation:
    method: str
    path: str
    handler: Handler
    status: int = 200  # 201 for creates, 204 (no body) for deletes
    body: str = "none"  # "none" | "required" | "optional"
    admin: bool = False  # team endpoints: org:admin only (else 401 not_authorized)
    # Per-user endpoints: the path parameter naming the user. An org:admin key may act on anyone, a
    # member key on its own user only (else 401 not_authorized, before the user is looked up).
    self_or_admin: str | None = None
    write: bool | None = None  # None: every method but GET writes (a heartbeat's GET ping writes)
    # Public endpoints (an inbound integration's receiver) take no API key: ``precheck`` authenticates
    # the call from its path (the URL token) before the body is read; their ``ctx`` has no organisation.
    precheck: Handler | None = None

    @property
    def writes(self) -> bool:
        return self.method != "GET" if self.write is None else self.write


OPERATIONS: list[Operation] = []


def op(  # type: ignore[no-untyped-def]
    method: str,
    path: str,
    *,
    status: int = 200,
    body: str = "none",
    admin: bool = False,
    self_or_admin: str | None = None,
    write: bool | None = None,
    precheck: Handler | None = None,
):
    def register(fn: Handler) -> Handler:
        OPERATIONS.append(
            Operation(
                method,
                path,
                fn,
                status=status,
                body=body,
                admin=admin,
                self_or_admin=self_or_admin,
                write=write,
                precheck=precheck,
            )
        )
        return fn

    return register


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


@op("GET", P)
def list_policies(call: Call) -> Any:
    return policies.list_policies(call.ctx)


@op("POST", P, status=201, body="required")
def create_policy(call: Call) -> Any:
    return policies.create_policy(call.ctx, call.json())


@op("GET", P + "/{policyId}")
def get_policy(call: Call) -> Any:
    return policies.get_policy(call.ctx, call.path["policyId"])


@op("PATCH", P + "/{policyId}", body="required")
def update_policy(call: Call) -> Any:
    return policies.update_policy(call.ctx, call.path["policyId"], call.json())


@op("DELETE", P + "/{policyId}", status=204)
def delete_policy(call: Call) -> Any:
    policies.delete_policy(call.ctx, call.path["policyId"])


@op("POST", P + "/{policyId}/layers", status=201, body="required")
def create_escalation_layer(call: Call) -> Any:
    return policies.add_layer(call.ctx, call.path["policyId"], call.json())


@op("PUT", P + "/{policyId}/layers/order", body="required")
def reorder_escalation_layers(call: Call) -> Any:
    return policies.reorder_layers(call.ctx, call.path["policyId"], _layer_ids(call))


@op("PATCH", P + "/{policyId}/layers/{layerId}", body="required")
def update_escalation_layer(call: Call) -> Any:
    return policies.update_layer(call.ctx, call.path["policyId"], call.path["layerId"], call.json())


@op("DELETE", P + "/{policyId}/layers/{layerId}", status=204)
def delete_escalation_layer(call: Call) -> Any:
    policies.delete_layer(call.ctx, call.path["policyId"], call.path["layerId"])


# -- on-call schedules, rotation layers, overrides ---------------------------------------------------

S = "/v1/oncall/schedules"


@op("GET", S)
def list_schedules(call: Call) -> Any:
    return schedules.list_schedules(call.ctx)


@op("POST", S, status=201, body="required")
def create_schedule(call: Call) -> Any:
    return schedules.create_schedule(call.ctx, call.json())


@op("GET", S + "/{scheduleId}")
def get_schedule(call: Call) -> Any:
    return schedules.get_schedule(call.ctx, call.path["scheduleId"])


def _update_schedule(call: Call) -> Any:
    return schedules.update_schedule(call.ctx, call.path["scheduleId"], call.json())


op("PATCH", S + "/{scheduleId}", body="required")(_update_schedule)
op("PUT", S + "/{scheduleId}", body="required")(_update_schedule)


@op("DELETE", S + "/{scheduleId}", status=204)
def delete_schedule(call: Call) -> Any:
    schedules.delete_schedule(call.ctx, call.path["scheduleId"])


@op("GET", S + "/{scheduleId}/resolve")
def resolve_schedule(call: Call) -> Any:
    raw = _instant_param(call.query, "at")
    at = None
    if raw is not None:
        try:
            at = parse_iso(raw)
        except ValueError as exc:
            raise ValidationError(f"at: {exc}", field="at") from None
    return schedules.resolve_schedule(call.ctx, call.path["scheduleId"], at)


@op("POST", S + "/{scheduleId}/layers", status=201, body="required")
def create_rotation_layer(call: Call) -> Any:
    return schedules.add_rotation_layer(call.ctx, call.path["scheduleId"], call.json())


@op("PUT", S + "/{scheduleId}/layers/order", body="required")
def reorder_rotation_layers(call: Call) -> Any:
    return schedules.reorder_rotation_layers(call.ctx, call.path["scheduleId"], _layer_ids(call))


def _update_rotation_layer(call: Call) -> Any:
    return schedules.update_rotation_layer(
        call.ctx, call.path["scheduleId"], call.path["layerId"], call.json()
    )


op("PATCH", S + "/{scheduleId}/layers/{layerId}", body="required")(_update_rotation_layer)
op("PUT", S + "/{scheduleId}/layers/{layerId}", body="required")(_update_rotation_layer)


@op("DELETE", S + "/{scheduleId}/layers/{layerId}", status=204)
def delete_rotation_layer(call: Call) -> Any:
    schedules.delete_rotation_layer(call.ctx, call.path["scheduleId"], call.path["layerId"])


@op("GET", S + "/{scheduleId}/overrides")
def list_overrides(call: Call) -> Any:
    return schedules.list_overrides(call.ctx, call.path["scheduleId"])


@op("POST", S + "/{scheduleId}/overrides", status=201, body="required")
def create_override(call: Call) -> Any:
    return schedules.add_override(call.ctx, call.path["scheduleId"], call.json())


@op("DELETE", S + "/{scheduleId}/overrides/{overrideId}", status=204)
def delete_override(call: Call) -> Any:
    schedules.delete_override(call.ctx, call.path["scheduleId"], call.path["overrideId"])


# -- incidents ---------------------------------------------------------------------------------------

INC = "/v1/incidents"


@op("GET", INC)
def list_incidents(call: Call) -> Any:
    q = call.query
    return incidents.list_incidents(
        call.ctx,
        status=q.get("status"),
        severity=q.get("severity"),
        from_=_instant_param(q, "from"),
        to=_instant_param(q, "to"),
        limit=_int_param(q, "limit", 20),
        cursor=q.get("cursor"),
    )


@op("POST", INC, status=201, body="required")
def create_incident(call: Call) -> Any:
    return incidents.create_incident(call.ctx, call.json())


@op("GET", INC + "/{incidentId}")
def get_incident(call: Call) -> Any:
    return incidents.get_incident(call.ctx, call.path["incidentId"])


@op("PATCH", INC + "/{incidentId}/status", body="required")
def advance_status(call: Call) -> Any:
    return incidents.advance_status(call.ctx, call.path["incidentId"], call.json())


@op("GET", INC + "/{incidentId}/updates")
def list_updates(call: Call) -> Any:
    return {"updates": incidents.list_updates(call.ctx, call.path["incidentId"])}


@op("POST", INC + "/{incidentId}/updates", status=201, body="required")
def post_update(call: Call) -> Any:
    return incidents.post_update(call.ctx, call.path["incidentId"], call.json())


@op("POST", INC + "/{incidentId}/updates/{updateId}/redact")
def redact_update(call: Call) -> Any:
    return incidents.redact_update(call.ctx, call.path["incidentId"], call.path["updateId"])


@op("POST", INC + "/{incidentId}/acknowledge")
def acknowledge(call: Call) -> Any:
    return incidents.acknowledge(call.ctx, call.path["incidentId"])


@op("POST", INC + "/{incidentId}/handoff", body="required")
def handoff(call: Call) -> Any:
    return incidents.handoff(call.ctx, call.path["incidentId"], call.json())


@op("POST", INC + "/{incidentId}/escalate", body="optional")
def escalate(call: Call) -> Any:
    to_layer = decode(Escalate, call.optional_json()).to_layer
    return incidents.escalate_now(call.ctx, call.path["incidentId"], None if to_layer is UNSET else to_layer)


@op("POST", INC + "/{incidentId}/snooze", body="required")
def snooze(call: Call) -> Any:
    return incidents.snooze(call.ctx, call.path["incidentId"], decode(Snooze, call.json()).minutes)


# -- team members, invitations, users ----------------------------------------------------------------

T = "/v1/team/members"


@op("GET", T, admin=True)
def list_members(call: Call) -> Any:
    return {"members": orgs.list_users(call.ctx), "invitations": orgs.list_invitations(call.ctx)}


@op("POST", T + "/invite", status=201, body="required", admin=True)
def invite_member(call: Call) -> Any:
    return orgs.invite(call.ctx, call.json())


@op("PATCH", T + "/{userId}/role", body="required", admin=True)
def change_role(call: Call) -> Any:
    checked = decode(RoleChange, call.json(), later={"role"})
    return orgs.change_role(call.ctx, call.path["userId"], checked.role)


@op("DELETE", T + "/invitations/{invitationId}", status=204, admin=True)
def revoke_invitation(call: Call) -> Any:
    orgs.revoke_invitation(call.ctx, call.path["invitationId"])


@op("DELETE", T + "/{userId}", status=204, admin=True)
def remove_member(call: Call) -> Any:
    orgs.remove_user(call.ctx, call.path["userId"])


@op("GET", "/v1/users")
def list_users(call: Call) -> Any:
    return {"users": orgs.list_users(call.ctx)}


@op("POST", "/v1/users", status=201, body="required", admin=True)
def create_user(call: Call) -> Any:
    return orgs.create_user(call.ctx, call.json())


# -- contact methods (local extension): how a user is paged ------------------------------------------

CM = "/v1/users/{userId}/contact-methods"


def _user_id(call: Call) -> str:
    """The path's user, 404 before any body error when it is not an active user of this organisation."""
    user_id = call.path["userId"]
    orgs.get_user_row(call.ctx, user_id)
    return user_id


@op("GET", CM, self_or_admin="userId")
def list_contact_methods(call: Call) -> Any:
    return {"contactMethods": contacts.list_contact_methods(call.ctx, call.path["userId"])}


@op("POST", CM, status=201, body="required", self_or_admin="userId")
def create_contact_method(call: Call) -> Any:
    return contacts.add_contact_method(call.ctx, _user_id(call), call.json())


@op("GET", CM + "/{contactMethodId}", self_or_admin="userId")
def get_contact_method(call: Call) -> Any:
    return contacts.get_contact_method(call.ctx, call.path["userId"], call.path["contactMethodId"])


@op("PATCH", CM + "/{contactMethodId}", body="required", self_or_admin="userId")
def update_contact_method(call: Call) -> Any:
    return contacts.update_contact_method(
        call.ctx, call.path["userId"], call.path["contactMethodId"], call.json()
    )


@op("DELETE", CM + "/{contactMethodId}", status=204, self_or_admin="userId")
def delete_contact_method(call: Call) -> Any:
    contacts.delete_contact_method(call.ctx, call.path["userId"], call.path["contactMethodId"])


# -- alerts in: inbound integrations, alerts, maintenance windows (docs/ALERTS.md) --------------------

INB = "/v1/integrations/inbound"


@op("GET", INB)
def list_integrations(call: Call) -> Any:
    return {"integrations": integrations.list_integrations(call.ctx)}


@op("POST", INB, status=201, body="required", admin=True)
def create_integration(call: Call) -> Any:
    return integrations.create_integration(call.ctx, call.json())


@op("GET", INB + "/{integrationId}")
def get_integration(call: Call) -> Any:
    return integrations.get_integration(call.ctx, call.path["integrationId"])


@op("PATCH", INB + "/{integrationId}", body="required", admin=True)
def update_integration(call: Call) -> Any:
    return integrations.update_integration(call.ctx, call.path["integrationId"], call.json())


@op("DELETE", INB + "/{integrationId}", status=204, admin=True)
def delete_integration(call: Call) -> Any:
    integrations.delete_integration(call.ctx, call.path["integrationId"])


@op("PUT", INB + "/{integrationId}/selectors", body="required", admin=True)
def replace_selectors(call: Call) -> Any:
    return integrations.replace_selectors(call.ctx, call.path["integrationId"], call.json())


@op("POST", INB + "/{integrationId}/rotate", admin=True)
def rotate_token(call: Call) -> Any:
    return integrations.rotate_token(call.ctx, call.path["integrationId"])


def _known_token(call: Call) -> None:
    alerts.check_token(call.ctx.db, call.path["token"])


@op("POST", INB + "/{token}/alerts", status=202, body="required", precheck=_known_token)
def receive_alerts(call: Call) -> Any:
    return alerts.receive(
        call.ctx.db, call.ctx.clock, call.path["token"], call.json(), config=call.ctx.config
    )


@op("GET", INC + "/{incidentId}/alerts")
def incident_alerts(call: Call) -> Any:
    return alerts.incident_alerts(call.ctx, call.path["incidentId"])


@op("GET", "/v1/alerts")
def list_alerts(call: Call) -> Any:
    limit = _int_param(call.query, "limit", 100)
    if limit is None or not 1 <= limit <= 500:
        raise ValidationError("limit must be between 1 and 500", field="limit")
    return {"alerts": alerts.list_alerts(call.ctx, integration=call.query.get("integrationId"), limit=limit)}


@op("GET", "/v1/alerts/{alertId}")
def get_alert(call: Call) -> Any:
    return alerts.get_alert(call.ctx, call.path["alertId"])


MW = "/v1/maintenance-windows"


@op("GET", MW)
def list_maintenance_windows(call: Call) -> Any:
    include = call.query.get("include")
    if include not in (None, "ended"):
        raise ValidationError('include must be "ended"', field="include")
    everything = include == "ended"
    return {"maintenanceWindows": maintenance.list_windows(call.ctx, include_ended=everything)}


@op("POST", MW, status=201, body="required")
def start_maintenance_window(call: Call) -> Any:
    return maintenance.start_window(call.ctx, call.json())


@op("POST", MW + "/{windowId}/end")
def end_maintenance_window(call: Call) -> Any:
    return maintenance.end_window(call.ctx, call.path["windowId"])


# -- heartbeats (local extension): dead man's switches -----------------------------------------------

HB = "/v1/heartbeats"


@op("GET", HB)
def list_heartbeats(call: Call) -> Any:
    return {"heartbeats": heartbeats.list_heartbeats(call.ctx)}


@op("POST", HB, status=201, body="required")
def create_heartbeat(call: Call) -> Any:
    return heartbeats.create_heartbeat(call.ctx, call.json())


@op("GET", HB + "/{heartbeatId}")
def get_heartbeat(call: Call) -> Any:
    return heartbeats.get_heartbeat(call.ctx, call.path["heartbeatId"])


@op("PATCH", HB + "/{heartbeatId}", body="required")
def update_heartbeat(call: Call) -> Any:
    return heartbeats.update_heartbeat(call.ctx, call.path["heartbeatId"], call.json())


@op("DELETE", HB + "/{heartbeatId}", status=204)
def delete_heartbeat(call: Call) -> Any:
    heartbeats.delete_heartbeat(call.ctx, call.path["heartbeatId"])


@op("POST", HB + "/{heartbeatId}/rotate")
def rotate_heartbeat_token(call: Call) -> Any:
    return heartbeats.rotate_token(call.ctx, call.path["heartbeatId"])


def _known_heartbeat_token(call: Call) -> None:
    heartbeats.check_token(call.ctx.db, call.path["token"])


def _ping(call: Call) -> Any:
    """The monitored job's ping: no API key, the token in the path is the secret; any body is ignored."""
    return heartbeats.ping_by_token(call.ctx.db, call.path["token"], call.ctx.clock)


op("POST", heartbeats.PING_PATH, status=202, precheck=_known_heartbeat_token)(_ping)
op("GET", heartbeats.PING_PATH, status=202, precheck=_known_heartbeat_token, write=True)(_ping)
