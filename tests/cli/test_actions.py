"""Acting on incidents from the shell (issue 14, item 1): each command through the entry point, in
process; the database, read through the service layer, agrees; bad input is one line, exit 2, nothing
changed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.service import incidents
from engine.timefmt import parse_iso
from tests.cli.conftest import one_error_line, service, user_id
from tests.helpers import run_oncall


def incident(path: Path, number: int) -> dict[str, Any]:
    with service(path) as ctx:
        return incidents.get_incident(ctx, incidents.find_incident(ctx, str(number))["id"])


def out_json(path: Path, *args: str, **kw: Any) -> Any:
    return json.loads(run_oncall(path, *args, "--json", **kw).stdout)


def test_ack_acts_as_the_named_person_and_the_timeline_names_them(demo: Path) -> None:
    dan = user_id(demo, "dan@example.com")
    proc = run_oncall(demo, "ack", "#1", "--as", "dan@example.com")
    assert proc.stdout == "Acknowledged #1 Payment service degraded as Dan Kowalski\n"
    inc = incident(demo, 1)
    assert inc["acknowledgedBy"] == dan
    acks = [e for e in inc["timeline"] if e["kind"] == "incident_acknowledged"]
    assert [e["actor"] for e in acks] == [dan]
    # Again, with --json: the incident as POST /v1/incidents/{id}/acknowledge answers it (idempotent).
    again = out_json(demo, "ack", "1", "--as", "dan@example.com")
    with service(demo) as ctx:
        assert again == incidents.acknowledge(ctx, inc["id"])
    assert "already acknowledged" in run_oncall(demo, "ack", inc["id"]).stdout


def test_the_identity_comes_from_oncall_as_then_the_operator_file(demo: Path, tmp_path: Path) -> None:
    carol, erin = user_id(demo, "carol@example.com"), user_id(demo, "erin@example.com")
    config = tmp_path / "config.toml"
    config.write_text('[cli]\nidentity = "erin@example.com"\n')
    run_oncall(demo, "note", "1", "from the file", env={"ONCALL_CONFIG": str(config)})
    run_oncall(demo, "note", "1", "from the env", env={"ONCALL_CONFIG": str(config), "ONCALL_AS": carol})
    updates = {u["body"]: u for u in incident_updates(demo, 1)}
    assert updates["from the file"]["postedBy"]["id"] == erin
    assert updates["from the env"]["postedBy"]["id"] == carol


def incident_updates(path: Path, number: int) -> list[dict[str, Any]]:
    with service(path) as ctx:
        return incidents.list_updates(ctx, incidents.find_incident(ctx, str(number))["id"])


def test_resolve_steps_through_every_status_in_one_go(demo: Path) -> None:
    before = incident(demo, 2)
    assert before["status"] == "investigating"
    out = out_json(demo, "resolve", "2", "--note", "rolled back", "--as", "bob@example.com")
    after = incident(demo, 2)
    assert out["status"] == after["status"] == "resolved"
    assert [h["status"] for h in after["statusHistory"]] == list(
        ("investigating", "identified", "monitoring", "resolved")
    )
    assert after["statusHistory"][-1]["resolutionNote"] == "rolled back"
    assert after["escalation"]["state"] == "stopped"
    one_error_line(run_oncall(demo, "resolve", "2", ok=False), "resolved")


def test_escalate_snooze_and_handoff(demo: Path) -> None:
    out = out_json(demo, "escalate", "1", "--to", "2")
    assert out["escalation"]["currentLayer"] == incident(demo, 1)["escalation"]["currentLayer"] == 2
    proc = run_oncall(demo, "snooze", "1", "1h30m")
    snoozed = incident(demo, 1)["escalation"]["snoozedUntil"]
    assert proc.stdout.startswith("Snoozed #1 Payment service degraded for 90m until ")
    last = parse_iso(incident(demo, 1)["timeline"][-1]["at"])
    assert timedelta(0) <= parse_iso(snoozed) - last - timedelta(minutes=90) < timedelta(seconds=1)
    carol = user_id(demo, "carol@example.com")
    line = run_oncall(demo, "handoff", "1", "carol@example.com").stdout
    assert line == "Handed #1 Payment service degraded off to Carol Diaz (carol@example.com) as Alice Chen\n"
    assert incident(demo, 1)["ownerId"] == carol


@pytest.mark.parametrize("duration", ["90s", "soon", "0", "8d", ""])
def test_a_bad_duration_is_one_line_and_changes_nothing(demo: Path, duration: str) -> None:
    before = incident(demo, 1)
    proc = run_oncall(demo, "snooze", "1", duration, ok=False)
    one_error_line(proc, "")
    assert incident(demo, 1) == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("ack", "999"), "incident '999' not found"),
        (("ack", "inc_nope"), "not found"),
        (("ack", "1", "--as", "ghost@example.com"), "user 'ghost@example.com' not found"),
        (("resolve", "1", "--as", "ghost@example.com"), "not found"),
        (("handoff", "1", "ghost@example.com"), "not found"),
        (("escalate", "4"), "no escalation policy"),
        (("note", "1", ""), "body"),
        (("resolve", "1", "--note", "a\x1bb"), "control characters"),
        (("resolve", "3", "--as", "ghost@example.com"), "not found"),
        (("page", "--title", "x", "--policy", "No Such Policy"), "not found"),
        (("page", "--title", ""), "title"),
    ],
)
def test_refused_actions_are_one_line_exit_2_and_change_nothing(
    demo: Path, args: tuple[str, ...], needle: str
) -> None:
    before = [incident(demo, n) for n in (1, 2, 3, 4)]
    one_error_line(run_oncall(demo, *args, ok=False), needle)
    assert [incident(demo, n) for n in (1, 2, 3, 4)] == before
    with service(demo) as ctx:
        assert len(incidents.list_incidents(ctx, limit=100)["incidents"]) == 4


def test_page_opens_an_incident_with_the_description_from_stdin(demo: Path) -> None:
    proc = run_oncall(
        demo,
        "page",
        "--title",
        "Disk full on db-1",
        "--severity",
        "critical",
        "--policy",
        "Platform Default",
        "--as",
        "grace@example.com",
        input="/var is at 100%\nsince 10:02\n",
    )
    assert proc.stdout.startswith("Opened #5 Disk full on db-1 [critical] as Grace Ito")
    inc = incident(demo, 5)
    assert inc["description"] == "/var is at 100%\nsince 10:02"
    assert inc["createdBy"] == user_id(demo, "grace@example.com")
    assert inc["escalation"]["currentLayer"] == 1
    assert any(e["kind"] == "layer_paged" for e in inc["timeline"])
    plain = out_json(demo, "page", "--title", "No policy", "--severity", "low")
    assert plain["escalationPolicyId"] is None and plain["description"] is None
    assert plain == {k: v for k, v in incident(demo, 6).items() if k in plain}


def test_note_posts_an_update_and_may_move_the_status(demo: Path) -> None:
    update = out_json(demo, "note", "2", "found it", "--status", "identified", "--as", "bob@example.com")
    assert update["body"] == "found it" and update["statusChange"] == "identified"
    assert incident(demo, 2)["status"] == "identified"
    assert [u["body"] for u in incident_updates(demo, 2)] == ["found it"]
    run_oncall(demo, "note", "2", "-", input="from stdin\n")
    assert [u["body"] for u in incident_updates(demo, 2)] == ["found it", "from stdin"]


def test_incidents_show(demo: Path) -> None:
    shown = out_json(demo, "incidents", "show", "#3")
    assert shown == incident(demo, 3)
    text = run_oncall(demo, "incidents", "show", "3").stdout
    assert text.startswith("#3 Nightly export job failed") and "timeline:" in text


@pytest.mark.parametrize(
    ("config", "code", "needle"),
    [
        ('[cli]\nidentity = "ghost@example.com"\n', 2, "user 'ghost@example.com' not found"),
        ("[cli]\nidentity = 3\n", 1, "cli.identity must be a non-empty string"),
        ('[cli]\nwho = "bob@example.com"\n', 1, "unknown key cli.who"),
    ],
)
def test_a_bad_configured_identity_is_one_line_and_changes_nothing(
    demo: Path, tmp_path: Path, config: str, code: int, needle: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config)
    before = incident(demo, 1)
    proc = run_oncall(demo, "ack", "1", ok=False, env={"ONCALL_CONFIG": str(path)})
    one_error_line(proc, needle, code)
    assert incident(demo, 1) == before


def test_status_updates_and_redact(demo: Path) -> None:
    moved = out_json(demo, "incidents", "status", "2", "identified", "--as", "bob@example.com")
    assert moved["status"] == incident(demo, 2)["status"] == "identified"
    one_error_line(
        run_oncall(demo, "incidents", "status", "2", "resolved", ok=False), "can only move to monitoring"
    )
    note = out_json(demo, "note", "2", "secret token abc", "--as", "bob@example.com")
    listed = out_json(demo, "incidents", "updates", "#2")
    assert listed == {"updates": incident_updates(demo, 2)}
    assert [u["id"] for u in listed["updates"]][-1] == note["id"]
    text = run_oncall(demo, "incidents", "updates", "2").stdout
    assert "Bob Okafor" in text and "secret token abc" in text
    redacted = out_json(demo, "incidents", "redact", "2", note["id"])
    assert redacted["body"] is None and redacted["redactedAt"] is not None
    assert "secret token abc" not in run_oncall(demo, "incidents", "updates", "2").stdout
    one_error_line(run_oncall(demo, "incidents", "redact", "2", "upd_nope", ok=False), "not found")
