"""The OpenAPI document lists exactly the operations the router serves, and marks the local ones."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import httpx
import msgspec

from console.api import openapi
from console.api.routes import OPERATIONS, Operation
from engine.service import models, responses
from tests.api.conftest import Live

LOCAL_OPERATIONS = {
    ("post", "/v1/incidents/{incidentId}/escalate"),
    ("post", "/v1/incidents/{incidentId}/snooze"),
    ("post", "/v1/users"),
    ("get", "/v1/oncall/schedules/{scheduleId}/overrides"),
    ("get", "/v1/oncall/schedules/{scheduleId}/ical"),
    ("post", "/v1/oncall/schedules/{scheduleId}/overrides"),
    ("delete", "/v1/oncall/schedules/{scheduleId}/overrides/{overrideId}"),
    ("get", "/v1/users/{userId}/contact-methods"),
    ("post", "/v1/users/{userId}/contact-methods"),
    ("get", "/v1/users/{userId}/contact-methods/{contactMethodId}"),
    ("patch", "/v1/users/{userId}/contact-methods/{contactMethodId}"),
    ("delete", "/v1/users/{userId}/contact-methods/{contactMethodId}"),
    ("get", "/v1/users/{userId}/notification-rules"),
    ("post", "/v1/users/{userId}/notification-rules"),
    ("delete", "/v1/users/{userId}/notification-rules/{ruleId}"),
    ("post", "/v1/users/{userId}/notification-rules/{ruleId}/move"),
    ("get", "/v1/users/{userId}/shift-reminders"),
    ("patch", "/v1/users/{userId}/shift-reminders"),
    # Alerts in (docs/ALERTS.md): Scaling has GET and PUT selectors of an inbound integration only.
    ("get", "/v1/integrations/inbound"),
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
    # Heartbeats (docs/ALERTS.md, "Heartbeats")
    ("get", "/v1/heartbeats"),
    ("post", "/v1/heartbeats"),
    ("get", "/v1/heartbeats/{heartbeatId}"),
    ("patch", "/v1/heartbeats/{heartbeatId}"),
    ("delete", "/v1/heartbeats/{heartbeatId}"),
    ("post", "/v1/heartbeats/{heartbeatId}/rotate"),
    ("post", "/v1/integrations/inbound/heartbeats/{token}"),
    ("get", "/v1/integrations/inbound/heartbeats/{token}"),
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
            assert "500" in operation["responses"]
            assert ("401" in operation["responses"]) is (op.auth == "api_key")  # a feed's token is no key
            if op.body != "none":
                assert operation["requestBody"]["required"] is (op.body == "required")
                assert "422" in operation["responses"]
            if operation.get("x-local-extension"):
                assert operation["description"].startswith("**Local extension**")
                local.add((method, path))
    assert local == LOCAL_OPERATIONS


def test_request_and_response_schemas_are_strict() -> None:
    """Request bodies refuse unknown fields, as the services do; response bodies declare every key, so
    schemathesis's response check fails on an answer with a key its model does not have."""
    schemas = openapi.document()["components"]["schemas"]
    for model in [*models.REQUESTS, *_response_models()]:
        assert schemas[model.__name__].get("additionalProperties") is False, model.__name__


def _response_models() -> list[type[msgspec.Struct]]:
    found = []
    for operation in OPERATIONS:
        model = operation.response
        while typing.get_origin(model) in (list, types.UnionType):  # a list of one, or "one | None"
            (model,) = [arg for arg in typing.get_args(model) if arg is not type(None)]
        if model is not None:
            found.append(model)
    return found


def test_every_operation_declares_its_answer_and_errors() -> None:
    """Each operation names a response model (a Struct of engine.service.responses, or a list of one)
    unless it answers 204, and the document lists its success status with that schema under ``data``,
    every error status it declares with each declared code, and the statuses every operation can answer."""
    doc = openapi.document()
    for operation in OPERATIONS:
        described = doc["paths"][operation.path][operation.method.lower()]
        responses = described["responses"]
        success = responses[str(operation.status)]
        if operation.status == 204:
            assert operation.response is None and "content" not in success, operation.operation_id
        elif operation.media_type is not None:  # a calendar feed: text, not a {"data": …} envelope
            assert operation.response is None and list(success["content"]) == [operation.media_type]
        else:
            assert operation.response is not None, operation.operation_id
            data = success["content"]["application/json"]["schema"]["properties"]["data"]
            assert data == openapi.schema_of(operation.response)
        for status, codes in operation.errors.items():
            for code in codes:
                assert code in responses[str(status)]["description"], (operation.operation_id, code)
        expected = {"500", "503"} | {str(s) for s in operation.errors}
        if operation.auth == "api_key":
            expected.add("401")
        else:  # the feed's token is its only credential
            assert described["security"] == [], operation.operation_id
        if operation.writes:
            expected.add("507")
        if operation.request is not None or operation.query is not None:
            expected.add("422")
        if "{" in operation.path:
            expected.add("404")
        assert set(responses) - {str(operation.status)} == expected, operation.operation_id
        if operation.admin:
            assert "not_authorized" in responses["401"]["description"]


def test_response_schemas_are_the_models() -> None:
    """The answer schemas come from engine.service.responses: required keys are the model's fields in
    declaration order (the order the API answers them), local fields and models are marked."""
    schemas = openapi.document()["components"]["schemas"]
    incident = schemas["Incident"]
    fields = msgspec.structs.fields(responses.Incident)
    assert incident["required"] == [f.encode_name for f in fields]
    assert incident["properties"]["sequentialId"]["x-local-extension"] is True
    assert schemas["ContactMethod"]["x-local-extension"] is True
    assert "secret" not in schemas["ContactMethod"]["properties"]
    assert "secret" not in schemas["ContactMethodCreated"].get("required", [])
    assert schemas["Error"]["required"] == ["statusCode", "type", "code", "requestId", "message"]


def test_links_follow_created_ids() -> None:
    """A create links to the operations on what it created: the new id from the answer, the parent's
    from the request path."""
    doc = openapi.document()
    layer = doc["paths"]["/v1/escalation/policies/{policyId}/layers"]["post"]["responses"]["201"]["links"]
    assert layer["UpdateEscalationLayer"]["parameters"] == {
        "policyId": "$request.path.policyId",
        "layerId": "$response.body#/data/id",
    }
    ids = {o.operation_id for o in OPERATIONS}
    for operation in OPERATIONS:
        assert set(operation.links) <= ids, operation.operation_id


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
        "apprise",
    }
    assert schemas["ContactMethodCreate"]["x-local-extension"] is True


def _operation_for(method: str, path: str) -> Operation:
    for operation in OPERATIONS:
        pattern = re.sub(r"{\w+}", "[^/]+", operation.path)
        if operation.method == method and re.fullmatch(pattern, path):
            return operation
    raise AssertionError(f"no operation for {method} {path}")


def test_answers_are_their_response_models_byte_for_byte(live: Live) -> None:
    """A walk through every kind of answer: each body, read strictly into its operation's response model
    (unknown keys refused, types checked) and encoded again, gives back the very bytes the server sent:
    the answer holds exactly the model's fields, in the model's order, nulls included (a builder or an
    envelope that adds, drops or reorders a key fails here; tests/api/test_error_bodies.py and
    test_guide.py pin the bytes themselves)."""
    c = live.client
    seen: set[str] = set()

    def call(method: str, path: str, body: Any = None) -> Any:
        resp = c.request(method, path, json=body)
        operation = _operation_for(method, path)
        assert resp.status_code == operation.status, resp.text
        data = resp.json()["data"]
        model = msgspec.convert(data, operation.response)
        assert resp.content == msgspec.json.encode({"data": model}), operation.operation_id
        seen.add(operation.operation_id)
        return data

    schedule = call("POST", "/v1/oncall/schedules", {"name": "Primary", "timezone": "Europe/London"})
    sched = f"/v1/oncall/schedules/{schedule['id']}"
    layer = {
        "name": "Weekly",
        "rotationType": "weekly",
        "handoffTime": "09:00",
        "effectiveFrom": "2026-01-01T00:00:00Z",
        "participantIds": [live.admin_id],
    }
    call("POST", sched + "/layers", layer)
    override = {"userId": live.admin_id, "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T12:00:00Z"}
    call("POST", sched + "/overrides", override)
    call("GET", sched)
    call("GET", sched + "/resolve")
    policy = call("POST", "/v1/escalation/policies", {"name": "Default"})
    target = {"type": "schedule", "scheduleId": schedule["id"]}
    call(
        "POST",
        f"/v1/escalation/policies/{policy['id']}/layers",
        {"position": 1, "ackTimeoutMinutes": 5, "target": target},
    )
    call("GET", f"/v1/escalation/policies/{policy['id']}")
    call("GET", "/v1/escalation/policies")
    incident = call(
        "POST", "/v1/incidents", {"title": "Down", "severity": "high", "escalationPolicyId": policy["id"]}
    )
    inc = f"/v1/incidents/{incident['id']}"
    call("POST", inc + "/updates", {"visibility": "internal", "body": "looking"})
    call("POST", inc + "/acknowledge")
    call("GET", inc + "/updates")
    call("GET", inc)
    call("GET", "/v1/incidents")
    call("POST", "/v1/team/members/invite", {"emailAddress": "new@example.com"})
    call("GET", "/v1/team/members")
    call("GET", "/v1/users")
    call("POST", f"/v1/users/{live.admin_id}/contact-methods", {"channel": "log"})
    call("GET", f"/v1/users/{live.admin_id}/contact-methods")
    assert {"getIncident", "getSchedule", "resolveSchedule", "listMembers"} <= seen

    error = c.get("/v1/incidents/nope")
    assert error.content == msgspec.json.encode(msgspec.convert(error.json(), responses.Error))
