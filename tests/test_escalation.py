"""The escalation engine on a virtual clock, through the incident service (as every surface calls it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.errors import DomainError
from engine.runtime import escalator
from engine.service import Ctx
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from engine.service import schedules as sch_svc
from engine.service.orgs import add_user, remove_user
from engine.timefmt import to_iso
from storage.db import Database
from tests.conftest import T0

MIN = timedelta(minutes=1)


@pytest.fixture
def people(ctx: Ctx) -> dict[str, str]:
    return {
        name: add_user(ctx, email=f"{name}@example.com", first_name=name.title())["id"]
        for name in ("alice", "bob", "carol", "dave")
    }


def _schedule(ctx: Ctx, name: str, participants: list[str]) -> str:
    sid = sch_svc.create_schedule(ctx, {"name": name, "timezone": "UTC"})["id"]
    sch_svc.add_rotation_layer(
        ctx,
        sid,
        {
            "name": "main",
            "rotationType": "daily",
            "rotationLengthDays": 1,
            "handoffTime": "09:00",
            "effectiveFrom": to_iso(T0 - timedelta(days=1)),
            "participantIds": participants,
        },
    )
    return sid


def _policy(ctx: Ctx, layers: list[tuple[int, dict[str, Any]]], name: str = "Platform", **ext: Any) -> str:
    pid = pol_svc.create_policy(ctx, {"name": name, **ext})["id"]
    for i, (timeout, target) in enumerate(layers, start=1):
        pol_svc.add_layer(ctx, pid, {"position": i, "ackTimeoutMinutes": timeout, "target": target})
    return pid


def _users(*ids: str) -> dict[str, Any]:
    return {"type": "users", "userIds": list(ids)}


def _sched(sid: str) -> dict[str, Any]:
    return {"type": "schedule", "scheduleId": sid}


def _incident(ctx: Ctx, pid: str) -> str:
    body = {"title": "Payment service degraded", "severity": "critical", "escalationPolicyId": pid}
    body["ownerId"] = ctx.actor_user_id
    return inc_svc.create_incident(ctx, body)["id"]


def _events(db: Database, iid: str, *kinds: str) -> list[dict[str, Any]]:
    rows = db.all("SELECT at, kind, actor, data FROM timeline WHERE incident_id = ? ORDER BY seq", (iid,))
    import json

    out = [{"at": r["at"], "kind": r["kind"], "actor": r["actor"], **json.loads(r["data"])} for r in rows]
    return [e for e in out if not kinds or e["kind"] in kinds]


def _pages(db: Database, iid: str) -> list[tuple[str, int | None, str]]:
    """(at, layer, user) of every layer page, in order."""
    return [
        (e["at"], e["position"], u)
        for e in _events(db, iid, "layer_paged", "handoff_paged", "incident_repaged")
        for u in e["userIds"]
    ]


def _drive(db: Database, clock: VirtualClock, minutes: float) -> int:
    return escalator.drive(db, clock, clock.now() + timedelta(minutes=minutes))


@pytest.fixture
def guide(ctx: Ctx, people: dict[str, str]) -> str:
    """The guide's policy: layer 1 primary schedule 5 min, layer 2 secondary schedule 10 min."""
    primary = _schedule(ctx, "Primary", [people["alice"]])
    secondary = _schedule(ctx, "Secondary", [people["bob"]])
    return _policy(ctx, [(5, _sched(primary)), (10, _sched(secondary))])


def test_guide_scenario_layer1_layer2_exhausted_still_open(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str, people: dict[str, str]
) -> None:
    iid = _incident(ctx, guide)
    assert _pages(db, iid) == [(to_iso(T0), 1, people["alice"])]
    state = escalator.escalation_state(db, iid)
    assert state is not None
    assert (state["state"], state["currentLayer"], state["layerCount"]) == ("paging", 1, 2)
    assert state["nextEscalationAt"] == to_iso(T0 + 5 * MIN)

    _drive(db, clock, 4.99)
    assert len(_pages(db, iid)) == 1
    _drive(db, clock, 0.01)
    assert _pages(db, iid)[1] == (to_iso(T0 + 5 * MIN), 2, people["bob"])
    _drive(db, clock, 9.99)
    assert not _events(db, iid, "escalation_exhausted")
    _drive(db, clock, 0.01)
    (exhausted,) = _events(db, iid, "escalation_exhausted")
    assert exhausted["at"] == to_iso(T0 + 15 * MIN)
    _drive(db, clock, 120)
    assert len(_pages(db, iid)) == 2
    assert len(_events(db, iid, "escalation_exhausted")) == 1
    row = db.one("SELECT status, acknowledged_at FROM incidents WHERE id = ?", (iid,))
    assert row is not None and row["status"] == "investigating" and row["acknowledged_at"] is None
    state = escalator.escalation_state(db, iid)
    assert state is not None and state["state"] == "exhausted" and state["nextEscalationAt"] is None
    assert escalator.next_due(db) is None
    # Every page has an outbox row (log channel by default) with a unique key.
    keys = [r["idem_key"] for r in db.all("SELECT idem_key FROM outbox WHERE incident_id = ?", (iid,))]
    assert keys == [f"{iid}:1:0:{people['alice']}:log", f"{iid}:2:0:{people['bob']}:log"]


@pytest.mark.parametrize("ack_at_minutes", [0, 3, 5, 7, 15, 30])
def test_ack_in_every_phase_stops_paging(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str, people: dict[str, str], ack_at_minutes: int
) -> None:
    iid = _incident(ctx, guide)
    _drive(db, clock, ack_at_minutes)
    before = _pages(db, iid)
    carol = ctx.as_user(people["carol"], is_admin=False)
    out = inc_svc.acknowledge(carol, iid)
    assert out["status"] == "investigating"
    assert out["escalation"]["state"] == "acknowledged"
    assert out["escalation"]["acknowledgedBy"] == people["carol"]
    assert out["escalation"]["nextEscalationAt"] is None
    acked = _events(db, iid, "incident_acknowledged")
    assert [(e["at"], e["actor"]) for e in acked] == [(to_iso(clock.now()), people["carol"])]
    _drive(db, clock, 60)
    assert _pages(db, iid) == before
    # Idempotent: a second ack changes nothing.
    again = inc_svc.acknowledge(ctx, iid)
    assert again["escalation"]["acknowledgedBy"] == people["carol"]
    assert len(_events(db, iid, "incident_acknowledged")) == 1
    assert escalator.next_due(db) is None


def test_ack_on_resolved_is_noop_and_resolve_stops_everything(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str
) -> None:
    iid = _incident(ctx, guide)
    _drive(db, clock, 2)
    for status in ("identified", "monitoring", "resolved"):
        inc_svc.advance_status(ctx, iid, {"status": status})
    state = escalator.escalation_state(db, iid)
    assert state is not None and state["state"] == "stopped"
    assert escalator.next_due(db) is None
    (stopped,) = _events(db, iid, "escalation_stopped")
    assert stopped["cancelledDueAt"] == to_iso(T0 + 5 * MIN)
    out = inc_svc.acknowledge(ctx, iid)
    assert out["escalation"]["state"] == "stopped"
    assert not _events(db, iid, "incident_acknowledged", "escalation_acknowledged")
    _drive(db, clock, 60)
    assert len(_pages(db, iid)) == 1


def test_handoff_pages_target_and_restarts_current_layer_timer(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str, people: dict[str, str]
) -> None:
    iid = _incident(ctx, guide)
    _drive(db, clock, 7)  # layer 2 paged at t0+5, its timer would end at t0+15
    out = inc_svc.handoff(ctx, iid, {"targetUserId": people["dave"]})
    assert out["ownerId"] == people["dave"]
    assert out["escalation"]["currentLayer"] == 2
    assert out["escalation"]["nextEscalationAt"] == to_iso(T0 + 17 * MIN)
    assert _pages(db, iid)[-1] == (to_iso(T0 + 7 * MIN), 2, people["dave"])
    assert _events(db, iid, "incident_handed_off")
    _drive(db, clock, 9.9)
    assert not _events(db, iid, "escalation_exhausted")
    _drive(db, clock, 0.2)
    (ex,) = _events(db, iid, "escalation_exhausted")
    assert ex["at"] == to_iso(T0 + 17 * MIN)
    # A second handoff to the same person is a new page, not swallowed as a duplicate.
    inc_svc.handoff(ctx, iid, {"targetUserId": people["dave"]})
    dave = db.all("SELECT idem_key FROM outbox WHERE user_id = ?", (people["dave"],))
    assert len(dave) == 2


def test_handoff_to_non_member_is_invalid_target_user(ctx: Ctx, guide: str, people: dict[str, str]) -> None:
    iid = _incident(ctx, guide)
    with pytest.raises(DomainError) as exc:
        inc_svc.handoff(ctx, iid, {"targetUserId": "user_nobody"})
    assert exc.value.code == "invalid_target_user"
    remove_user(ctx, people["dave"])
    with pytest.raises(DomainError) as exc:
        inc_svc.handoff(ctx, iid, {"targetUserId": people["dave"]})
    assert exc.value.code == "invalid_target_user"


def test_handoff_without_policy_still_pages_target(ctx: Ctx, db: Database, people: dict[str, str]) -> None:
    iid = inc_svc.create_incident(ctx, {"title": "t", "severity": "low", "ownerId": people["alice"]})["id"]
    inc_svc.handoff(ctx, iid, {"targetUserId": people["bob"]})
    assert [p[2] for p in _pages(db, iid)] == [people["bob"]]
    assert escalator.escalation_state(db, iid) is None


def test_nobody_on_call_moves_on_at_once(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    empty = sch_svc.create_schedule(ctx, {"name": "Empty", "timezone": "UTC"})["id"]
    pid = _policy(ctx, [(5, _sched(empty)), (10, _users(people["bob"])), (5, _sched(empty))])
    iid = _incident(ctx, pid)
    kinds = [e["kind"] for e in _events(db, iid) if e["kind"] != "incident_created"]
    assert kinds == ["escalation_started", "nobody_on_call", "layer_paged"]
    assert _pages(db, iid) == [(to_iso(T0), 2, people["bob"])]
    _drive(db, clock, 10)
    tail = [(e["kind"], e.get("position")) for e in _events(db, iid)][-3:]
    assert tail == [("escalation_timeout", 2), ("nobody_on_call", 3), ("escalation_exhausted", None)]
    assert _events(db, iid, "escalation_exhausted")[0]["at"] == to_iso(T0 + 10 * MIN)


def test_removed_user_is_not_paged(ctx: Ctx, db: Database, people: dict[str, str]) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"], people["bob"]))])
    remove_user(ctx, people["alice"])
    iid = _incident(ctx, pid)
    assert [p[2] for p in _pages(db, iid)] == [people["bob"]]


def test_schedule_target_resolved_at_moment_of_paging(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    # Daily rotation alice -> bob handing off at 10:03 UTC: layer 2 (same schedule) pages bob.
    sid = sch_svc.create_schedule(ctx, {"name": "Rota", "timezone": "UTC"})["id"]
    sch_svc.add_rotation_layer(
        ctx,
        sid,
        {
            "name": "main",
            "rotationType": "daily",
            "rotationLengthDays": 1,
            "handoffTime": "10:03",
            "effectiveFrom": to_iso(T0 - timedelta(days=1)),
            "participantIds": [people["alice"], people["bob"]],
        },
    )
    pid = _policy(ctx, [(5, _sched(sid)), (5, _sched(sid))])
    iid = _incident(ctx, pid)
    _drive(db, clock, 5)
    assert [p[2] for p in _pages(db, iid)] == [people["alice"], people["bob"]]


def test_policy_edit_and_reorder_mid_escalation_uses_snapshot(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(
        ctx, [(5, _users(people["alice"])), (5, _users(people["bob"])), (5, _users(people["carol"]))]
    )
    iid = _incident(ctx, pid)
    _drive(db, clock, 6)  # alice, bob paged
    layers = pol_svc.list_layers(ctx, pid)
    # Reorder: carol first, then alice, bob; and edit the (now) first layer's timeout.
    pol_svc.reorder_layers(ctx, pid, [layers[2]["id"], layers[0]["id"], layers[1]["id"]])
    pol_svc.update_layer(ctx, pid, layers[1]["id"], {"target": _users(people["dave"])})
    _drive(db, clock, 60)
    users = [p[2] for p in _pages(db, iid)]
    assert users == [people["alice"], people["bob"], people["carol"]]  # nobody twice, nobody skipped
    changed = _events(db, iid, "escalation_policy_changed")
    assert len(changed) == 1 and changed[0]["at"] == to_iso(T0 + 10 * MIN)
    # A new incident uses the live policy.
    iid2 = _incident(ctx, pid)
    assert [p[2] for p in _pages(db, iid2)] == [people["carol"]]


def test_policy_deleted_mid_escalation_carries_on(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))])
    iid = _incident(ctx, pid)
    layers = pol_svc.list_layers(ctx, pid)
    pol_svc.delete_layer(ctx, pid, layers[1]["id"])
    _drive(db, clock, 30)
    assert [p[2] for p in _pages(db, iid)] == [people["alice"], people["bob"]]
    assert len(_events(db, iid, "escalation_policy_changed")) == 1


def test_repeat_runs_layers_again_then_exhausts(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"])), (10, _users(people["bob"]))], repeat=2)
    iid = _incident(ctx, pid)
    _drive(db, clock, 200)
    pages = _pages(db, iid)
    assert [(p[1], p[2]) for p in pages] == [(1, people["alice"]), (2, people["bob"])] * 3
    assert [p[0] for p in pages] == [to_iso(T0 + k * MIN) for k in (0, 5, 15, 20, 30, 35)]
    assert len(_events(db, iid, "escalation_repeated")) == 2
    (ex,) = _events(db, iid, "escalation_exhausted")
    assert ex["at"] == to_iso(T0 + 45 * MIN)
    keys = {r["idem_key"] for r in db.all("SELECT idem_key FROM outbox WHERE incident_id = ?", (iid,))}
    assert len(keys) == 6


def test_escalate_now_next_and_to_layer(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(
        ctx,
        [
            (5, _users(people["alice"])),
            (5, _users(people["bob"])),
            (5, _users(people["carol"])),
            (5, _users(people["dave"])),
        ],
    )
    iid = _incident(ctx, pid)
    _drive(db, clock, 1)
    out = inc_svc.escalate_now(ctx, iid)
    assert out["escalation"]["currentLayer"] == 2
    assert out["escalation"]["nextEscalationAt"] == to_iso(T0 + 6 * MIN)
    inc_svc.escalate_now(ctx, iid, 4)  # skips layer 3, loudly
    (skipped,) = _events(db, iid, "layer_skipped")
    assert skipped["position"] == 3
    assert [p[2] for p in _pages(db, iid)] == [people["alice"], people["bob"], people["dave"]]
    with pytest.raises(DomainError) as exc:
        inc_svc.escalate_now(ctx, iid)
    assert exc.value.code == "not_escalating"
    for bad in (0, 5):
        with pytest.raises(DomainError) as exc:
            inc_svc.escalate_now(ctx, iid, bad) if bad else escalator.escalate_now(
                db, clock.now(), iid, bad, None
            )
        assert exc.value.code in ("invalid_layer", "validation_error")
    # Back to layer 2: a new round, so layers 2, 3, 4 page again instead of being swallowed as duplicates.
    inc_svc.escalate_now(ctx, iid, 2)
    _drive(db, clock, 60)
    assert [p[2] for p in _pages(db, iid)][3:] == [people["bob"], people["carol"], people["dave"]]
    assert len(_events(db, iid, "escalation_exhausted")) == 1


def test_escalate_now_errors(ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]) -> None:
    iid = inc_svc.create_incident(ctx, {"title": "t", "severity": "low", "ownerId": people["alice"]})["id"]
    with pytest.raises(DomainError) as exc:
        inc_svc.escalate_now(ctx, iid)
    assert exc.value.code == "not_escalating"
    pid = _policy(ctx, [(5, _users(people["alice"]))])
    iid = _incident(ctx, pid)
    with pytest.raises(DomainError) as exc:
        escalator.escalate_now(db, clock.now(), iid, 2, None)
    assert exc.value.code == "invalid_layer"


def test_escalate_now_while_acknowledged_pages_but_keeps_ack(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str, people: dict[str, str]
) -> None:
    iid = _incident(ctx, guide)
    inc_svc.acknowledge(ctx, iid)
    out = inc_svc.escalate_now(ctx, iid)
    assert out["escalation"]["state"] == "acknowledged"
    assert out["escalation"]["currentLayer"] == 2  # the layer shown is the one just paged
    assert [p[2] for p in _pages(db, iid)] == [people["alice"], people["bob"]]
    _drive(db, clock, 60)
    assert len(_pages(db, iid)) == 2


def test_repage_after_ack_until_resolved(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"]))], repageAfterMinutes=30)
    iid = _incident(ctx, pid)
    _drive(db, clock, 2)
    inc_svc.acknowledge(ctx.as_user(people["bob"]), iid)
    state = escalator.escalation_state(db, iid)
    assert state is not None and state["repageAt"] == to_iso(T0 + 32 * MIN)
    _drive(db, clock, 65)
    repages = _events(db, iid, "incident_repaged")
    assert [(e["at"], e["userIds"]) for e in repages] == [
        (to_iso(T0 + 32 * MIN), [people["bob"]]),
        (to_iso(T0 + 62 * MIN), [people["bob"]]),
    ]
    for status in ("identified", "monitoring", "resolved"):
        inc_svc.advance_status(ctx, iid, {"status": status})
    _drive(db, clock, 120)
    assert len(_events(db, iid, "incident_repaged")) == 2
    assert not _events(db, iid, "escalation_exhausted")


def test_snooze_holds_then_repages_current_layer(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str, people: dict[str, str]
) -> None:
    iid = _incident(ctx, guide)
    _drive(db, clock, 3)
    out = inc_svc.snooze(ctx, iid, 20)
    assert out["escalation"]["state"] == "snoozed"
    assert out["escalation"]["snoozedUntil"] == to_iso(T0 + 23 * MIN)
    _drive(db, clock, 19.9)
    assert len(_pages(db, iid)) == 1
    _drive(db, clock, 0.1)
    assert _pages(db, iid)[-1] == (to_iso(T0 + 23 * MIN), 1, people["alice"])
    _drive(db, clock, 5)
    assert _pages(db, iid)[-1] == (to_iso(T0 + 28 * MIN), 2, people["bob"])
    inc_svc.acknowledge(ctx, iid)
    with pytest.raises(DomainError) as exc:
        inc_svc.snooze(ctx, iid, 5)
    assert exc.value.code == "not_escalating"


def test_late_engine_catches_up_in_due_order_with_lateness(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(
        ctx, [(5, _users(people["alice"])), (10, _users(people["bob"])), (5, _users(people["carol"]))]
    )
    first = _incident(ctx, pid)
    clock.advance(2 * MIN)
    second = _incident(ctx, pid)
    clock.advance(60 * MIN)  # the engine was down for an hour
    fired = escalator.tick(db, clock.now())
    assert fired == 6  # 3 steps each (two timeouts + exhaustion)
    order = [
        (r["incident_id"], r["kind"])
        for r in db.all(
            "SELECT incident_id, kind FROM timeline WHERE kind = 'escalation_timeout' ORDER BY seq"
        )
    ]
    assert order == [(first, "escalation_timeout"), (second, "escalation_timeout")] * 3
    lates = [e["lateMs"] for e in _events(db, first, "escalation_timeout")]
    assert lates == [57 * 60_000, 47 * 60_000, 42 * 60_000]
    assert escalator.tick(db, clock.now()) == 0


def test_tick_batches_and_duplicate_wakes_are_harmless(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))])
    ids = [_incident(ctx, pid) for _ in range(7)]
    clock.advance(6 * MIN)
    assert escalator.tick(db, clock.now(), limit=3) == 3
    assert escalator.tick(db, clock.now(), limit=3) == 3
    assert escalator.tick(db, clock.now(), limit=3) == 1
    assert escalator.tick(db, clock.now(), limit=3) == 0
    for iid in ids:
        assert [p[1] for p in _pages(db, iid)] == [1, 2]


def test_contact_methods_fan_out_with_unique_keys(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    from engine.service import contacts

    contacts.add_contact_method(
        ctx, people["alice"], {"channel": "webhook", "address": "http://127.0.0.1:9/x"}
    )
    contacts.add_contact_method(ctx, people["alice"], {"channel": "command", "address": "cat"})
    pid = _policy(ctx, [(5, _users(people["alice"], people["bob"]))])
    iid = _incident(ctx, pid)
    rows = db.all("SELECT channel, status, idem_key FROM outbox WHERE incident_id = ? ORDER BY seq", (iid,))
    assert [(r["channel"], r["status"]) for r in rows] == [
        ("webhook", "pending"),
        ("command", "pending"),
        ("log", "sent"),
    ]
    assert len({r["idem_key"] for r in rows}) == 3


def test_escalation_state_wire(ctx: Ctx, db: Database, guide: str) -> None:
    iid = _incident(ctx, guide)
    got = inc_svc.get_incident(ctx, iid)["escalation"]
    assert got == {
        "policyId": guide,
        "state": "paging",
        "currentLayer": 1,
        "layerCount": 2,
        "loop": 0,
        "loops": 1,
        "nextEscalationAt": to_iso(T0 + 5 * MIN),
        "repageAt": None,
        "snoozedUntil": None,
        "acknowledgedBy": None,
        "startedAt": to_iso(T0),
        "generation": 1,
    }


def test_sub_millisecond_now_never_fires_early_or_loops(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))])
    iid = _incident(ctx, pid)
    due = T0 + 5 * MIN
    clock.advance_to(due - timedelta(microseconds=400))  # rounds up to the due millisecond
    assert escalator.overdue_count(db, clock.now()) == 0
    assert escalator.tick(db, clock.now()) == 0
    clock.advance_to(due + timedelta(microseconds=400))
    fired: list[tuple[str, int]] = []
    assert escalator.tick(db, clock.now(), fired=fired) == 1
    assert fired == [(iid, int(due.timestamp() * 1000))]


def test_duplicate_outbox_key_is_ignored_and_recorded(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))])
    iid = _incident(ctx, pid)
    key = f"{iid}:2:0:{people['bob']}:log"
    with db.write():
        db.execute(
            "INSERT INTO outbox (idem_key, org_id, incident_id, user_id, channel, payload, created_at) "
            "VALUES (?, ?, ?, ?, 'log', '{}', 'x')",
            (key, ctx.org_id, iid, people["bob"]),
        )
    _drive(db, clock, 5)
    assert db.scalar("SELECT count(*) FROM outbox WHERE idem_key = ?", (key,)) == 1
    (dup,) = _events(db, iid, "page_duplicate_ignored")
    assert dup["idempotencyKey"] == key


def test_duplicate_key_among_many_steps_of_one_tick_is_reported_on_its_incident_only(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    """One tick fires five steps; one page's key is already queued: that one is skipped and recorded on its
    own incident, the four others are queued, with no duplicate event."""
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))])
    iids = [_incident(ctx, pid) for _ in range(5)]
    key = f"{iids[2]}:2:0:{people['bob']}:log"
    with db.write():
        db.execute(
            "INSERT INTO outbox (idem_key, org_id, incident_id, user_id, channel, payload, created_at) "
            "VALUES (?, ?, ?, ?, 'log', '{}', 'x')",
            (key, ctx.org_id, iids[2], people["bob"]),
        )
    clock.advance(timedelta(minutes=5))
    assert escalator.tick(db, clock.now()) == 5
    for n, iid in enumerate(iids):
        dupes = _events(db, iid, "page_duplicate_ignored")
        assert [d["idempotencyKey"] for d in dupes] == ([key] if n == 2 else [])
        bob_key = f"{iid}:2:0:{people['bob']}:log"
        assert db.scalar("SELECT count(*) FROM outbox WHERE idem_key = ?", (bob_key,)) == 1
        created = db.scalar("SELECT created_at FROM outbox WHERE idem_key = ?", (bob_key,))
        assert (created == "x") == (n == 2)  # the row already queued was left as it was


def test_catch_up_through_several_steps_in_one_tick_saves_the_last_state(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    """An engine down across two timeouts and the end of the policy fires them all in one tick: the row
    ends exhausted (its state changed) at the generation after all three steps, and a person-driven step
    afterwards sees that generation."""
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))])
    iid = _incident(ctx, pid)
    other = _incident(ctx, _policy(ctx, [(30, _users(people["alice"]))], name="Slow"))
    start = db.one("SELECT generation FROM escalations WHERE incident_id = ?", (iid,))["generation"]
    clock.advance(timedelta(minutes=11))
    assert escalator.tick(db, clock.now()) == 2  # layer 2 paged at 5 min, exhausted at 10 min
    row = db.one("SELECT state, generation, due_at_ms FROM escalations WHERE incident_id = ?", (iid,))
    assert (row["state"], row["generation"], row["due_at_ms"]) == ("exhausted", start + 2, None)
    assert [e["kind"] for e in _events(db, iid)][-3:] == [
        "layer_paged",
        "escalation_timeout",
        "escalation_exhausted",
    ]
    assert escalator.escalation_state(db, other)["state"] == "paging"  # not due: untouched
    escalator.escalate_now(db, clock.now(), iid, 1, None)  # reads and writes the saved generation
    assert escalator.escalation_state(db, iid)["generation"] == start + 3


def test_unreadable_schedule_pages_nobody_with_reason_and_moves_on(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    sid = _schedule(ctx, "Broken", [people["alice"]])
    pid = _policy(ctx, [(5, _sched(sid)), (5, _users(people["bob"]))])
    with db.write():
        db.execute("UPDATE rotation_layers SET handoff_time = 'not a time' WHERE schedule_id = ?", (sid,))
    iid = _incident(ctx, pid)
    (nobody,) = _events(db, iid, "nobody_on_call")
    assert nobody["position"] == 1 and "ValueError" in nobody["error"]
    assert [p[2] for p in _pages(db, iid)] == [people["bob"]]


def test_poison_row_is_recorded_and_retried_without_blocking_others(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))])
    bad, good = _incident(ctx, pid), _incident(ctx, pid)
    with db.write():
        db.execute("INSERT INTO policy_snapshots (hash, snapshot) VALUES ('bad', '{not json')")
        db.execute("UPDATE escalations SET snapshot_hash = 'bad' WHERE incident_id = ?", (bad,))
    clock.advance(5 * MIN)
    assert escalator.tick(db, clock.now()) == 2
    assert [p[1] for p in _pages(db, good)] == [1, 2]
    (failed,) = _events(db, bad, "escalation_step_failed")
    assert failed["retryAt"] == to_iso(T0 + 6 * MIN) and "JSONDecodeError" in failed["error"]
    assert escalator.next_due(db) == T0 + 6 * MIN


def test_ack_while_snoozed_cancels_the_snooze(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str
) -> None:
    iid = _incident(ctx, guide)
    inc_svc.snooze(ctx, iid, 10)
    out = inc_svc.acknowledge(ctx, iid)
    assert out["escalation"]["state"] == "acknowledged" and out["escalation"]["snoozedUntil"] is None
    _drive(db, clock, 60)
    assert len(_pages(db, iid)) == 1


def test_handoff_while_acknowledged_pages_target_but_arms_nothing(
    ctx: Ctx, db: Database, clock: VirtualClock, guide: str, people: dict[str, str]
) -> None:
    iid = _incident(ctx, guide)
    inc_svc.acknowledge(ctx, iid)
    out = inc_svc.handoff(ctx, iid, {"targetUserId": people["carol"]})
    assert out["escalation"]["state"] == "acknowledged"
    assert out["escalation"]["nextEscalationAt"] is None
    assert [p[2] for p in _pages(db, iid)] == [people["alice"], people["carol"]]
    _drive(db, clock, 60)
    assert len(_pages(db, iid)) == 2


def test_escalate_now_from_last_layer_wraps_into_repeat_loop(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    pid = _policy(ctx, [(5, _users(people["alice"])), (5, _users(people["bob"]))], repeat=1)
    iid = _incident(ctx, pid)
    inc_svc.escalate_now(ctx, iid)
    out = inc_svc.escalate_now(ctx, iid)
    assert (out["escalation"]["currentLayer"], out["escalation"]["loop"]) == (1, 1)
    assert [e["toPosition"] for e in _events(db, iid, "escalated_manually")] == [2, 1]
    assert [p[2] for p in _pages(db, iid)] == [people["alice"], people["bob"], people["alice"]]
    _drive(db, clock, 60)
    assert [p[2] for p in _pages(db, iid)][3:] == [people["bob"]]
    assert len(_events(db, iid, "escalation_exhausted")) == 1
