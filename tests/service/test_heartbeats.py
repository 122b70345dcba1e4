"""Heartbeat monitors through the use cases, fired by the engine's real timer code on a virtual clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.errors import DomainError, NameConflict, NotFound, ValidationError
from engine.runtime import timers
from engine.service import Ctx, heartbeats, incidents, orgs, policies
from engine.service.timer_kinds import HANDLERS


@pytest.fixture
def policy(ctx: Ctx) -> dict[str, Any]:
    bob = orgs.add_user(ctx, email="bob@example.com", first_name="Bob")
    pol = policies.create_policy(ctx, {"name": "Backups"})
    policies.add_layer(
        ctx,
        pol["id"],
        {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [bob["id"]]}},
    )
    return pol


def _create(ctx: Ctx, policy: dict[str, Any], **over: Any) -> dict[str, Any]:
    body = {
        "name": "nightly-backup",
        "escalationPolicyId": policy["id"],
        "intervalMinutes": 60,
        "graceMinutes": 10,
    }
    body.update(over)
    return heartbeats.create_heartbeat(ctx, body)


def _drive(ctx: Ctx, clock: VirtualClock, minutes: float) -> int:
    """Run the real engine (escalation steps and timers) on the virtual clock for ``minutes``."""
    return timers.drive(ctx.db, clock, clock.now() + timedelta(minutes=minutes), HANDLERS)


def _open_incidents(ctx: Ctx) -> list[dict[str, Any]]:
    return incidents.list_incidents(ctx, open_only=True)["incidents"]


def test_create_shows_the_token_once_and_stores_only_its_hash(ctx: Ctx, policy) -> None:
    hb = _create(ctx, policy)
    assert hb["token"].startswith("hbt_") and len(hb["token"]) > 30
    assert hb["pingPath"] == f"/v1/integrations/inbound/heartbeats/{hb['token']}"
    assert hb["status"] == "waiting"
    assert hb["dueAt"] == "2026-04-07T11:10:00.000Z"  # created at T0 + 60 + 10 min
    listed = heartbeats.list_heartbeats(ctx)
    assert [h["name"] for h in listed] == ["nightly-backup"]
    assert listed[0]["token"] == "hbt_…" + hb["token"][-4:]
    assert "pingPath" not in listed[0]
    stored = ctx.db.one("SELECT token_hash FROM heartbeats")
    assert stored is not None and hb["token"] not in stored["token_hash"]


def test_a_missed_interval_opens_one_incident_that_pages_layer_1(
    ctx: Ctx, clock: VirtualClock, policy
) -> None:
    hb = _create(ctx, policy)
    _drive(ctx, clock, 69)
    assert _open_incidents(ctx) == []
    _drive(ctx, clock, 2)  # 71 min after creation: past the interval and the grace
    [inc] = _open_incidents(ctx)
    assert inc["title"] == "Heartbeat nightly-backup missed: no ping for 70 min, 10 min late"
    assert inc["escalationPolicyId"] == policy["id"]
    assert inc["severity"] == "high"
    kinds = [e["kind"] for e in incidents.get_incident(ctx, inc["id"])["timeline"]]
    assert "layer_paged" in kinds
    got = heartbeats.get_heartbeat(ctx, hb["id"])
    assert got["status"] == "down" and got["incidentId"] == inc["id"] and got["dueAt"] is None
    _drive(ctx, clock, 24 * 60)  # a day more of silence: still the one incident
    assert len(incidents.list_incidents(ctx, open_only=True)["incidents"]) == 1
    assert ctx.db.scalar("SELECT count(*) FROM incidents") == 1


def test_the_next_ping_resolves_it_with_a_note_and_rearms(ctx: Ctx, clock: VirtualClock, policy) -> None:
    hb = _create(ctx, policy)
    _drive(ctx, clock, 80)
    [inc] = _open_incidents(ctx)
    answer = heartbeats.ping_by_token(ctx.db, hb["token"], clock)
    assert answer["resolvedIncidentId"] == inc["id"]
    assert answer["dueAt"] == "2026-04-07T12:30:00.000Z"  # 11:20 + 70 min
    full = incidents.get_incident(ctx, inc["id"])
    assert full["status"] == "resolved"
    note = full["statusHistory"][-1]["resolutionNote"]
    assert "nightly-backup pinged again" in note and "80 min without a ping" in note
    assert full["escalation"]["state"] != "paging"
    got = heartbeats.get_heartbeat(ctx, hb["id"])
    assert (got["status"], got["pingCount"], got["incidentId"]) == ("up", 1, None)
    # Silent again: a new incident, not the resolved one reopened.
    _drive(ctx, clock, 71)
    [again] = _open_incidents(ctx)
    assert again["id"] != inc["id"]


def test_pings_in_time_keep_it_up(ctx: Ctx, clock: VirtualClock, policy) -> None:
    hb = _create(ctx, policy)
    for _ in range(5):
        _drive(ctx, clock, 65)
        heartbeats.ping_heartbeat(ctx, hb["id"])
    assert _open_incidents(ctx) == []
    assert heartbeats.get_heartbeat(ctx, hb["id"])["pingCount"] == 5


def test_rotate_retires_the_old_token(ctx: Ctx, clock: VirtualClock, policy) -> None:
    hb = _create(ctx, policy)
    rotated = heartbeats.rotate_token(ctx, hb["id"])
    assert rotated["token"] != hb["token"]
    with pytest.raises(NotFound):
        heartbeats.ping_by_token(ctx.db, hb["token"], clock)
    assert heartbeats.ping_by_token(ctx.db, rotated["token"], clock)["heartbeatId"] == hb["id"]


def test_unknown_token_changes_nothing(ctx: Ctx, clock: VirtualClock, policy) -> None:
    _create(ctx, policy)
    with pytest.raises(NotFound):
        heartbeats.ping_by_token(ctx.db, "hbt_nope", clock)
    assert ctx.db.scalar("SELECT ping_count FROM heartbeats") == 0


def test_delete_disarms_the_timer(ctx: Ctx, clock: VirtualClock, policy) -> None:
    hb = _create(ctx, policy)
    heartbeats.delete_heartbeat(ctx, hb["id"])
    _drive(ctx, clock, 600)
    assert _open_incidents(ctx) == []
    assert ctx.db.scalar("SELECT count(*) FROM timers") == 0
    with pytest.raises(NotFound):
        heartbeats.get_heartbeat(ctx, hb["id"])


def test_update_moves_the_due_time(ctx: Ctx, clock: VirtualClock, policy) -> None:
    hb = _create(ctx, policy)
    changed = heartbeats.update_heartbeat(ctx, hb["id"], {"intervalMinutes": 5, "graceMinutes": 0})
    assert changed["dueAt"] == "2026-04-07T10:05:00.000Z"
    _drive(ctx, clock, 6)
    [inc] = _open_incidents(ctx)
    assert inc["title"] == "Heartbeat nightly-backup missed: no ping for 5 min, 0 min late"


def test_a_long_name_is_shortened_in_the_title(ctx: Ctx, clock: VirtualClock, policy) -> None:
    _create(ctx, policy, name="x" * 80)
    _drive(ctx, clock, 71)
    [inc] = _open_incidents(ctx)
    assert len(inc["title"]) == 100 and inc["title"].endswith("… missed: no ping for 70 min, 10 min late")


def test_rules(ctx: Ctx, policy) -> None:
    _create(ctx, policy)
    with pytest.raises(NameConflict):
        _create(ctx, policy)
    with pytest.raises(DomainError) as err:
        _create(ctx, policy, name="other", escalationPolicyId="pol_missing")
    assert err.value.code == "invalid_escalation_policy"
    for bad in ({"intervalMinutes": 0}, {"graceMinutes": -1}, {"name": ""}, {"severity": "huge"}, {"x": 1}):
        with pytest.raises(ValidationError):
            _create(ctx, policy, **{"name": "n2", **bad})
    assert ctx.db.scalar("SELECT count(*) FROM heartbeats") == 1
    assert ctx.db.scalar("SELECT count(*) FROM timers") == 1


def test_a_deleted_policy_still_opens_an_unpaged_incident(ctx: Ctx, clock: VirtualClock, policy) -> None:
    _create(ctx, policy)
    policies.delete_policy(ctx, policy["id"])
    _drive(ctx, clock, 71)
    [inc] = _open_incidents(ctx)
    assert inc["escalationPolicyId"] is None
    assert "no longer exists" in incidents.get_incident(ctx, inc["id"])["description"]
