"""The pure rules of engine/alerts.py: payload reading, routing, severity, grouping, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import alerts as rules
from tests.alerts.helpers import am_group, payload

T = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)


def test_alertmanager_payload_reads_fingerprint_group_and_links() -> None:
    got = rules.normalize("alertmanager", payload("alertmanager_firing"))
    assert [a.dedup_key for a in got] == ["5c1f3e9a0b7d2e41", "77aa01c3d9e2f810"]
    assert {a.group_key for a in got} == {'{}:{alertname="ApiLatencyHigh"}'}
    assert got[0].summary == "p99 latency above 800 ms"
    assert got[0].severity_label == "warning"
    assert got[0].links[0]["text"] == "source" and got[0].links[0]["href"].startswith(
        "http://prometheus:9090"
    )
    assert got[0].status == "firing"


def test_grafana_payload_keeps_every_link_and_skips_empty_ones() -> None:
    got = rules.normalize("grafana", payload("grafana_firing"))
    assert [link["text"] for link in got[0].links] == ["source", "dashboard", "panel", "silence"]
    assert [link["text"] for link in got[1].links] == ["source", "silence"]
    assert got[0].summary == "CPU above 95% on web-1"
    assert got[0].dedup_key == "a1b2c3d4e5f60718"


def test_events_payload_reads_pagerduty_v2_names() -> None:
    (alert,) = rules.normalize("events", payload("events_trigger"))
    assert alert.dedup_key == alert.group_key == "disk-full/db-3"
    assert alert.status == "firing"
    assert alert.summary.startswith("Disk 97% full")
    assert alert.source == "db-3.prod"
    assert alert.labels == {
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "disk",
        "severity": "warning",
    }
    assert alert.annotations["mount"] == "/var/lib/postgresql"
    assert [link["text"] for link in alert.links] == ["Runbook", "Nagios"]


def test_events_payload_own_names_and_a_stable_minted_dedup_key() -> None:
    one = rules.normalize("events", {"action": "trigger", "summary": "s", "source": "x"})[0]
    two = rules.normalize("events", {"action": "trigger", "summary": "s", "source": "x"})[0]
    assert one.dedup_key == two.dedup_key
    resolved = rules.normalize("events", {"action": "resolve", "dedupKey": "k"})[0]
    assert resolved.status == "resolved"


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("alertmanager", [], "must be a JSON object"),
        ("alertmanager", {"alerts": []}, "non-empty alerts array"),
        (
            "alertmanager",
            {"alerts": [{"status": "weird"}]},
            'alerts[0].status must be "firing" or "resolved"',
        ),
        (
            "alertmanager",
            {"alerts": [{"status": "firing", "labels": [1]}]},
            "alerts[0].labels must be a JSON object",
        ),
        ("grafana", {"alerts": "x"}, "non-empty alerts array"),
        ("events", {"action": "explode"}, 'action must be "trigger", "acknowledge" or "resolve"'),
        ("events", {"action": "trigger"}, "summary is required"),
        ("events", {"action": "resolve"}, "dedupKey is required to resolve"),
        (
            "events",
            {"action": "trigger", "summary": "s", "dedupKey": 5},
            "dedupKey must be a non-empty string",
        ),
    ],
)
def test_wrong_shapes_name_what_is_wrong(kind: str, body: object, message: str) -> None:
    with pytest.raises(rules.PayloadError, match=None) as err:
        rules.normalize(kind, body)
    assert message in str(err.value)


def test_selectors_match_case_insensitively_all_matchers_first_wins() -> None:
    default = rules.Routing("pol_default")
    selectors = [
        rules.Selector((("team", "Payments"), ("env", "prod")), rules.Routing("pol_pay_prod")),
        rules.Selector((("TEAM", "payments"),), rules.Routing("pol_pay", "checkout", "low")),
    ]
    prod = rules.route(selectors, {"Team": "PAYMENTS", "env": "Prod"}, default)
    assert (prod.escalation_policy_id, prod.selector) == ("pol_pay_prod", 0)
    staging = rules.route(selectors, {"team": "payments", "env": "staging"}, default)
    assert (staging.escalation_policy_id, staging.component, staging.selector) == ("pol_pay", "checkout", 1)
    assert rules.route(selectors, {"env": "prod"}, default) == default


def test_severity_map_overrides_then_defaults_then_routing_default() -> None:
    assert rules.map_severity("CRITICAL", {}, "high") == "critical"
    assert rules.map_severity("warning", {}, "high") == "medium"
    assert rules.map_severity("warning", {"Warning": "critical"}, "high") == "critical"
    assert rules.map_severity("p3", {}, "low") == "low"
    assert rules.map_severity(None, {}, "medium") == "medium"


def test_grouping_decisions() -> None:
    firing = rules.normalize("alertmanager", am_group("firing", "a"))[0]
    resolved = rules.normalize("alertmanager", am_group("resolved", "a"))[0]
    assert rules.decide(firing, None, False).action == "open"
    assert rules.decide(firing, None, True).action == "attach"
    assert rules.decide(firing, rules.Known("firing"), True).action == "repeat"
    assert rules.decide(firing, rules.Known("resolved"), True).action == "refire"
    assert rules.decide(resolved, rules.Known("firing"), True).action == "resolve"
    assert rules.decide(resolved, rules.Known("resolved"), True).action == "ignore"
    assert rules.decide(resolved, None, False).action == "ignore"
    assert (
        rules.should_resolve(0, True)
        and not rules.should_resolve(0, False)
        and not rules.should_resolve(1, True)
    )


def test_window_verdicts_by_scope_time_and_mode() -> None:
    hour = timedelta(hours=1)
    org = rules.Window("w1", "org", None, T, T + hour, "hold")
    later = rules.Window("w2", "integration", "int_a", T, T + 2 * hour, "hold")
    comp = rules.Window("w3", "component", "DB", T, T + hour, "drop")
    scheduled = rules.Window("w4", "org", None, T + hour, T + 3 * hour, "drop")
    assert rules.window_verdict([org, later], "int_a", None, T).window == later  # the one ending last
    assert rules.window_verdict([org, later], "int_b", None, T).window == org
    assert rules.window_verdict([org, comp], "int_b", "db", T).mode == "drop"
    assert rules.window_verdict([comp, scheduled], "int_b", "web", T).mode == "page"
    assert rules.window_verdict([org], "int_b", None, T + hour).mode == "page"  # the end is exclusive


def test_clip_raw_cuts_on_a_character_boundary() -> None:
    text, cut = rules.clip_raw({"k": "é" * 100}, limit=51)
    assert cut and len(text.encode()) <= 51
    assert rules.clip_raw({"k": 1}) == ('{"k":1}', False)
