"""``oncall users rules`` and ``oncall users reminders`` through the entry point: the README's two-step
setup, listing, moving, clearing, and one-line errors with the right exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import assert_clean_error, run


def _setup(db: Path) -> tuple[str, str]:
    run(db, "init", "--org", "Acme", "--admin-email", "a@example.com")
    add = ("users", "contacts", "add", "a@example.com")
    first = json.loads(run(db, *add, "--channel", "log", "--json").stdout)["id"]
    second = json.loads(
        run(db, *add, "--channel", "webhook", "--address", "http://127.0.0.1:9/p", "--json").stdout
    )
    return first, second["id"]


def test_rules_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    email, hook = _setup(db)
    rules = ("users", "rules", "a@example.com")
    out = run(db, *rules, "add", "--urgency", "high", "--method", email).stdout
    assert "high-urgency step 0" in out and "+0 min" in out
    run(db, *rules, "add", "--urgency", "high", "--after", "2", "--method", hook)
    listed = json.loads(run(db, *rules, "--json").stdout)
    assert [(s["contactMethodId"], s["delayMinutes"]) for s in listed["high"]] == [(email, 0), (hook, 2)]
    table = run(db, *rules).stdout
    assert "+2 min" in table and "webhook" in table and "127.0.0.1" not in table
    run(db, *rules, "up", listed["high"][1]["id"])
    moved = json.loads(run(db, *rules, "--json").stdout)["high"]
    assert [s["contactMethodId"] for s in moved] == [hook, email]
    run(db, *rules, "remove", moved[0]["id"])
    assert "Removed 1 step" in run(db, *rules, "clear").stdout
    assert "every contact method is paged at once" in run(db, *rules).stdout


def test_rule_errors_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    email, _ = _setup(db)
    rules = ("users", "rules", "a@example.com")
    bad = run(db, *rules, "add", "--urgency", "high", "--after", "-1", "--method", email, ok=False)
    assert_clean_error(bad, "delayMinutes")
    assert bad.returncode == 2
    missing = run(db, *rules, "add", "--urgency", "high", ok=False)
    assert_clean_error(missing, "contactMethodId")
    assert_clean_error(run(db, *rules, "remove", ok=False), "needs the step's id")
    assert_clean_error(run(db, *rules, "remove", "nr_nope", ok=False), "nr_nope")
    assert_clean_error(
        run(db, "users", "reminders", "a@example.com", "--before", "soon", ok=False), "--before"
    )


def test_reminders_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    _setup(db)
    out = json.loads(
        run(db, "users", "reminders", "a@example.com", "--before", "1h30m", "--at-end", "--json").stdout
    )
    assert (out["beforeMinutes"], out["atStart"], out["atEnd"]) == (90, False, True)
    assert run(db, "users", "reminders", "a@example.com").stdout.startswith(
        "Reminders: 90 min before, at end"
    )
    run(db, "users", "reminders", "a@example.com", "--before", "off")
    assert (
        json.loads(run(db, "users", "reminders", "a@example.com", "--json").stdout)["beforeMinutes"] is None
    )
