"""Heartbeats against real processes on a x60 scaled clock (one clock minute per real second): a real
``oncall serve`` whose engine opens an incident for a missed heartbeat and whose ping URL resolves it, and
an engine SIGKILLed around the due time that, restarted, still opens exactly one incident.

Waits poll the database with a generous deadline; nothing is timed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from engine.service import Ctx, heartbeats, incidents, orgs, policies
from engine.timefmt import from_epoch_ms, parse_iso
from storage.db import Database
from storage.db_clock import bind_clock
from tests.api.conftest import start_serve, stop_serve
from tests.test_engine_process import _holder, _spawn, wait_for

SPEED = 60.0


def _world(db: Database) -> tuple[Ctx, str, str]:
    """An organisation on the scaled clock with a one-layer policy; returns the context, its API key
    and the policy id."""
    clock = bind_clock(db, SPEED)
    init = orgs.create_org(db, "Acme", "admin@example.com", clock=clock)
    admin = init.admin["id"]
    ctx = Ctx(db=db, org_id=init.org["id"], actor_id=admin, actor_user_id=admin, clock=clock, via="operator")
    pid = policies.create_policy(ctx, {"name": "Backups"})["id"]
    target = {"type": "users", "userIds": [admin]}
    policies.add_layer(ctx, pid, {"position": 1, "ackTimeoutMinutes": 30, "target": target})
    return ctx, init.api_key, pid


def _incidents(db: Database) -> list[Any]:
    return db.all("SELECT id, title, status FROM incidents ORDER BY created_at")


def test_serve_opens_an_incident_for_a_missed_heartbeat_and_a_ping_resolves_it(
    db_path: Path, db: Database
) -> None:
    ctx, key, pid = _world(db)
    server = start_serve(db_path, "--speed", f"{SPEED:g}", init=False)
    try:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        body = {"name": "etl", "escalationPolicyId": pid, "intervalMinutes": 2, "graceMinutes": 1}
        made = client.post("/v1/heartbeats", json=body)
        assert made.status_code == 201, made.text
        hb = made.json()["data"]
        ping = httpx.get(server.url + hb["pingPath"], timeout=10)  # the job's first ping: no key
        assert ping.status_code == 202, ping.text
        assert _incidents(db) == []
        wait_for(lambda: len(_incidents(db)) == 1, what="the missed heartbeat's incident")
        [inc] = _incidents(db)
        assert inc["title"].startswith("Heartbeat etl missed: no ping for 3 min")
        kinds = [e["kind"] for e in incidents.get_incident(ctx, inc["id"])["timeline"]]
        assert "layer_paged" in kinds  # layer 1 was paged by the engine's firing
        assert client.get(f"/v1/heartbeats/{hb['id']}").json()["data"]["status"] == "down"

        answer = httpx.post(server.url + hb["pingPath"], timeout=10)
        assert answer.status_code == 202, answer.text
        assert answer.json()["data"]["resolvedIncidentId"] == inc["id"]
        full = incidents.get_incident(ctx, inc["id"])
        assert full["status"] == "resolved"
        assert "etl pinged again" in full["statusHistory"][-1]["resolutionNote"]
        assert client.get(f"/v1/heartbeats/{hb['id']}").json()["data"]["status"] == "up"
        client.close()
    finally:
        stop_serve(server)


def test_a_sigkilled_engine_restarts_and_opens_exactly_one_incident(db_path: Path, db: Database) -> None:
    """The heartbeat falls due (1 clock minute, about a real second) while engines are SIGKILLed at random
    moments around it; the engine that finally stays up opens its one incident, and nothing more."""
    ctx, _, pid = _world(db)
    body = {"name": "etl", "escalationPolicyId": pid, "intervalMinutes": 1, "graceMinutes": 0}
    hb = heartbeats.create_heartbeat(ctx, body)
    due = parse_iso(hb["dueAt"])
    rng = random.Random(int(os.environ.get("ONCALL_CRASH_SEED", "20261129")))
    kills = 0
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(4):
            proc = _spawn(db_path, "crashy", SPEED)
            wait_for(lambda: _holder(db).startswith("crashy@"), what="the engine to take the lease")
            time.sleep(rng.uniform(0.0, 0.8))  # where in the engine's work the kill lands (not a verdict)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        # Past the due time with no engine running: the next one catches it up (unless a killed one
        # already fired it, committed whole).
        wait_for(lambda: ctx.clock.now() > due, what="the due time")
        assert len(_incidents(db)) <= 1
        proc = _spawn(db_path, "crashy", SPEED)
        wait_for(lambda: len(_incidents(db)) == 1, what="the missed heartbeat's incident")
        # Three more clock minutes (three intervals) of silence under the live engine: a re-armed timer
        # would have opened a second incident by then; still one incident, the timer gone.
        later = from_epoch_ms(int(ctx.clock.now().timestamp() * 1000) + 3 * 60_000)
        wait_for(lambda: ctx.clock.now() > later, what="three clock minutes")
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    assert kills == 4
    [inc] = _incidents(db)
    assert inc["status"] == "investigating" and inc["title"].startswith("Heartbeat etl missed")
    assert db.scalar("SELECT count(*) FROM timers WHERE kind = 'heartbeat'") == 0
    assert heartbeats.get_heartbeat(ctx, hb["id"])["status"] == "down"
