"""People and schedules that go away (rule 8 of docs/TIME_RULES.md), through the service use cases.

Every answer here is checked against what the escalation engine actually pages, through the timeline.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.errors import DomainError
from engine.model import Target
from engine.runtime import escalator
from engine.service import Ctx, orgs, policies, schedules
from engine.service import incidents as inc_svc
from engine.timefmt import to_iso
from storage.db import Database
from tests.conftest import T0

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def people(ctx: Ctx) -> dict[str, str]:
    return {
        name: orgs.add_user(ctx, email=f"{name}@example.com", first_name=name.title())["id"]
        for name in ("alice", "bob", "carol", "dave", "erin")
    }


def _daily(name: str, participants: list[str]) -> dict[str, Any]:
    """A daily 09:00 UTC rotation from 6 Apr 09:00: at T0 (7 Apr 10:00) shift 1 is on, so the second
    participant; the third takes over on 8 Apr 09:00."""
    return {
        "name": name,
        "rotationType": "daily",
        "handoffTime": "09:00",
        "effectiveFrom": "2026-04-06T09:00:00Z",
        "participantIds": participants,
    }


def _schedule(ctx: Ctx, *layers: list[str], name: str = "Primary") -> str:
    sid = schedules.create_schedule(ctx, {"name": name, "timezone": "UTC"})["id"]
    for n, participants in enumerate(layers):
        schedules.add_rotation_layer(ctx, sid, _daily(f"L{n}", participants))
    return sid


def _policy(ctx: Ctx, *targets: dict[str, Any], name: str = "Platform") -> str:
    pid = policies.create_policy(ctx, {"name": name})["id"]
    for i, target in enumerate(targets, start=1):
        policies.add_layer(ctx, pid, {"position": i, "ackTimeoutMinutes": 5, "target": target})
    return pid


def _sched(sid: str) -> dict[str, Any]:
    return {"type": "schedule", "scheduleId": sid}


def _events(db: Database, iid: str, *kinds: str) -> list[dict[str, Any]]:
    rows = db.all("SELECT at, kind, data FROM timeline WHERE incident_id = ? ORDER BY seq", (iid,))
    out = [{"at": r["at"], "kind": r["kind"], **json.loads(r["data"])} for r in rows]
    return [e for e in out if e["kind"] in kinds]


def _paged(db: Database, iid: str) -> list[list[str]]:
    return [e["userIds"] for e in _events(db, iid, "layer_paged")]


def _drive(db: Database, clock: VirtualClock, minutes: float) -> None:
    escalator.drive(db, clock, clock.now() + timedelta(minutes=minutes))


# -- a removed member's turn, with ownerScheduleId ----------------------------------------------------


def test_removed_members_turn_is_a_gap_and_owner_comes_from_the_next_layer(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    p = people
    sid = _schedule(ctx, [p["alice"], p["bob"], p["carol"]], [p["dave"]])
    pid = _policy(ctx, _sched(sid))
    assert schedules.resolve_schedule(ctx, sid)["scheduleOwner"] == p["bob"]
    clock.advance(10 * MIN)
    orgs.remove_user(ctx, p["bob"])
    removed_at = clock.now()
    clock.advance(MIN)

    now = schedules.resolve_schedule(ctx, sid)
    assert now["scheduleOwner"] == p["dave"]
    assert now["pagingTargets"] == [p["dave"]]
    assert [(x["active"], x["userId"]) for x in now["currentOncall"]] == [(True, None), (True, p["dave"])]
    assert p["bob"] not in json.dumps(now)
    # Bob's turn is a gap until his shift would have ended: the rotation does not shift.
    assert now["nextHandoff"] == "2026-04-08T09:00:00.000Z"
    tomorrow = schedules.resolve_schedule(ctx, sid, T0 + 24 * HOUR)
    assert (tomorrow["scheduleOwner"], tomorrow["pagingTargets"]) == (p["carol"], [p["carol"], p["dave"]])
    # Before the instant of removal he was on call, and the history still says so.
    before = schedules.resolve_schedule(ctx, sid, removed_at - MIN)
    assert (before["scheduleOwner"], before["pagingTargets"]) == (p["bob"], [p["bob"], p["dave"]])

    inc = inc_svc.create_incident(ctx, {"title": "Down", "severity": "high", "ownerScheduleId": sid})
    assert (inc["ownerId"], inc["escalationPolicyId"]) == (p["dave"], pid)
    assert _paged(db, inc["id"]) == [now["pagingTargets"]]


def test_owner_schedule_with_only_a_removed_member_on_call_gives_no_owner(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    p = people
    sid = _schedule(ctx, [p["alice"], p["bob"]])
    _policy(ctx, _sched(sid), {"type": "users", "userIds": [p["erin"], p["bob"]]})
    orgs.remove_user(ctx, p["bob"])
    inc = inc_svc.create_incident(ctx, {"title": "Down", "severity": "high", "ownerScheduleId": sid})
    assert inc["ownerId"] is None
    (nobody,) = _events(db, inc["id"], "nobody_on_call")
    assert nobody["removedUserIds"] == [p["bob"]]  # the timeline says why layer 1 paged nobody
    # Layer 2 pages the members it lists, and not Bob.
    assert _paged(db, inc["id"]) == [[p["erin"]]]


# -- a removed member's override ------------------------------------------------------------------------


def test_removed_members_override_stops_applying_and_the_person_underneath_is_paged(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    p = people
    sid = _schedule(ctx, [p["alice"], p["bob"], p["carol"]])
    pid = _policy(ctx, _sched(sid))
    schedules.add_override(
        ctx, sid, {"userId": p["erin"], "start": to_iso(T0 - 2 * HOUR), "end": to_iso(T0 + 2 * HOUR)}
    )
    schedules.add_override(
        ctx, sid, {"userId": p["dave"], "start": to_iso(T0 - HOUR), "end": to_iso(T0 + HOUR)}
    )
    assert schedules.resolve_schedule(ctx, sid)["scheduleOwner"] == p["dave"]
    orgs.remove_user(ctx, p["dave"])
    # Dave's override no longer applies: the older cover (Erin) shows through again.
    now = schedules.resolve_schedule(ctx, sid)
    assert (now["scheduleOwner"], now["pagingTargets"]) == (p["erin"], [p["erin"]])
    assert now["override"]["userId"] == p["erin"]
    orgs.remove_user(ctx, p["erin"])
    # And with both covers gone, the rotation underneath: Bob.
    now = schedules.resolve_schedule(ctx, sid)
    assert (now["scheduleOwner"], now["pagingTargets"], now["override"]) == (p["bob"], [p["bob"]], None)
    assert now["currentOncall"][0]["displacedByOverride"] is False
    assert p["dave"] not in json.dumps(now) and p["erin"] not in json.dumps(now)

    iid = inc_svc.create_incident(ctx, {"title": "Down", "severity": "high", "escalationPolicyId": pid})["id"]
    assert _paged(db, iid) == [[p["bob"]]]
    # The policy view says the same as the page, from the same function.
    assert [list(t.user_ids) for t in policies.paged_now(ctx, pid).values()] == [[p["bob"]]]


def test_removed_member_disappears_from_coverage_from_the_instant_of_removal(
    ctx: Ctx, clock: VirtualClock, people: dict[str, str]
) -> None:
    p = people
    sid = _schedule(ctx, [p["alice"], p["bob"], p["carol"]])
    schedules.add_override(
        ctx, sid, {"userId": p["dave"], "start": to_iso(T0 + 3 * HOUR), "end": to_iso(T0 + 4 * HOUR)}
    )
    clock.advance(HOUR)
    orgs.remove_user(ctx, p["bob"])
    orgs.remove_user(ctx, p["dave"])
    cover = schedules.coverage(ctx, sid, T0 - 2 * HOUR, T0 + 48 * HOUR)
    owners = [(s.user_id, s.start, s.end) for s in cover.owners]
    assert owners == [
        (p["alice"], T0 - 2 * HOUR, T0 - HOUR),  # until 09:00
        (p["bob"], T0 - HOUR, T0 + HOUR),  # his shift, up to the instant he was removed
        (p["carol"], T0 + 23 * HOUR, T0 + 47 * HOUR),  # 8 Apr 09:00: the rotation did not shift
        (p["alice"], T0 + 47 * HOUR, T0 + 48 * HOUR),
    ]
    assert [(g.start, g.end) for g in cover.gaps] == [(T0 + HOUR, T0 + 23 * HOUR)]
    # The rotation's handoffs are unchanged (Bob's turn is a gap, not a shorter rotation).
    assert [h.at for h in cover.handoffs] == [T0 - HOUR, T0 + 23 * HOUR, T0 + 47 * HOUR]


# -- the engine and the views agree --------------------------------------------------------------------


def test_every_view_names_exactly_whom_the_engine_pages(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    p = people
    primary = _schedule(ctx, [p["alice"], p["bob"]], [p["bob"], p["carol"]], name="Primary")
    pid = _policy(ctx, _sched(primary), {"type": "users", "userIds": [p["bob"], p["dave"], p["erin"]]})
    orgs.remove_user(ctx, p["bob"])
    iid = inc_svc.create_incident(ctx, {"title": "Down", "severity": "high", "escalationPolicyId": pid})["id"]
    _drive(db, clock, 5)
    paged = _paged(db, iid)
    views = policies.paged_now(ctx, pid, T0)
    assert paged == [list(t.user_ids) for t in views.values()] == [[p["carol"]], [p["dave"], p["erin"]]]
    assert schedules.resolve_schedule(ctx, primary, T0)["pagingTargets"] == paged[0]
    assert [list(t.removed) for t in views.values()] == [[p["bob"]], [p["bob"]]]
    users_target = Target(type="users", user_ids=(p["bob"], p["dave"], p["erin"]))
    assert list(schedules.paged_now(ctx, users_target, T0).user_ids) == paged[1]


def test_reminder_for_a_removed_acknowledger_pages_the_layer_instead(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    p = people
    pid = policies.create_policy(ctx, {"name": "Reminding", "repageAfterMinutes": 30})["id"]
    policies.add_layer(
        ctx,
        pid,
        {
            "position": 1,
            "ackTimeoutMinutes": 5,
            "target": {"type": "users", "userIds": [p["alice"], p["bob"]]},
        },
    )
    iid = inc_svc.create_incident(ctx, {"title": "Down", "severity": "high", "escalationPolicyId": pid})["id"]
    inc_svc.acknowledge(ctx.as_user(p["bob"], is_admin=False), iid)
    orgs.remove_user(ctx, p["bob"])
    _drive(db, clock, 30)
    (repage,) = _events(db, iid, "incident_repaged")
    assert repage["userIds"] == [p["alice"]]


# -- a schedule deleted under a running escalation -------------------------------------------------------


def test_schedule_a_running_escalation_still_needs_cannot_be_deleted(
    ctx: Ctx, db: Database, clock: VirtualClock, people: dict[str, str]
) -> None:
    p = people
    backup = _schedule(ctx, [p["carol"]], name="Backup")
    pid = _policy(ctx, {"type": "users", "userIds": [p["alice"]]}, _sched(backup))
    inc = inc_svc.create_incident(ctx, {"title": "Down", "severity": "high", "escalationPolicyId": pid})
    # The live policy stops targeting the schedule; the running escalation's snapshot still does.
    layer2 = policies.list_layers(ctx, pid)[1]["id"]
    policies.update_layer(ctx, pid, layer2, {"target": {"type": "users", "userIds": [p["dave"]]}})

    with pytest.raises(DomainError) as err:
        schedules.delete_schedule(ctx, backup)
    assert err.value.code == "schedule_in_use"
    assert "#1" in err.value.message
    assert err.value.details == {
        "policies": [],
        "incidents": [{"id": inc["id"], "sequentialId": 1}],
    }
    assert schedules.get_schedule(ctx, backup)["id"] == backup  # nothing changed

    _drive(db, clock, 5)
    assert _paged(db, inc["id"]) == [[p["alice"]], [p["carol"]]]  # layer 2 still pages the schedule
    for status in ("identified", "monitoring", "resolved"):
        inc_svc.advance_status(ctx, inc["id"], {"status": status})
    schedules.delete_schedule(ctx, backup)  # nothing needs it any more
    with pytest.raises(DomainError) as gone:
        schedules.get_schedule(ctx, backup)
    assert gone.value.code == "not_found"
