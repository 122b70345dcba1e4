"""The linter: the demo's deliberately broken policy through ``oncall lint`` (exit code for CI), and each
check on hand-made policies and schedules."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from engine import lint
from engine.clock import VirtualClock
from engine.model import EscalationLayer, Override, Policy, RotationLayer, Schedule, Target
from engine.service import Ctx
from engine.service import policies as pol_svc
from engine.service.orgs import remove_user
from storage.db import open_db
from tests.conftest import T0
from tests.helpers import run_oncall, seed_demo_file

START = datetime(2026, 2, 2, 14, 0, tzinfo=UTC)
END = START + timedelta(weeks=4)
ACTIVE = frozenset({"a", "b", "c", "d"})
NAMES = {"a": "Ann", "b": "Ben", "c": "Cat", "d": "Dov", "x": "Xia (removed)"}


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The exit status is each test's to check (lint exits 1 on an error finding)."""
    return run_oncall(db, *args, ok=False)


@pytest.fixture
def demo_path(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    seed_demo_file(path)
    return path


def test_lint_flags_the_broken_demo_policy_and_fails(demo_path: Path) -> None:
    proc = run(demo_path, "lint", "--all")
    assert proc.returncode == 1
    assert (
        'ERROR    policy "Legacy Nights (broken)" layer 2: is the last layer and allows only 1 minute'
        in proc.stdout
    )
    assert "[repeated_people]" in proc.stdout and "hint:" in proc.stdout
    data = json.loads(run(demo_path, "lint", "--json").stdout)
    errors = {(f["subject"], f["code"]) for f in data["findings"] if f["level"] == "error"}
    assert errors == {
        ('policy "Legacy Nights (broken)" layer 2', "final_layer_short_timeout"),
        ('policy "Legacy Nights (broken)" layer 2', "repeated_people"),
    }
    assert data["errors"] == 2


def test_lint_one_sound_policy_passes(demo_path: Path) -> None:
    proc = run(demo_path, "lint", "SRE Critical")
    assert proc.returncode == 0, proc.stdout
    assert "ERROR" not in proc.stdout
    assert run(demo_path, "lint", "Nope").stderr.startswith("error: ")


def test_lint_sees_a_removed_user(demo_path: Path) -> None:
    db = open_db(demo_path)
    org = db.one("SELECT id FROM orgs")["id"]
    grace = db.one("SELECT id FROM users WHERE email = 'grace@example.com'")["id"]
    alice = db.one("SELECT id FROM users WHERE email = 'alice@example.com'")["id"]
    remove_user(Ctx(db=db, org_id=org, actor_id=alice, actor_user_id=alice, clock=VirtualClock(T0)), grace)
    db.close()
    data = json.loads(run(demo_path, "lint", "Platform Default", "--json").stdout)
    unknown = [f for f in data["findings"] if f["code"] == "unknown_user"]
    assert unknown and all(f["level"] == "error" for f in unknown)
    assert any("Grace Ito" in f["message"] and "removed" in f["message"] for f in unknown)


# -- checks on hand-made models ------------------------------------------------------------------------


def _rot(lid: str, pos: int, people: tuple[str, ...], **kw: object) -> RotationLayer:
    base: dict[str, object] = {
        "id": lid,
        "name": lid.title(),
        "position": pos,
        "rotation_type": "daily",
        "rotation_length_days": 1,
        "handoff_time": time(9, 0),
        "effective_from": START - timedelta(days=30),
        "effective_until": None,
        "participant_ids": people,
    }
    base.update(kw)
    return RotationLayer(**base)  # type: ignore[arg-type]


def _codes(findings: list[lint.Finding]) -> dict[str, str]:
    return {f.code: f.level for f in findings}


def _users(*timeouts_and_people: tuple[int, tuple[str, ...]], repeat: int = 0) -> Policy:
    layers = tuple(
        EscalationLayer(f"l{i}", i, t, Target("users", user_ids=people))
        for i, (t, people) in enumerate(timeouts_and_people, start=1)
    )
    return Policy("p", "P", layers, repeat=repeat)


def test_final_layer_timeout_levels() -> None:
    assert (
        _codes(lint.lint_policy(_users((5, ("a",)), (1, ("b",))), {}, ACTIVE, NAMES, START, END))[
            "final_layer_short_timeout"
        ]
        == "error"
    )
    assert (
        _codes(lint.lint_policy(_users((5, ("a",)), (7, ("b",))), {}, ACTIVE, NAMES, START, END))[
            "final_layer_short_timeout"
        ]
        == "warning"
    )
    repeated = _users((5, ("a",)), (1, ("b",)), repeat=2)
    assert (
        _codes(lint.lint_policy(repeated, {}, ACTIVE, NAMES, START, END))["final_layer_short_timeout"]
        == "warning"
    )
    assert "final_layer_short_timeout" not in _codes(
        lint.lint_policy(_users((5, ("a",)), (30, ("b",))), {}, ACTIVE, NAMES, START, END)
    )


def test_same_people_in_consecutive_layers() -> None:
    same = lint.lint_policy(_users((5, ("a",)), (10, ("a",))), {}, ACTIVE, NAMES, START, END)
    assert _codes(same)["repeated_people"] == "error"
    partly = lint.lint_policy(_users((5, ("a",)), (10, ("a", "b"))), {}, ACTIVE, NAMES, START, END)
    assert _codes(partly)["repeated_people"] == "info"


def test_unknown_and_removed_users_and_a_layer_that_pages_nobody() -> None:
    found = lint.lint_policy(_users((5, ("a",)), (10, ("x", "zz"))), {}, ACTIVE, NAMES, START, END)
    msgs = [f.message for f in found if f.code == "unknown_user"]
    assert any("Xia (removed)" in m for m in msgs) and any("'zz'" in m for m in msgs)
    assert _codes(found)["layer_pages_nobody"] == "error"


def test_total_time_before_the_last_layer() -> None:
    slow = _users((45, ("a",)), (30, ("b",)), (30, ("c",)))
    assert _codes(lint.lint_policy(slow, {}, ACTIVE, NAMES, START, END))["slow_escalation"] == "warning"
    fast = _users((5, ("a",)), (30, ("b",)))
    info = [f for f in lint.lint_policy(fast, {}, ACTIVE, NAMES, START, END) if f.code == "escalation_time"]
    assert info[0].level == "info" and "5m after the incident opens" in info[0].message


def test_schedule_gap_and_a_layer_that_resolves_to_nobody_sometimes() -> None:
    ends = _rot("primary", 0, ("a", "b"), effective_until=START + timedelta(weeks=2))
    sched = Schedule("s", "Team", "America/New_York", (ends,))
    plan = Policy("p", "P", (EscalationLayer("l1", 1, 10, Target("schedule", schedule_id="s")),))
    found = lint.lint_policy(plan, {"s": sched}, ACTIVE, NAMES, START, END, "America/New_York")
    assert _codes(found)["layer_pages_nobody"] == "warning"
    gaps = [f for f in lint.lint_schedule(sched, ACTIVE, NAMES, START, END) if f.code == "schedule_gap"]
    assert gaps and gaps[0].level == "warning" and "14d" in gaps[0].message
    assert gaps[0].at == START + timedelta(weeks=2)
    both = Policy("q", "Q", (*plan.layers, EscalationLayer("l2", 2, 10, Target("schedule", schedule_id="s"))))
    assert (
        _codes(lint.lint_policy(both, {"s": sched}, ACTIVE, NAMES, START, END))["policy_pages_nobody"]
        == "error"
    )


def test_handoffs_in_dst_gaps_and_overlaps() -> None:
    night = _rot("night", 0, ("a", "b"), handoff_time=time(2, 30))
    early = _rot("early", 1, ("c", "d"), handoff_time=time(1, 30))
    sched = Schedule("s", "NY", "America/New_York", (night, early))
    found = [
        f for f in lint.lint_schedule(sched, ACTIVE, NAMES, START, END) if f.code.startswith("handoff_in_dst")
    ]
    kinds = {(f.code, f.subject) for f in found}
    assert ("handoff_in_dst_gap", 'schedule "NY" rotation "Night"') in kinds
    assert ("handoff_in_dst_overlap", 'schedule "NY" rotation "Early"') in kinds
    gap = next(f for f in found if f.code == "handoff_in_dst_gap")
    assert gap.level == "warning" and gap.at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_hidden_rotation_layer_and_removed_participant() -> None:
    top = _rot("top", 0, ("a", "b"))
    shadow = _rot("shadow", 1, ("a", "b"))  # always the same person as the higher-precedence layer
    sched = Schedule("s", "S", "UTC", (top, shadow))
    assert _codes(lint.lint_schedule(sched, ACTIVE, NAMES, START, END))["hidden_layer"] == "warning"
    other = Schedule("s", "S", "UTC", (top, _rot("shadow", 1, ("b", "a"))))
    assert "hidden_layer" not in _codes(lint.lint_schedule(other, ACTIVE, NAMES, START, END))
    gone = Schedule(
        "s",
        "S",
        "UTC",
        (_rot("top", 0, ("a", "x")),),
        (Override("o", "x", START, START + timedelta(days=1)),),
    )
    errors = [f for f in lint.lint_schedule(gone, ACTIVE, NAMES, START, END) if f.code == "unknown_user"]
    assert len(errors) == 2 and all(f.level == "error" for f in errors)


def test_a_policy_without_layers(demo_path: Path) -> None:
    db = open_db(demo_path)
    org = db.one("SELECT id FROM orgs")["id"]
    pol_svc.create_policy(Ctx(db=db, org_id=org, clock=VirtualClock(T0)), {"name": "Empty"})
    db.close()
    proc = run(demo_path, "lint", "Empty")
    assert proc.returncode == 1 and "[no_layers]" in proc.stdout
