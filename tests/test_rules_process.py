"""Notification rules under a real engine process that is SIGKILLed mid-rules: no step is lost, none is
doubled, none goes out early, and none after an acknowledgement (checked from the database alone)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest

from engine.clock import monotonic
from engine.service import Ctx
from engine.service import contacts as contacts_svc
from engine.service import incidents as inc_svc
from engine.service import notification_rules as rules_svc
from engine.service import policies as pol_svc
from engine.service.orgs import add_user, create_org
from engine.timefmt import parse_iso
from storage.db import Database
from storage.db_clock import bind_clock
from tests.test_engine_process import _spawn, wait_for

DELAYS = (0, 1, 2, 3)  # clock minutes: at x60, one real second apart


@pytest.mark.slow
def test_sigkill_mid_rules_neither_loses_nor_doubles_a_step(db_path: Path, db: Database) -> None:
    speed = 60.0
    clock = bind_clock(db, speed)
    init = create_org(db, "Acme", "admin@example.com", clock=clock)
    admin = init.admin["id"]
    ctx = Ctx(db=db, org_id=init.org["id"], actor_id=admin, actor_user_id=admin, clock=clock)
    alice = add_user(ctx, email="alice@example.com")["id"]
    for delay in DELAYS:
        method = contacts_svc.add_contact_method(ctx, alice, {"channel": "log"})["id"]
        rules_svc.add_rule(ctx, alice, {"urgency": "high", "contactMethodId": method, "delayMinutes": delay})
    pid = pol_svc.create_policy(ctx, {"name": "P"})["id"]
    target = {"type": "users", "userIds": [alice]}
    pol_svc.add_layer(ctx, pid, {"position": 1, "ackTimeoutMinutes": 600, "target": target})
    rng = random.Random(int(os.environ.get("ONCALL_CRASH_SEED", "20261129")))
    rounds = int(os.environ.get("ONCALL_RULES_KILLS", "4"))
    incidents: list[str] = []
    acked: set[str] = set()
    proc = _spawn(db_path, "rules", speed)
    try:
        for _ in range(rounds):
            until = monotonic() + rng.uniform(0.3, 2.0)
            opened = 0
            while opened < 5 or monotonic() < until:
                body = {"title": "x", "severity": "critical", "escalationPolicyId": pid}
                incidents.append(inc_svc.create_incident(ctx, body)["id"])
                opened += 1
                if rng.random() < 0.2:
                    victim = rng.choice(incidents)
                    if victim not in acked:
                        inc_svc.acknowledge(ctx, victim)
                        acked.add(victim)
                time.sleep(rng.uniform(0.05, 0.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = _spawn(db_path, "rules", speed)
        wait_for(
            lambda: db.scalar("SELECT count(*) FROM timers WHERE kind = 'notification_rule'") == 0,
            timeout=120,
            what="every person's rule steps to run out",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)

    rows = db.all("SELECT incident_id, rule_step, created_at FROM outbox WHERE user_id = ?", (alice,))
    steps: dict[str, list[int]] = defaultdict(list)
    sent_at: dict[tuple[str, int], str] = {}
    for r in rows:
        steps[r["incident_id"]].append(r["rule_step"])
        sent_at[(r["incident_id"], r["rule_step"])] = r["created_at"]
    events: dict[str, list[int]] = defaultdict(list)
    for r in db.all("SELECT incident_id, data FROM timeline WHERE kind = 'notification_rule_step'"):
        events[r["incident_id"]].append(json.loads(r["data"])["step"])
    opened_at = {r["id"]: r["created_at"] for r in db.all("SELECT id, created_at FROM incidents")}
    acked_at = {r["id"]: r["acknowledged_at"] for r in db.all("SELECT id, acknowledged_at FROM incidents")}
    complete = 0
    for iid in incidents:
        got = sorted(steps[iid])
        assert got == sorted(set(got)), f"a step of {iid} was doubled: {got}"
        assert sorted(events[iid]) == [s for s in got if s != 0], f"{iid}: one event per later step"
        if iid not in acked:
            assert got == list(range(len(DELAYS))), f"{iid} lost a step: {got}"
            complete += 1
        else:
            assert got == list(range(len(got))), f"{iid}: steps out of order: {got}"
        for step in got:
            due = parse_iso(opened_at[iid]).timestamp() + DELAYS[step] * 60
            assert parse_iso(sent_at[(iid, step)]).timestamp() >= due - 0.001, f"{iid} step {step} went early"
            if acked_at[iid] is not None and step > 0:
                assert sent_at[(iid, step)] < acked_at[iid], f"{iid} step {step} went after the ack"
    assert complete >= rounds * 5 - len(acked)
    print(
        f"\nrules crash test: {len(incidents)} incidents, {len(rows)} steps, {rounds} SIGKILLs, {len(acked)} acked"
    )
