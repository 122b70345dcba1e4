"""The command line through its installed entry point, as a person or a script runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ONCALL, oncall_in_process


def run(db: Path, *args: str, ok: bool = True, process: bool = False) -> subprocess.CompletedProcess[str]:
    """``oncall --db DB ARGS…`` in this process (``process``: the installed script), as
    :func:`tests.helpers.run_oncall`, without its traceback check: :func:`assert_clean_error` makes it."""
    argv = ["--db", str(db), *args]
    if process:
        proc = subprocess.run([ONCALL, *argv], capture_output=True, text=True, timeout=60)
    else:
        proc = oncall_in_process(argv)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_clean_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert needle in proc.stderr


def test_help_lists_commands(tmp_path: Path) -> None:
    """The installed ``oncall`` script (a real process) lists every command."""
    out = run(tmp_path / "x.db", "--help", process=True).stdout
    for cmd in ("init", "keys", "users", "demo", "incidents", "policies", "schedules"):
        assert cmd in out


def test_init_prints_key_once_and_orgs_are_separate(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    first = json.loads(run(db, "init", "--org", "Acme", "--admin-email", "a@example.com", "--json").stdout)
    assert first["apiKey"].startswith("scl_live_")
    run(db, "init", "--org", "Beta", "--admin-email", "b@example.com")
    run(db, "--org", "Beta", "users", "add", "--email", "x@example.com", "--first-name", "X")
    acme = json.loads(run(db, "--org", "Acme", "users", "list", "--json").stdout)
    beta = json.loads(run(db, "--org", "Beta", "users", "list", "--json").stdout)
    assert [u["email"] for u in acme] == ["a@example.com"]
    assert sorted(u["email"] for u in beta) == ["b@example.com", "x@example.com"]
    keys = run(db, "--org", "Acme", "keys", "list", "--json").stdout
    assert first["apiKey"] not in keys and first["apiKey"][-4:] in keys
    assert_clean_error(run(db, "users", "list", ok=False), "several organisations")


def test_keys_and_users_lifecycle(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    run(db, "init", "--org", "Acme", "--admin-email", "a@example.com")
    key = json.loads(run(db, "keys", "create", "--name", "ci", "--json").stdout)
    assert key["apiKey"].startswith("scl_live_")
    run(db, "keys", "revoke", key["id"])
    listed = json.loads(run(db, "keys", "list", "--json").stdout)
    assert [k["revokedAt"] is not None for k in listed if k["id"] == key["id"]] == [True]
    run(db, "users", "add", "--email", "bob@example.com", "--role", "org:member")
    run(db, "users", "remove", "bob@example.com")
    assert [u["email"] for u in json.loads(run(db, "users", "list", "--json").stdout)] == ["a@example.com"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("users", "add", "--email", "not-an-email"), "valid email"),
        (("users", "add", "--email", "a@example.com"), "already exists"),
        (("users", "remove", "ghost@example.com"), "not found"),
        (("keys", "revoke", "key_nope"), "not found"),
        (("init", "--org", "Acme", "--admin-email", "z@example.com"), "already exists"),
        (("users", "add", "--email", "c@example.com", "--role", "boss"), "boss"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    db = tmp_path / "o.db"
    run(db, "init", "--org", "Acme", "--admin-email", "a@example.com")
    assert_clean_error(run(db, *args, ok=False), needle)


def test_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("definitely not sqlite " * 50)
    # A real process: the refusal reaches the real stderr as one line, no traceback.
    assert_clean_error(run(bogus, "users", "list", ok=False, process=True), "not an oncall database")


def test_no_org_yet(tmp_path: Path) -> None:
    assert_clean_error(run(tmp_path / "empty.db", "users", "list", ok=False), "oncall init")


def test_demo_no_console_and_read_commands(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    out = run(db, "demo", "--no-console").stdout
    assert "Acme Platform" in out
    pols = json.loads(run(db, "policies", "--json").stdout)
    assert len(pols) >= 2 and all(2 <= len(p["layers"]) <= 3 for p in pols)
    scheds = json.loads(run(db, "schedules", "--json").stdout)
    types = {layer["rotationType"] for s in scheds for layer in s["layers"]}
    assert types == {"daily", "weekly", "custom"}
    assert any(s["overrides"] for s in scheds)
    assert all(s["onCallNow"]["scheduleOwner"] for s in scheds)
    users = json.loads(run(db, "users", "list", "--json").stdout)
    assert len(users) >= 6
    incidents = json.loads(run(db, "incidents", "--json").stdout)
    assert len(incidents) >= 3 and all(i["status"] != "resolved" for i in incidents)
    text = run(db, "policies").stdout
    assert "after 0m" in text and "after 5m" in text
    assert "Platform Primary" in run(db, "schedules").stdout
    assert "Payment service degraded" in run(db, "incidents").stdout
    # running it again keeps the data
    assert "already exists" in run(db, "demo", "--no-console").stdout


def test_demo_takes_db_after_the_command_too(tmp_path: Path) -> None:
    """``oncall demo --no-console --db X`` (the global option after the command) seeds X, as ``oncall --db
    X demo`` does, and never the demo database in the user data directory."""
    db = tmp_path / "after.db"
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "ONCALL_DB": None}
    done = oncall_in_process(["demo", "--no-console", "--db", str(db)], env=env)
    assert done.returncode == 0, done.stderr
    assert f"created in {db}" in done.stdout
    assert db.exists() and not (tmp_path / "xdg").exists()


def test_demo_never_touches_the_oncall_db_database(tmp_path: Path) -> None:
    """``ONCALL_DB`` names the real database; ``oncall demo --reset`` without --db must leave it alone."""
    real = tmp_path / "real.db"
    run(real, "init", "--org", "Real", "--admin-email", "r@example.com")
    env = {
        **os.environ,
        "ONCALL_DB": str(real),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    proc = subprocess.run(
        [ONCALL, "demo", "--no-console", "--reset"], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "Acme Platform" in proc.stdout and str(real) not in proc.stdout
    # still one organisation (no --org needed), still its one user
    users = json.loads(run(real, "users", "list", "--json").stdout)
    assert [u["email"] for u in users] == ["r@example.com"]


def test_contact_methods(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    run(db, "init", "--org", "Acme", "--admin-email", "a@example.com")
    hook = json.loads(
        run(
            db,
            "users",
            "contacts",
            "add",
            "a@example.com",
            "--channel",
            "webhook",
            "--address",
            "http://127.0.0.1:9/page",
            "--json",
        ).stdout
    )
    assert hook["secret"] and hook["channel"] == "webhook"
    listed = json.loads(run(db, "users", "contacts", "list", "a@example.com", "--json").stdout)
    assert [c["id"] for c in listed] == [hook["id"]] and "secret" not in listed[0]
    assert_clean_error(
        run(
            db,
            "users",
            "contacts",
            "add",
            "a@example.com",
            "--channel",
            "webhook",
            "--address",
            "ftp://x",
            ok=False,
        ),
        "http(s) URL",
    )
    run(db, "users", "contacts", "remove", "a@example.com", hook["id"])
    assert json.loads(run(db, "users", "contacts", "list", "a@example.com", "--json").stdout) == []


def test_the_operator_adds_commands_and_any_webhook_but_not_malformed_ones(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    run(db, "init", "--org", "Acme", "--admin-email", "a@example.com")
    add = ("users", "contacts", "add", "a@example.com")
    cmd = json.loads(run(db, *add, "--channel", "command", "--address", "notify-me --loud", "--json").stdout)
    assert cmd["channel"] == "command" and cmd["address"] == "notify-me --loud"
    for private in ("http://169.254.169.254/latest", "http://[::1]:8080/", "http://localhost/x"):
        assert json.loads(run(db, *add, "--channel", "webhook", "--address", private, "--json").stdout)
    for malformed in ("http://[", "http://:99999", "https://exa mple.com", "http://user:pw@host/"):
        proc = run(db, *add, "--channel", "webhook", "--address", malformed, ok=False)
        assert_clean_error(proc, "webhook address")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    run(db, "users", "contacts", "remove", "a@example.com", cmd["id"])
    listed = json.loads(run(db, "users", "contacts", "list", "a@example.com", "--json").stdout)
    assert [c["channel"] for c in listed] == ["webhook"] * 3


def test_schedules_and_policies_never_name_a_removed_member(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run(db, "demo", "--no-console")
    users = {u["email"]: u["id"] for u in json.loads(run(db, "users", "list", "--json").stdout)}
    names = {"dan@example.com": "Dan Kowalski", "erin@example.com": "Erin Schmidt"}

    def secondary() -> dict:  # type: ignore[type-arg]
        scheds = json.loads(run(db, "schedules", "--json").stdout)
        return next(s for s in scheds if s["name"] == "Platform Secondary")

    before = secondary()["onCallNow"]
    backup = before["currentOncall"][0]["userId"]  # Dan or Erin, weekly
    email = next(e for e, uid in users.items() if uid == backup)
    assert backup in before["pagingTargets"]
    run(db, "users", "remove", email)

    now = secondary()["onCallNow"]
    assert backup not in json.dumps(now)
    assert now["currentOncall"][0]["userId"] is None and now["pagingTargets"]
    table = run(db, "schedules").stdout
    assert names[email] not in table

    pols = json.loads(run(db, "policies", "--json").stdout)
    default = next(p for p in pols if p["name"] == "Platform Default")
    layer2 = default["layers"][1]
    assert layer2["target"] == {"type": "schedule", "scheduleId": secondary()["id"]}  # old keys kept
    assert layer2["pagingNow"] == now["pagingTargets"]  # every person the layer pages, as the engine would
    assert layer2["removedNow"] == [backup]
    assert all(backup not in layer["pagingNow"] for p in pols for layer in p["layers"])
    text = run(db, "policies").stdout
    line = next(x for x in text.splitlines() if "Platform Secondary" in x)
    assert line.endswith(f"; removed: {names[email]})")
    assert names[email] not in line.split("; removed:")[0]


def test_stored_control_characters_are_escaped_in_every_output(tmp_path: Path) -> None:
    """Rows from an older version (the service refuses such text now) never drive the terminal."""
    import sqlite3

    db = tmp_path / "o.db"
    run(db, "demo", "--no-console")
    evil = "Pay\x1b]0;pwned\x07 \x1b[2J\u202egnp.exe \x9b31m"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE incidents SET title = ? WHERE seq = 1", (evil,))
        conn.execute("UPDATE policies SET name = ?, description = ? WHERE name = 'SRE Critical'",
                     (evil, "line one\nline two\x1b[1A"))  # fmt: skip
        conn.execute("UPDATE schedules SET name = ? WHERE name = 'Platform Primary'", (evil,))
        conn.execute("UPDATE users SET first_name = ? WHERE email LIKE 'carol%'", (evil,))
    for args in (("incidents",), ("policies",), ("schedules",), ("users", "list"), ("explain", "1")):
        for as_json in ((), ("--json",)):
            out = run(db, *args, *as_json).stdout
            assert not any(c in out for c in "\x1b\x07\x9b\u202e"), (args, as_json, out)
            assert ("\\u001b" if as_json else "\\x1b") in out, (args, as_json)
            if as_json:
                json.loads(out)
    policies = run(db, "policies").stdout
    assert "line one\\x0aline two\\x1b[1A" in policies


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("incidents", "--limit", "²"), 2, "error: invalid value for '--limit'"),
        (("lint", "--weeks", "99999999999999999999"), 2, "error: invalid value for '--weeks'"),
        (("lint", "²"), 2, "error: escalation policy '²' not found"),
        (("users", "remove", "\x1b[2J"), 2, "error: user '\\x1b[2J' not found"),
        (("keys", "revoke", "99999999999999999999999"), 2, "not found"),
        (
            ("users", "add", "--email", "z@example.com", "--first-name", "\u200b"),
            2,
            "firstName must not be blank",
        ),
        (
            ("users", "add", "--email", "z@example.com", "--last-name", "a\x1bb"),
            2,
            "control characters (U+001B",
        ),
        (
            ("init", "--org", "\u202eEvil", "--admin-email", "q@example.com"),
            2,
            "org must not contain control",
        ),
        (("keys", "create", "--name", "bad\x07"), 2, "name must not contain control"),
        # Empty or odd values are refused, never taken as "no value" or as another script's digits.
        (("keys", "create", "--name", ""), 2, "error: name must not be empty"),
        (("keys", "create", "--name", " "), 2, "error: name must not be blank"),
        (("keys", "create", "--user", ""), 2, "error: user '' not found"),
        (("--org", "", "incidents"), 2, "error: organisation '' not found"),
        (("explain", "1", "--at", ""), 2, "error: --at must be 'now'"),
        (("drill", "Platform Default", "--at", ""), 2, "error: --at must be 'now'"),
        (("drill", "Platform Default", "--tz", ""), 2, "error: "),
        (("incidents", "--limit", "\u0661"), 2, "error: invalid value for '--limit'"),
        (("lint", "--weeks", "\uff14"), 2, "error: invalid value for '--weeks'"),
        (("simulate", "s.toml", "--seed", "\u0661"), 2, "error: invalid value for '--seed'"),
    ],
)
def test_odd_arguments_are_one_line_without_a_traceback(
    tmp_path: Path, args: tuple[str, ...], code: int, needle: str
) -> None:
    db = tmp_path / "o.db"
    run(db, "demo", "--no-console")
    proc = run(db, *args, ok=False)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert needle in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "\x1b" not in proc.stderr


def test_a_scenario_out_of_datetime_range_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    run(db, "demo", "--no-console")
    example = (Path(__file__).parent.parent / "examples" / "scenario.toml").read_text()
    scenario = tmp_path / "s.toml"
    scenario.write_text(example.replace('start = "today"', 'start = "9999-12-31T23:00:00"', 1))
    proc = run(db, "simulate", str(scenario), ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "out of datetime range" in proc.stderr


@pytest.mark.parametrize(
    "args", [("explain", "1"), ("lint", "--json"), ("incidents",)], ids=lambda a: " ".join(a)
)
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    """``oncall explain 1 | head -1``: the reader closes the pipe before the command writes; like a
    standard Unix tool the command stops with exit 141 (128 + SIGPIPE) and says nothing."""
    db = tmp_path / "o.db"
    run(db, "demo", "--no-console")
    proc = subprocess.Popen(
        [ONCALL, "--db", str(db), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything was written
    err = proc.stderr.read()
    assert proc.wait(60) == 141
    assert err == ""


def test_an_exception_in_a_background_thread_is_one_line(tmp_path: Path) -> None:
    """What escapes one of a command's threads (the engine's scheduler, delivery workers) is one line, as
    for the command itself; ONCALL_DEBUG=1 still shows Python's traceback."""
    script = (
        "import threading\n"
        "from console.cli.main import one_line_thread_errors\n"
        "one_line_thread_errors()\n"
        "def boom():\n"
        "    raise RuntimeError('cannot schedule new futures after shutdown')\n"
        "t = threading.Thread(target=boom, name='APScheduler'); t.start(); t.join()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ONCALL_DEBUG"}
    quiet = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert quiet.stderr == (
        "error: unexpected RuntimeError in APScheduler: cannot schedule new futures after shutdown "
        "(run with ONCALL_DEBUG=1 for the traceback)\n"
    )
    loud = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "ONCALL_DEBUG": "1"},
        check=True,
    )
    assert "Traceback" in loud.stderr and "RuntimeError" in loud.stderr
