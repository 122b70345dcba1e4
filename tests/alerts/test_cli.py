"""``oncall integrations …`` and ``oncall maintenance …`` through the CLI's entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_oncall


def test_integrations_lifecycle_and_test_payloads(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    run_oncall(db, "init", "--org", "Acme", "--admin-email", "admin@example.com")
    selectors = tmp_path / "selectors.json"
    selectors.write_text(
        json.dumps([{"matchers": [{"key": "severity", "value": "warning"}], "severity": "low"}])
    )
    out = run_oncall(
        db, "integrations", "create", "prom", "--kind", "alertmanager", "--selectors", str(selectors),
        "--severity-map", "warning=low", "--flap-window", "0",
    ).stdout  # fmt: skip
    assert "Created alertmanager integration prom" in out
    assert "http://127.0.0.1:8080/v1/integrations/inbound/inb_" in out
    listed = json.loads(run_oncall(db, "integrations", "list", "--json").stdout)
    assert [(i["name"], len(i["selectors"])) for i in listed] == [("prom", 1)]
    assert "token" not in listed[0]
    token_before = listed[0]["tokenLast4"]
    fired = json.loads(run_oncall(db, "integrations", "test", "prom", "--json").stdout)
    assert [a["action"] for a in fired["alerts"]] == ["open"]
    again = run_oncall(db, "integrations", "test", "prom").stdout
    assert again.startswith("repeat: alert alr_")
    cleared = json.loads(run_oncall(db, "integrations", "test", "prom", "--resolve", "--json").stdout)
    assert [a["action"] for a in cleared["alerts"]] == ["resolve"]
    incident = json.loads(run_oncall(db, "incidents", "--json", "--all").stdout)
    assert any(i["id"] == fired["alerts"][0]["incidentId"] and i["status"] == "resolved" for i in incident)
    rotated = json.loads(run_oncall(db, "integrations", "rotate", "prom", "--json").stdout)
    assert rotated["token"][-4:] == rotated["tokenLast4"] != token_before or rotated["token"].startswith(
        "inb_"
    )
    assert "Deleted prom" in run_oncall(db, "integrations", "delete", "prom").stdout
    assert "(none)" in run_oncall(db, "integrations", "list").stdout


def test_integration_errors_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    run_oncall(db, "init", "--org", "Acme", "--admin-email", "admin@example.com")
    run_oncall(db, "integrations", "create", "events", "--kind", "events")
    for args, needle, code in [
        (("integrations", "create", "events", "--kind", "events"), "already exists", 2),
        (("integrations", "create", "x", "--kind", "events", "--policy", "nope"), "not found", 2),
        (
            ("integrations", "create", "x", "--kind", "events", "--severity-map", "warning"),
            "LABEL=SEVERITY",
            2,
        ),
        (("integrations", "rotate", "nope"), "integration 'nope' not found", 2),
        (("integrations", "test", "nope"), "not found", 2),
        (("maintenance", "start", "--for", "30m"), "exactly one of --org", 2),
        (("maintenance", "start", "--org"), "exactly one of --for", 2),
        (("maintenance", "start", "--org", "--for", "soon"), "like 30m", 2),
        (("maintenance", "start", "--org", "--until", "yesterday"), "endsAt", 2),
        (("maintenance", "end", "mw_nope"), "not found", 2),
    ]:
        proc = run_oncall(db, *args, ok=False)
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (args, proc.stderr)


def test_maintenance_start_list_end(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    run_oncall(db, "init", "--org", "Acme", "--admin-email", "admin@example.com")
    run_oncall(db, "integrations", "create", "events", "--kind", "events")
    started = json.loads(
        run_oncall(
            db,
            "maintenance",
            "start",
            "--integration",
            "events",
            "--for",
            "2h",
            "--reason",
            "db upgrade",
            "--json",
        ).stdout
    )
    assert (started["state"], started["mode"], started["scope"]) == ("active", "hold", "integration")
    scheduled = json.loads(
        run_oncall(
            db,
            "maintenance",
            "start",
            "--org",
            "--drop",
            "--at",
            "2099-01-01T00:00:00Z",
            "--for",
            "1h",
            "--json",
        ).stdout
    )
    assert scheduled["state"] == "scheduled"
    table = run_oncall(db, "maintenance", "list").stdout
    assert started["id"] in table and "db upgrade" in table and "scheduled" in table
    assert "ended at" in run_oncall(db, "maintenance", "end", started["id"]).stdout
    assert started["id"] not in run_oncall(db, "maintenance", "list").stdout
    assert started["id"] in run_oncall(db, "maintenance", "list", "--all").stdout
