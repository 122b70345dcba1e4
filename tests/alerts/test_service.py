"""The alert use cases on a real database: integrations, grouping, resolving, routing, maintenance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.errors import NameConflict, NotFound, ValidationError
from engine.runtime import timers as engine_timers
from engine.service import Ctx, alerts, incidents, integrations, maintenance, orgs, policies
from engine.service.timer_kinds import HANDLERS
from storage.db import Database
from tests.alerts.helpers import am_group, payload


@pytest.fixture
def pol(ctx: Ctx) -> dict[str, Any]:
    bob = orgs.add_user(ctx, email="bob@example.com", first_name="Bob")
    p = policies.create_policy(ctx, {"name": "Platform"})
    policies.add_layer(
        ctx,
        p["id"],
        {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [bob["id"]]}},
    )
    return p


def _integration(ctx: Ctx, pol: dict[str, Any], kind: str = "alertmanager", **extra: Any) -> dict[str, Any]:
    return integrations.create_integration(
        ctx,
        {
            "name": f"{kind}-{len(integrations.list_integrations(ctx))}",
            "kind": kind,
            "escalationPolicyId": pol["id"],
            **extra,
        },
    )


def _send(ctx: Ctx, token: str, body: Any) -> dict[str, Any]:
    return alerts.receive(ctx.db, ctx.clock, token, body)


def _kinds(ctx: Ctx, incident_id: str) -> list[str]:
    return [e["kind"] for e in incidents.get_incident(ctx, incident_id)["timeline"]]


def _open_incidents(ctx: Ctx) -> list[dict[str, Any]]:
    return incidents.list_incidents(ctx, open_only=True, limit=100)["incidents"]


def test_token_is_shown_once_stored_hashed_rotatable_and_revocable(ctx: Ctx, pol, db: Database) -> None:
    created = _integration(ctx, pol)
    token = created["token"]
    assert created["receivePath"] == f"/v1/integrations/inbound/{token}/alerts"
    assert "token" not in integrations.get_integration(ctx, created["id"])
    stored = db.all("SELECT token_hash FROM integrations")
    assert [r["token_hash"] for r in stored] == [integrations.hash_token(token)]
    row = db.one("SELECT * FROM integrations")
    assert row is not None and all(token not in str(value) for value in tuple(row))
    rotated = integrations.rotate_token(ctx, created["name"])
    with pytest.raises(NotFound):
        _send(ctx, token, am_group("firing", "a"))
    assert _send(ctx, rotated["token"], am_group("firing", "a"))["accepted"] == 1
    integrations.delete_integration(ctx, created["id"])
    with pytest.raises(NotFound):
        _send(ctx, rotated["token"], am_group("firing", "a"))
    assert integrations.list_integrations(ctx) == []


def test_create_refuses_bad_bodies_unknown_policies_and_duplicate_names(ctx: Ctx, pol) -> None:
    _integration(ctx, pol)
    with pytest.raises(NameConflict):
        integrations.create_integration(ctx, {"name": "alertmanager-0", "kind": "alertmanager"})
    with pytest.raises(ValidationError, match="kind"):
        integrations.create_integration(ctx, {"name": "x", "kind": "nagios"})
    with pytest.raises(NotFound):
        integrations.create_integration(
            ctx, {"name": "x", "kind": "events", "escalationPolicyId": "pol_nope"}
        )
    with pytest.raises(ValidationError, match="selectors\\[0\\].matchers"):
        integrations.create_integration(ctx, {"name": "x", "kind": "events", "selectors": [{"matchers": []}]})
    with pytest.raises(ValidationError, match="severityMap.warn"):
        integrations.create_integration(
            ctx, {"name": "x", "kind": "events", "severityMap": {"warn": "urgent"}}
        )
    with pytest.raises(ValidationError, match="autoResolve must be a boolean"):
        integrations.create_integration(ctx, {"name": "x", "kind": "events", "autoResolve": "yes"})


def test_a_group_opens_one_incident_that_pages_grows_and_resolves(ctx: Ctx, pol) -> None:
    token = _integration(ctx, pol)["token"]
    first = _send(ctx, token, am_group("firing", "a"))
    (incident_id,) = {a["incidentId"] for a in first["alerts"]}
    assert [a["action"] for a in first["alerts"]] == ["open"]
    assert "layer_paged" in _kinds(ctx, incident_id)
    ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    again = _send(ctx, token, am_group("firing", "a", "b"))
    assert [a["action"] for a in again["alerts"]] == ["repeat", "attach"]
    assert {a["incidentId"] for a in again["alerts"]} == {incident_id}
    assert len(_open_incidents(ctx)) == 1
    summary = alerts.incident_alerts(ctx, incident_id)
    assert summary is not None
    assert (summary["count"], summary["firing"]) == (3, 2)
    assert summary["firstSeen"] < summary["lastSeen"]
    assert summary["labels"] == {"alertname": "Down", "severity": "critical"}
    assert summary["links"] == [{"href": "http://prom:9090/graph", "text": "source"}]
    assert {a["dedupKey"]: a["count"] for a in summary["alerts"]} == {"a": 2, "b": 1}
    assert alerts.alert_counts(ctx, [incident_id, "inc_other"]) == {incident_id: 3}
    _send(ctx, token, am_group("resolved", "a"))
    assert incidents.get_incident(ctx, incident_id)["status"] == "investigating"  # b still fires
    _send(ctx, token, am_group("resolved", "b"))
    done = incidents.get_incident(ctx, incident_id)
    assert done["status"] == "resolved"
    note = done["statusHistory"][-1]["resolutionNote"]
    assert "every alert of this incident cleared" in note and "3 received" in note
    assert done["escalation"]["state"] != "active"
    # The same group firing after resolution is a new incident.
    new = _send(ctx, token, am_group("firing", "a"))["alerts"][0]
    assert new["action"] == "open" and new["incidentId"] != incident_id


def test_auto_resolve_off_keeps_the_incident_open(ctx: Ctx, pol) -> None:
    token = _integration(ctx, pol, autoResolve=False)["token"]
    iid = _send(ctx, token, am_group("firing", "a"))["alerts"][0]["incidentId"]
    _send(ctx, token, am_group("resolved", "a"))
    assert incidents.get_incident(ctx, iid)["status"] == "investigating"
    again = _send(ctx, token, am_group("firing", "a"))["alerts"][0]
    assert (again["action"], again["incidentId"]) == ("refire", iid)


def test_flapping_within_the_window_keeps_one_incident(ctx: Ctx, pol, db: Database) -> None:
    clock: VirtualClock = ctx.clock  # type: ignore[assignment]
    token = _integration(ctx, pol, flapWindowSeconds=300)["token"]
    iid = _send(ctx, token, am_group("firing", "a"))["alerts"][0]["incidentId"]
    for _ in range(5):  # resolve then fire again, each within the flap window
        _send(ctx, token, am_group("resolved", "a"))
        clock.advance(timedelta(seconds=60))
        engine_timers.fire_due(db, clock.now(), HANDLERS)
        assert _send(ctx, token, am_group("firing", "a"))["alerts"][0]["action"] == "refire"
    assert len(_open_incidents(ctx)) == 1
    assert _kinds(ctx, iid).count("alert_refired") == 5
    assert _kinds(ctx, iid).count("layer_paged") == 1  # a flap never pages again
    _send(ctx, token, am_group("resolved", "a"))
    clock.advance(timedelta(seconds=299))
    engine_timers.fire_due(db, clock.now(), HANDLERS)
    assert incidents.get_incident(ctx, iid)["status"] == "investigating"
    clock.advance(timedelta(seconds=1))
    assert engine_timers.fire_due(db, clock.now(), HANDLERS) == 1
    assert incidents.get_incident(ctx, iid)["status"] == "resolved"


def test_selectors_route_policy_component_and_severity(ctx: Ctx, pol) -> None:
    other = policies.create_policy(ctx, {"name": "Payments"})
    token = _integration(
        ctx,
        pol,
        kind="grafana",
        selectors=[
            {
                "matchers": [{"key": "TEAM", "value": "Payments"}],
                "escalationPolicyId": other["id"],
                "component": "checkout",
            }
        ],
        severityMap={"critical": "high"},
    )["token"]
    got = _send(ctx, token, payload("grafana_firing"))
    assert [a["action"] for a in got["alerts"]] == ["open", "attach"]
    inc = incidents.get_incident(ctx, got["alerts"][0]["incidentId"])
    assert inc["escalationPolicyId"] == other["id"]
    assert inc["severity"] == "high"
    assert inc["title"] == "CPU above 95% on web-1"
    _send(ctx, token, payload("grafana_resolved"))
    assert incidents.get_incident(ctx, inc["id"])["status"] == "resolved"


def test_events_trigger_acknowledge_resolve(ctx: Ctx, pol) -> None:
    token = _integration(ctx, pol, kind="events")["token"]
    iid = _send(ctx, token, payload("events_trigger"))["alerts"][0]["incidentId"]
    inc = incidents.get_incident(ctx, iid)
    assert inc["severity"] == "medium"  # warning
    _send(ctx, token, {"event_action": "acknowledge", "dedup_key": "disk-full/db-3"})
    assert incidents.get_incident(ctx, iid)["acknowledgedAt"] is not None
    summary = alerts.incident_alerts(ctx, iid)
    assert summary is not None and summary["alerts"][0]["status"] == "acknowledged" and summary["firing"] == 1
    assert _send(ctx, token, payload("events_trigger"))["alerts"][0]["action"] == "repeat"
    unknown = _send(ctx, token, {"action": "resolve", "dedupKey": "never-seen"})
    assert unknown["alerts"] == [{"alertId": None, "incidentId": None, "action": "ignore"}]
    _send(ctx, token, {"action": "resolve", "dedupKey": "disk-full/db-3"})
    assert incidents.get_incident(ctx, iid)["status"] == "resolved"


def test_bad_payload_stores_nothing(ctx: Ctx, pol, db: Database) -> None:
    token = _integration(ctx, pol)["token"]
    body = am_group("firing", "a", "b")
    body["alerts"][1]["status"] = "exploded"  # the second alert is bad: the first is not stored either
    with pytest.raises(ValidationError, match=r"alerts\[1\].status"):
        _send(ctx, token, body)
    assert db.scalar("SELECT count(*) FROM alerts") == 0
    assert db.scalar("SELECT count(*) FROM incidents") == 0


def test_large_raw_payload_is_cut(ctx: Ctx, pol) -> None:
    token = _integration(ctx, pol)["token"]
    body = am_group("firing", "a")
    body["alerts"][0]["annotations"]["big"] = "x" * 50_000
    alert_id = _send(ctx, token, body)["alerts"][0]["alertId"]
    got = alerts.get_alert(ctx, alert_id)
    assert got["rawTruncated"] is True and len(got["raw"].encode()) <= 16_384


def test_hold_window_records_without_paging_and_pages_when_it_ends(ctx: Ctx, pol, db: Database) -> None:
    clock: VirtualClock = ctx.clock  # type: ignore[assignment]
    created = _integration(ctx, pol)
    window = maintenance.start_window(
        ctx, {"scope": "integration", "integrationId": created["name"], "durationMinutes": 30}
    )
    assert window["state"] == "active" and window["integrationId"] == created["id"]
    held = _send(ctx, created["token"], am_group("firing", "a"))["alerts"][0]["incidentId"]
    cleared = _send(ctx, created["token"], am_group("firing", "c", group="g2"))["alerts"][0]["incidentId"]
    assert "layer_paged" not in _kinds(ctx, held)
    assert "paging_held" in _kinds(ctx, held)
    assert alerts.incident_alerts(ctx, held)["heldBy"] == window["id"]  # type: ignore[index]
    assert [w["id"] for w in maintenance.active_windows(ctx)] == [window["id"]]
    cfg = integrations.update_integration(ctx, created["id"], {"autoResolve": False})
    assert cfg["autoResolve"] is False
    _send(ctx, created["token"], am_group("resolved", "c", group="g2"))  # cleared during the window
    clock.advance(timedelta(minutes=30))
    assert engine_timers.fire_due(db, clock.now(), HANDLERS) == 1
    assert "layer_paged" in _kinds(ctx, held)
    assert "layer_paged" not in _kinds(ctx, cleared)
    assert maintenance.list_windows(ctx) == []
    assert maintenance.list_windows(ctx, include_ended=True)[0]["state"] == "ended"


def test_drop_window_records_alerts_without_incidents_and_ending_early_releases(
    ctx: Ctx, pol, db: Database
) -> None:
    token = _integration(ctx, pol)["token"]
    drop = maintenance.start_window(ctx, {"scope": "org", "mode": "drop", "durationMinutes": 60})
    got = _send(ctx, token, am_group("firing", "a"))["alerts"][0]
    assert got["action"] == "dropped" and got["incidentId"] is None
    assert alerts.get_alert(ctx, got["alertId"])["droppedBy"] == drop["id"]
    maintenance.end_window(ctx, drop["id"])
    assert db.scalar("SELECT count(*) FROM timers") == 0
    hold = maintenance.start_window(ctx, {"scope": "org", "durationMinutes": 60})
    iid = _send(ctx, token, am_group("firing", "a"))["alerts"][0]["incidentId"]
    assert "layer_paged" not in _kinds(ctx, iid)
    ended = maintenance.end_window(ctx, hold["id"])
    assert ended["state"] == "ended" and ended["endedEarly"] is True
    assert "layer_paged" in _kinds(ctx, iid)


def test_window_bodies_are_checked(ctx: Ctx, pol) -> None:
    with pytest.raises(ValidationError, match="integrationId is required"):
        maintenance.start_window(ctx, {"scope": "integration", "durationMinutes": 5})
    with pytest.raises(ValidationError, match="either endsAt or durationMinutes"):
        maintenance.start_window(ctx, {"scope": "org"})
    with pytest.raises(ValidationError, match="endsAt must be after"):
        maintenance.start_window(ctx, {"scope": "org", "endsAt": "2020-01-01T00:00:00Z"})
    with pytest.raises(NotFound):
        maintenance.start_window(
            ctx, {"scope": "integration", "integrationId": "int_nope", "durationMinutes": 5}
        )
    with pytest.raises(NotFound):
        maintenance.end_window(ctx, "mw_nope")


def test_a_selector_inherits_the_routing_fields_it_leaves_out(ctx: Ctx, pol) -> None:
    token = _integration(
        ctx,
        pol,
        kind="events",
        component="db",
        selectors=[
            {"matchers": [{"key": "class", "value": "disk"}], "severity": "critical"},
            {"matchers": [{"key": "class", "value": "noise"}], "escalationPolicyId": None},
        ],
    )["token"]
    wire = integrations.list_integrations(ctx)[0]["selectors"]
    assert wire[0] == {"matchers": [{"key": "class", "value": "disk"}], "severity": "critical"}
    assert wire[1]["escalationPolicyId"] is None
    disk = _send(ctx, token, {"action": "trigger", "dedupKey": "d", "summary": "disk", "class": "DISK"})
    inc = incidents.get_incident(ctx, disk["alerts"][0]["incidentId"])
    assert (inc["escalationPolicyId"], inc["severity"]) == (pol["id"], "critical")
    noise = _send(ctx, token, {"action": "trigger", "dedupKey": "n", "summary": "noise", "class": "noise"})
    inc = incidents.get_incident(ctx, noise["alerts"][0]["incidentId"])
    assert inc["escalationPolicyId"] is None and "layer_paged" not in _kinds(ctx, inc["id"])
