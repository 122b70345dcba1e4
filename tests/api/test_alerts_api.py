"""Alerts in over HTTP: integrations, the token receiver, bad payloads, alerts, maintenance windows."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.clock import WallClock
from engine.service import orgs, policies
from tests.alerts.helpers import am_group, payload, wait_for
from tests.api.conftest import Live, start_serve, stop_serve


@pytest.fixture
def policy_id(live: Live) -> str:
    ctx = live.ctx()
    pol = policies.create_policy(ctx, {"name": "Platform"})
    policies.add_layer(
        ctx,
        pol["id"],
        {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [live.admin_id]}},
    )
    return str(pol["id"])


def _create(live: Live, policy_id: str, kind: str = "alertmanager", **extra: Any) -> dict[str, Any]:
    r = live.client.post(
        "/v1/integrations/inbound",
        json={"name": f"{kind} prod", "kind": kind, "escalationPolicyId": policy_id, **extra},
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


def _receive(live: Live, token: str, body: Any, **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=live.url, timeout=10) as anonymous:  # the receiver takes no API key
        if isinstance(body, bytes):
            return anonymous.post(f"/v1/integrations/inbound/{token}/alerts", content=body, **kwargs)
        return anonymous.post(f"/v1/integrations/inbound/{token}/alerts", json=body, **kwargs)


def _stored(live: Live) -> tuple[int, int]:
    alerts = live.client.get("/v1/alerts").json()["data"]["alerts"]
    incidents = live.client.get("/v1/incidents").json()["data"]["incidents"]
    return len(alerts), len(incidents)


def test_receive_groups_and_resolves_over_http(live: Live, policy_id: str) -> None:
    created = _create(live, policy_id)
    assert created["token"].startswith("inb_") and created["receivePath"].endswith("/alerts")
    listed = live.client.get("/v1/integrations/inbound").json()["data"]["integrations"]
    assert [i["id"] for i in listed] == [created["id"]] and "token" not in listed[0]
    r = _receive(live, created["token"], payload("alertmanager_firing"))
    assert r.status_code == 202, r.text
    got = r.json()["data"]
    assert got["accepted"] == 2 and [a["action"] for a in got["alerts"]] == ["open", "attach"]
    incident_id = got["alerts"][0]["incidentId"]
    summary = live.client.get(f"/v1/incidents/{incident_id}/alerts").json()["data"]
    assert (summary["count"], summary["firing"], summary["integrationName"]) == (2, 2, "alertmanager prod")
    assert summary["labels"]["service"] == "checkout"
    detail = live.client.get(f"/v1/incidents/{incident_id}").json()["data"]
    assert detail["severity"] == "medium" and any(e["kind"] == "layer_paged" for e in detail["timeline"])
    resolved = payload("alertmanager_firing")
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
    assert _receive(live, created["token"], resolved).status_code == 202
    assert live.client.get(f"/v1/incidents/{incident_id}").json()["data"]["status"] == "resolved"
    one = live.client.get(f"/v1/alerts/{got['alerts'][0]['alertId']}").json()["data"]
    assert json.loads(one["raw"])["fingerprint"] == "5c1f3e9a0b7d2e41"


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"{not json", {"content-type": "application/json"}, "not valid JSON"),
        (b"", {}, "not a alertmanager payload"),
        ({"alerts": [{"status": "firing"}, {"status": "nope"}]}, {}, "alerts[1].status"),
        ({"action": "trigger", "summary": "an events payload"}, {}, "non-empty alerts array"),
        (b'{"alerts": "' + b"x" * 2_000_000 + b'"}', {"content-type": "application/json"}, "larger than"),
    ],
    ids=["not-json", "empty", "wrong-alert", "wrong-kind", "2MB"],
)
def test_bad_payloads_are_422_and_store_nothing(
    live: Live, policy_id: str, body: Any, headers: dict[str, str], message: str
) -> None:
    token = _create(live, policy_id)["token"]
    r = _receive(live, token, body, headers=headers)
    assert r.status_code == 422, r.text
    err = r.json()
    assert (err["statusCode"], err["type"], err["code"]) == (422, "validation_error", "validation_error")
    assert message in err["message"] and err["requestId"] == r.headers["x-request-id"]
    assert _stored(live) == (0, 0)


def test_unknown_revoked_and_rotated_tokens_are_404(live: Live, policy_id: str) -> None:
    created = _create(live, policy_id)
    for token in ("inb_nope", "x" * 300):
        r = _receive(live, token, b"{not json")  # the token is checked before the body
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        assert "inb_nope" not in r.text
    rotated = live.client.post(f"/v1/integrations/inbound/{created['id']}/rotate").json()["data"]
    assert _receive(live, created["token"], am_group("firing", "a")).status_code == 404
    assert _receive(live, rotated["token"], am_group("firing", "a")).status_code == 202
    assert live.client.delete(f"/v1/integrations/inbound/{created['id']}").status_code == 204
    assert _receive(live, rotated["token"], am_group("firing", "b")).status_code == 404
    assert _stored(live) == (1, 1)


def test_integration_writes_need_an_admin_key(live: Live, policy_id: str) -> None:
    ctx = live.ctx()
    member = orgs.add_user(ctx, email="m@example.com", first_name="Mo")
    key, _ = orgs.create_key(ctx.as_user(member["id"], is_admin=False))
    with live.as_key(key) as client:
        r = client.post("/v1/integrations/inbound", json={"name": "x", "kind": "events"})
        assert r.status_code == 401 and r.json()["code"] == "not_authorized"
        assert client.get("/v1/integrations/inbound").status_code == 200


def test_selectors_replace_and_validation_errors(live: Live, policy_id: str) -> None:
    created = _create(live, policy_id, kind="events")
    r = live.client.put(
        f"/v1/integrations/inbound/{created['id']}/selectors",
        json={
            "selectors": [{"matchers": [{"key": "component", "value": "postgres"}], "severity": "critical"}]
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["selectors"][0]["matchers"] == [{"key": "component", "value": "postgres"}]
    got = _receive(live, created["token"], payload("events_trigger")).json()["data"]
    incident = live.client.get(f"/v1/incidents/{got['alerts'][0]['incidentId']}").json()["data"]
    assert (
        incident["severity"] == "medium"
    )  # the label's own severity (warning) wins over the selector's default
    bad = live.client.put(f"/v1/integrations/inbound/{created['id']}/selectors", json={"selectors": [{}]})
    assert bad.status_code == 422 and bad.json()["field"] == "selectors[0].matchers"
    dup = live.client.post("/v1/integrations/inbound", json={"name": "events prod", "kind": "events"})
    assert dup.status_code == 409 and dup.json()["code"] == "name_conflict"
    missing = live.client.get("/v1/integrations/inbound/int_nope")
    assert missing.status_code == 404


def test_maintenance_windows_over_http(live: Live, policy_id: str) -> None:
    created = _create(live, policy_id)
    r = live.client.post(
        "/v1/maintenance-windows", json={"scope": "org", "durationMinutes": 30, "reason": "upgrade"}
    )
    assert r.status_code == 201, r.text
    window = r.json()["data"]
    assert window["state"] == "active" and window["mode"] == "hold"
    got = _receive(live, created["token"], am_group("firing", "a")).json()["data"]
    incident = live.client.get(f"/v1/incidents/{got['alerts'][0]['incidentId']}").json()["data"]
    assert not any(e["kind"] == "layer_paged" for e in incident["timeline"])
    listed = live.client.get("/v1/maintenance-windows").json()["data"]["maintenanceWindows"]
    assert [w["id"] for w in listed] == [window["id"]]
    ended = live.client.post(f"/v1/maintenance-windows/{window['id']}/end").json()["data"]
    assert ended["state"] == "ended"
    incident = live.client.get(f"/v1/incidents/{incident['id']}").json()["data"]
    assert any(e["kind"] == "layer_paged" for e in incident["timeline"])
    bad = live.client.post("/v1/maintenance-windows", json={"scope": "component", "durationMinutes": 5})
    assert bad.status_code == 422 and bad.json()["field"] == "component"


def test_a_window_end_and_a_flap_window_fire_as_engine_timers_in_oncall_serve(tmp_path: Path) -> None:
    """The engine of a real ``oncall serve`` ends a hold window (pages the held incident) and resolves an
    incident once its flap window passed quietly, with no request to prompt it."""
    server = start_serve(tmp_path / "timers.db")
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=10)
    try:
        pol = api.post("/v1/escalation/policies", json={"name": "P"}).json()["data"]
        layer = {
            "position": 1,
            "ackTimeoutMinutes": 5,
            "target": {"type": "users", "userIds": [server.admin_id]},
        }
        api.post(f"/v1/escalation/policies/{pol['id']}/layers", json=layer)
        body = {"name": "ev", "kind": "events", "escalationPolicyId": pol["id"], "flapWindowSeconds": 1}
        token = api.post("/v1/integrations/inbound", json=body).json()["data"]["token"]
        ends = (WallClock().now() + timedelta(seconds=2)).isoformat()
        assert api.post("/v1/maintenance-windows", json={"scope": "org", "endsAt": ends}).status_code == 201
        with httpx.Client(base_url=server.url, timeout=10) as anonymous:
            sent = anonymous.post(
                f"/v1/integrations/inbound/{token}/alerts",
                json={"action": "trigger", "dedupKey": "k", "summary": "s"},
            )
            incident_id = sent.json()["data"]["alerts"][0]["incidentId"]

            def kinds() -> list[str]:
                return [e["kind"] for e in api.get(f"/v1/incidents/{incident_id}").json()["data"]["timeline"]]

            assert "paging_held" in kinds() and "layer_paged" not in kinds()
            wait_for(lambda: "layer_paged" in kinds(), what="the window's end to page")
            anonymous.post(
                f"/v1/integrations/inbound/{token}/alerts", json={"action": "resolve", "dedupKey": "k"}
            )
            assert api.get(f"/v1/incidents/{incident_id}").json()["data"]["status"] != "resolved"
            wait_for(
                lambda: api.get(f"/v1/incidents/{incident_id}").json()["data"]["status"] == "resolved",
                what="the flap window to pass",
            )
    finally:
        api.close()
        stop_serve(server)


def test_alert_answers_are_their_response_models_byte_for_byte(live: Live, policy_id: str) -> None:
    """As tests/api/test_openapi.py does for the rest: each answer, read strictly into its operation's
    response model and encoded again, gives back the very bytes the server sent."""
    import msgspec

    from tests.api.test_openapi import _operation_for

    def call(method: str, path: str, body: Any = None, client: httpx.Client | None = None) -> Any:
        resp = (client or live.client).request(method, path, json=body)
        operation = _operation_for(method, path)
        assert resp.status_code == operation.status, resp.text
        model = msgspec.convert(resp.json()["data"], operation.response)
        assert resp.content == msgspec.json.encode({"data": model}), operation.operation_id
        return resp.json()["data"]

    selectors = [{"matchers": [{"key": "team", "value": "db"}], "severity": "low"}]
    made = call(
        "POST", "/v1/integrations/inbound", {"name": "am", "kind": "alertmanager", "selectors": selectors}
    )
    one = f"/v1/integrations/inbound/{made['id']}"
    call("GET", "/v1/integrations/inbound")
    call("PATCH", one, {"escalationPolicyId": policy_id, "severityMap": {"warning": "high"}})
    call("PUT", one + "/selectors", {"selectors": selectors})
    token = call("POST", one + "/rotate")["token"]
    with httpx.Client(base_url=live.url, timeout=10) as anonymous:
        got = call(
            "POST", f"/v1/integrations/inbound/{token}/alerts", payload("alertmanager_firing"), anonymous
        )
    incident_id = got["alerts"][0]["incidentId"]
    call("GET", f"/v1/incidents/{incident_id}/alerts")
    call("GET", "/v1/alerts")
    call("GET", f"/v1/alerts/{got['alerts'][0]['alertId']}")
    window = call("POST", "/v1/maintenance-windows", {"scope": "org", "durationMinutes": 5})
    call("GET", "/v1/maintenance-windows")
    call("POST", f"/v1/maintenance-windows/{window['id']}/end")
    other = live.client.post("/v1/incidents", json={"title": "by hand", "severity": "low"}).json()["data"]
    assert live.client.get(f"/v1/incidents/{other['id']}/alerts").content == b'{"data":null}'
