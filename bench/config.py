"""Benchmark of configuration as code and calendar feeds: ``python bench/config.py [--people 200]
[--schedules 60] [--policies 60]``.

Builds a setup file by hand (people with shift reminders; schedules of three rotation layers each with an
override; policies of three layers; an integration of two selectors per policy; a heartbeat per three
policies), then times, on fresh database files: ``apply`` into an empty organisation (one
transaction), ``export``, the plan of the same file again ("no changes"), ``lint FILE`` (the apply rolled
back, then the linter), and one person's and one whole schedule's calendar feed over 400 days. Prints the
figures; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import config as cfg  # noqa: E402
from engine.clock import VirtualClock  # noqa: E402
from engine.service import Ctx, calendars, schedules  # noqa: E402
from engine.service import config as config_service  # noqa: E402
from engine.service.orgs import create_org, find_user  # noqa: E402
from storage.db import open_db  # noqa: E402

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ZONES = ("America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC")


def setup_text(people: int, n_schedules: int, n_policies: int) -> str:
    emails = [f"person{i}@example.com" for i in range(people)]
    data: dict[str, object] = {
        "version": 1,
        "people": [{"email": "admin@example.com", "role": "org:admin"}]
        + [{"email": e, "first_name": f"P{i}", "role": "org:member"} for i, e in enumerate(emails)],
        "schedules": [
            {
                "name": f"Schedule {s:03d}",
                "timezone": ZONES[s % len(ZONES)],
                "layers": [
                    {
                        "name": name,
                        "rotation_type": kind,
                        **({"rotation_length_days": 3} if kind == "custom" else {}),
                        "handoff_time": "09:00",
                        "effective_from": "2026-01-05T00:00:00Z",
                        "participants": [emails[(s * 7 + k + j) % people] for k in range(4)],
                    }
                    for j, (name, kind) in enumerate(
                        (("Day", "daily"), ("Week", "weekly"), ("Sun", "custom"))
                    )
                ],
                "overrides": [
                    {
                        "person": emails[s % people],
                        "start": (NOW + timedelta(days=3 + s % 20)).isoformat(),
                        "end": (NOW + timedelta(days=4 + s % 20)).isoformat(),
                    }
                ],
            }
            for s in range(n_schedules)
        ],
        "policies": [
            {
                "name": f"Policy {p:03d}",
                "layers": [
                    {"ack_timeout_minutes": 5, "schedule": f"Schedule {p % n_schedules:03d}"},
                    {"ack_timeout_minutes": 10, "schedule": f"Schedule {(p + 1) % n_schedules:03d}"},
                    {"ack_timeout_minutes": 15, "users": [emails[p % people]]},
                ],
            }
            for p in range(n_policies)
        ],
        "integrations": [
            {
                "name": f"Integration {p:03d}",
                "kind": ("alertmanager", "grafana", "events")[p % 3],
                "policy": f"Policy {p:03d}",
                "component": f"svc-{p}",
                "severity_map": {"P1": "critical", "P2": "high"},
                "selectors": [
                    {
                        "matchers": {"team": "db", "env": "prod"},
                        "policy": f"Policy {(p + 1) % n_policies:03d}",
                    },
                    {"matchers": {"alertname": "Watchdog"}, "policy": "", "severity": "low"},
                ],
            }
            for p in range(n_policies)
        ],
        "heartbeats": [
            {"name": f"Heartbeat {p:03d}", "policy": f"Policy {p:03d}", "interval_minutes": 60}
            for p in range(0, n_policies, 3)
        ],
        "notification_rules": [
            {"person": e, "shift_reminders": {"before_minutes": 30, "at_start": True, "at_end": False}}
            for e in emails
        ],
    }
    return cfg.dumps(data, "toml")


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    print(f"{label:<48} {(time.perf_counter() - start) * 1000:9.1f} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--schedules", type=int, default=60)
    parser.add_argument("--policies", type=int, default=60)
    args = parser.parse_args()
    text = setup_text(args.people, args.schedules, args.policies)
    print(
        f"{args.people} people, {args.schedules} schedules x 3 rotation layers + 1 override, "
        f"{args.policies} policies x 3 layers, {args.policies} integrations of 2 selectors, "
        f"{len(range(0, args.policies, 3))} heartbeats, shift reminders for every person; "
        f"file {len(text) // 1024} KiB"
    )
    with tempfile.TemporaryDirectory() as tmp:
        clock = VirtualClock(NOW)
        db = open_db(Path(tmp) / "bench.db")
        init = create_org(db, "Bench", "admin@example.com", clock=clock)
        ctx = Ctx(
            db=db,
            org_id=init.org["id"],
            actor_id=init.admin["id"],
            actor_user_id=init.admin["id"],
            clock=clock,
            via="operator",
        )
        plan = timed("plan into an empty organisation", lambda: config_service.plan_text(ctx, text, "toml"))
        print(f"  {plan.summary()}")
        timed("apply --yes (one transaction)", lambda: config_service.apply_text(ctx, text, "toml"))
        exported = timed("export (toml)", lambda: config_service.export_text(ctx, "toml"))
        again = timed("plan of the same file again", lambda: config_service.plan_text(ctx, exported, "toml"))
        print(f"  {again.summary()}")
        result = timed(
            "lint FILE (apply rolled back + linter, 4 weeks)",
            lambda: config_service.lint_text(ctx, exported, "toml"),
        )
        print(f"  {result.errors} error(s), {len(result.findings)} finding(s)")
        sid = schedules.find_schedule(ctx, "Schedule 000")["id"]
        body = timed("calendar feed: a schedule, 400 days", lambda: calendars.ical(ctx, sid, days=400))
        print(f"  {body.count(b'BEGIN:VEVENT')} events, {len(body) // 1024} KiB")
        uid = find_user(ctx, "person0@example.com")["id"]
        body = timed(
            "calendar feed: one person, 400 days", lambda: calendars.ical(ctx, sid, user_id=uid, days=400)
        )
        print(f"  {body.count(b'BEGIN:VEVENT')} events")
        db.close()


if __name__ == "__main__":
    main()
