"""The OpenAPI document lists exactly the operations the router serves, and marks the local ones."""

from __future__ import annotations

import httpx

from console.api import openapi
from console.api.routes import OPERATIONS
from engine.service import models
from tests.api.conftest import Live

LOCAL_OPERATIONS = {
    ("post", "/v1/incidents/{incidentId}/escalate"),
    ("post", "/v1/incidents/{incidentId}/snooze"),
    ("post", "/v1/users"),
    ("get", "/v1/oncall/schedules/{scheduleId}/overrides"),
    ("post", "/v1/oncall/schedules/{scheduleId}/overrides"),
    ("delete", "/v1/oncall/schedules/{scheduleId}/overrides/{overrideId}"),
    ("get", "/v1/users/{userId}/contact-methods"),
    ("post", "/v1/users/{userId}/contact-methods"),
    ("get", "/v1/users/{userId}/contact-methods/{contactMethodId}"),
    ("patch", "/v1/users/{userId}/contact-methods/{contactMethodId}"),
    ("delete", "/v1/users/{userId}/contact-methods/{contactMethodId}"),
    ("get", "/v1/heartbeats"),
    ("post", "/v1/heartbeats"),
    ("get", "/v1/heartbeats/{heartbeatId}"),
    ("patch", "/v1/heartbeats/{heartbeatId}"),
    ("delete", "/v1/heartbeats/{heartbeatId}"),
    ("post", "/v1/heartbeats/{heartbeatId}/rotate"),
    ("post", "/v1/integrations/inbound/heartbeats/{token}"),
    ("get", "/v1/integrations/inbound/heartbeats/{token}"),
    # Alerts in (docs/ALERTS.md): Scaling has GET and PUT selectors of an inbound integration only.
    ("post", "/v1/integrations/inbound"),
    ("patch", "/v1/integrations/inbound/{integrationId}"),
    ("delete", "/v1/integrations/inbound/{integrationId}"),
    ("post", "/v1/integrations/inbound/{integrationId}/rotate"),
    ("post", "/v1/integrations/inbound/{token}/alerts"),
    ("get", "/v1/incidents/{incidentId}/alerts"),
    ("get", "/v1/alerts"),
    ("get", "/v1/alerts/{alertId}"),
    ("get", "/v1/maintenance-windows"),
    ("post", "/v1/maintenance-windows"),
    ("post", "/v1/maintenance-windows/{windowId}/end"),
}


def test_document_and_router_agree() -> None:
    doc = openapi.document()
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    served = {(o.method.lower(), o.path) for o in OPERATIONS}
    assert documented == served


def test_statuses_and_local_extensions() -> None:
    doc = openapi.document()
    by_key = {(o.method.lower(), o.path): o for o in OPERATIONS}
    local = set()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            op = by_key[(method, path)]
            assert str(op.status) in operation["responses"], (method, path)
            assert "401" in operation["responses"] and "500" in operation["responses"]
            # A keyless operation (a URL token is the credential) says so.
            assert (operation.get("security") == []) is (op.precheck is not None), (method, path)
            if op.body != "none":
                assert operation["requestBody"]["required"] is (op.body == "required")
                assert "422" in operation["responses"]
            if operation.get("x-local-extension"):
                assert operation["description"].startswith("**Local extension**")
                local.add((method, path))
    assert local == LOCAL_OPERATIONS


def test_request_bodies_reject_unknown_fields() -> None:
    schemas = openapi.document()["components"]["schemas"]
    for name in [*openapi.REQUESTS, *openapi.generated_requests()]:
        if name == "Timezone":
            continue
        schema = schemas[name]
        assert schema.get("additionalProperties") is False, name


def test_document_is_served_without_a_key(live: Live) -> None:
    resp = httpx.get(live.url + "/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.json()["openapi"].startswith("3.1")


def test_request_models_are_the_documented_bodies() -> None:
    """Every request model of the services is in the document, with its limits, and is the body of an
    operation: the schema is generated from the same declaration the services validate with."""
    doc = openapi.document()
    schemas = doc["components"]["schemas"]
    bodies = {
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for item in doc["paths"].values()
        for op in item.values()
        if "requestBody" in op
    }
    for model in models.REQUESTS:
        assert model.__name__ in schemas and model.__name__ in bodies, model.__name__
    ack = schemas["EscalationLayerCreate"]["properties"]["ackTimeoutMinutes"]
    assert ack["maximum"] == models.MAX_ACK_TIMEOUT_MINUTES
    assert schemas["Snooze"]["properties"]["minutes"]["maximum"] == models.MAX_ACK_TIMEOUT_MINUTES
    assert schemas["Snooze"]["x-local-extension"] is True


def test_schedule_people_and_contact_bodies_are_generated_with_their_limits() -> None:
    """The bodies that were written out by hand come from the models now, limits and enums included."""
    schemas = openapi.document()["components"]["schemas"]
    layer = schemas["RotationLayerCreate"]
    assert layer["required"] == ["name", "rotationType", "handoffTime", "effectiveFrom", "participantIds"]
    assert layer["properties"]["rotationLengthDays"]["maximum"] == 3650
    assert layer["properties"]["effectiveFrom"]["format"] == "date-time"
    assert "required" not in schemas["RotationLayerUpdate"]
    assert schemas["ScheduleCreate"]["properties"]["timezone"]["$ref"] == "#/components/schemas/Timezone"
    assert schemas["OverrideCreate"]["required"] == ["userId", "start", "end"]
    assert schemas["Invite"]["properties"]["emailAddress"]["maxLength"] == 320
    assert schemas["RoleChange"]["required"] == ["role"]
    assert schemas["UserCreate"]["x-local-extension"] is True
    secret = schemas["ContactMethodUpdate"]["properties"]["secret"]
    assert (secret["minLength"], secret["maxLength"]) == (16, 256)
    assert set(schemas["ContactMethodCreate"]["properties"]["channel"]["enum"]) == {
        "log",
        "webhook",
        "command",
    }
    assert schemas["ContactMethodCreate"]["x-local-extension"] is True
