"""Heartbeats over real HTTP (local extension): CRUD under /v1/heartbeats with the API's error bodies, and
the ping URL, which takes no API key (its token is the secret)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from engine.runtime import timers
from engine.service.timer_kinds import HANDLERS
from tests.api.conftest import Live
from tests.api.test_http import data, error

HB = "/v1/heartbeats"


def _policy(live: Live) -> dict[str, Any]:
    pol = data(live.client.post("/v1/escalation/policies", json={"name": "Backups"}), 201)
    data(
        live.client.post(
            f"/v1/escalation/policies/{pol['id']}/layers",
            json={
                "position": 1,
                "ackTimeoutMinutes": 5,
                "target": {"type": "users", "userIds": [live.admin_id]},
            },
        ),
        201,
    )
    return pol


def _create(live: Live, **over: Any) -> dict[str, Any]:
    body = {"name": "nightly-backup", "escalationPolicyId": _policy(live)["id"], "intervalMinutes": 60}
    body.update(over)
    return data(live.client.post(HB, json=body), 201)


def test_crud_and_the_token_shown_once(live: Live) -> None:
    hb = _create(live)
    assert hb["pingPath"] == f"/v1/integrations/inbound/heartbeats/{hb['token']}"
    assert (hb["graceMinutes"], hb["severity"], hb["status"]) == (5, "high", "waiting")
    listed = data(live.client.get(HB))
    assert set(listed) == {"heartbeats"}
    [one] = listed["heartbeats"]
    assert one["id"] == hb["id"] and hb["token"] not in str(one) and "pingPath" not in one
    got = data(live.client.get(f"{HB}/{hb['id']}"))
    assert got == one
    changed = data(live.client.patch(f"{HB}/{hb['id']}", json={"graceMinutes": 15, "severity": "critical"}))
    assert (changed["graceMinutes"], changed["severity"], changed["dueAt"]) == (
        15,
        "critical",
        "2026-04-07T11:15:00.000Z",
    )
    rotated = data(live.client.post(f"{HB}/{hb['id']}/rotate"))
    assert rotated["token"] != hb["token"] and rotated["pingPath"].endswith(rotated["token"])
    resp = live.client.delete(f"{HB}/{hb['id']}")
    assert resp.status_code == 204 and resp.content == b""
    error(live.client.get(f"{HB}/{hb['id']}"), 404, "not_found")


def test_error_bodies(live: Live) -> None:
    hb = _create(live)
    error(live.client.post(HB, json={"name": "x", "escalationPolicyId": "pol_x", "intervalMinutes": 60}), 400,
          "invalid_escalation_policy", "invalid_request_error")  # fmt: skip
    body = {"name": "nightly-backup", "escalationPolicyId": hb["escalationPolicyId"], "intervalMinutes": 60}
    error(live.client.post(HB, json=body), 409, "name_conflict")
    bad = error(
        live.client.post(HB, json={**body, "name": "n", "intervalMinutes": 0}), 422, "validation_error"
    )
    assert bad["field"] == "intervalMinutes"
    error(live.client.post(HB, json={**body, "name": "n", "colour": "red"}), 422, "validation_error")
    error(live.client.post(HB, content=b"{not json"), 422, "validation_error")
    error(live.client.patch(f"{HB}/hb_missing", json={"graceMinutes": 1}), 404, "not_found")
    error(live.as_key(None).get(HB), 401, "missing_authorization_header", "not_authorized_error")
    assert len(data(live.client.get(HB))["heartbeats"]) == 1


def test_ping_without_a_key_by_post_or_get(live: Live) -> None:
    hb = _create(live)
    anonymous = live.as_key(None)
    live.clock.advance(timedelta(minutes=30))
    first = data(anonymous.post(hb["pingPath"], content=b"anything"), 202)
    assert first == {
        "heartbeatId": hb["id"],
        "status": "up",
        "dueAt": "2026-04-07T11:35:00.000Z",
        "resolvedIncidentId": None,
    }
    data(anonymous.get(hb["pingPath"]), 202)
    got = data(live.client.get(f"{HB}/{hb['id']}"))
    assert (got["status"], got["pingCount"]) == ("up", 2)


def test_unknown_or_rotated_token_is_404_and_changes_nothing(live: Live) -> None:
    hb = _create(live)
    anonymous = live.as_key(None)
    error(anonymous.post("/v1/integrations/inbound/heartbeats/hbt_unknown"), 404, "not_found")
    data(live.client.post(f"{HB}/{hb['id']}/rotate"))
    error(anonymous.get(hb["pingPath"]), 404, "not_found")
    error(anonymous.put(hb["pingPath"]), 405, "method_not_allowed")
    assert data(live.client.get(f"{HB}/{hb['id']}"))["pingCount"] == 0


def test_a_ping_resolves_the_incident_the_engine_opened(live: Live) -> None:
    hb = _create(live)
    ctx = live.ctx()
    timers.drive(ctx.db, live.clock, live.clock.now() + timedelta(minutes=90), HANDLERS)
    [inc] = data(live.client.get("/v1/incidents"))["incidents"]
    assert inc["title"].startswith("Heartbeat nightly-backup missed")
    assert data(live.client.get(f"{HB}/{hb['id']}"))["status"] == "down"
    answer = data(httpx.post(live.url + hb["pingPath"]), 202)
    assert answer["resolvedIncidentId"] == inc["id"]
    assert data(live.client.get(f"/v1/incidents/{inc['id']}"))["status"] == "resolved"
    ctx.db.close()
