"""The reference's §4 differences, at the network edge (httpx.MockTransport playing the provider's remote):
UUID and prefixed ids side by side, a policy as ``steps`` beside one with ``layers``, bare and wrapped
lists, bodies without the ``data`` envelope, rotation layers without ``position``, users with null names
and emails, errors with and without ``message``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine.clock import VirtualClock
from engine.errors import ValidationError
from engine.service import Ctx, incidents, orgs, policies, schedules
from storage.db import Database
from storage.sync import credentials, link
from storage.sync.change_queue import list_changes, push, waiting_count
from storage.sync.client import ScalingClient
from storage.sync.credentials import Secret
from storage.sync.pull import pull

SCHED = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
POL_STEPS = "ep_1"
POL_LAYERS = "d4e5f6a7-b8c9-0123-defa-234567890123"
INC = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


class FakeScaling:
    """Just enough of a remote, in the shapes the provider's client and the docs disagree on."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.steps: list[dict[str, Any]] = [
            {"id": "step_1", "position": 1, "targetType": "schedule", "targetId": SCHED,
             "escalateAfterSeconds": 90, "condition": None},
        ]  # fmt: skip

    def __call__(self, req: httpx.Request) -> httpx.Response:
        path = req.url.path
        body = json.loads(req.content) if req.content else None
        self.requests.append((req.method, path, body))
        if req.method == "GET" and path == "/v1/users":
            return httpx.Response(200, json={"data": {"users": [
                {"id": "user_1", "firstName": "Jane", "lastName": "Smith", "email": "jane@example.com"},
                {"id": "8e0c6c8e-0000-4000-8000-000000000001", "firstName": None, "lastName": None, "email": None},
            ]}})  # fmt: skip
        if req.method == "GET" and path == "/v1/oncall/schedules":
            return httpx.Response(200, json={"data": [
                {"id": SCHED, "name": "Platform On-call", "description": None, "timezone": "America/New_York"},
            ]})  # fmt: skip
        if req.method == "GET" and path == f"/v1/oncall/schedules/{SCHED}":
            return httpx.Response(200, json={"data": {
                "id": SCHED, "name": "Platform On-call", "description": None, "timezone": "America/New_York",
                "layers": [
                    {"id": "lyr-b", "scheduleId": SCHED, "name": "Primary", "rotationType": "weekly",
                     "rotationLengthDays": 7, "handoffTime": "09:00", "effectiveFrom": "2025-01-01T00:00:00Z",
                     "effectiveUntil": None, "participantIds": ["user_1", "8e0c6c8e-0000-4000-8000-000000000001"]},
                ],
            }})  # fmt: skip
        if req.method == "GET" and path == "/v1/escalation/policies":
            return httpx.Response(200, json={"data": [
                {"id": POL_STEPS, "name": "Provider style"}, {"id": POL_LAYERS, "name": "Docs style"},
            ]})  # fmt: skip
        if req.method == "GET" and path == f"/v1/escalation/policies/{POL_STEPS}":
            return httpx.Response(200, json={"data": {"id": POL_STEPS, "name": "Provider style",
                                                      "description": None, "steps": self.steps}})  # fmt: skip
        if req.method == "PUT" and path == f"/v1/escalation/policies/{POL_STEPS}":
            self.steps = [
                {**s, "id": f"step_{i + 1}", "position": i + 1} for i, s in enumerate(body["steps"])
            ]
            return httpx.Response(200, json={"data": {"id": POL_STEPS, **body, "steps": self.steps}})
        if req.method == "GET" and path == f"/v1/escalation/policies/{POL_LAYERS}":
            # No envelope, no layers in the object: the layers sub-collection has them.
            return httpx.Response(200, json={"id": POL_LAYERS, "name": "Docs style", "description": "d"})
        if req.method == "GET" and path == f"/v1/escalation/policies/{POL_LAYERS}/layers":
            return httpx.Response(200, json={"data": [
                {"id": "layer_x", "position": 1, "ackTimeoutMinutes": 5,
                 "target": {"type": "users", "userIds": ["user_1"]}},
            ]})  # fmt: skip
        if req.method == "GET" and path == "/v1/incidents":
            return httpx.Response(200, json={"data": {"incidents": [
                {"id": INC, "orgId": "org_01HX4K9MNPQRST", "title": "Payment service elevated error rate",
                 "severity": "critical", "status": "identified",
                 "affectedComponents": [{"id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "name": "Payments API"}],
                 "createdAt": "2025-04-07T08:23:11.000Z", "updatedAt": "2025-04-07T09:15:44.000Z"},
            ], "nextCursor": None}})  # fmt: skip
        if req.method == "GET" and path == f"/v1/incidents/{INC}":
            return httpx.Response(200, json={"data": {
                "id": INC, "title": "Payment service elevated error rate", "severity": "critical",
                "status": "identified", "ownerId": "user_1", "escalationPolicyId": POL_STEPS,
                "createdAt": "2025-04-07T08:23:11.000Z", "updatedAt": "2025-04-07T09:15:44.000Z",
                "statusHistory": [
                    {"id": "sh_01HX4KABCDE001", "status": "investigating", "changedAt": "2025-04-07T08:23:11.000Z",
                     "resolutionNote": None},
                    {"id": "sh_01HX4KABCDE002", "status": "identified", "changedAt": "2025-04-07T09:15:44.000Z",
                     "resolutionNote": None},
                ],
                "escalation": {"state": "paging", "currentLayer": 1, "layerCount": 1},
            }})  # fmt: skip
        if req.method == "POST" and path == f"/v1/incidents/{INC}/acknowledge":
            # An error without a message, as the docs show them.
            return httpx.Response(
                404, json={"statusCode": 404, "type": "invalid_request_error", "code": "not_found",
                           "requestId": "550e8400-e29b-41d4-a716-446655440000"},
            )  # fmt: skip
        return httpx.Response(404, json={"statusCode": 404, "code": "not_found", "message": f"no {path}"})


@pytest.fixture
def fake() -> FakeScaling:
    return FakeScaling()


@pytest.fixture
def linked(ctx: Ctx, clock: VirtualClock, isolated_credentials: Any) -> Ctx:
    link.link(ctx.db, ctx.org_id, "https://api.scaling.cloud", clock)
    credentials.store_key(ctx.org_id, "scl_live_" + "k" * 32)
    return ctx


def client(fake: FakeScaling) -> ScalingClient:
    return ScalingClient(
        "https://api.scaling.cloud", Secret("scl_live_" + "k" * 32), transport=httpx.MockTransport(fake),
        sleep=lambda s: None,
    )  # fmt: skip


def local(db: Database, table: str, remote_id: str) -> str:
    v = db.scalar(f"SELECT id FROM {table} WHERE remote_id = ?", (remote_id,))
    assert v is not None, (table, remote_id)
    return str(v)


def test_pull_tolerates_the_provider_shapes(linked: Ctx, fake: FakeScaling, clock: VirtualClock) -> None:
    db = linked.db
    result = pull(db, linked.org_id, client(fake), clock=clock)
    assert result.errors == []
    # A user without an email gets a placeholder address; ids of both forms are mapped.
    anon = db.one("SELECT * FROM users WHERE remote_id = '8e0c6c8e-0000-4000-8000-000000000001'")
    assert anon["email"].endswith("@unknown.scaling.invalid") and anon["origin"] == "remote"
    jane = local(db, "users", "user_1")
    # Rotation layer without position, participants translated.
    sched = schedules.get_schedule(linked, local(db, "schedules", SCHED))
    assert [(la["name"], la["position"]) for la in sched["layers"]] == [("Primary", 0)]
    assert sched["layers"][0]["participantIds"] == [jane, anon["id"]]
    # Steps → layers: 90 s rounds up to 2 minutes; the shape is remembered for pushes.
    steps_pol = policies.get_policy(linked, local(db, "policies", POL_STEPS))
    assert [(la["ackTimeoutMinutes"], la["target"]) for la in steps_pol["layers"]] == [
        (2, {"type": "schedule", "scheduleId": sched["id"]})
    ]
    assert db.scalar("SELECT remote_shape FROM policies WHERE remote_id = ?", (POL_STEPS,)) == "steps"
    # A policy body without the data envelope; its layers from the sub-collection.
    docs_pol = policies.get_policy(linked, local(db, "policies", POL_LAYERS))
    assert docs_pol["description"] == "d"
    assert docs_pol["layers"][0]["target"] == {"type": "users", "userIds": [jane]}
    # The incident: status history, owner, policy and the remote's escalation state.
    row = db.one("SELECT * FROM incidents WHERE remote_id = ?", (INC,))
    assert (row["status"], row["owner_id"], row["escalation_policy_id"]) == (
        "identified",
        jane,
        steps_pol["id"],
    )
    assert row["created_at"] == "2025-04-07T08:23:11.000Z"
    hist = incidents.get_incident(linked, row["id"])["statusHistory"]
    assert [(h["status"], h["changedAt"]) for h in hist] == [
        ("investigating", "2025-04-07T08:23:11.000Z"),
        ("identified", "2025-04-07T09:15:44.000Z"),
    ]
    assert json.loads(row["remote_escalation"])["state"] == "paging"
    assert db.scalar("SELECT count(*) FROM escalations WHERE incident_id = ?", (row["id"],)) == 0
    assert waiting_count(db, linked.org_id) == 0
    # Pulling again finds nothing to change.
    again = pull(db, linked.org_id, client(fake), clock=clock)
    assert again.created == {} and again.updated == {} and again.deleted == {}


def test_layer_changes_to_a_steps_policy_are_sent_as_a_full_replacement(
    linked: Ctx, fake: FakeScaling, clock: VirtualClock
) -> None:
    db = linked.db
    pull(db, linked.org_id, client(fake), clock=clock)
    pid = local(db, "policies", POL_STEPS)
    sid = local(db, "schedules", SCHED)
    added = policies.add_layer(
        linked,
        pid,
        {"position": 2, "ackTimeoutMinutes": 10, "target": {"type": "schedule", "scheduleId": sid}},
    )
    fake.requests.clear()
    result = push(db, linked.org_id, client(fake), clock=clock)
    assert (result.sent, result.failed) == (1, 0)
    method, path, body = fake.requests[0]
    assert (method, path) == ("PUT", f"/v1/escalation/policies/{POL_STEPS}")
    assert body["steps"] == [
        {"targetType": "schedule", "targetId": SCHED, "escalateAfterSeconds": 120},
        {"targetType": "schedule", "targetId": SCHED, "escalateAfterSeconds": 600},
    ]
    # The new step's id is recorded on the new local layer.
    assert db.scalar("SELECT remote_id FROM escalation_layers WHERE id = ?", (added["id"],)) == "step_2"
    # A users target cannot be a step: the change fails locally with a clear reason and is kept.
    jane = local(db, "users", "user_1")
    policies.add_layer(
        linked, pid, {"position": 3, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [jane]}}
    )
    # (an earlier attempt's request id, as a 503 would have left it, is not shown with the local reason)
    db.execute("UPDATE sync_outbox SET request_id = 'req_earlier' WHERE status = 'pending'")
    result = push(db, linked.org_id, client(fake), clock=clock)
    assert result.failed == 1 and "steps" in result.failures[0]["error"]["message"]
    assert result.failures[0]["error"]["requestId"] is None


def test_a_push_that_lost_its_lease_stops_sending(
    linked: Ctx, fake: FakeScaling, clock: VirtualClock
) -> None:
    db = linked.db
    pull(db, linked.org_id, client(fake), clock=clock)
    pid = local(db, "policies", POL_STEPS)
    target = {"type": "schedule", "scheduleId": local(db, "schedules", SCHED)}
    for position in (2, 3):
        policies.add_layer(linked, pid, {"position": position, "ackTimeoutMinutes": 10, "target": target})
    calls = 0

    def lease_taken_after_one_change() -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:  # another process took the lease over while the first change was being sent
            db.execute(
                "UPDATE engine_lease SET holder = 'other', expires_at_ms = 9999999999999 WHERE name LIKE 'push:%'"
            )
        return False

    result = push(db, linked.org_id, client(fake), clock=clock, should_stop=lease_taken_after_one_change)
    assert (result.sent, result.state, result.waiting) == (1, "busy", 1)
    assert db.scalar("SELECT holder FROM engine_lease WHERE name LIKE 'push:%'") == "other"


def test_an_error_without_message_is_shown_with_its_code_and_request_id(
    linked: Ctx, fake: FakeScaling, clock: VirtualClock
) -> None:
    db = linked.db
    pull(db, linked.org_id, client(fake), clock=clock)
    incidents.acknowledge(linked, local(db, "incidents", INC))
    result = push(db, linked.org_id, client(fake), clock=clock)
    assert result.failed == 1
    err = list_changes(db, linked.org_id)[0]["error"]
    assert err == {
        "statusCode": 404,
        "code": "not_found",
        "message": "Not Found",
        "requestId": "550e8400-e29b-41d4-a716-446655440000",
    }


def test_without_a_list_of_people_the_pull_goes_on_with_placeholders(
    linked: Ctx, fake: FakeScaling, clock: VirtualClock
) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/v1/users":
            return httpx.Response(404, json={"statusCode": 404, "code": "not_found"})
        if req.url.path == "/v1/team/members":  # admin-only: a member's key is refused here
            return httpx.Response(401, json={"statusCode": 401, "code": "not_authorized"})
        return fake(req)

    c = ScalingClient("https://api.scaling.cloud", Secret("scl_live_" + "k" * 32),
                      transport=httpx.MockTransport(handler), sleep=lambda s: None)  # fmt: skip
    result = pull(linked.db, linked.org_id, c, clock=clock)
    assert [e["kind"] for e in result.errors] == ["user"]
    row = linked.db.one("SELECT * FROM users WHERE remote_id = 'user_1'")
    assert row is not None and row["email"] == "user_1@unknown.scaling.invalid"
    assert linked.db.scalar("SELECT count(*) FROM incidents WHERE remote_id = ?", (INC,)) == 1


def test_pulled_people_and_incidents_are_checked_by_the_rules_of_a_local_create(
    linked: Ctx, fake: FakeScaling, clock: VirtualClock
) -> None:
    """One rule, written once: what a local create refuses, a pull refuses with the same message (and
    skips that object); what a local create accepts, a pull stores."""
    people = [{"id": "user_1", "firstName": "Jane", "lastName": "Smith", "email": "jane@example.com"}]
    incident = {"description": "line one\nline two"}

    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "GET" and req.url.path == "/v1/users":
            return httpx.Response(200, json={"data": {"users": people}})
        answer = fake(req)
        if req.method == "GET" and req.url.path == f"/v1/incidents/{INC}":
            return httpx.Response(200, json={"data": {**answer.json()["data"], **incident}})
        return answer

    c = ScalingClient("https://api.scaling.cloud", Secret("scl_live_" + "k" * 32),
                      transport=httpx.MockTransport(handler), sleep=lambda s: None)  # fmt: skip
    first = pull(linked.db, linked.org_id, c, clock=clock)
    assert first.errors == []
    # A multi-line description is an ordinary description (a local create takes it).
    row = linked.db.one("SELECT * FROM incidents WHERE remote_id = ?", (INC,))
    assert row["description"] == "line one\nline two"

    invisible, too_long, bad_email = "\u200b", "x" * 256, "not-an-address"
    expected = {}
    for field, value in (("firstName", invisible), ("lastName", too_long), ("email", bad_email)):
        with pytest.raises(ValidationError) as refused:
            orgs.create_user(linked, {"email": "someone@example.com", field: value})
        expected[field] = refused.value.message
    people[0] = {**people[0], "firstName": invisible}
    people.append({"id": "user_2", "email": "sam@example.com", "lastName": too_long})
    people.append({"id": "user_3", "email": bad_email})
    second = pull(linked.db, linked.org_id, c, clock=clock)
    assert sorted((e["remoteId"], e["error"]) for e in second.errors if e["kind"] == "user") == [
        ("user_1", expected["firstName"]),
        ("user_2", expected["lastName"]),
        ("user_3", expected["email"]),
    ]
    jane = linked.db.one("SELECT * FROM users WHERE remote_id = 'user_1'")
    assert jane["first_name"] == "Jane"  # nothing half-applied
    assert linked.db.scalar("SELECT count(*) FROM users WHERE remote_id IN ('user_2', 'user_3')") == 0
