"""``oncall heartbeats create|list|ping|rotate|delete`` through the real entry point."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.clock import WallClock
from engine.service import Ctx, policies
from engine.service.orgs import find_org, first_admin_id
from storage.db import open_db
from tests.helpers import run_oncall

URL = re.compile(r"^  (http://127\.0\.0\.1:8080/v1/integrations/inbound/heartbeats/(hbt_\S+))$", re.M)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An organisation (made by ``oncall init``) with one escalation policy, "Backups"."""
    path = tmp_path / "oncall.db"
    run_oncall(path, "init", "--org", "Acme", "--admin-email", "a@example.com")
    database = open_db(path)
    org = find_org(database, None)
    admin = first_admin_id(database, org)
    ctx = Ctx(db=database, org_id=org, actor_id=admin, actor_user_id=admin, clock=WallClock(), via="operator")
    policies.create_policy(ctx, {"name": "Backups"})
    database.close()
    return path


def test_create_prints_the_ping_url_once_and_list_masks_it(db: Path) -> None:
    out = run_oncall(
        db, "heartbeats", "create", "nightly-backup", "--policy", "Backups", "--interval", "60"
    ).stdout
    assert "Created heartbeat nightly-backup" in out and "5 min of grace, pages Backups" in out
    match = URL.search(out)
    assert match, out
    token = match.group(2)
    listed = run_oncall(db, "heartbeats", "list").stdout
    assert "nightly-backup" in listed and "waiting" in listed and "never" in listed
    assert token not in listed and "hbt_…" + token[-4:] in listed
    [item] = json.loads(run_oncall(db, "heartbeats", "list", "--json").stdout)
    assert (item["intervalMinutes"], item["graceMinutes"], item["severity"]) == (60, 5, "high")


def test_ping_rotate_delete(db: Path) -> None:
    made = json.loads(
        run_oncall(
            db, "heartbeats", "create", "cron", "--policy", "Backups", "--interval", "5", "--json"
        ).stdout
    )
    out = run_oncall(db, "heartbeats", "ping", "cron").stdout
    assert out.startswith("Pinged; due again by ")
    assert json.loads(run_oncall(db, "heartbeats", "list", "--json").stdout)[0]["status"] == "up"
    rotated = run_oncall(
        db, "heartbeats", "rotate", made["id"], "--base-url", "https://oncall.example/"
    ).stdout
    assert "https://oncall.example/v1/integrations/inbound/heartbeats/hbt_" in rotated
    assert made["token"] not in rotated
    assert "Deleted heartbeat cron" in run_oncall(db, "heartbeats", "delete", "cron").stdout
    assert "(none)" in run_oncall(db, "heartbeats", "list").stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("create", "x", "--policy", "Nope", "--interval", "5"), "escalation policy 'Nope' not found"),
        (
            ("create", "dup", "--policy", "Backups", "--interval", "5"),
            "a heartbeat named 'dup' already exists",
        ),
        (("create", "x", "--policy", "Backups", "--interval", "0"), "--interval"),
        (("create", "\u202ex", "--policy", "Backups", "--interval", "5"), "name"),
        (("ping", "missing"), "heartbeat 'missing' not found"),
        (("rotate", "missing"), "heartbeat 'missing' not found"),
        (("delete", "missing"), "heartbeat 'missing' not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(db: Path, args: tuple[str, ...], needle: str) -> None:
    run_oncall(db, "heartbeats", "create", "dup", "--policy", "Backups", "--interval", "5")
    proc = run_oncall(db, "heartbeats", *args, ok=False)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert len(json.loads(run_oncall(db, "heartbeats", "list", "--json").stdout)) == 1
