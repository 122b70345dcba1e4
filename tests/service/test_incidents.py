from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.errors import DomainError, Forbidden, NotFound, ValidationError
from engine.service import Ctx, incidents, orgs, policies, schedules


@pytest.fixture
def world(ctx: Ctx) -> dict[str, Any]:
    bob = orgs.add_user(ctx, email="bob@example.com", first_name="Bob")
    sched = schedules.create_schedule(ctx, {"name": "Primary", "timezone": "UTC"})
    schedules.add_rotation_layer(
        ctx,
        sched["id"],
        {
            "name": "L",
            "rotationType": "daily",
            "rotationLengthDays": 1,
            "handoffTime": "09:00",
            "effectiveFrom": "2026-04-01T09:00:00Z",
            "participantIds": [bob["id"]],
        },
    )
    pol = policies.create_policy(ctx, {"name": "Platform Default"})
    policies.add_layer(
        ctx,
        pol["id"],
        {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "schedule", "scheduleId": sched["id"]}},
    )
    return {"bob": bob, "sched": sched, "pol": pol}


def _create(ctx: Ctx, **over: Any) -> dict[str, Any]:
    body = {"title": "Payment service degraded", "severity": "critical"}
    body.update(over)
    return incidents.create_incident(ctx, body)


def test_guide_incident_with_only_a_policy(ctx: Ctx, world) -> None:
    inc = _create(
        ctx,
        description="Checkout success rate dropped to 60% in the last 10 minutes",
        escalationPolicyId=world["pol"]["id"],
    )
    assert inc["id"].startswith("inc_")
    assert inc["status"] == "investigating"
    assert inc["ownerId"] is None
    assert inc["escalationPolicyId"] == world["pol"]["id"]
    assert inc["createdBy"] == ctx.actor_id
    full = incidents.get_incident(ctx, inc["id"])
    assert [h["status"] for h in full["statusHistory"]] == ["investigating"]
    kinds = [e["kind"] for e in full["timeline"]]
    assert kinds[0] == "incident_created"
    assert "layer_paged" in kinds


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"title": None}, "title"),
        ({"severity": "urgent"}, "severity"),
        ({"severity": None}, "severity"),
        ({"description": "x" * 10_001}, "description"),
        ({"ownerId": 7}, "ownerId"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_create_validation(ctx: Ctx, world, over, field) -> None:
    with pytest.raises(ValidationError) as err:
        _create(ctx, **over)
    assert err.value.field == field
    assert ctx.db.scalar("SELECT count(*) FROM incidents") == 0


def test_title_limits_are_inclusive(ctx: Ctx, world) -> None:
    assert _create(ctx, title="x" * 100, description="d" * 10_000)["title"] == "x" * 100


def test_owner_rules(ctx: Ctx, world) -> None:
    with pytest.raises(DomainError) as err:
        _create(ctx, ownerId="user_ghost")
    assert err.value.code == "invalid_owner"
    with pytest.raises(NotFound):
        _create(ctx, ownerScheduleId="sched_ghost")
    with pytest.raises(NotFound):
        _create(ctx, escalationPolicyId="pol_ghost")
    by_sched = _create(ctx, ownerScheduleId=world["sched"]["id"])
    assert by_sched["ownerId"] == world["bob"]["id"]
    assert by_sched["escalationPolicyId"] == world["pol"]["id"]  # the policy whose layer 1 targets it
    both = _create(ctx, ownerId=ctx.actor_user_id, ownerScheduleId=world["sched"]["id"])
    assert both["ownerId"] == ctx.actor_user_id


def test_components_rules(ctx: Ctx, world) -> None:
    with pytest.raises(DomainError) as err:
        _create(ctx, componentIds=["cmp_1"])
    assert err.value.code == "invalid_component_id"
    with pytest.raises(DomainError) as err:
        _create(ctx, componentIds=["cmp_1", "cmp_1"])
    assert err.value.code == "duplicate_component_id"
    assert _create(ctx, componentIds=[])["affectedComponents"] == []


def test_status_moves_one_step_at_a_time(ctx: Ctx, world, clock) -> None:
    inc = _create(ctx, escalationPolicyId=world["pol"]["id"])
    for bad in ("monitoring", "resolved", "investigating"):
        with pytest.raises(DomainError) as err:
            incidents.advance_status(ctx, inc["id"], {"status": bad})
        assert err.value.code == "invalid_status_transition"
    with pytest.raises(ValidationError):
        incidents.advance_status(ctx, inc["id"], {"status": "fixed"})
    with pytest.raises(ValidationError):
        incidents.advance_status(ctx, inc["id"], {"status": "identified", "resolutionNote": "early"})
    incidents.advance_status(ctx, inc["id"], {"status": "identified"})
    clock.advance(timedelta(minutes=1))
    incidents.advance_status(ctx, inc["id"], {"status": "monitoring"})
    out = incidents.advance_status(ctx, inc["id"], {"status": "resolved", "resolutionNote": "rolled back"})
    assert out["status"] == "resolved" and out["resolvedAt"]
    full = incidents.get_incident(ctx, inc["id"])
    assert [(h["status"], h["resolutionNote"]) for h in full["statusHistory"]] == [
        ("investigating", None),
        ("identified", None),
        ("monitoring", None),
        ("resolved", "rolled back"),
    ]
    with pytest.raises(DomainError) as err:
        incidents.advance_status(ctx, inc["id"], {"status": "resolved"})
    assert err.value.code == "invalid_status_transition"
    assert full["escalation"]["state"] == "stopped"


def test_updates_post_list_redact(ctx: Ctx, world, clock) -> None:
    inc = _create(ctx)
    with pytest.raises(ValidationError):
        incidents.post_update(ctx, inc["id"], {"body": "hi"})  # visibility required
    with pytest.raises(ValidationError):
        incidents.post_update(ctx, inc["id"], {"visibility": "internal"})  # nothing to say
    with pytest.raises(DomainError) as err:
        incidents.post_update(ctx, inc["id"], {"body": "we are on it", "visibility": "public"})
    assert err.value.code == "no_public_surface"
    u1 = incidents.post_update(ctx, inc["id"], {"body": "looking", "visibility": "internal"})
    assert u1["postedBy"]["id"] == ctx.actor_user_id and u1["redactedAt"] is None
    u2 = incidents.post_update(
        ctx, inc["id"], {"body": "cause found", "statusChange": "identified", "visibility": "internal"}
    )
    assert incidents.find_incident(ctx, inc["id"])["status"] == "identified"
    assert [u["id"] for u in incidents.list_updates(ctx, inc["id"])] == [u1["id"], u2["id"]]
    # a member may redact their own update within 5 minutes, not later; an admin always
    bob_ctx = ctx.as_user(world["bob"]["id"], is_admin=False)
    u3 = incidents.post_update(bob_ctx, inc["id"], {"body": "oops secret", "visibility": "internal"})
    with pytest.raises(Forbidden) as err:
        incidents.redact_update(bob_ctx, inc["id"], u1["id"])
    assert err.value.code == "redaction_not_permitted" and err.value.status_code == 403
    clock.advance(timedelta(minutes=6))
    with pytest.raises(Forbidden):
        incidents.redact_update(bob_ctx, inc["id"], u3["id"])
    red = incidents.redact_update(ctx, inc["id"], u3["id"])
    assert red["body"] is None and red["redactedBy"]["id"] == ctx.actor_user_id
    # resolved: no more posts, redaction still allowed
    incidents.advance_status(ctx, inc["id"], {"status": "monitoring"})
    incidents.advance_status(ctx, inc["id"], {"status": "resolved"})
    with pytest.raises(DomainError) as err:
        incidents.post_update(ctx, inc["id"], {"body": "late", "visibility": "internal"})
    assert err.value.code == "incident_resolved"
    assert incidents.redact_update(ctx, inc["id"], u1["id"])["body"] is None


def test_acknowledge_is_idempotent_and_noop_when_resolved(ctx: Ctx, world, clock) -> None:
    inc = _create(ctx, escalationPolicyId=world["pol"]["id"])
    bob_ctx = ctx.as_user(world["bob"]["id"], is_admin=False)
    a1 = incidents.acknowledge(bob_ctx, inc["id"])
    clock.advance(timedelta(minutes=1))
    a2 = incidents.acknowledge(ctx, inc["id"])
    assert a1["acknowledgedBy"] == a2["acknowledgedBy"] == world["bob"]["id"]
    assert a1["acknowledgedAt"] == a2["acknowledgedAt"]
    assert a2["status"] == "investigating"
    kinds = [e["kind"] for e in incidents.get_incident(ctx, inc["id"])["timeline"]]
    assert kinds.count("incident_acknowledged") == 1
    other = _create(ctx)
    for s in ("identified", "monitoring", "resolved"):
        incidents.advance_status(ctx, other["id"], {"status": s})
    assert incidents.acknowledge(ctx, other["id"])["acknowledgedAt"] is None


def test_handoff(ctx: Ctx, world) -> None:
    inc = _create(ctx, escalationPolicyId=world["pol"]["id"])
    with pytest.raises(DomainError) as err:
        incidents.handoff(ctx, inc["id"], {"targetUserId": "user_ghost"})
    assert err.value.code == "invalid_target_user"
    with pytest.raises(ValidationError):
        incidents.handoff(ctx, inc["id"], {})
    out = incidents.handoff(ctx, inc["id"], {"targetUserId": world["bob"]["id"]})
    assert out["ownerId"] == world["bob"]["id"]
    ev = [e for e in incidents.get_incident(ctx, inc["id"])["timeline"] if e["kind"] == "incident_handed_off"]
    assert ev[0]["data"]["previousOwnerId"] is None and ev[0]["data"]["newOwnerId"] == world["bob"]["id"]


def test_list_filters_and_cursor_pagination(ctx: Ctx, world, clock) -> None:
    ids = []
    for i in range(25):
        clock.advance(timedelta(minutes=1))
        ids.append(_create(ctx, title=f"inc {i}", severity="low" if i % 2 else "high")["id"])
    page1 = incidents.list_incidents(ctx)
    assert len(page1["incidents"]) == 20 and page1["nextCursor"]
    assert page1["incidents"][0]["id"] == ids[-1]  # newest first
    page2 = incidents.list_incidents(ctx, cursor=page1["nextCursor"])
    assert len(page2["incidents"]) == 5 and page2["nextCursor"] is None
    seen = [i["id"] for i in page1["incidents"] + page2["incidents"]]
    assert seen == list(reversed(ids))
    assert all(
        i["severity"] == "low" for i in incidents.list_incidents(ctx, severity="low", limit=100)["incidents"]
    )
    assert incidents.list_incidents(ctx, from_="2026-04-08")["incidents"] == []
    assert len(incidents.list_incidents(ctx, to="2026-04-07", limit=100)["incidents"]) == 25
    for bad in ({"limit": 0}, {"limit": 101}, {"status": "open"}, {"cursor": "garbage!"}, {"from_": "soon"}):
        with pytest.raises(ValidationError):
            incidents.list_incidents(ctx, **bad)


def test_list_bounds_are_inclusive_and_filters_combine(ctx: Ctx, world, clock) -> None:
    """``from``/``to`` instants include an incident created exactly at them; a bare-date ``to`` includes
    that whole day; ``open_only`` and ``include_drills`` narrow together with the other filters."""
    at = _create(ctx, title="at ten")  # created at 2026-04-07T10:00:00.000Z
    clock.advance(timedelta(minutes=1))
    drill = incidents.create_incident(ctx, {"title": "drill", "severity": "low"}, is_drill=True)
    clock.advance(timedelta(minutes=1))
    done = _create(ctx, title="done", severity="low")
    for step in ("identified", "monitoring", "resolved"):
        incidents.advance_status(ctx, done["id"], {"status": step})

    def ids(**query: Any) -> list[str]:
        return [i["id"] for i in incidents.list_incidents(ctx, limit=100, **query)["incidents"]]

    assert ids(to=at["createdAt"]) == [at["id"]]
    assert ids(from_=at["createdAt"], to="2026-04-07T10:00:59Z") == [at["id"]]
    assert ids(from_="2026-04-07T10:00:00.001Z") == [done["id"], drill["id"]]
    assert ids(to="2026-04-07") == [done["id"], drill["id"], at["id"]]
    assert ids(to="2026-04-06") == []
    assert ids(open_only=True) == [drill["id"], at["id"]]
    assert ids(open_only=True, include_drills=False) == [at["id"]]
    assert ids(severity="low", include_drills=False) == [done["id"]]
    assert ids(status="resolved", severity="low") == [done["id"]]


def test_another_orgs_incident_is_not_found(ctx: Ctx, world) -> None:
    inc = _create(ctx)
    other = orgs.create_org(ctx.db, "Other", "o@example.com", clock=ctx.clock)
    octx = Ctx(db=ctx.db, org_id=other.org["id"], clock=ctx.clock)
    for call in (
        lambda: incidents.get_incident(octx, inc["id"]),
        lambda: incidents.acknowledge(octx, inc["id"]),
        lambda: incidents.advance_status(octx, inc["id"], {"status": "identified"}),
    ):
        with pytest.raises(NotFound):
            call()
    assert incidents.list_incidents(octx)["incidents"] == []


def test_escalation_states_answer_what_get_incident_does_for_many_in_one_call(ctx: Ctx, world) -> None:
    """``oncall incidents`` reads every row's layer in one service call, not one escalator call per row."""
    paged = _create(ctx, escalationPolicyId=world["pol"]["id"])
    quiet = _create(ctx)  # no policy: no escalation
    states = incidents.escalation_states(ctx, [paged["id"], quiet["id"], "inc_unknown"])
    assert states == {paged["id"]: incidents.get_incident(ctx, paged["id"])["escalation"]}
    assert states[paged["id"]]["currentLayer"] == 1 and states[paged["id"]]["layerCount"] == 1
    other = orgs.create_org(ctx.db, "Other", "o@example.com", clock=ctx.clock)
    octx = Ctx(db=ctx.db, org_id=other.org["id"], clock=ctx.clock)
    assert incidents.escalation_states(octx, [paged["id"]]) == {}


def test_resolve_incident_walks_every_remaining_status_in_one_transaction(
    ctx: Ctx, world: dict[str, Any]
) -> None:
    inc = _create(ctx, escalationPolicyId=world["pol"]["id"])
    bob = ctx.as_user(world["bob"]["id"], is_admin=False)
    out = incidents.resolve_incident(bob, inc["id"], "fixed the disk")
    full = incidents.get_incident(ctx, inc["id"])
    assert out["status"] == full["status"] == "resolved"
    history = full["statusHistory"]
    assert [h["status"] for h in history] == ["investigating", "identified", "monitoring", "resolved"]
    assert len({h["changedAt"] for h in history[1:]}) == 1  # one transaction, one instant
    assert [h["resolutionNote"] for h in history] == [None, None, None, "fixed the disk"]
    changes = [e for e in full["timeline"] if e["kind"] == "status_changed"]
    assert [e["actor"] for e in changes] == [world["bob"]["id"]] * 3
    assert [u["statusChange"] for u in incidents.list_updates(ctx, inc["id"])] == [
        "identified",
        "monitoring",
        "resolved",
    ]
    assert full["escalation"]["state"] == "stopped"
    with pytest.raises(DomainError) as refused:
        incidents.resolve_incident(ctx, inc["id"])
    assert refused.value.code == "invalid_status_transition"


def test_resolve_incident_with_a_bad_note_changes_nothing(ctx: Ctx, world: dict[str, Any]) -> None:
    inc = _create(ctx)
    with pytest.raises(ValidationError):
        incidents.resolve_incident(ctx, inc["id"], "x" * 10_001)
    assert incidents.get_incident(ctx, inc["id"])["status"] == "investigating"
    with pytest.raises(NotFound):
        incidents.resolve_incident(ctx, "inc_nope")
