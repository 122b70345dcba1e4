"""Editing escalation policies, their layers, schedules, rotation layers and overrides from the shell
(issue 14, item 1): each write through the entry point, the database read back through the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.service import policies, schedules
from tests.cli.conftest import one_error_line, service, user_id
from tests.helpers import run_oncall


def out_json(path: Path, *args: str) -> Any:
    return json.loads(run_oncall(path, *args, "--json").stdout)


def policy(path: Path, name: str) -> dict[str, Any]:
    with service(path) as ctx:
        return policies.get_policy(ctx, policies.find_policy(ctx, name)["id"])


def schedule(path: Path, name: str) -> dict[str, Any]:
    with service(path) as ctx:
        return schedules.get_schedule(ctx, schedules.find_schedule(ctx, name)["id"])


def test_policy_lifecycle(demo: Path) -> None:
    created = out_json(
        demo, "policies", "create", "Night Owls", "--description", "after hours", "--repeat", "1"
    )
    assert created == {k: v for k, v in policy(demo, "Night Owls").items() if k != "layers"}
    assert created["repeat"] == 1
    line = run_oncall(
        demo,
        "policies",
        "layers",
        "add",
        "Night Owls",
        "--timeout",
        "10",
        "--users",
        "bob@example.com,carol@example.com",
    ).stdout
    assert line.startswith("Added layer 1 to Night Owls (layer_")
    layer2 = out_json(
        demo, "policies", "layers", "add", "Night Owls", "--timeout", "15", "--schedule", "Platform Primary"
    )
    assert layer2["position"] == 2 and layer2["target"]["type"] == "schedule"
    run_oncall(
        demo,
        "policies",
        "layers",
        "add",
        "Night Owls",
        "--timeout",
        "5",
        "--users",
        "dan@example.com",
        "--position",
        "1",
    )
    pol = policy(demo, "Night Owls")
    bob, carol, dan = (user_id(demo, f"{n}@example.com") for n in ("bob", "carol", "dan"))
    assert [(x["ackTimeoutMinutes"], x["target"].get("userIds")) for x in pol["layers"]] == [
        (5, [dan]),
        (10, [bob, carol]),
        (15, None),
    ]
    # reorder by current positions: 3 1 2
    ids = [x["id"] for x in pol["layers"]]
    out = out_json(demo, "policies", "reorder", "Night Owls", "3", "1", ids[1])
    assert [x["id"] for x in out] == [ids[2], ids[0], ids[1]]
    assert [x["id"] for x in policy(demo, "Night Owls")["layers"]] == [ids[2], ids[0], ids[1]]
    edited = out_json(demo, "policies", "layers", "edit", "Night Owls", "1", "--timeout", "20")
    assert edited["id"] == ids[2] and edited["ackTimeoutMinutes"] == 20
    run_oncall(demo, "policies", "edit", "Night Owls", "--name", "Night Owls 2", "--repage-after", "30")
    renamed = policy(demo, "Night Owls 2")
    assert renamed["repageAfterMinutes"] == 30 and renamed["layers"][0]["ackTimeoutMinutes"] == 20
    deleted = out_json(demo, "policies", "layers", "delete", "Night Owls 2", ids[0])
    assert deleted == {"id": ids[0], "deleted": True}
    assert [x["id"] for x in policy(demo, "Night Owls 2")["layers"]] == [ids[2], ids[1]]
    line = run_oncall(demo, "policies", "delete", "Night Owls 2").stdout
    assert line.startswith("Deleted policy Night Owls 2 (pol_")
    with service(demo) as ctx:
        assert "Night Owls 2" not in [p["name"] for p in policies.list_policies(ctx)]


def test_refused_policy_edits_change_nothing(demo: Path) -> None:
    before = policy(demo, "Platform Default")
    for args, needle in [
        (("policies", "reorder", "Platform Default", "1", "2"), "layer"),  # not every layer
        (("policies", "reorder", "Platform Default", "1", "1", "2"), "layer"),
        (("policies", "layers", "edit", "Platform Default", "9", "--timeout", "3"), "not found"),
        (("policies", "layers", "add", "Platform Default", "--timeout", "3"), "--schedule or --users"),
        (
            ("policies", "layers", "add", "Platform Default", "--timeout", "3", "--users", "ghost@x.io"),
            "not found",
        ),
        (("policies", "edit", "Platform Default"), "nothing to change"),
        (("policies", "create", "Platform Default"), "already exists"),
        (("policies", "delete", "Platform Default"), "open incident"),
    ]:
        one_error_line(run_oncall(demo, *args, ok=False), needle)
    assert policy(demo, "Platform Default") == before


def test_schedule_rotation_layers_and_overrides(demo: Path) -> None:
    made = out_json(demo, "schedules", "create", "DB Primary", "--timezone", "America/New_York")
    assert made["timezone"] == "America/New_York"
    run_oncall(demo, "schedules", "edit", "DB Primary", "--description", "databases")
    add = (
        "schedules", "layers", "add", "DB Primary", "--name", "Weekdays", "--type", "weekly",
        "--handoff", "09:00", "--from", "2026-03-02 09:00", "--participants", "bob@example.com,carol@example.com",
    )  # fmt: skip
    layer = out_json(demo, *add)
    # a local time in the schedule's zone: 09:00 EST is 14:00Z
    assert layer["effectiveFrom"] == "2026-03-02T14:00:00.000Z" and layer["rotationLengthDays"] == 7
    second = out_json(
        demo,
        "schedules",
        "layers",
        "add",
        "DB Primary",
        "--name",
        "Backup",
        "--type",
        "custom",
        "--length",
        "3",
        "--handoff",
        "10:00",
        "--from",
        "2026-03-02T00:00Z",
        "--participants",
        "dan@example.com",
    )
    run_oncall(
        demo,
        "schedules",
        "layers",
        "edit",
        "DB Primary",
        "Weekdays",
        "--handoff",
        "08:30",
        "--until",
        "2027-01-01",
    )
    run_oncall(demo, "schedules", "layers", "reorder", "DB Primary", "Backup", layer["id"])
    sched = schedule(demo, "DB Primary")
    assert sched["description"] == "databases"
    assert [x["name"] for x in sched["layers"]] == ["Backup", "Weekdays"]
    weekdays = sched["layers"][1]
    assert weekdays["handoffTime"] == "08:30" and weekdays["effectiveUntil"] == "2027-01-01T05:00:00.000Z"
    ovr = out_json(
        demo,
        "schedules",
        "overrides",
        "add",
        "DB Primary",
        "--user",
        "erin@example.com",
        "--start",
        "2026-12-24T00:00Z",
        "--end",
        "2026-12-26T00:00Z",
        "--note",
        "holiday cover",
    )
    assert ovr["userId"] == user_id(demo, "erin@example.com") and ovr["note"] == "holiday cover"
    assert (
        out_json(demo, "schedules", "overrides", "list", "DB Primary")
        == schedule(demo, "DB Primary")["overrides"]
    )
    assert "holiday cover" in run_oncall(demo, "schedules", "overrides", "list", "DB Primary").stdout
    run_oncall(demo, "schedules", "overrides", "delete", "DB Primary", ovr["id"])
    run_oncall(demo, "schedules", "layers", "delete", "DB Primary", second["id"])
    assert [x["name"] for x in schedule(demo, "DB Primary")["layers"]] == ["Weekdays"]
    assert schedule(demo, "DB Primary")["overrides"] == []
    assert out_json(demo, "schedules", "delete", "DB Primary")["deleted"] is True
    with service(demo) as ctx:
        assert "DB Primary" not in [s["name"] for s in schedules.list_schedules(ctx)]


def test_refused_schedule_edits_change_nothing(demo: Path) -> None:
    before = schedule(demo, "Platform Primary")
    for args, needle in [
        (("schedules", "create", "X", "--timezone", "Mars/Olympus"), "timezone"),
        (("schedules", "edit", "Platform Primary", "--timezone", "Nowhere/City"), "timezone"),
        (
            (
                "schedules",
                "overrides",
                "add",
                "Platform Primary",
                "--user",
                "bob@example.com",
                "--start",
                "tomorrow",
                "--end",
                "now",
            ),
            "--start",
        ),
        (
            (
                "schedules",
                "overrides",
                "add",
                "Platform Primary",
                "--user",
                "bob@example.com",
                "--start",
                "now",
                "--end",
                "2000-01-01",
            ),
            "end",
        ),
        (
            (
                "schedules",
                "layers",
                "add",
                "Platform Primary",
                "--name",
                "N",
                "--type",
                "daily",
                "--handoff",
                "25:00",
                "--from",
                "now",
                "--participants",
                "bob@example.com",
            ),
            "handoff",
        ),
        (("schedules", "layers", "delete", "Platform Primary", "No Such Layer"), "not found"),
        (("schedules", "delete", "Platform Primary"), "targeted by escalation policies"),
    ]:
        one_error_line(run_oncall(demo, *args, ok=False), needle)
    assert schedule(demo, "Platform Primary") == before
