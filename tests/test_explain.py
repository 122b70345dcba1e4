"""``oncall explain``: why each person was or was not paged, rebuilt from the escalation row, its policy
snapshot and the timeline, with the schedules re-resolved at the instants each layer was reached."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from engine.clock import VirtualClock
from engine.runtime import escalator
from engine.service import Ctx
from engine.service import incidents as inc_svc
from engine.service import schedules as sch_svc
from engine.service.demo import DemoOrg
from engine.service.explain import explain
from engine.timefmt import to_iso
from storage.db import open_db
from tests.conftest import T0
from tests.helpers import run_oncall as run
from tests.helpers import seed_demo_file


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, DemoOrg, VirtualClock]:
    path = tmp_path / "demo.db"
    clock = VirtualClock(T0)
    return path, seed_demo_file(path, clock), clock


def test_explain_an_escalating_incident(demo: tuple[Path, DemoOrg, VirtualClock]) -> None:
    path, org, clock = demo
    db = open_db(path)
    escalator.drive(db, clock, T0 + timedelta(minutes=7))  # layer 1 of #1 times out at t+5m
    db.close()
    data = json.loads(run(path, "explain", "#1", "--json").stdout)
    assert data["incident"]["sequentialId"] == 1 and data["policy"]["name"] == "Platform Default"
    assert data["policy"]["snapshot"] is True
    one, two, three = data["layers"]
    assert one["pages"] and one["resolution"]["schedule"] == "Platform Primary"
    assert [t["kind"] for t in one["timers"]] == ["timeout armed", "timeout fired"]
    assert two["resolution"]["schedule"] == "Platform Secondary"
    assert {lr["name"] for lr in two["resolution"]["layers"]} == {"Backup", "Shadow"}
    assert three["notes"] and "not reached yet" in three["notes"][0]
    people = {p["name"]: p for p in data["people"]}
    paged = {name for name, p in people.items() if p["paged"]}
    assert len(paged) == 3  # the primary, and the secondary's two layers
    primary_now = one["resolution"]["pagingTargets"][0]
    others = [n for n in ("Alice Chen", "Bob Okafor", "Carol Diaz") if n != primary_now]
    assert all("had the shift" in people[n]["why"] for n in others)
    assert "not reached" in people["Grace Ito"]["why"] or "override" in people["Grace Ito"]["why"]
    out = run(path, "explain", "1").stdout
    assert 'layer 1  schedule "Platform Primary"' in out and "timed out at t+5m (on time)" in out


def test_explain_shows_an_override_and_an_acknowledgement(demo: tuple[Path, DemoOrg, VirtualClock]) -> None:
    path, org, clock = demo
    db = open_db(path)
    ctx = Ctx(
        db=db, org_id=org.org_id, actor_id=org.users["alice"], actor_user_id=org.users["alice"], clock=clock
    )
    clock.advance(timedelta(hours=1))
    sch_svc.add_override(
        ctx,
        org.schedules["primary"],
        {
            "userId": org.users["farid"],
            "start": to_iso(clock.now() - timedelta(minutes=1)),
            "end": to_iso(clock.now() + timedelta(hours=2)),
        },
    )
    inc = inc_svc.create_incident(
        ctx, {"title": "Cache down", "severity": "high", "escalationPolicyId": org.policies["default"]}
    )
    clock.advance(timedelta(minutes=2))
    inc_svc.acknowledge(ctx.as_user(org.users["farid"], is_admin=False), inc["id"])
    data = explain(ctx, inc["id"])
    db.close()
    one = data["layers"][0]
    assert one["resolution"]["override"]["user"] == "Farid Haddad"
    assert one["resolution"]["layers"][0]["displacedByOverride"] is True
    rotation_person = one["resolution"]["layers"][0]["user"]
    people = {p["name"]: p for p in data["people"]}
    assert "covered by Farid Haddad" in people[rotation_person]["why"]
    assert people["Farid Haddad"]["paged"]
    assert data["acknowledged"]["by"] == "Farid Haddad" and data["acknowledged"]["offset"] == "t+2m"
    assert "not reached: acknowledged at t+2m" in data["layers"][1]["notes"][0]


def test_explain_at_answers_who_would_have_been_paged(demo: tuple[Path, DemoOrg, VirtualClock]) -> None:
    path, _, _ = demo
    data = json.loads(run(path, "explain", "1", "--at", "2026-11-01 01:30", "--json").stdout)
    steps = data["whatIf"]["layers"]
    assert [s["offset"] for s in steps] == ["t+0s", "t+5m", "t+15m"]
    assert steps[0]["at"] == "2026-11-01T05:30:00.000Z"
    assert steps[0]["users"] and steps[2]["users"] == ["Grace Ito"]
    out = run(path, "explain", "1", "--at", "2026-11-01T05:30Z").stdout
    assert "had it fired at Sun 01 Nov 2026 01:30 EDT" in out


def test_explain_unknown_incident_is_one_line(demo: tuple[Path, DemoOrg, VirtualClock]) -> None:
    path, _, _ = demo
    proc = run(path, "explain", "#99", ok=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")


def test_explain_marks_a_drill(demo: tuple[Path, DemoOrg, VirtualClock]) -> None:
    path, org, clock = demo
    db = open_db(path)
    ctx = Ctx(db=db, org_id=org.org_id, clock=clock)
    inc = inc_svc.create_incident(
        ctx,
        {"title": "Rehearsal", "severity": "low", "escalationPolicyId": org.policies["sre"]},
        is_drill=True,
    )
    db.close()
    out = run(path, "explain", inc["id"]).stdout
    assert out.splitlines()[0].startswith("#5 [DRILL] Rehearsal")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("²",), "incident '²' not found"),
        (("#²",), "not found"),
        (("99999999999999999999999",), "incident '99999999999999999999999' not found"),
        (("1", "--at", "9999-12-31T23:59:59Z"), "--at must be between 1970-01-01 and 8999-12-31"),
        (("1", "--at", "0001-01-01T00:00:00Z"), "--at must be between"),
        (("1", "--at", "0001-01-01"), "--at must be between"),
    ],
)
def test_explain_odd_arguments_are_one_line_exit_2(
    demo: tuple[Path, DemoOrg, VirtualClock], args: tuple[str, ...], needle: str
) -> None:
    path, _, _ = demo
    proc = run(path, "explain", *args, ok=False)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: ")
    assert needle in proc.stderr
