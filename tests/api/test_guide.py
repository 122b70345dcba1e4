"""The "Configure an escalation policy" guide, step by step, over real HTTP against `oncall serve`.

The request bodies are the guide's own; the key is the one `oncall init` printed. Responses must have
the guide's shapes (our local additions, such as ``repeat`` on a policy, come on top of them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ServeProcess, start_serve, stop_serve

POLICY_KEYS = {"id", "orgId", "name", "description", "createdBy", "createdAt", "updatedAt"}
LAYER_KEYS = {"id", "policyId", "orgId", "position", "ackTimeoutMinutes", "target", "createdAt", "updatedAt"}
INCIDENT_KEYS = {
    "id", "orgId", "title", "description", "severity", "status", "ownerId", "escalationPolicyId",
    "createdBy", "createdAt", "updatedAt",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    proc = start_serve(tmp_path_factory.mktemp("guide") / "guide.db")
    try:
        yield proc
    finally:
        stop_serve(proc)


def call(client: httpx.Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    # The guide's curl: -H "Authorization: Bearer …" -H "Content-Type: application/json" -d '…'
    resp = client.request(method, path, json=body) if body is not None else client.request(method, path)
    assert resp.status_code == status, resp.text
    return resp.json()["data"] if resp.content else None


def test_banner_names_url_database_and_engine(server: ServeProcess) -> None:
    assert server.banner[0].startswith("oncall API on http://127.0.0.1:")
    assert server.banner[1].startswith("database: ") and server.banner[1].endswith("guide.db")
    assert server.banner[2] == "engine: embedded"


def test_configure_an_escalation_policy(server: ServeProcess) -> None:
    client = httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
        timeout=10,
    )
    # Prerequisites: people and two on-call schedules.
    bob = call(client, "POST", "/v1/users", {"email": "bob@example.com", "firstName": "Bob"}, 201)
    rotation = {"rotationType": "weekly", "handoffTime": "09:00", "effectiveFrom": "2026-01-05T09:00:00Z"}
    primary = call(client, "POST", "/v1/oncall/schedules", {"name": "Primary", "timezone": "UTC"}, 201)
    secondary = call(client, "POST", "/v1/oncall/schedules", {"name": "Secondary", "timezone": "UTC"}, 201)
    call(client, "POST", f"/v1/oncall/schedules/{primary['id']}/layers",
         {"name": "Week", **rotation, "participantIds": [server.admin_id]}, 201)  # fmt: skip
    call(client, "POST", f"/v1/oncall/schedules/{secondary['id']}/layers",
         {"name": "Week", **rotation, "participantIds": [bob["id"]]}, 201)  # fmt: skip

    # Step 1: create the policy.
    policy = call(client, "POST", "/v1/escalation/policies",
                  {"name": "Platform Default", "description": "Default escalation for platform incidents"}, 201)  # fmt: skip
    assert POLICY_KEYS <= set(policy)
    assert policy["name"] == "Platform Default"
    assert policy["description"] == "Default escalation for platform incidents"
    assert policy["createdBy"] == server.admin_id and policy["createdAt"] == policy["updatedAt"]
    assert call(client, "GET", f"/v1/escalation/policies/{policy['id']}")["layers"] == []
    layers = f"/v1/escalation/policies/{policy['id']}/layers"

    # Step 2: layer 1 (primary, 5 min), layer 2 (secondary, 10 min), and a users layer.
    l1 = call(client, "POST", layers, {"position": 1, "ackTimeoutMinutes": 5,
                                       "target": {"type": "schedule", "scheduleId": primary["id"]}}, 201)  # fmt: skip
    assert set(l1) == LAYER_KEYS
    assert (l1["policyId"], l1["orgId"], l1["position"], l1["ackTimeoutMinutes"]) == (
        policy["id"], policy["orgId"], 1, 5,
    )  # fmt: skip
    assert l1["target"] == {"type": "schedule", "scheduleId": primary["id"]}
    l2 = call(client, "POST", layers, {"position": 2, "ackTimeoutMinutes": 10,
                                       "target": {"type": "schedule", "scheduleId": secondary["id"]}}, 201)  # fmt: skip
    assert (l2["position"], l2["ackTimeoutMinutes"]) == (2, 10)
    l3 = call(client, "POST", layers, {"position": 3, "ackTimeoutMinutes": 15,
                                       "target": {"type": "users", "userIds": [server.admin_id]}}, 201)  # fmt: skip
    assert l3["target"] == {"type": "users", "userIds": [server.admin_id]}

    # Step 3: attach the policy to an incident; layer 1 is paged at once.
    incident = call(client, "POST", "/v1/incidents", {
        "title": "Payment service degraded",
        "severity": "critical",
        "description": "Checkout success rate dropped to 60% in the last 10 minutes",
        "escalationPolicyId": policy["id"],
    }, 201)  # fmt: skip
    assert INCIDENT_KEYS <= set(incident)
    assert incident["status"] == "investigating" and incident["ownerId"] is None
    assert incident["escalationPolicyId"] == policy["id"] and incident["severity"] == "critical"
    assert incident["description"] == "Checkout success rate dropped to 60% in the last 10 minutes"
    detail = call(client, "GET", f"/v1/incidents/{incident['id']}")
    paged = [e for e in detail["timeline"] if e["kind"] == "layer_paged"]
    assert len(paged) == 1 and paged[0]["data"]["position"] == 1
    assert paged[0]["data"]["userIds"] == [server.admin_id]  # the primary schedule's on-call

    # Step 4: reorder with the full set; positions follow the array; every updatedAt moves.
    order = [l2["id"], l1["id"], l3["id"]]
    reordered = call(client, "PUT", f"{layers}/order", {"layerIds": order})
    assert isinstance(reordered, list)
    assert [(x["id"], x["position"]) for x in reordered] == [(l2["id"], 1), (l1["id"], 2), (l3["id"], 3)]
    assert reordered[0]["ackTimeoutMinutes"] == 10 and reordered[1]["ackTimeoutMinutes"] == 5
    assert all(set(x) == LAYER_KEYS for x in reordered)
    before = {x["id"]: x["updatedAt"] for x in (l1, l2, l3)}
    assert all(x["updatedAt"] > before[x["id"]] for x in reordered)

    # ... and a layerIds array that is not the full set is rejected, changing nothing.
    resp = client.put(f"{layers}/order", json={"layerIds": [l1["id"], l2["id"]]})
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "invalid_layer_order" and body["type"] == "invalid_request_error"
    assert body["requestId"] == resp.headers["x-request-id"]
    now = call(client, "GET", f"/v1/escalation/policies/{policy['id']}")["layers"]
    assert [x["id"] for x in now] == order


def test_second_server_attaches_as_standby(server: ServeProcess, tmp_path: Path) -> None:
    db = Path(server.banner[1].removeprefix("database: "))
    other = start_serve(db, init=False)
    try:
        assert other.banner[2] == "engine: standby"
        # Both serve the same data.
        client = httpx.Client(base_url=other.url, headers={"Authorization": f"Bearer {server.key}"})
        assert client.get("/v1/escalation/policies").status_code == 200
    finally:
        stop_serve(other)


GUIDE_CURL_POLICY = """curl -X POST https://api.scaling.cloud/v1/escalation/policies \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "name": "Platform Default (curl)",
    "description": "Default escalation for platform incidents"
  }'"""

GUIDE_CURL_INCIDENT = """curl -X POST https://api.scaling.cloud/v1/incidents \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "title": "Payment service degraded",
    "severity": "critical",
    "description": "Checkout success rate dropped to 60% in the last 10 minutes",
    "escalationPolicyId": "POLICY_ID"
  }'"""


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_guides_curl_commands_work_with_the_url_and_key_swapped(server: ServeProcess) -> None:
    def run(command: str, **subst: str) -> dict[str, Any]:
        command = command.replace("https://api.scaling.cloud", server.url).replace("YOUR_API_KEY", server.key)
        for name, value in subst.items():
            command = command.replace(name, value)
        out = subprocess.run(["sh", "-c", command + " -s -w '\\n%{http_code}'"], capture_output=True, text=True,
                             timeout=30, check=True)  # fmt: skip
        body, status = out.stdout.rsplit("\n", 1)
        return {"status": int(status), **json.loads(body)}

    policy = run(GUIDE_CURL_POLICY)
    assert policy["status"] == 201 and POLICY_KEYS <= set(policy["data"])
    incident = run(GUIDE_CURL_INCIDENT, POLICY_ID=policy["data"]["id"])
    assert incident["status"] == 201
    assert (
        incident["data"]["ownerId"] is None and incident["data"]["escalationPolicyId"] == policy["data"]["id"]
    )
