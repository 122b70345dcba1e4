"""Drills through the installed ``oncall`` entry point on a real demo database, plus the runner API a
console drill mode reuses (start a drill, advance it a step at a time)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import VirtualClock
from engine.drill import AckPlan, format_offset, next_dst_change, parse_ack, parse_at, parse_duration
from engine.errors import ValidationError
from engine.service import Ctx, drills
from engine.service import notification_rules as rules_svc
from engine.service.contacts import add_contact_method
from engine.service.demo import DemoOrg
from storage.db import open_db
from tests.conftest import T0
from tests.helpers import run_oncall as run
from tests.helpers import seed_demo_file

# The demo's rotations start 10 days before it is seeded (T0): an instant well inside them.
AT = "2026-04-08T15:00Z"


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, DemoOrg]:
    path = tmp_path / "demo.db"
    return path, seed_demo_file(path)


def _counts(path: Path) -> dict[str, object]:
    db = open_db(path)
    try:
        return {
            table: db.scalar(f"SELECT count(*) FROM {table}")
            for table in ("incidents", "timeline", "outbox", "escalations", "status_history")
        } | {"due": [tuple(r) for r in db.all("SELECT incident_id, due_at_ms, state FROM escalations")]}
    finally:
        db.close()


def test_drill_with_ack_prints_timeline_and_summary(demo: tuple[Path, DemoOrg]) -> None:
    path, _ = demo
    before = _counts(path)
    out = run(path, "drill", "Platform Default", "--instant", "--ack", "2:3m", "--at", AT).stdout
    assert out.startswith("DRILL  Platform Default")
    assert "nothing is delivered" in out
    assert "t+0s" in out and "layer 1/3" in out
    assert "t+5m" in out and "timeout layer 1/3" in out
    assert "t+8m" in out and "acknowledged" in out
    assert "time to acknowledge  8m" in out
    assert "layers used          1, 2 of 3" in out
    assert _counts(path) == before  # the live database is untouched


def test_drill_json_no_ack_runs_to_exhaustion(demo: tuple[Path, DemoOrg]) -> None:
    path, _ = demo
    data = json.loads(run(path, "drill", "Platform Default", "--no-ack", "--at", AT, "--json").stdout)
    assert data["drill"] is True
    assert data["startedAt"] == "2026-04-08T15:00:00.000Z"
    kinds = [line["kind"] for line in data["timeline"]]
    assert kinds[0] == "opened" and kinds[-1] == "exhausted"
    assert kinds.count("timeout") == 3
    s = data["summary"]
    assert s["exhausted"] and not s["acknowledged"]
    assert s["layersUsed"] == [1, 2, 3]
    assert "Grace Ito" in s["peoplePaged"]
    assert s["delivered"] == 0
    last = data["timeline"][-1]
    assert last["offset"] == "t+45m" and last["at"] == "2026-04-08T15:45:00.000Z"
    pages = [line for line in data["timeline"] if line["kind"] == "page"]
    assert all(p["name"] and p["channel"] == "log" for p in pages)


def test_drill_at_a_time_the_clocks_skip(demo: tuple[Path, DemoOrg]) -> None:
    """'What happens if this fires at 02:30 on the night the clocks change?' (New York, 2026-11-01)."""
    path, _ = demo
    data = json.loads(
        run(path, "drill", "Platform Default", "--at", "2026-11-01 01:30", "--ack", "1:1m", "--json").stdout
    )
    assert data["timezone"] == "America/New_York"
    assert "happens twice" in data["note"]
    assert data["startedAt"] == "2026-11-01T05:30:00.000Z"  # the first 01:30 (EDT)
    assert data["timeline"][1]["local"].startswith("Sun 01 Nov 01:30 EDT")
    out = run(
        path, "drill", "Platform Default", "--at", "spring-forward 02:30", "--tz", "America/New_York"
    ).stdout
    assert "does not exist in America/New_York" in out


def test_drill_on_a_scaled_clock_prints_live(demo: tuple[Path, DemoOrg]) -> None:
    path, _ = demo
    out = run(path, "drill", "Legacy Nights (broken)", "--speed", "6000", "--at", AT).stdout
    assert "6000x real time" in out
    assert "EXHAUSTED" in out
    assert "people paged         Bob Okafor" in out


def test_drill_delivers_only_with_deliver(demo: tuple[Path, DemoOrg], tmp_path: Path) -> None:
    path, org = demo
    sink = tmp_path / "pages.jsonl"
    db = open_db(path)
    ctx = Ctx(db=db, org_id=org.org_id, clock=VirtualClock(T0), via="operator")
    add_contact_method(
        ctx, org.users["bob"], {"channel": "command", "address": f"sh -c 'cat >> {sink}; echo >> {sink}'"}
    )
    db.close()
    out = run(path, "drill", "Legacy Nights (broken)", "--at", AT).stdout
    assert "via command (not delivered: drill)" in out
    assert not sink.exists()
    out = run(path, "drill", "Legacy Nights (broken)", "--at", AT, "--deliver").stdout
    assert "pages ARE delivered" in out and "send    Bob Okafor via command: ok" in out
    sent = [json.loads(line) for line in sink.read_text().splitlines()]
    assert len(sent) == 2 and all(p["incident"]["title"].startswith("DRILL:") for p in sent)
    assert _counts(path)["incidents"] == 4  # still only the demo's incidents


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("drill", "Nope"), "not found"),
        (("drill", "Platform Default", "--ack", "two"), "LAYER:DELAY"),
        (("drill", "Platform Default", "--ack", "1:3m", "--no-ack"), "cannot be used together"),
        (("drill", "Platform Default", "--speed", "2", "--instant"), "cannot be used together"),
        (("drill", "Platform Default", "--at", "tomorrowish"), "--at must be"),
    ],
)
def test_drill_bad_input_is_one_line(demo: tuple[Path, DemoOrg], args: tuple[str, ...], needle: str) -> None:
    path, _ = demo
    proc = run(path, *args, ok=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: ") and needle in proc.stderr


def test_start_and_advance_a_step_at_a_time(demo: tuple[Path, DemoOrg]) -> None:
    """The API a console drill mode drives: one call starts, each advance is one step of drill time."""
    path, org = demo
    live = open_db(path)
    at = datetime(2026, 4, 8, 15, 0, tzinfo=UTC)
    drill = drills.start_drill(
        live, org.org_id, "Platform Default", at=at, ack=AckPlan(3, timedelta(minutes=2))
    )
    try:
        assert [line.kind for line in drill.lines] == ["opened", "page"]
        assert drill.next_instant() == at + timedelta(minutes=5)
        step = drills.advance_drill(drill)
        assert [line.kind for line in step][:2] == ["timeout", "page"] and step[0].layer == 1
        assert drill.clock.now() == at + timedelta(minutes=5)
        drills.advance_drill(drill)  # layer 2 times out, layer 3 is paged
        assert drill.next_instant() == at + timedelta(minutes=17)  # the planned ack comes first
        last = drills.advance_drill(drill)
        assert [line.kind for line in last] == ["ack"] and last[0].name == "Grace Ito"
        assert drill.finished and drill.summary()["timeToAcknowledgeSeconds"] == 17 * 60
        assert drills.advance_drill(drill) == []
    finally:
        drill.close()
    inc = live.scalar("SELECT count(*) FROM incidents WHERE is_drill = 1")
    live.close()
    assert inc == 0


def test_an_ack_at_the_timeout_instant_is_too_late(demo: tuple[Path, DemoOrg]) -> None:
    path, org = demo
    live = open_db(path)
    at = datetime(2026, 4, 8, 15, 0, tzinfo=UTC)
    drill = drills.start_drill(
        live, org.org_id, "Platform Default", at=at, ack=AckPlan(1, timedelta(minutes=5))
    )
    try:
        lines = [line for step in drills.run_drill(drill) for line in step]
    finally:
        drill.close()
        live.close()
    kinds = [line.kind for line in lines]
    assert kinds.index("timeout") < kinds.index("ack")
    assert drill.summary()["layersUsed"] == [1, 2]


def test_a_person_acknowledges_and_the_score_card_reads_per_layer(demo: tuple[Path, DemoOrg]) -> None:
    """What the console drill does: a person acknowledges on the drill's clock (no AckPlan); a
    timeout due at that very instant fires first; the score card is read layer by layer."""
    path, org = demo
    live = open_db(path)
    at = datetime(2026, 4, 8, 15, 0, tzinfo=UTC)
    clock = VirtualClock(at)
    drill = drills.start_drill(live, org.org_id, "Platform Default", at=at, clock=clock)
    try:
        clock.advance(timedelta(minutes=5))  # layer 1's timeout is due, not yet run
        step = drills.acknowledge_drill(drill, org.users["alice"])
        assert [line.kind for line in step][0] == "timeout"
        assert step[-1].kind == "ack" and step[-1].layer == 2 and step[-1].name == "Alice Chen"
        assert drill.finished and drill.summary()["timeToAcknowledgeSeconds"] == 5 * 60
        scores = drills.layer_scores(drill)
        assert [(s.layer, s.started, s.paged_for, s.ended, s.responder) for s in scores] == [
            (1, timedelta(0), timedelta(minutes=5), "timed out", None),
            (2, timedelta(minutes=5), timedelta(0), "acknowledged", "Alice Chen"),
        ]
        assert all(s.people for s in scores)
        assert drills.acknowledge_drill(drill, org.users["alice"]) == []  # finished: nothing more
    finally:
        drill.close()
    inc = live.scalar("SELECT count(*) FROM incidents WHERE is_drill = 1")
    live.close()
    assert inc == 0


def test_parsers() -> None:
    assert parse_ack("2:3m") == AckPlan(2, timedelta(minutes=3))
    assert parse_ack("1:90s").delay == timedelta(seconds=90)
    assert parse_duration("1h30m") == timedelta(minutes=90) and parse_duration("4") == timedelta(minutes=4)
    for bad in ("0:3m", "x:1m", "2", "2:soon"):
        with pytest.raises(ValidationError):
            parse_ack(bad)
    now = datetime(2026, 1, 10, tzinfo=UTC)
    at, note = parse_at("2026-03-08 02:30", "America/New_York", now)
    assert at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC) and note and "does not exist" in note
    assert parse_at("2026-03-08T07:30Z", "Europe/London", now) == (at, None)
    assert next_dst_change("Europe/London", now, "gap") == date(2026, 3, 29)
    assert next_dst_change("Asia/Kolkata", now) is None
    assert parse_at("fall-back 01:30", "Europe/London", now)[0] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert [format_offset(timedelta(seconds=s)) for s in (0, 45, 300, 150, 3900, 93600)] == [
        "t+0s",
        "t+45s",
        "t+5m",
        "t+2m30s",
        "t+1h05m",
        "t+1d2h",
    ]


def one_error_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``error: …`` line of a refused command (run_oncall already checked: no traceback)."""
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--ack", "9:1m"), "error: the policy has 3 layers; --ack 9:1m names layer 9"),
        (("--ack", "4:1m"), "error: the policy has 3 layers; --ack 4:1m names layer 4"),
        (("--at", "0001-01-01T00:00:00Z"), "--at must be between 1970-01-01 and 8999-12-31"),
        (("--at", "0001-01-01 00:00", "--tz", "Asia/Tokyo"), "--at must be between"),
        (("--at", "0001-01-01T00:00:00+14:00"), "--at must be between"),
        (("--at", "9999-12-31T23:59:59Z"), "--at must be between"),
        (("--at", "9999-12-31 23:59", "--tz", "America/New_York"), "--at must be between"),
        (("--ack", "1:99999999999999999999m"), "not a duration"),
        (("--ack", "1:9999h"), "longer than 366 days"),
        (("--ack", "²:1m"), "LAYER:DELAY"),
        (("--ack", "99999999999999999999:1m"), "LAYER:DELAY"),
        (("--ack", "1:²"), "not a duration"),
    ],
)
def test_drill_refuses_odd_arguments_before_running(
    demo: tuple[Path, DemoOrg], args: tuple[str, ...], needle: str
) -> None:
    path, _ = demo
    line = one_error_line(run(path, "drill", "Platform Default", "--instant", *args, ok=False), 2)
    assert line.startswith(needle) if needle.startswith("error: ") else needle in line
    assert "DRILL" not in run(path, "incidents", "--all").stdout


def test_start_drill_refuses_an_ack_layer_the_policy_lacks(demo: tuple[Path, DemoOrg]) -> None:
    path, org = demo
    live = open_db(path)
    try:
        with pytest.raises(ValidationError, match="the policy has 3 layers; --ack names layer 9"):
            drills.start_drill(
                live,
                org.org_id,
                "Platform Default",
                at=datetime(2026, 4, 8, tzinfo=UTC),
                ack=AckPlan(9, timedelta(minutes=1)),
            )
    finally:
        live.close()


def test_a_drill_runs_the_paged_persons_notification_rule_steps(
    demo: tuple[Path, DemoOrg], tmp_path: Path
) -> None:
    """A drill fires the rule timers the engine would: Bob's later contact methods two and four minutes after his
    page shows as a ``step`` line, delivered only with ``--deliver``; an acknowledgement stops the rest."""
    path, org = demo
    sink = tmp_path / "steps.jsonl"
    db = open_db(path)
    ctx = Ctx(db=db, org_id=org.org_id, clock=VirtualClock(T0), via="operator")
    bob = org.users["bob"]
    first = add_contact_method(ctx, bob, {"channel": "log"})["id"]
    second = add_contact_method(ctx, bob, {"channel": "command", "address": f"sh -c 'cat >> {sink}'"})["id"]
    third = add_contact_method(ctx, bob, {"channel": "log"})["id"]
    for method, delay in ((first, 0), (second, 2), (third, 4)):
        rules_svc.add_rule(ctx, bob, {"urgency": "high", "contactMethodId": method, "delayMinutes": delay})
    db.close()
    out = run(path, "drill", "Legacy Nights (broken)", "--at", AT, "--no-ack").stdout
    assert "step    rule 2 (+2 min)  Bob Okafor via command (not delivered: drill)" in out
    assert "step    rule 3 (+4 min)  Bob Okafor via log" in out
    assert not sink.exists()
    out = run(path, "drill", "Legacy Nights (broken)", "--at", AT, "--no-ack", "--deliver").stdout
    assert "step    rule 2 (+2 min)  Bob Okafor via command\n" in out + "\n"
    (page,) = [json.loads(line) for line in sink.read_text().splitlines()]
    assert page["ruleStep"] == 1 and page["incident"]["title"].startswith("DRILL:")
    # Acknowledged a minute in: the two-minute step never comes.
    live = open_db(path)
    at = datetime(2026, 4, 8, 15, 0, tzinfo=UTC)
    drill = drills.start_drill(
        live, org.org_id, "Legacy Nights (broken)", at=at, ack=AckPlan(1, timedelta(minutes=1))
    )
    try:
        lines = [line for step in drills.run_drill(drill) for line in step]
    finally:
        drill.close()
        live.close()
    kinds = [line.kind for line in lines]
    assert "ack" in kinds and "step" not in kinds
    assert _counts(path)["incidents"] == 4  # still only the demo's incidents
