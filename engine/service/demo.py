"""A realistic demo organisation: people, three rotations, two sound policies, one broken one, incidents.

Used by ``oncall demo``, the console's snapshot tests and the benchmarks. Deterministic apart from ids and
the clock it is given: rotations start at fixed local dates relative to ``clock.now()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from engine.clock import Clock
from engine.service import Ctx, orgs, policies, schedules
from engine.service import incidents as incidents_svc
from engine.timefmt import to_iso
from storage.db import Database

DEMO_ORG = "Acme Platform"

PEOPLE = [
    ("alice@example.com", "Alice", "Chen", "org:admin"),
    ("bob@example.com", "Bob", "Okafor", "org:member"),
    ("carol@example.com", "Carol", "Diaz", "org:member"),
    ("dan@example.com", "Dan", "Kowalski", "org:member"),
    ("erin@example.com", "Erin", "Schmidt", "org:member"),
    ("farid@example.com", "Farid", "Haddad", "org:member"),
    ("grace@example.com", "Grace", "Ito", "org:admin"),
]


@dataclass
class DemoOrg:
    org_id: str
    api_key: str
    users: dict[str, str]  # first name (lowercase) -> user id
    schedules: dict[str, str]
    policies: dict[str, str]
    incidents: list[str]


def seed_demo(db: Database, clock: Clock, *, org_name: str = DEMO_ORG, incidents: bool = True) -> DemoOrg:
    """Create the demo organisation in ``db`` and return the ids a caller needs."""
    first = PEOPLE[0]
    init = orgs.create_org(db, org_name, first[0], first_name=first[1], last_name=first[2], clock=clock)
    ctx = Ctx(
        db=db,
        org_id=init.org["id"],
        actor_id=init.admin["id"],
        actor_user_id=init.admin["id"],
        clock=clock,
    )
    users = {first[1].lower(): init.admin["id"]}
    for email, fn, ln, role in PEOPLE[1:]:
        users[fn.lower()] = orgs.add_user(ctx, email=email, first_name=fn, last_name=ln, role=role)["id"]
    u = users
    now = clock.now()
    start = (now - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)

    def layer(name: str, rtype: str, days: int, handoff: str, people: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "rotationType": rtype,
            "rotationLengthDays": days,
            "handoffTime": handoff,
            "effectiveFrom": to_iso(start),
            "effectiveUntil": None,
            "participantIds": [u[p] for p in people],
        }

    primary = schedules.create_schedule(
        ctx,
        {"name": "Platform Primary", "description": "Daily primary rotation", "timezone": "America/New_York"},
    )
    schedules.add_rotation_layer(
        ctx, primary["id"], layer("Primary", "daily", 1, "09:00", ["alice", "bob", "carol"])
    )
    secondary = schedules.create_schedule(
        ctx, {"name": "Platform Secondary", "description": "Weekly backup", "timezone": "Europe/London"}
    )
    schedules.add_rotation_layer(ctx, secondary["id"], layer("Backup", "weekly", 7, "10:00", ["dan", "erin"]))
    schedules.add_rotation_layer(
        ctx, secondary["id"], layer("Shadow", "weekly", 7, "10:00", ["farid", "dan"])
    )
    schedules.add_override(
        ctx,
        secondary["id"],
        {
            "userId": u["grace"],
            "start": to_iso(now + timedelta(days=2)),
            "end": to_iso(now + timedelta(days=3)),
            "note": "Covering Dan's dentist appointment",
        },
    )
    sre = schedules.create_schedule(
        ctx,
        {"name": "SRE Follow-the-sun", "description": "3-day custom rotation", "timezone": "Asia/Kolkata"},
    )
    schedules.add_rotation_layer(ctx, sre["id"], layer("Sun", "custom", 3, "08:30", ["farid", "erin", "bob"]))

    def add_layer(policy: dict[str, Any], position: int, ack_minutes: int, target: dict[str, Any]) -> None:
        policies.add_layer(
            ctx, policy["id"], {"position": position, "ackTimeoutMinutes": ack_minutes, "target": target}
        )

    def on_schedule(schedule: dict[str, Any]) -> dict[str, Any]:
        return {"type": "schedule", "scheduleId": schedule["id"]}

    def to_users(*people: str) -> dict[str, Any]:
        return {"type": "users", "userIds": [u[p] for p in people]}

    default = policies.create_policy(
        ctx, {"name": "Platform Default", "description": "Default escalation for platform incidents"}
    )
    add_layer(default, 1, 5, on_schedule(primary))
    add_layer(default, 2, 10, on_schedule(secondary))
    add_layer(default, 3, 30, to_users("grace"))
    sre_pol = policies.create_policy(
        ctx, {"name": "SRE Critical", "description": "Follow-the-sun, then managers"}
    )
    add_layer(sre_pol, 1, 3, on_schedule(sre))
    add_layer(sre_pol, 2, 15, to_users("alice", "grace"))
    # Deliberately broken, for `oncall lint`: the same person in consecutive layers and a 1-minute last layer.
    legacy = policies.create_policy(
        ctx, {"name": "Legacy Nights (broken)", "description": "Kept to show what `oncall lint` catches"}
    )
    add_layer(legacy, 1, 5, to_users("bob"))
    add_layer(legacy, 2, 1, to_users("bob"))

    created: list[str] = []
    if incidents:
        for title, sev, pol, desc in [
            (
                "Payment service degraded",
                "critical",
                default["id"],
                "Checkout success rate dropped to 60% in the last 10 minutes",
            ),
            ("Search latency above SLO", "high", sre_pol["id"], "p99 latency 2.4s on /search for 15 minutes"),
            ("Nightly export job failed", "medium", default["id"], "The S3 export job exited with status 1"),
            ("Disk 80% on log-shipper-3", "low", None, "Not paging: tracked for the morning"),
        ]:
            body: dict[str, Any] = {"title": title, "severity": sev, "description": desc}
            if pol:
                body["escalationPolicyId"] = pol
            else:
                body["ownerId"] = u["erin"]
            created.append(incidents_svc.create_incident(ctx, body)["id"])
        incidents_svc.advance_status(ctx, created[2], {"status": "identified"})
        incidents_svc.acknowledge(ctx.as_user(u["carol"], is_admin=False), created[2])
    return DemoOrg(
        org_id=ctx.org_id,
        api_key=init.api_key,
        users=users,
        schedules={"primary": primary["id"], "secondary": secondary["id"], "sre": sre["id"]},
        policies={"default": default["id"], "sre": sre_pol["id"], "legacy": legacy["id"]},
        incidents=created,
    )
