"""Configuration as code, the alerting and paging sections: integrations (routing, selectors, severity
map, auto-resolve, flap window), heartbeats, and people's notification rules and shift reminders. Through
the entry point (``oncall export``, ``oncall apply``, ``oncall lint FILE``) and the pure plan
(engine/config.py). docs/CONFIG.md."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine import config as cfg
from tests.helpers import run_oncall

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOOK = "https://hooks.example.com/services/T0SECRET/B0SECRET"


def _json(db: Path, *args: str) -> Any:
    return json.loads(run_oncall(db, *args, "--json").stdout)


def _policy_id(db: Path, name: str) -> str:
    return next(p["id"] for p in _json(db, "policies") if p["name"] == name)


def _alice_methods(db: Path) -> dict[str, str]:
    """Alice's contact methods as the tests add them, oldest first: two webhooks to one host, a log."""
    added = [
        _json(db, "users", "contacts", "add", "alice@example.com", "--channel", "webhook", "--address", HOOK),
        _json(
            db,
            "users",
            "contacts",
            "add",
            "alice@example.com",
            "--channel",
            "webhook",
            "--address",
            HOOK + "2",
        ),
        _json(db, "users", "contacts", "add", "alice@example.com", "--channel", "log"),
    ]
    return {"hook": added[0]["id"], "hook2": added[1]["id"], "log": added[2]["id"]}


@pytest.fixture(scope="module")
def setup_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo plus everything these sections hold, made with the ordinary commands."""
    db = tmp_path_factory.mktemp("sections") / "demo.db"
    run_oncall(db, "demo", "--no-console")
    methods = _alice_methods(db)
    for urgency, after, method in (("high", "5", "hook2"), ("high", "0", "hook"), ("low", "10", "log")):
        run_oncall(
            db, "users", "rules", "alice@example.com", "add", "--urgency", urgency, "--after", after,
            "--method", methods[method],
        )  # fmt: skip
    run_oncall(db, "users", "reminders", "alice@example.com", "--before", "30m", "--at-start")
    run_oncall(db, "users", "reminders", "bob@example.com", "--at-end")  # reminders, no rules
    default = _policy_id(db, "Platform Default")
    selectors = [
        {"matchers": [{"key": "team", "value": "db"}, {"key": "env", "value": "prod"}], "component": "db"},
        {
            "matchers": [{"key": "alertname", "value": "Watchdog"}],
            "escalationPolicyId": None,
            "severity": "low",
        },
        {"matchers": [{"key": "team", "value": "web"}], "escalationPolicyId": default},
    ]
    sel_file = db.parent / "selectors.json"
    sel_file.write_text(json.dumps(selectors))
    run_oncall(
        db, "integrations", "create", "Prometheus", "--kind", "alertmanager", "--policy", "SRE Critical",
        "--component", "api", "--severity", "medium", "--severity-map", "P1=critical", "--severity-map",
        "P2=high", "--selectors", str(sel_file), "--no-auto-resolve", "--flap-window", "300",
    )  # fmt: skip
    run_oncall(db, "integrations", "create", "Grafana", "--kind", "grafana")
    run_oncall(
        db, "heartbeats", "create", "Nightly backup", "--policy", "Platform Default", "--interval", "1440",
        "--grace", "30",
    )  # fmt: skip
    return db


def _fresh(tmp_path: Path) -> Path:
    db = tmp_path / "empty.db"
    run_oncall(db, "init", "--org", "Elsewhere", "--admin-email", "alice@example.com")
    return db


@pytest.mark.parametrize("fmt", cfg.FORMATS)
def test_round_trip_with_integrations_heartbeats_rules_and_reminders(
    tmp_path: Path, setup_db: Path, fmt: str
) -> None:
    text = run_oncall(setup_db, "export", "--format", fmt).stdout
    data = cfg.loads(text, fmt)
    for secret in ("T0SECRET", "inb_", "hbt_", "int_", "cm_", "hb_", "pol_"):
        assert secret not in text
    (prometheus,) = [i for i in data["integrations"] if i["name"] == "Prometheus"]
    assert prometheus == {
        "name": "Prometheus",
        "kind": "alertmanager",
        "policy": "SRE Critical",
        "component": "api",
        "severity": "medium",
        "severity_map": {"P1": "critical", "P2": "high"},
        "auto_resolve": False,
        "flap_window_seconds": 300,
        "selectors": [
            {"matchers": {"team": "db", "env": "prod"}, "component": "db"},
            {"matchers": {"alertname": "Watchdog"}, "policy": "", "severity": "low"},
            {"matchers": {"team": "web"}, "policy": "Platform Default"},
        ],
    }
    assert data["heartbeats"] == [
        {
            "name": "Nightly backup",
            "policy": "Platform Default",
            "interval_minutes": 1440,
            "grace_minutes": 30,
        }
    ]
    assert data["notification_rules"] == [
        {
            "person": "alice@example.com",
            "high": [
                {"method": "webhook https://hooks.example.com/…", "delay_minutes": 0},
                {"method": "webhook https://hooks.example.com/… #2", "delay_minutes": 5},
            ],
            "low": [{"method": "log", "delay_minutes": 10}],
            "shift_reminders": {"before_minutes": 30, "at_start": True, "at_end": False},
        },
        {"person": "bob@example.com", "shift_reminders": {"at_start": False, "at_end": True}},
    ]
    file = tmp_path / f"setup.{fmt}"
    file.write_text(text)

    db = _fresh(tmp_path)
    # Contact methods hold secrets and are not in the file: the rules naming them cannot apply yet.
    linted = run_oncall(db, "lint", str(file), ok=False)
    assert linted.returncode == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "webhook https://hooks.example.com/…" in t)
    assert (
        f"{file}:{line}: notification_rules[0].high[0].method: alice@example.com has no contact method "
        '"webhook https://hooks.example.com/…"'
    ) in linted.stdout
    refused = run_oncall(db, "apply", str(file), "--yes", ok=False)
    assert refused.returncode == 2 and refused.stderr.startswith(f"error: {file}:{line}: ")
    assert "Prometheus" not in run_oncall(db, "export").stdout  # nothing was applied

    _alice_methods(db)  # the operator sets the methods up on this machine, then applies the file
    preview = run_oncall(db, "apply", str(file)).stdout
    assert '+ create integration "Prometheus" (alertmanager)' in preview
    assert '+ create heartbeat "Nightly backup" (every 1440m)' in preview
    assert '+ create notification rules of "alice@example.com"' in preview
    applied = run_oncall(db, "apply", str(file), "--yes").stdout
    assert "Applied." in applied
    urls = [ln for ln in applied.splitlines() if "its URL (shown once" in ln]
    assert len(urls) == 3 and any("/v1/integrations/inbound/inb_" in u for u in urls)
    assert any(u.startswith('heartbeat "Nightly backup"') and "/heartbeats/hbt_" in u for u in urls)
    assert run_oncall(db, "export", "--format", fmt).stdout == text

    again = json.loads(run_oncall(db, "apply", str(file), "--yes", "--json").stdout)
    assert again == {"applied": False, "changes": [], "create": 0, "change": 0, "delete": 0, "tokens": []}
    # The integration the file created receives alerts at the URL the apply printed.
    token = next(u for u in urls if "Prometheus" in u).split("/inbound/")[1].split("/")[0]
    assert token.startswith("inb_")
    listed = {i["name"]: i for i in _json(db, "integrations", "list")}
    assert listed["Prometheus"]["tokenLast4"] == token[-4:]


def test_edits_plan_changes_and_deletes_and_a_change_keeps_the_url(tmp_path: Path, setup_db: Path) -> None:
    text = run_oncall(setup_db, "export").stdout
    db = _fresh(tmp_path)
    _alice_methods(db)
    file = tmp_path / "setup.toml"
    file.write_text(text)
    run_oncall(db, "apply", str(file), "--yes")
    tokens_before = {i["name"]: i["tokenLast4"] for i in _json(db, "integrations", "list")}

    data = cfg.loads(text, "toml")
    prom = next(i for i in data["integrations"] if i["name"] == "Prometheus")
    prom["severity"] = "high"
    prom["selectors"] = prom["selectors"][2:]
    data["integrations"] = [prom]  # Grafana goes
    data["heartbeats"][0]["grace_minutes"] = 10
    alice = data["notification_rules"][0]
    alice["high"][1]["delay_minutes"] = 15
    alice["shift_reminders"]["at_end"] = True
    data["notification_rules"] = [alice]  # bob's reminders go back to none
    file.write_text(cfg.dumps(data, "toml"))

    plan = run_oncall(db, "apply", str(file)).stdout.splitlines()
    assert plan == [
        '~ change integration "Prometheus": severity "medium" -> "high"; selectors ['
        'team=db env=prod -> component "db", alertname=Watchdog -> no policy, severity low, '
        'team=web -> policy "Platform Default"] -> [team=web -> policy "Platform Default"]',
        '~ change heartbeat "Nightly backup": grace_minutes 30 -> 10',
        '~ change notification rules of "alice@example.com": high [webhook https://hooks.example.com/… after 0m, '
        "webhook https://hooks.example.com/… #2 after 5m] -> [webhook https://hooks.example.com/… after 0m, "
        "webhook https://hooks.example.com/… #2 after 15m]; shift_reminders.at_end false -> true",
        '- delete notification rules of "bob@example.com"',
        '- delete integration "Grafana"',
        "Plan: 0 to create, 3 to change, 2 to delete.",
        "Nothing was changed: run again with --yes to apply.",
    ]
    run_oncall(db, "apply", str(file), "--yes")
    assert run_oncall(db, "export").stdout == cfg.dumps(cfg.to_data(cfg.parse(data)), "toml")  # canonical
    assert {i["name"]: i["tokenLast4"] for i in _json(db, "integrations", "list")} == {
        "Prometheus": tokens_before["Prometheus"]  # a change keeps the integration's URL
    }
    bob = _json(db, "users", "reminders", "bob@example.com")
    assert (bob["beforeMinutes"], bob["atStart"], bob["atEnd"]) == (None, False, False)
    assert "No changes" in run_oncall(db, "apply", str(file)).stdout


def test_lint_file_names_unknown_policies_with_their_lines(tmp_path: Path) -> None:
    db = _fresh(tmp_path)
    file = tmp_path / "alerts.yaml"
    file.write_text(
        "integrations:\n"
        "- name: Prometheus\n"
        "  kind: alertmanager\n"
        "  policy: Nope\n"
        "  selectors:\n"
        "  - matchers: {team: db}\n"
        "    policy: Neither\n"
        "heartbeats:\n"
        "- name: Backup\n"
        "  policy: Nope\n"
        "  interval_minutes: 60\n"
        "notification_rules:\n"
        "- person: ghost@example.com\n"
        "  shift_reminders: {at_start: true}\n"
    )
    out = run_oncall(db, "lint", str(file), ok=False)
    assert out.returncode == 1
    assert out.stdout.splitlines()[:4] == [
        f'ERROR    {file}:4: integrations[0].policy: unknown escalation policy "Nope" (not in the organisation)',
        f"ERROR    {file}:7: integrations[0].selectors[0].policy: unknown escalation policy "
        '"Neither" (not in the organisation)',
        f'ERROR    {file}:10: heartbeats[0].policy: unknown escalation policy "Nope" (not in the organisation)',
        f"ERROR    {file}:13: notification_rules[0].person: unknown person "
        '"ghost@example.com" (not in the organisation)',
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[integrations]]\nname = "X"\nkind = "nagios"\n')
    shape = run_oncall(db, "apply", str(bad), ok=False)
    assert shape.returncode == 2
    assert shape.stderr == (
        f"error: {bad}:3: integrations[0].kind: must be one of alertmanager, grafana, events\n"
    )


# ------------------------------------------------------------------------------------------ the pure plan

POLICY = cfg.PolicySpec("P", layers=(cfg.EscalationLayerSpec(5, users=("a@x.io",)),), id="pol_1")
PROM = cfg.IntegrationSpec(
    "Prom",
    "alertmanager",
    policy="P",
    selectors=(cfg.SelectorSpec((("team", "db"),), policy=""),),
    id="int_1",
)
RULES = cfg.NotificationRulesSpec(
    "a@x.io", high=(cfg.RuleStepSpec("log"), cfg.RuleStepSpec("webhook https://h.io/…", 5)), id="user_a"
)
CURRENT = cfg.Config(
    people=(cfg.Person("a@x.io", role="org:admin", id="user_a"),),
    policies=(POLICY,),
    integrations=(PROM,),
    heartbeats=(cfg.HeartbeatSpec("Beat", "P", 60, id="hb_1"),),
    notification_rules=(RULES,),
    contact_methods={"a@x.io": {"log": "cm_1", "webhook https://h.io/…": "cm_2"}},
)


def _as_file(config: cfg.Config) -> cfg.Config:
    return cfg.parse(cfg.to_data(config))


def test_the_same_sections_plan_nothing_and_steps_are_read_in_firing_order() -> None:
    assert cfg.plan(_as_file(CURRENT), CURRENT, NOW).empty
    listed_late_first = cfg.parse(
        {
            "notification_rules": [
                {
                    "person": "a@x.io",
                    "high": [{"method": "webhook https://h.io/…", "delay_minutes": 5}, {"method": "log"}],
                }
            ]
        }
    )
    assert cfg.plan(listed_late_first, CURRENT, NOW).empty


def test_a_kind_change_replaces_the_integration_and_deletes_precede_the_policy() -> None:
    desired = cfg.Config(integrations=(replace(PROM, kind="events", id=None),))
    assert [c.line() for c in cfg.plan(desired, CURRENT, NOW).changes] == [
        '- delete integration "Prom" (its kind becomes events)',
        '+ create integration "Prom" (events)',
    ]
    gone = cfg.Config(policies=(), integrations=(), heartbeats=(), notification_rules=())
    assert [c.line() for c in cfg.plan(gone, CURRENT, NOW).changes] == [
        '- delete notification rules of "a@x.io"',
        '- delete heartbeat "Beat"',
        '- delete integration "Prom"',
        '- delete policy "P"',
    ]


def test_references_check_policies_and_the_persons_contact_methods() -> None:
    desired = cfg.Config(
        policies=(),
        integrations=(PROM,),
        notification_rules=(replace(RULES, low=(cfg.RuleStepSpec("command pager"),)),),
    )
    problems = cfg.references(desired, CURRENT)
    assert [(p.path, p.value) for p in problems] == [
        ("integrations[0].policy", "P"),
        ("notification_rules[0].low[0].method", "command pager"),
    ]
    assert 'theirs: "log", "webhook https://h.io/…"' in problems[1].message
    # A selector's "" is an explicit "no policy", never a reference.
    assert cfg.references(cfg.Config(integrations=(replace(PROM, policy=None),)), CURRENT) == []


def test_the_documented_examples_read_and_name_only_what_they_define() -> None:
    """docs/CONFIG.md's TOML and YAML examples are valid documents (their rules name the methods the
    text describes)."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "CONFIG.md").read_text()
    blocks = re.findall(r"```(toml|yaml)\n(.*?)```", doc, re.S)
    assert [fmt for fmt, _ in blocks] == ["toml", "yaml"]
    methods = {
        "log": "cm_1",
        "webhook https://hooks.example.com/…": "cm_2",
        "webhook https://hooks.example.com/… #2": "cm_3",
    }
    for fmt, text in blocks:
        config = cfg.parse(cfg.loads(text, fmt))
        assert config.integrations and config.notification_rules
        assert cfg.references(config, cfg.Config(contact_methods={"alice@example.com": methods})) == []
