"""The local API over real HTTP: auth, envelopes, error bodies, every resource, org scoping."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from engine.service import Ctx
from engine.service.orgs import create_key, create_org, revoke_key
from tests.api.conftest import Live

ERROR_KEYS = {"statusCode", "type", "code", "requestId", "message"}


def data(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"data"}
    return body["data"]


def error(resp: httpx.Response, status: int, code: str, type_: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert ERROR_KEYS <= set(body), body
    assert body["statusCode"] == status
    assert body["code"] == code, body
    if type_ is not None:
        assert body["type"] == type_
    assert body["requestId"] == resp.headers["x-request-id"]
    uuid.UUID(body["requestId"])
    return body


def schedule(live: Live, name: str = "Primary", participants: list[str] | None = None) -> dict[str, Any]:
    s = data(live.client.post("/v1/oncall/schedules", json={"name": name, "timezone": "Europe/London"}), 201)
    layer = {
        "name": "Week",
        "rotationType": "weekly",
        "handoffTime": "09:00",
        "effectiveFrom": "2026-04-06T08:00:00.000Z",
        "participantIds": participants or [live.admin_id],
    }
    data(live.client.post(f"/v1/oncall/schedules/{s['id']}/layers", json=layer), 201)
    return s


def policy(live: Live, name: str = "Platform Default") -> dict[str, Any]:
    return data(live.client.post("/v1/escalation/policies", json={"name": name}), 201)


# -- auth ------------------------------------------------------------------------------------------


def test_missing_or_non_bearer_header_is_missing_authorization_header(live: Live) -> None:
    for headers in ({}, {"Authorization": "Basic YTpi"}, {"Authorization": live.key}):
        resp = httpx.get(live.url + "/v1/incidents", headers=headers)
        body = error(resp, 401, "missing_authorization_header", "not_authorized_error")
        assert set(body) == ERROR_KEYS


def test_unknown_and_revoked_keys_are_invalid_api_key(live: Live) -> None:
    error(
        live.as_key("scl_live_" + "x" * 32).get("/v1/incidents"),
        401,
        "invalid_api_key",
        "not_authorized_error",
    )
    error(
        httpx.get(live.url + "/v1/incidents", headers={"Authorization": "Bearer"}),
        401,
        "missing_authorization_header",
    )
    ctx = live.ctx()
    key, info = create_key(ctx, "temp")
    assert live.as_key(key).get("/v1/incidents").status_code == 200
    assert (
        live.as_key(key).get("/v1/incidents", headers={"Authorization": f"bearer {key}"}).status_code == 200
    )
    revoke_key(ctx, info["id"])
    error(live.as_key(key).get("/v1/incidents"), 401, "invalid_api_key")


def test_auth_is_checked_before_the_body(live: Live) -> None:
    resp = httpx.post(live.url + "/v1/incidents", content=b"{not json")
    error(resp, 401, "missing_authorization_header")
    too_big = b'{"title": "' + b"x" * 1_000_000 + b'"}'
    error(httpx.post(live.url + "/v1/incidents", content=too_big), 401, "missing_authorization_header")
    body = error(live.client.post("/v1/incidents", content=too_big), 422, "validation_error")
    assert "larger than 1000000 bytes" in body["message"]


def test_another_orgs_objects_are_not_found(live: Live) -> None:
    ctx = live.ctx()
    other = create_org(ctx.db, "Globex", "boss@globex.example", clock=live.clock)
    theirs = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {other.api_key}"})
    pol = policy(live)
    sched = schedule(live)
    inc = data(live.client.post("/v1/incidents", json={"title": "ours", "severity": "low"}), 201)
    error(theirs.get(f"/v1/escalation/policies/{pol['id']}"), 404, "not_found", "invalid_request_error")
    error(theirs.delete(f"/v1/oncall/schedules/{sched['id']}"), 404, "not_found")
    error(theirs.get(f"/v1/incidents/{inc['id']}"), 404, "not_found")
    error(theirs.post(f"/v1/incidents/{inc['id']}/acknowledge"), 404, "not_found")
    assert data(theirs.get("/v1/escalation/policies")) == []
    assert data(theirs.get("/v1/incidents"))["incidents"] == []
    # Referring to our objects from their org is equally blind.
    error(
        theirs.post("/v1/incidents", json={"title": "x", "severity": "low", "escalationPolicyId": pol["id"]}),
        404,
        "not_found",
    )
    assert live.client.get(f"/v1/incidents/{inc['id']}").status_code == 200


# -- errors ----------------------------------------------------------------------------------------


def test_every_response_carries_a_request_id(live: Live) -> None:
    ids = set()
    for resp in (
        live.client.get("/v1/incidents"),
        live.client.get("/v1/nowhere"),
        live.client.delete("/v1/incidents"),
        httpx.get(live.url + "/v1/openapi.json"),
        live.client.post("/v1/escalation/policies", json={"name": "P"}),
    ):
        uuid.UUID(resp.headers["x-request-id"])
        ids.add(resp.headers["x-request-id"])
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"null", None),
        (b"", None),
        (b'{"name": NaN}', None),
        (b'{"name": "\\ud800"}', None),
        (b'{"name": 5}', "name"),
        (b'{"description": "no name"}', "name"),
        (b'{"name": "x", "colour": "red"}', "colour"),
        (b'{"name": "' + b"x" * 256 + b'"}', "name"),
        (b'{"name": "   "}', "name"),
    ],
)
def test_schema_failures_are_422_validation_error(live: Live, body: bytes, field: str | None) -> None:
    resp = live.client.post(
        "/v1/escalation/policies", content=body, headers={"Content-Type": "application/json"}
    )
    got = error(resp, 422, "validation_error", "validation_error")
    if field:
        assert got["field"] == field


def test_out_of_range_and_wrong_types_are_422(live: Live) -> None:
    pol = policy(live)
    sched = schedule(live)
    target = {"type": "schedule", "scheduleId": sched["id"]}
    layers = f"/v1/escalation/policies/{pol['id']}/layers"
    for bad in (
        {"position": 1, "ackTimeoutMinutes": 0, "target": target},
        {"position": 1, "ackTimeoutMinutes": 10_081, "target": target},
        {"position": 0, "ackTimeoutMinutes": 5, "target": target},
        {"position": "1", "ackTimeoutMinutes": 5, "target": target},
        {"ackTimeoutMinutes": 5, "target": target},
        {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "team"}},
    ):
        error(live.client.post(layers, json=bad), 422, "validation_error")
    for query in (
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=1.5",
        "limit=%D9%A1",  # an Arabic-Indic 1: int() reads it, the API must not
        "limit=%EF%BC%91",  # a full-width 1
        "status=open",
        "from=yesterday",
        "cursor=%%%",
    ):
        error(live.client.get(f"/v1/incidents?{query}"), 422, "validation_error")
    error(live.client.get(f"/v1/oncall/schedules/{sched['id']}/resolve?at=noon"), 422, "validation_error")


def test_business_rules_are_400_and_names_409(live: Live) -> None:
    pol = policy(live)
    error(
        live.client.post("/v1/escalation/policies", json={"name": "Platform Default"}), 409, "name_conflict"
    )
    bad_target = {
        "position": 1,
        "ackTimeoutMinutes": 5,
        "target": {"type": "schedule", "scheduleId": "sched_nope"},
    }
    error(
        live.client.post(f"/v1/escalation/policies/{pol['id']}/layers", json=bad_target),
        400,
        "invalid_target",
        "invalid_request_error",
    )
    users_target = {
        "position": 1,
        "ackTimeoutMinutes": 5,
        "target": {"type": "users", "userIds": ["user_nope"]},
    }
    error(
        live.client.post(f"/v1/escalation/policies/{pol['id']}/layers", json=users_target),
        400,
        "invalid_target",
    )
    error(live.client.post("/v1/escalation/policies/pol_nope/layers", json=users_target), 404, "not_found")


def test_unknown_route_is_404_and_wrong_method_405_in_the_error_shape(live: Live) -> None:
    error(live.client.get("/v1/escalation/policy"), 404, "not_found", "invalid_request_error")
    error(live.client.get("/v1/incidents/"), 404, "not_found")
    error(httpx.get(live.url + "/"), 404, "not_found")
    resp = live.client.put("/v1/incidents")
    error(resp, 405, "method_not_allowed", "invalid_request_error")
    assert set(resp.headers["allow"].split(", ")) == {"GET", "POST"}
    # HEAD works wherever GET does, and only there; it is never advertised in Allow.
    head = live.client.head("/v1/incidents")
    assert head.status_code == 200 and head.content == b""
    resp = live.client.head("/v1/team/members/invite")
    assert resp.status_code == 405 and resp.headers["allow"] == "POST"


# -- escalation policies -------------------------------------------------------------------------------


def test_policy_crud_and_envelopes(live: Live) -> None:
    created = policy(live)
    assert created["description"] is None and "layers" not in created
    listed = data(live.client.get("/v1/escalation/policies"))
    assert [p["id"] for p in listed] == [created["id"]]
    got = data(live.client.get(f"/v1/escalation/policies/{created['id']}"))
    assert got["layers"] == []
    live.clock.advance(timedelta(minutes=1))
    patched = data(live.client.patch(f"/v1/escalation/policies/{created['id']}", json={"description": "d"}))
    assert patched["description"] == "d" and patched["updatedAt"] > created["updatedAt"]
    resp = live.client.delete(f"/v1/escalation/policies/{created['id']}")
    assert resp.status_code == 204 and resp.content == b""
    error(live.client.get(f"/v1/escalation/policies/{created['id']}"), 404, "not_found")


def test_escalation_layers_insert_update_reorder_delete(live: Live) -> None:
    pol = policy(live)
    a, b = schedule(live, "A"), schedule(live, "B")
    base = f"/v1/escalation/policies/{pol['id']}/layers"
    l1 = data(live.client.post(base, json={"position": 1, "ackTimeoutMinutes": 5,
                                           "target": {"type": "schedule", "scheduleId": a["id"]}}), 201)  # fmt: skip
    l2 = data(live.client.post(base, json={"position": 1, "ackTimeoutMinutes": 10,
                                           "target": {"type": "schedule", "scheduleId": b["id"]}}), 201)  # fmt: skip
    layers = data(live.client.get(f"/v1/escalation/policies/{pol['id']}"))["layers"]
    assert [(x["id"], x["position"]) for x in layers] == [(l2["id"], 1), (l1["id"], 2)]
    upd = data(live.client.patch(f"{base}/{l1['id']}", json={"ackTimeoutMinutes": 7}))
    assert upd["ackTimeoutMinutes"] == 7
    ordered = data(live.client.put(f"{base}/order", json={"layerIds": [l1["id"], l2["id"]]}))
    assert [(x["id"], x["position"]) for x in ordered] == [(l1["id"], 1), (l2["id"], 2)]
    err = error(live.client.put(f"{base}/order", json={"layerIds": [l1["id"]]}), 400, "invalid_layer_order")
    assert err["details"]["missing"] == [l2["id"]]
    error(live.client.put(f"{base}/order", json={"ids": []}), 422, "validation_error")
    assert live.client.delete(f"{base}/{l1['id']}").status_code == 204
    layers = data(live.client.get(f"/v1/escalation/policies/{pol['id']}"))["layers"]
    assert [(x["id"], x["position"]) for x in layers] == [(l2["id"], 1)]
    error(live.client.delete(f"{base}/{l1['id']}"), 404, "not_found")


# -- schedules -------------------------------------------------------------------------------------


def test_schedules_layers_resolve_and_overrides(live: Live) -> None:
    bob = data(live.client.post("/v1/users", json={"email": "bob@example.com", "firstName": "Bob"}), 201)
    s = schedule(live, participants=[live.admin_id, bob["id"]])
    base = f"/v1/oncall/schedules/{s['id']}"
    got = data(live.client.get(base))
    assert [x["position"] for x in got["layers"]] == [0] and got["overrides"] == []
    layer2 = data(live.client.post(base + "/layers", json={
        "name": "Backup", "rotationType": "daily", "handoffTime": "09:00",
        "effectiveFrom": "2026-04-01T00:00:00Z", "participantIds": [bob["id"]]}), 201)  # fmt: skip
    assert layer2["position"] == 1 and layer2["rotationLengthDays"] == 1
    now = data(live.client.get(base + "/resolve"))
    assert now["scheduleOwner"] == live.admin_id and now["at"] == "2026-04-07T10:00:00.000Z"
    later = data(live.client.get(base + "/resolve", params={"at": "2026-04-14T10:00:00+01:00"}))
    assert later["scheduleOwner"] == bob["id"]
    # An unencoded "+" (curl users) arrives as a space: still the same instant.
    plus = data(live.client.get(base + "/resolve?at=2026-04-14T10:00:00+01:00"))
    assert plus["at"] == later["at"] == "2026-04-14T09:00:00.000Z"
    # PUT (Terraform style) and PATCH both update; reorder puts Backup first.
    assert data(live.client.put(base, json={"name": "Primary", "timezone": "UTC"}))["timezone"] == "UTC"
    first = got["layers"][0]["id"]
    assert (
        data(live.client.put(f"{base}/layers/{first}", json={"handoffTime": "10:00"}))["handoffTime"]
        == "10:00"
    )
    assert (
        data(live.client.patch(f"{base}/layers/{first}", json={"effectiveUntil": None}))["effectiveUntil"]
        is None
    )
    ordered = data(live.client.put(base + "/layers/order", json={"layerIds": [layer2["id"], first]}))
    assert [(x["id"], x["position"]) for x in ordered] == [(layer2["id"], 0), (first, 1)]
    error(
        live.client.put(base + "/layers/order", json={"layerIds": [first, first]}), 400, "invalid_layer_order"
    )
    # Overrides (local model): Ada covers a window; during it she is the owner.
    ovr = data(live.client.post(base + "/overrides", json={
        "userId": live.admin_id, "start": "2026-04-07T09:00:00Z", "end": "2026-04-07T12:00:00Z"}), 201)  # fmt: skip
    assert data(live.client.get(base + "/overrides")) == [ovr]
    assert data(live.client.get(base + "/resolve"))["scheduleOwner"] == live.admin_id
    error(live.client.post(base + "/overrides", json={"userId": live.admin_id, "start": "2026-04-07T09:00:00Z",
                                                      "end": "2026-04-07T08:00:00Z"}), 422, "validation_error")  # fmt: skip
    assert live.client.delete(f"{base}/overrides/{ovr['id']}").status_code == 204
    error(live.client.delete(f"{base}/overrides/{ovr['id']}"), 404, "not_found")
    error(live.client.get("/v1/oncall/schedules/nope/overrides"), 404, "not_found")
    assert live.client.delete(f"{base}/layers/{first}").status_code == 204
    assert [x["position"] for x in data(live.client.get(base))["layers"]] == [0]
    error(
        live.client.post("/v1/oncall/schedules", json={"name": "Primary", "timezone": "UTC"}),
        409,
        "name_conflict",
    )
    error(
        live.client.post("/v1/oncall/schedules", json={"name": "X", "timezone": "Mars/Olympus"}),
        422,
        "validation_error",
    )
    assert live.client.delete(base).status_code == 204
    assert data(live.client.get("/v1/oncall/schedules")) == []


# -- incidents -------------------------------------------------------------------------------------


def test_incident_with_only_a_policy_is_accepted_and_pages_layer_1(live: Live) -> None:
    pol = policy(live)
    s = schedule(live)
    layer = {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "schedule", "scheduleId": s["id"]}}
    data(live.client.post(f"/v1/escalation/policies/{pol['id']}/layers", json=layer), 201)
    body = {"title": "Payment service degraded", "severity": "critical", "escalationPolicyId": pol["id"]}
    inc = data(live.client.post("/v1/incidents", json=body), 201)
    assert (
        inc["ownerId"] is None and inc["escalationPolicyId"] == pol["id"] and inc["status"] == "investigating"
    )
    got = data(live.client.get(f"/v1/incidents/{inc['id']}"))
    assert [h["status"] for h in got["statusHistory"]] == ["investigating"]
    paged = [e for e in got["timeline"] if e["kind"] == "layer_paged"]
    assert paged and paged[0]["data"]["position"] == 1


def test_incident_lifecycle_updates_ack_handoff(live: Live) -> None:
    bob = data(live.client.post("/v1/users", json={"email": "bob@example.com"}), 201)
    inc = data(
        live.client.post("/v1/incidents", json={"title": "DB", "severity": "high", "ownerId": live.admin_id}),
        201,
    )
    base = f"/v1/incidents/{inc['id']}"
    error(
        live.client.patch(base + "/status", json={"status": "monitoring"}), 400, "invalid_status_transition"
    )
    assert data(live.client.patch(base + "/status", json={"status": "identified"}))["status"] == "identified"
    upd = data(
        live.client.post(base + "/updates", json={"body": "rolling back", "visibility": "internal"}), 201
    )
    error(
        live.client.post(base + "/updates", json={"body": "hi", "visibility": "public"}),
        400,
        "no_public_surface",
    )
    error(live.client.post(base + "/updates", json={"body": "hi"}), 422, "validation_error")
    red = data(live.client.post(f"{base}/updates/{upd['id']}/redact"))
    assert red["body"] is None and red["redactedAt"] is not None
    updates = data(live.client.get(base + "/updates"))["updates"]
    assert [u["statusChange"] for u in updates] == ["identified", None]
    acked = data(live.client.post(base + "/acknowledge"))
    assert acked["acknowledgedBy"] == live.admin_id and acked["status"] == "identified"
    assert data(live.client.post(base + "/acknowledge"))["acknowledgedAt"] == acked["acknowledgedAt"]
    error(live.client.post(base + "/handoff", json={"targetUserId": "user_nope"}), 400, "invalid_target_user")
    assert data(live.client.post(base + "/handoff", json={"targetUserId": bob["id"]}))["ownerId"] == bob["id"]
    for step in ("monitoring", "resolved"):
        data(
            live.client.patch(
                base + "/status",
                json={"status": step, **({"resolutionNote": "fixed"} if step == "resolved" else {})},
            )
        )
    got = data(live.client.get(base))
    assert got["statusHistory"][-1]["resolutionNote"] == "fixed"
    error(
        live.client.post(base + "/updates", json={"body": "late", "visibility": "internal"}),
        400,
        "incident_resolved",
    )
    error(live.client.post(base + "/escalate"), 400, "incident_resolved")
    error(live.client.post(base + "/snooze", json={"minutes": 5}), 400, "incident_resolved")


def test_escalate_and_snooze_local_extensions(live: Live) -> None:
    pol = policy(live)
    base = f"/v1/escalation/policies/{pol['id']}/layers"
    for pos in (1, 2):
        data(live.client.post(base, json={"position": pos, "ackTimeoutMinutes": 5,
                                          "target": {"type": "users", "userIds": [live.admin_id]}}), 201)  # fmt: skip
    inc = data(
        live.client.post(
            "/v1/incidents", json={"title": "x", "severity": "low", "escalationPolicyId": pol["id"]}
        ),
        201,
    )
    esc = data(live.client.post(f"/v1/incidents/{inc['id']}/escalate"))
    assert esc["escalation"] is not None
    data(live.client.post(f"/v1/incidents/{inc['id']}/escalate", json={"toLayer": 1}))
    error(
        live.client.post(f"/v1/incidents/{inc['id']}/escalate", json={"toLayer": 0}), 422, "validation_error"
    )
    error(live.client.post(f"/v1/incidents/{inc['id']}/escalate", json=[1]), 422, "validation_error")
    data(live.client.post(f"/v1/incidents/{inc['id']}/snooze", json={"minutes": 10}))
    error(live.client.post(f"/v1/incidents/{inc['id']}/snooze", json={}), 422, "validation_error")


def test_list_filters_and_cursor_pagination(live: Live) -> None:
    ids = []
    for i in range(25):
        sev = "critical" if i % 5 == 0 else "low"
        ids.append(
            data(live.client.post("/v1/incidents", json={"title": f"i{i}", "severity": sev}), 201)["id"]
        )
        live.clock.advance(timedelta(hours=1))
    first = data(live.client.get("/v1/incidents"))
    assert len(first["incidents"]) == 20 and first["nextCursor"]
    seen, cursor = [], None
    while True:
        page = data(
            live.client.get("/v1/incidents", params={"limit": 7, **({"cursor": cursor} if cursor else {})})
        )
        seen += [x["id"] for x in page["incidents"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    crit = data(live.client.get("/v1/incidents", params={"severity": "critical", "limit": 100}))
    assert len(crit["incidents"]) == 5 and crit["nextCursor"] is None
    # Created 10:00 on 2026-04-07 then hourly: 14 on the 7th, 11 on the 8th.
    day = data(
        live.client.get("/v1/incidents", params={"from": "2026-04-08", "to": "2026-04-08", "limit": 100})
    )
    assert len(day["incidents"]) == 11
    upto = data(live.client.get("/v1/incidents", params={"to": "2026-04-07T12:00:00.000Z", "limit": 100}))
    assert len(upto["incidents"]) == 3
    upto = data(live.client.get("/v1/incidents?to=2026-04-07T14:00:00+02:00&limit=100"))
    assert len(upto["incidents"]) == 3
    assert data(live.client.get("/v1/incidents", params={"status": "resolved"}))["incidents"] == []


# -- team & users ----------------------------------------------------------------------------------


def test_team_endpoints_need_an_admin_key(live: Live) -> None:
    member = data(live.client.post("/v1/users", json={"email": "m@example.com", "role": "org:member"}), 201)
    ctx: Ctx = live.ctx().as_user(member["id"], is_admin=False)
    key, _ = create_key(ctx, "member key")
    as_member = live.as_key(key)
    for resp in (
        as_member.get("/v1/team/members"),
        as_member.post("/v1/team/members/invite", json={"emailAddress": "x@example.com"}),
        as_member.post("/v1/users", json={"email": "y@example.com"}),
        as_member.delete(f"/v1/team/members/{live.admin_id}"),
    ):
        error(resp, 401, "not_authorized", "not_authorized_error")
    assert len(data(as_member.get("/v1/users"))["users"]) == 2  # reading users is for everyone


def test_team_members_invitations_roles(live: Live) -> None:
    bob = data(live.client.post("/v1/users", json={"email": "Bob@Example.com", "firstName": "Bob"}), 201)
    assert bob["email"] == "bob@example.com" and bob["role"] == "org:member"
    error(live.client.post("/v1/users", json={"email": "bob@example.com"}), 409, "name_conflict")
    error(live.client.post("/v1/users", json={"email": "not-an-email"}), 422, "validation_error")
    missing = error(live.client.post("/v1/users", json={"firstName": "Al"}), 422, "validation_error")
    assert missing["field"] == "email" and missing["message"] == "email is required"
    inv = data(
        live.client.post(
            "/v1/team/members/invite", json={"emailAddress": "c@example.com", "role": "org:admin"}
        ),
        201,
    )
    assert inv["status"] == "pending" and inv["id"].startswith("orginv_")
    team = data(live.client.get("/v1/team/members"))
    assert {m["email"] for m in team["members"]} == {"admin@example.com", "bob@example.com"}
    assert [i["id"] for i in team["invitations"]] == [inv["id"]]
    assert (
        data(live.client.patch(f"/v1/team/members/{bob['id']}/role", json={"role": "org:admin"}))["role"]
        == "org:admin"
    )
    error(
        live.client.patch(f"/v1/team/members/{live.admin_id}/role", json={"role": "org:member"}),
        400,
        "cannot_change_own_role",
    )
    assert live.client.delete(f"/v1/team/members/invitations/{inv['id']}").status_code == 204
    error(live.client.delete(f"/v1/team/members/invitations/{inv['id']}"), 404, "not_found")
    assert live.client.delete(f"/v1/team/members/{bob['id']}").status_code == 204
    assert [u["id"] for u in data(live.client.get("/v1/users"))["users"]] == [live.admin_id]


def test_extreme_instants_are_handled_not_500(live: Live) -> None:
    s = schedule(live)
    base = f"/v1/oncall/schedules/{s['id']}"
    for at in ("0145-03-10T01:33:49Z", "9999-12-31T23:59:00Z", "0001-01-01T00:00:00+01:00"):
        error(live.client.get(base + "/resolve", params={"at": at}), 422, "validation_error")
    assert (
        data(live.client.get(base + "/resolve", params={"at": "1900-01-01T00:00:00Z"}))["scheduleOwner"]
        is None
    )
    old = data(live.client.post(base + "/layers", json={
        "name": "Old", "rotationType": "daily", "handoffTime": "09:00",
        "effectiveFrom": "0145-03-10T01:33:49Z", "participantIds": [live.admin_id]}), 201)  # fmt: skip
    assert old["effectiveFrom"] == "0145-03-10T01:33:49.000Z"
    assert data(live.client.get("/v1/incidents", params={"to": "9999-12-31"}))["incidents"] == []
    assert data(live.client.get("/v1/incidents", params={"from": "0001-01-01"}))["incidents"] == []


# -- people and schedules that go away ---------------------------------------------------------------


def test_resolve_and_owner_schedule_never_name_a_removed_member(live: Live) -> None:
    bob = data(live.client.post("/v1/users", json={"email": "bob@example.com", "firstName": "Bob"}), 201)
    carol = data(live.client.post("/v1/users", json={"email": "carol@example.com"}), 201)
    s = schedule(live, participants=[bob["id"], live.admin_id])  # Bob's week (from 6 Apr 09:00) now
    base = f"/v1/oncall/schedules/{s['id']}"
    data(live.client.post(base + "/layers", json={
        "name": "Backup", "rotationType": "daily", "handoffTime": "09:00",
        "effectiveFrom": "2026-04-01T00:00:00Z", "participantIds": [carol["id"]]}), 201)  # fmt: skip
    pol = policy(live)
    target = {"type": "schedule", "scheduleId": s["id"]}
    data(live.client.post(f"/v1/escalation/policies/{pol['id']}/layers", json={
        "position": 1, "ackTimeoutMinutes": 5, "target": target}), 201)  # fmt: skip
    assert data(live.client.get(base + "/resolve"))["scheduleOwner"] == bob["id"]
    live.clock.advance(timedelta(minutes=1))
    assert live.client.delete(f"/v1/team/members/{bob['id']}").status_code == 204

    now = data(live.client.get(base + "/resolve"))
    assert (now["scheduleOwner"], now["pagingTargets"]) == (carol["id"], [carol["id"]])
    assert [x["userId"] for x in now["currentOncall"]] == [None, carol["id"]]
    assert bob["id"] not in json.dumps(now)
    past = data(live.client.get(base + "/resolve", params={"at": "2026-04-07T10:00:00Z"}))
    assert past["scheduleOwner"] == bob["id"]  # before the instant of removal

    body = {"title": "Checkout down", "severity": "high", "ownerScheduleId": s["id"]}
    inc = data(live.client.post("/v1/incidents", json=body), 201)
    assert (inc["ownerId"], inc["escalationPolicyId"]) == (carol["id"], pol["id"])
    got = data(live.client.get(f"/v1/incidents/{inc['id']}"))
    assert [e["data"]["userIds"] for e in got["timeline"] if e["kind"] == "layer_paged"] == [[carol["id"]]]


def test_deleting_a_schedule_a_running_escalation_needs_is_refused(live: Live) -> None:
    s = schedule(live)
    pol = policy(live)
    layers = f"/v1/escalation/policies/{pol['id']}/layers"
    users = {"type": "users", "userIds": [live.admin_id]}
    data(live.client.post(layers, json={"position": 1, "ackTimeoutMinutes": 5, "target": users}), 201)
    second = data(live.client.post(layers, json={
        "position": 2, "ackTimeoutMinutes": 5, "target": {"type": "schedule", "scheduleId": s["id"]}}), 201)  # fmt: skip
    body = {"title": "Checkout down", "severity": "high", "escalationPolicyId": pol["id"]}
    inc = data(live.client.post("/v1/incidents", json=body), 201)
    data(live.client.patch(f"{layers}/{second['id']}", json={"target": users}))  # the live policy moves on
    refused = error(live.client.delete(f"/v1/oncall/schedules/{s['id']}"), 400, "schedule_in_use")
    assert f"#{inc['sequentialId']}" in refused["message"]
    assert refused["details"]["incidents"] == [{"id": inc["id"], "sequentialId": inc["sequentialId"]}]
    assert data(live.client.get(f"/v1/oncall/schedules/{s['id']}"))["id"] == s["id"]
    for status in ("identified", "monitoring", "resolved"):
        data(live.client.patch(f"/v1/incidents/{inc['id']}/status", json={"status": status}))
    assert live.client.delete(f"/v1/oncall/schedules/{s['id']}").status_code == 204


# -- text that reaches a terminal ------------------------------------------------------------------------

CONTROL_TEXT = [
    "Disk full\x1b[2J\x1b[H",  # ESC: clear the screen of whoever lists incidents
    "bell\x07",
    "csi\x9b31m",  # C1 CSI
    "del\x7f",
    "evil\u202etxt.exe",  # right-to-left override
    "isolate\u2066x\u2069",
    "two\nlines",
    "tab\tbed",
    "carriage\rreturn",
]
INVISIBLE_NAMES = ["\u200b\u200b", "\ufeff", "\u2060 \u200d", "\u3164", " \u00a0\u3000"]


@pytest.mark.parametrize("text", CONTROL_TEXT + INVISIBLE_NAMES)
def test_names_and_titles_refuse_control_and_invisible_characters(live: Live, text: str) -> None:
    pol = policy(live)
    sched = schedule(live)
    layer = {
        "name": text,
        "rotationType": "daily",
        "handoffTime": "09:00",
        "effectiveFrom": "2026-04-06T08:00:00.000Z",
        "participantIds": [live.admin_id],
    }
    attempts = [
        (live.client.post("/v1/incidents", json={"title": text, "severity": "low"}), "title"),
        (live.client.post("/v1/escalation/policies", json={"name": text}), "name"),
        (live.client.patch(f"/v1/escalation/policies/{pol['id']}", json={"name": text}), "name"),
        (live.client.post("/v1/oncall/schedules", json={"name": text, "timezone": "UTC"}), "name"),
        (
            live.client.put(f"/v1/oncall/schedules/{sched['id']}", json={"name": text, "timezone": "UTC"}),
            "name",
        ),
        (live.client.post(f"/v1/oncall/schedules/{sched['id']}/layers", json=layer), "name"),
        (live.client.post("/v1/users", json={"email": "eve@example.com", "firstName": text}), "firstName"),
        (live.client.post("/v1/users", json={"email": "eve@example.com", "lastName": text}), "lastName"),
    ]
    for resp, field in attempts:
        assert error(resp, 422, "validation_error")["field"] == field
    # Nothing was saved half-way.
    assert data(live.client.get("/v1/incidents"))["incidents"] == []
    assert [p["name"] for p in data(live.client.get("/v1/escalation/policies"))] == ["Platform Default"]
    got = data(live.client.get(f"/v1/oncall/schedules/{sched['id']}"))
    assert got["name"] == "Primary" and [x["name"] for x in got["layers"]] == ["Week"]
    assert len(data(live.client.get("/v1/users"))["users"]) == 1


def test_free_text_keeps_line_breaks_and_tabs_but_refuses_escapes(live: Live) -> None:
    text = "first line\n\tindented\r\nthird"
    created = data(live.client.post("/v1/escalation/policies", json={"name": "P", "description": text}), 201)
    assert created["description"] == text
    inc = data(live.client.post("/v1/incidents", json={"title": "ok", "severity": "low"}), 201)
    sched = schedule(live)
    link = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
    override = {"userId": live.admin_id, "start": "2026-04-07T09:00:00Z", "end": "2026-04-07T10:00:00Z"}
    attempts = [
        (live.client.patch(f"/v1/escalation/policies/{created['id']}", json={"description": link}), "description"),
        (live.client.post("/v1/incidents", json={"title": "t", "severity": "low", "description": "a\rb"}), "description"),
        (live.client.post(f"/v1/incidents/{inc['id']}/updates", json={"body": link, "visibility": "internal"}), "body"),
        (live.client.post(f"/v1/oncall/schedules/{sched['id']}/overrides", json={**override, "note": "\u202e"}), "note"),
    ]  # fmt: skip
    for status in ("identified", "monitoring"):
        data(live.client.patch(f"/v1/incidents/{inc['id']}/status", json={"status": status}))
    resolve = {"status": "resolved", "resolutionNote": "fixed\x1b[8m"}
    attempts.append((live.client.patch(f"/v1/incidents/{inc['id']}/status", json=resolve), "resolutionNote"))
    for resp, field in attempts:
        assert error(resp, 422, "validation_error")["field"] == field
    assert data(live.client.get(f"/v1/incidents/{inc['id']}"))["status"] == "monitoring"
    assert data(live.client.get(f"/v1/escalation/policies/{created['id']}"))["description"] == text
    assert data(live.client.get(f"/v1/oncall/schedules/{sched['id']}/overrides")) == []
