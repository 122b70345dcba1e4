"""Configuration as code: ``oncall export``, ``oncall apply FILE [--yes]`` and ``oncall lint FILE`` through
the entry point, and the pure plan (engine/config.py) on hand-made setups."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import config as cfg
from tests.helpers import run_oncall

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo organisation (``oncall demo --no-console``) exported in both formats."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    run_oncall(db, "demo", "--no-console")
    out: dict[str, Any] = {fmt: run_oncall(db, "export", "--format", fmt).stdout for fmt in cfg.FORMATS}
    out["json"] = json.loads(run_oncall(db, "export", "--json").stdout)
    return out


def fresh(tmp_path: Path, name: str = "empty.db") -> Path:
    """An organisation with only its first admin, the demo's (the CLI acts as them)."""
    db = tmp_path / name
    run_oncall(db, "init", "--org", "Elsewhere", "--admin-email", "alice@example.com")
    return db


@pytest.mark.parametrize("fmt", cfg.FORMATS)
def test_round_trip_on_the_demo_and_a_second_apply_changes_nothing(
    tmp_path: Path, demo_export: dict[str, Any], fmt: str
) -> None:
    text = demo_export[fmt]
    assert "pol_" not in text and "sched_" not in text and "user_" not in text  # names, never ids
    assert cfg.loads(text, fmt) == demo_export["json"]
    assert "scl_live_" not in text and "secret" not in text
    file = tmp_path / f"setup.{fmt}"
    file.write_text(text)
    db = fresh(tmp_path)
    before = run_oncall(db, "export", "--format", fmt).stdout

    preview = run_oncall(db, "apply", str(file))
    assert '+ create schedule "Platform Primary" (America/New_York)' in preview.stdout
    assert '+ create policy "Platform Default" layer 2 (ack within 10m: schedule "Platform Secondary")' in (
        preview.stdout
    )
    assert '~ change person "alice@example.com": first_name (none) -> "Alice"' in preview.stdout
    assert "run again with --yes" in preview.stdout
    assert run_oncall(db, "export", "--format", fmt).stdout == before  # the plan wrote nothing

    applied = run_oncall(db, "apply", str(file), "--yes")
    assert "Applied." in applied.stdout
    assert run_oncall(db, "export", "--format", fmt).stdout == text

    piped = run_oncall(db, "apply", "-", input=demo_export["toml"])  # standard input, read as TOML
    assert "No changes" in piped.stdout
    again = run_oncall(db, "apply", str(file), "--yes", "--json")
    assert json.loads(again.stdout) == {
        "applied": False,
        "changes": [],
        "create": 0,
        "change": 0,
        "delete": 0,
        "tokens": [],
    }
    assert "No changes" in run_oncall(db, "apply", str(file)).stdout


def test_a_section_in_the_file_is_managed_and_one_left_out_is_not(
    tmp_path: Path, demo_export: dict[str, Any]
) -> None:
    db = fresh(tmp_path)
    full = tmp_path / "full.toml"
    full.write_text(demo_export["toml"])
    run_oncall(db, "apply", str(full), "--yes")
    only = tmp_path / "policies.toml"
    only.write_text(
        'version = 1\n[[policies]]\nname = "Platform Default"\n'
        'description = "Default escalation for platform incidents"\n'
        '[[policies.layers]]\nack_timeout_minutes = 7\nschedule = "Platform Primary"\n'
    )
    plan = json.loads(run_oncall(db, "apply", str(only), "--json").stdout)
    lines = {(c["action"], c["subject"]) for c in plan["changes"]}
    assert lines == {
        ("change", 'policy "Platform Default" layer 1'),
        ("delete", 'policy "Platform Default" layer 3 (users grace@example.com)'),
        ("delete", 'policy "Platform Default" layer 2 (schedule "Platform Secondary")'),
        ("delete", 'policy "Legacy Nights (broken)"'),
        ("delete", 'policy "SRE Critical"'),
    }
    run_oncall(db, "apply", str(only), "--yes")
    after = run_oncall(db, "export").stdout
    assert "SRE Follow-the-sun" in after and "grace@example.com" in after  # schedules and people untouched
    assert "SRE Critical" not in after and "ack_timeout_minutes = 7" in after


def test_an_error_half_way_leaves_nothing_applied(tmp_path: Path) -> None:
    db = fresh(tmp_path)
    before = run_oncall(db, "export").stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'version = 1\n[[people]]\nemail = "new@example.com"\nrole = "org:member"\n'
        '[[people]]\nemail = "alice@example.com"\nrole = "org:admin"\n'
        '[[schedules]]\nname = "Good"\ntimezone = "UTC"\n'
        '[[schedules]]\nname = "Nowhere"\ntimezone = "Mars/Olympus"\n'
    )
    proc = run_oncall(db, "apply", str(bad), "--yes", ok=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: schedule "Nowhere" (Mars/Olympus): unknown timezone')
    assert proc.stderr.count("\n") == 1
    assert run_oncall(db, "export").stdout == before  # neither the person nor the first schedule

    lint = run_oncall(db, "lint", str(bad), ok=False)
    assert lint.returncode == 1
    assert 'applying it would fail: schedule "Nowhere"' in lint.stdout
    assert run_oncall(db, "export").stdout == before


def test_lint_file_warns_about_an_override_that_is_over(tmp_path: Path, demo_export: dict[str, Any]) -> None:
    db = fresh(tmp_path)
    file = tmp_path / "past.toml"
    file.write_text(
        'version = 1\n[[schedules]]\nname = "S"\ntimezone = "UTC"\n'
        '[[schedules.overrides]]\nperson = "alice@example.com"\n'
        'start = "2020-01-01T00:00:00Z"\nend = "2020-01-02T00:00:00Z"\n'
    )
    proc = run_oncall(db, "lint", str(file))  # a warning is not an error: exit 0
    assert (
        'WARNING  schedule "S" override of alice@example.com: ended at 2020-01-02T00:00:00.000Z'
        in proc.stdout
    )
    assert "Plan: 1 to create, 0 to change, 0 to delete." in proc.stdout  # the schedule, not the override


def test_lint_file_names_unknown_people_and_schedules_with_their_lines(tmp_path: Path) -> None:
    db = fresh(tmp_path)
    file = tmp_path / "refs.yaml"
    file.write_text(
        "version: 1\n"  # 1
        "policies:\n"  # 2
        "- name: P\n"  # 3
        "  layers:\n"  # 4
        "  - ack_timeout_minutes: 5\n"  # 5
        "    schedule: Nope\n"  # 6
        "  - ack_timeout_minutes: 5\n"  # 7
        "    users: [ghost@example.com]\n"  # 8
    )
    proc = run_oncall(db, "lint", str(file), ok=False)
    assert proc.returncode == 1
    assert f'{file}:6: policies[0].layers[0].schedule: unknown schedule "Nope"' in proc.stdout
    assert f'{file}:8: policies[0].layers[1].users: unknown person "ghost@example.com"' in proc.stdout
    applied = run_oncall(db, "apply", str(file), "--yes", ok=False)
    assert applied.returncode == 2 and f"{file}:6:" in applied.stderr


def test_lint_file_runs_the_linters_rules_on_the_setup_it_would_leave(
    tmp_path: Path, demo_export: dict[str, Any]
) -> None:
    db = fresh(tmp_path)
    file = tmp_path / "demo.toml"
    file.write_text(demo_export["toml"])
    proc = run_oncall(db, "lint", str(file), ok=False)
    assert proc.returncode == 1  # the demo keeps a deliberately broken policy
    assert 'ERROR    policy "Legacy Nights (broken)" layer 2: is the last layer' in proc.stdout
    assert "Plan: " in proc.stdout
    assert "Legacy Nights" not in run_oncall(db, "export").stdout  # linting wrote nothing
    data = json.loads(run_oncall(db, "lint", str(file), "--json", ok=False).stdout)
    assert data["errors"] >= 1 and data["problems"] == [] and data["plan"]["create"] > 0


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("broken.toml", 'version = 1\n[[people]\nemail = "x"\n', ":2: not valid TOML"),
        (
            "shape.toml",
            'version = 1\n[[people]]\nmail = "x@example.com"\n',
            ":3: people[0].mail: unknown key",
        ),
        (
            "typo.yaml",
            "version: 1\nschedules:\n- name: S\n  timezone: UTC\n  layers: 3\n",
            "layers: must be a list",
        ),
        ("version.toml", "version = 2\n", "version: must be 1"),
        (
            "top.toml",
            "version = 1\nteams = []\n",
            ":2: teams: unknown key (expected one of: heartbeats, integrations, notification_rules, people, policies",
        ),
        ("empty.yaml", "", "must be a table"),
        (
            "clock.yaml",
            "schedules:\n- name: S\n  timezone: UTC\n  layers:\n  - name: L\n    rotation_type: daily\n"
            "    handoff_time: 10:00\n    effective_from: '2026-01-01T00:00:00Z'\n    participants: [a@x.io]\n",
            ":7: schedules[0].layers[0].handoff_time: must be a string (quote it in YAML)",
        ),
    ],
)
def test_a_file_that_does_not_read_is_one_error_line(
    tmp_path: Path, name: str, text: str, needle: str
) -> None:
    db = fresh(tmp_path)
    file = tmp_path / name
    file.write_text(text)
    proc = run_oncall(db, "apply", str(file), ok=False)
    assert proc.returncode == 2 and needle in proc.stderr and proc.stderr.count("\n") == 1
    assert run_oncall(db, "apply", str(tmp_path / "missing.toml"), ok=False).returncode == 2


# -- the pure plan ----------------------------------------------------------------------------------------

LAYER = cfg.RotationLayerSpec(
    "Primary", "daily", 1, "09:00", datetime(2026, 1, 1, tzinfo=UTC), None, ("a@x.io", "b@x.io"), id="rot_1"
)
SCHED = cfg.ScheduleSpec("S", "UTC", layers=(LAYER,), id="sched_1")
POLICY = cfg.PolicySpec(
    "P",
    layers=(
        cfg.EscalationLayerSpec(5, schedule="S", id="layer_1"),
        cfg.EscalationLayerSpec(10, users=("a@x.io",), id="layer_2"),
    ),
    id="pol_1",
)
PEOPLE = (cfg.Person("a@x.io", "A", None, "org:admin", id="user_a"), cfg.Person("b@x.io", id="user_b"))
CURRENT = cfg.Config(people=PEOPLE, schedules=(SCHED,), policies=(POLICY,))


def strip_ids(config: cfg.Config) -> cfg.Config:
    """The same setup as a file would give it (no ids)."""
    return cfg.parse(cfg.to_data(config))


def test_the_same_setup_plans_nothing_and_an_unmanaged_section_is_left_alone() -> None:
    assert cfg.plan(strip_ids(CURRENT), CURRENT, NOW).empty
    assert cfg.plan(cfg.Config(), CURRENT, NOW).empty
    assert cfg.plan(cfg.Config(), CURRENT, NOW).summary().startswith("No changes")


def test_changes_renames_reorders_and_layers_by_position() -> None:
    renamed = replace(LAYER, name="Day", participants=("b@x.io", "a@x.io"))
    second = replace(LAYER, name="Shadow", rotation_type="weekly", rotation_length_days=7)
    sched = replace(SCHED, timezone="Europe/Paris", layers=(second, renamed, replace(LAYER, name="Extra")))
    policy = replace(POLICY, layers=(cfg.EscalationLayerSpec(5, users=("b@x.io",)),))
    desired = cfg.Config(schedules=(sched,), policies=(policy,))
    plan = cfg.plan(desired, CURRENT, NOW)
    assert [c.line() for c in plan.changes] == [
        '~ change schedule "S": timezone "UTC" -> "Europe/Paris"',
        '- delete schedule "S" rotation layer "Primary"',
        '+ create schedule "S" rotation layer "Shadow"',
        '+ create schedule "S" rotation layer "Day"',
        '+ create schedule "S" rotation layer "Extra"',
        '~ change policy "P" layer 1: target schedule "S" -> users b@x.io',
        '- delete policy "P" layer 2 (users a@x.io)',
    ]
    assert plan.summary() == "Plan: 3 to create, 2 to change, 2 to delete."
    swapped = replace(SCHED, layers=(replace(LAYER, name="B"), LAYER))
    current = replace(
        CURRENT, schedules=(replace(SCHED, layers=(LAYER, replace(LAYER, name="B", id="rot_2"))),)
    )
    (order,) = cfg.plan(cfg.Config(schedules=(swapped,)), current, NOW).changes
    assert (
        order.line()
        == '~ change schedule "S" rotation layer order: order ["Primary", "B"] -> ["B", "Primary"]'
    )


def test_deletes_come_last_people_after_what_names_them() -> None:
    desired = cfg.Config(people=(PEOPLE[0], cfg.Person("c@x.io")), schedules=(), policies=())
    plan = cfg.plan(desired, CURRENT, NOW)
    assert [c.line() for c in plan.changes] == [
        '+ create person "c@x.io" (org:member)',
        '- delete policy "P"',
        '- delete schedule "S"',
        '- delete person "b@x.io"',
    ]


def test_overrides_in_the_past_are_history_and_never_planned() -> None:
    past = cfg.OverrideSpec("a@x.io", NOW - timedelta(days=2), NOW - timedelta(days=1), id="ovr_1")
    future = cfg.OverrideSpec(
        "b@x.io", NOW + timedelta(days=1), NOW + timedelta(days=2), note="swap", id="ovr_2"
    )
    current = replace(CURRENT, schedules=(replace(SCHED, overrides=(past, future)),))
    lines = [
        c.line()
        for c in cfg.plan(cfg.Config(schedules=(replace(SCHED, overrides=()),)), current, NOW).changes
    ]
    assert lines == [
        '- delete schedule "S" override b@x.io 2026-03-02T12:00:00.000Z -> 2026-03-03T12:00:00.000Z'
    ]
    renoted = replace(SCHED, overrides=(replace(future, note="other", id=None), replace(past, id=None)))
    actions = [c.action for c in cfg.plan(cfg.Config(schedules=(renoted,)), current, NOW).changes]
    assert actions == ["delete", "create"]  # an override is replaced, never edited; the past one is ignored


def test_references_use_the_files_sections_or_the_organisations() -> None:
    desired = cfg.Config(people=(PEOPLE[0],), policies=(POLICY,))
    problems = cfg.references(desired, CURRENT)
    assert [(p.path, p.message) for p in problems] == []  # schedule S exists in the organisation
    desired = cfg.Config(people=(PEOPLE[1],), schedules=(), policies=(POLICY,))
    problems = cfg.references(desired, CURRENT)
    assert [p.path for p in problems] == ["policies[0].layers[0].schedule", "policies[0].layers[1].users"]


def test_export_to_a_file_takes_its_format_from_the_extension(
    tmp_path: Path, demo_export: dict[str, Any]
) -> None:
    db = fresh(tmp_path)
    run_oncall(db, "apply", str(_write(tmp_path / "demo.toml", demo_export["toml"])), "--yes")
    out = tmp_path / "again.yml"
    assert run_oncall(db, "export", "-o", str(out)).stdout == f"wrote {out}\n"
    assert out.read_text() == demo_export["yaml"]
    both = run_oncall(db, "export", "--json", "-o", str(out), ok=False)
    assert both.returncode == 2 and both.stderr.startswith("error: --json prints the document")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
