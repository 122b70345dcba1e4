"""Sync against a real remote: a second ``oncall serve`` process with its own database plays Scaling."""

from __future__ import annotations

import json
import logging
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.clock import monotonic
from engine.errors import DomainError
from engine.service import contacts, incidents, orgs, policies, schedules
from storage.sync import credentials, link
from storage.sync.change_queue import list_changes, push, waiting_count
from storage.sync.client import ScalingClient
from storage.sync.pull import PullResult, pull
from storage.sync.runner import SyncRunner
from tests.sync.conftest import Fault, FaultProxy, LocalSide, Remote, oncall

T_FROM = "2026-01-05T09:00:00.000Z"


# -- helpers ---------------------------------------------------------------------------------------


def populate(remote: Remote, *, n_incidents: int = 130) -> dict[str, Any]:
    """A populated organisation on the remote: people, two schedules, two policies, many incidents."""
    ctx = remote.ctx()
    people = {
        name: orgs.add_user(ctx, email=f"{name}@scaling.test", first_name=name.title(), role=role)["id"]
        for name, role in (("bob", "org:member"), ("carol", "org:member"), ("dan", "org:admin"))
    }
    primary = schedules.create_schedule(ctx, {"name": "Primary", "timezone": "Europe/London"})
    schedules.add_rotation_layer(
        ctx,
        primary["id"],
        {"name": "Weekly", "rotationType": "weekly", "handoffTime": "09:00", "effectiveFrom": T_FROM,
         "participantIds": [people["bob"], people["carol"]]},
    )  # fmt: skip
    schedules.add_rotation_layer(
        ctx,
        primary["id"],
        {"name": "Shadow", "rotationType": "daily", "handoffTime": "10:00", "effectiveFrom": T_FROM,
         "participantIds": [people["dan"]]},
    )  # fmt: skip
    secondary = schedules.create_schedule(ctx, {"name": "Secondary", "timezone": "America/New_York"})
    schedules.add_rotation_layer(
        ctx,
        secondary["id"],
        {"name": "Custom", "rotationType": "custom", "rotationLengthDays": 3, "handoffTime": "08:30",
         "effectiveFrom": T_FROM, "participantIds": [people["carol"], people["dan"]]},
    )  # fmt: skip
    platform = policies.create_policy(ctx, {"name": "Platform", "description": "main"})
    policies.add_layer(
        ctx, platform["id"], {"position": 1, "ackTimeoutMinutes": 5,
                              "target": {"type": "schedule", "scheduleId": primary["id"]}}
    )  # fmt: skip
    policies.add_layer(
        ctx, platform["id"], {"position": 2, "ackTimeoutMinutes": 15,
                              "target": {"type": "users", "userIds": [people["dan"]]}}
    )  # fmt: skip
    empty = policies.create_policy(ctx, {"name": "Empty"})
    made = []
    for i in range(n_incidents):
        body: dict[str, Any] = {
            "title": f"Incident {i}",
            "severity": ("critical", "high", "medium", "low")[i % 4],
        }
        if i % 3 == 0:
            body["escalationPolicyId"] = platform["id"]
        else:
            body["ownerId"] = people["bob"]
        inc = incidents.create_incident(ctx, body)
        if i % 10 == 1:
            incidents.acknowledge(ctx.as_user(people["carol"]), inc["id"])
        if i % 5 == 2:
            for s in ("identified", "monitoring", "resolved"):
                incidents.advance_status(ctx, inc["id"], {"status": s})
        made.append(inc["id"])
    return {
        "people": people,
        "primary": primary["id"],
        "secondary": secondary["id"],
        "platform": platform["id"],
        "empty": empty["id"],
        "incidents": made,
    }


def login(local: LocalSide, url: str, key: str) -> None:
    link.link(local.db, local.org_id, url, local.clock)
    credentials.store_key(local.org_id, key)


def client(local: LocalSide, sleeps: list[float] | None = None) -> ScalingClient:
    record = sleeps if sleeps is not None else []
    return link.make_client(local.db, local.org_id, sleep=record.append, rand=lambda: 0.5)


def do_pull(local: LocalSide) -> PullResult:
    with client(local) as c:
        return pull(local.db, local.org_id, c, clock=local.clock)


def do_push(local: LocalSide, sleeps: list[float] | None = None) -> Any:
    with client(local, sleeps) as c:
        return push(local.db, local.org_id, c, clock=local.clock)


def local_of(local: LocalSide, table: str, remote_id: str) -> str:
    lid = local.db.scalar(f"SELECT id FROM {table} WHERE remote_id = ?", (remote_id,))
    assert lid is not None, f"{table} {remote_id} not pulled"
    return str(lid)


def remote_of(local: LocalSide, table: str, local_id: str) -> str:
    rid = local.db.scalar(f"SELECT remote_id FROM {table} WHERE id = ?", (local_id,))
    assert rid is not None, f"{table} {local_id} has no remote id"
    return str(rid)


def remote_policy(remote: Remote, name: str) -> dict[str, Any]:
    found = [p for p in remote.get("/v1/escalation/policies") if p["name"] == name]
    assert len(found) == 1, f"{len(found)} remote policies named {name!r}"
    return dict(remote.get(f"/v1/escalation/policies/{found[0]['id']}"))


# -- pull ------------------------------------------------------------------------------------------


def test_first_pull_of_a_populated_organisation(remote: Remote, local: LocalSide) -> None:
    seed = populate(remote)
    login(local, remote.url, remote.key)
    result = do_pull(local)
    assert result.errors == []
    assert result.pages == 2  # 130 incidents at 100 a page

    db = local.db
    # People: the remote's four, by remote id, with their roles; each row marked with its origin.
    for name, rid in seed["people"].items():
        row = db.one("SELECT * FROM users WHERE remote_id = ?", (rid,))
        assert row is not None and row["origin"] == "remote" and row["email"] == f"{name}@scaling.test"
    assert (
        db.one("SELECT role FROM users WHERE remote_id = ?", (seed["people"]["dan"],))["role"] == "org:admin"
    )

    # Schedules with their layers in order, participants translated to local ids.
    lctx = local.ctx()
    primary = schedules.get_schedule(lctx, local_of(local, "schedules", seed["primary"]))
    assert [la["name"] for la in primary["layers"]] == ["Weekly", "Shadow"]
    assert primary["layers"][0]["participantIds"] == [
        local_of(local, "users", seed["people"]["bob"]),
        local_of(local, "users", seed["people"]["carol"]),
    ]
    custom = schedules.get_schedule(lctx, local_of(local, "schedules", seed["secondary"]))["layers"][0]
    assert (custom["rotationType"], custom["rotationLengthDays"], custom["handoffTime"]) == (
        "custom",
        3,
        "08:30",
    )

    # Policies with their layers and translated targets.
    pol = policies.get_policy(lctx, local_of(local, "policies", seed["platform"]))
    assert [(la["position"], la["ackTimeoutMinutes"]) for la in pol["layers"]] == [(1, 5), (2, 15)]
    assert pol["layers"][0]["target"] == {"type": "schedule", "scheduleId": primary["id"]}
    assert pol["layers"][1]["target"] == {
        "type": "users",
        "userIds": [local_of(local, "users", seed["people"]["dan"])],
    }
    assert db.scalar("SELECT count(*) FROM policies WHERE origin = 'remote' AND remote_id IS NOT NULL") == 2

    # Every incident, marked remote, none paged by the local engine; states as the remote has them.
    assert db.scalar("SELECT count(*) FROM incidents WHERE origin = 'remote'") == 130
    assert (
        db.scalar(
            "SELECT count(*) FROM escalations e JOIN incidents i ON i.id = e.incident_id WHERE i.origin = 'remote'"
        )
        == 0
    )
    assert db.scalar("SELECT count(*) FROM outbox") == 0  # no pages queued locally
    for i, rid in enumerate(seed["incidents"]):
        row = db.one("SELECT * FROM incidents WHERE remote_id = ?", (rid,))
        assert row["title"] == f"Incident {i}"
        assert row["status"] == ("resolved" if i % 5 == 2 else "investigating")
        assert (row["acknowledged_at"] is not None) == (i % 10 == 1)
    # Sequence numbers follow the remote's order (its list is newest first).
    listed: list[str] = []
    cursor = None
    while True:
        page = remote.get("/v1/incidents", limit=100, **({"cursor": cursor} if cursor else {}))
        listed += [i["id"] for i in page["incidents"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    by_seq = [r["remote_id"] for r in db.all("SELECT remote_id FROM incidents ORDER BY seq")]
    assert by_seq == list(reversed(listed))
    # The remote's escalation state is kept for its open incidents, ids made local.
    paging = db.one("SELECT * FROM incidents WHERE remote_id = ?", (seed["incidents"][3],))
    esc = json.loads(paging["remote_escalation"])
    assert esc["state"] == "paging" and esc["policyId"] == pol["id"] and esc["currentLayer"] == 1

    # A pull never queues pushes.
    assert waiting_count(db, local.org_id) == 0


def test_incremental_pull_stops_at_what_is_known(remote: Remote, local: LocalSide, proxy: FaultProxy) -> None:
    seed = populate(remote, n_incidents=30)
    login(local, proxy.url, remote.key)
    do_pull(local)
    ctx = remote.ctx()
    new = [incidents.create_incident(ctx, {"title": f"New {i}", "severity": "low", "ownerId": seed["people"]["bob"]})
           for i in range(3)]  # fmt: skip
    acked = seed["incidents"][4]
    incidents.acknowledge(ctx.as_user(seed["people"]["dan"]), acked)
    incidents.advance_status(ctx, seed["incidents"][5], {"status": "identified"})
    policies.update_policy(ctx, seed["platform"], {"name": "Platform v2"})
    second_layer = policies.get_policy(ctx, seed["platform"])["layers"][1]["id"]
    policies.delete_layer(ctx, seed["platform"], second_layer)
    policies.delete_policy(ctx, seed["empty"])
    schedules.delete_schedule(ctx, seed["secondary"])
    erin = orgs.add_user(ctx, email="erin@scaling.test", first_name="Erin")

    proxy.seen.clear()
    result = do_pull(local)
    assert result.errors == []
    # One page of the incident list was enough: the newest known incident ends the walk.
    assert [s for s in proxy.seen if s[1].startswith("/v1/incidents?")] == [
        ("GET", "/v1/incidents?limit=100", 200)
    ]
    assert result.created.get("incident") == 3
    db = local.db
    for inc in new:
        assert db.one("SELECT origin FROM incidents WHERE remote_id = ?", (inc["id"],))["origin"] == "remote"
    row = db.one("SELECT * FROM incidents WHERE remote_id = ?", (acked,))
    assert row["acknowledged_at"] is not None
    assert row["acknowledged_by"] == local_of(local, "users", seed["people"]["dan"])
    kinds = [e["kind"] for e in incidents.get_incident(local.ctx(), row["id"])["timeline"]]
    assert "incident_acknowledged" in kinds
    assert (
        db.scalar("SELECT status FROM incidents WHERE remote_id = ?", (seed["incidents"][5],)) == "identified"
    )
    pol_id = local_of(local, "policies", seed["platform"])
    pol = policies.get_policy(local.ctx(), pol_id)
    assert pol["name"] == "Platform v2" and len(pol["layers"]) == 1
    assert db.scalar("SELECT count(*) FROM policies WHERE remote_id = ?", (seed["empty"],)) == 0
    assert db.scalar("SELECT count(*) FROM schedules WHERE remote_id = ?", (seed["secondary"],)) == 0
    assert local_of(local, "users", erin["id"])
    # A second pull with nothing new changes nothing.
    again = do_pull(local)
    assert again.created == {} and again.deleted == {} and again.errors == []


# -- push ------------------------------------------------------------------------------------------


def test_push_of_every_change_kind(remote: Remote, local: LocalSide) -> None:
    seed = populate(remote, n_incidents=4)
    login(local, remote.url, remote.key)
    do_pull(local)
    ctx = local.ctx()
    primary = local_of(local, "schedules", seed["primary"])
    carol = local_of(local, "users", seed["people"]["carol"])
    dan = local_of(local, "users", seed["people"]["dan"])

    pol = policies.create_policy(ctx, {"name": "Payments", "description": "new here"})
    l1 = policies.add_layer(ctx, pol["id"], {"position": 1, "ackTimeoutMinutes": 5,
                                             "target": {"type": "schedule", "scheduleId": primary}})  # fmt: skip
    l2 = policies.add_layer(ctx, pol["id"], {"position": 2, "ackTimeoutMinutes": 10,
                                             "target": {"type": "users", "userIds": [carol]}})  # fmt: skip
    l3 = policies.add_layer(ctx, pol["id"], {"position": 3, "ackTimeoutMinutes": 20,
                                             "target": {"type": "users", "userIds": [dan]}})  # fmt: skip
    policies.update_layer(ctx, pol["id"], l2["id"], {"ackTimeoutMinutes": 12})
    policies.reorder_layers(ctx, pol["id"], [l2["id"], l1["id"], l3["id"]])
    policies.delete_layer(ctx, pol["id"], l3["id"])
    policies.update_policy(ctx, pol["id"], {"description": "edited"})
    pulled = local_of(local, "policies", seed["platform"])
    policies.update_policy(ctx, pulled, {"description": "edited here too"})
    policies.delete_policy(ctx, local_of(local, "policies", seed["empty"]))

    inc = incidents.create_incident(ctx, {"title": "Checkout down", "severity": "critical",
                                          "escalationPolicyId": pol["id"]})  # fmt: skip
    # Who pages: a synced incident is the remote's to page; the local engine has no escalation for it.
    assert local.db.scalar("SELECT count(*) FROM escalations WHERE incident_id = ?", (inc["id"],)) == 0
    incidents.acknowledge(ctx, inc["id"])
    incidents.advance_status(ctx, inc["id"], {"status": "identified"})
    incidents.handoff(ctx, inc["id"], {"targetUserId": carol})
    upd = incidents.post_update(ctx, inc["id"], {"body": "rolling back", "visibility": "internal"})
    old = local_of(local, "incidents", seed["incidents"][0])
    incidents.acknowledge(ctx, old)

    kinds = [c["kind"] for c in list_changes(local.db, local.org_id)]
    assert kinds == [
        "policy.create", "layer.create", "layer.create", "layer.create", "layer.update", "layer.reorder",
        "layer.delete", "policy.update", "policy.update", "policy.delete", "incident.create",
        "incident.acknowledge", "incident.status", "incident.handoff", "incident.update", "incident.acknowledge",
    ]  # fmt: skip
    result = do_push(local)
    assert (result.sent, result.failed, result.waiting, result.state) == (16, 0, 0, "ok")

    r_pol = remote_policy(remote, "Payments")
    assert r_pol["description"] == "edited"
    assert [(la["ackTimeoutMinutes"], la["target"]) for la in r_pol["layers"]] == [
        (12, {"type": "users", "userIds": [seed["people"]["carol"]]}),
        (5, {"type": "schedule", "scheduleId": seed["primary"]}),
    ]
    assert remote_policy(remote, "Platform")["description"] == "edited here too"
    assert "Empty" not in [p["name"] for p in remote.get("/v1/escalation/policies")]
    r_inc = remote.get(f"/v1/incidents/{remote_of(local, 'incidents', inc['id'])}")
    assert r_inc["title"] == "Checkout down" and r_inc["status"] == "identified"
    assert r_inc["escalationPolicyId"] == r_pol["id"]
    assert r_inc["acknowledgedAt"] is not None and r_inc["ownerId"] == seed["people"]["carol"]
    bodies = [u["body"] for u in remote.get(f"/v1/incidents/{r_inc['id']}/updates")["updates"]]
    assert bodies == [None, "rolling back"]  # the status change's internal update, then ours
    assert remote_of(local, "incident_updates", upd["id"])
    assert remote.get(f"/v1/incidents/{seed['incidents'][0]}")["acknowledgedAt"] is not None
    # The remote's escalation state came back with the answers.
    assert json.loads(local.db.scalar("SELECT remote_escalation FROM incidents WHERE id = ?", (inc["id"],)))

    # Pulling after the push duplicates nothing.
    result2 = do_pull(local)
    assert result2.errors == [] and result2.created == {}
    assert local.db.scalar("SELECT count(*) FROM policies WHERE name = 'Payments'") == 1
    assert local.db.scalar("SELECT count(*) FROM incidents") == len(remote.get("/v1/incidents")["incidents"])


def test_remote_stopped_mid_push_then_restarted_replays_once_each_in_order(
    remote: Remote, local: LocalSide, proxy: FaultProxy
) -> None:
    seed = populate(remote, n_incidents=2)
    login(local, proxy.url, remote.key)
    do_pull(local)
    ctx = local.ctx()
    primary = local_of(local, "schedules", seed["primary"])
    carol = local_of(local, "users", seed["people"]["carol"])
    pol = policies.create_policy(ctx, {"name": "Replay"})
    l1 = policies.add_layer(ctx, pol["id"], {"position": 1, "ackTimeoutMinutes": 5,
                                             "target": {"type": "schedule", "scheduleId": primary}})  # fmt: skip
    l2 = policies.add_layer(ctx, pol["id"], {"position": 2, "ackTimeoutMinutes": 9,
                                             "target": {"type": "users", "userIds": [carol]}})  # fmt: skip
    policies.reorder_layers(ctx, pol["id"], [l2["id"], l1["id"]])
    inc = incidents.create_incident(
        ctx, {"title": "Replay me", "severity": "high", "escalationPolicyId": pol["id"]}
    )
    for body in ("first", "second", "third"):
        incidents.post_update(ctx, inc["id"], {"body": body, "visibility": "internal"})
    incidents.acknowledge(ctx, inc["id"])
    assert waiting_count(local.db, local.org_id) == 9

    # The remote applies the first update, then dies before its answer gets back.
    proxy.faults.append(
        Fault(method="POST", path_contains="/updates", drop_after_forward=True, then=remote.stop)
    )
    sleeps: list[float] = []
    held = do_push(local, sleeps)
    assert held.state in ("offline", "error") and held.sent == 5 and held.waiting == 4
    assert remote.proc is None

    # While it is down nothing moves, and nothing is lost.
    still = do_push(local, sleeps)
    assert still.sent == 0 and still.waiting == 4 and still.state in ("offline", "error")

    remote.start()
    proxy.seen.clear()
    done = do_push(local, sleeps)
    assert (done.sent, done.failed, done.waiting) == (4, 0, 0)
    # The uncertain update was looked up, not posted again.
    posted = [s for s in proxy.seen if s[0] == "POST" and s[1].endswith("/updates")]
    assert len(posted) == 2

    r_inc_id = remote_of(local, "incidents", inc["id"])
    updates = remote.get(f"/v1/incidents/{r_inc_id}/updates")["updates"]
    assert [u["body"] for u in updates] == ["first", "second", "third"]
    r_pol = remote_policy(remote, "Replay")
    assert [la["ackTimeoutMinutes"] for la in r_pol["layers"]] == [9, 5]
    assert len([i for i in remote.get("/v1/incidents")["incidents"] if i["title"] == "Replay me"]) == 1
    assert remote.get(f"/v1/incidents/{r_inc_id}")["acknowledgedAt"] is not None
    # Every local update knows its remote twin.
    assert (
        local.db.scalar(
            "SELECT count(*) FROM incident_updates WHERE incident_id = ? AND remote_id IS NOT NULL",
            (inc["id"],),
        )
        == 3
    )


def test_remote_unreachable_holds_the_queue(remote: Remote, local: LocalSide) -> None:
    populate(remote, n_incidents=1)
    login(local, remote.url, remote.key)
    do_pull(local)
    remote.stop()
    pol = policies.find_policy(local.ctx(), "Platform")
    policies.update_policy(local.ctx(), pol["id"], {"description": "while down"})
    result = do_push(local)
    assert result.state == "offline" and result.sent == 0 and result.waiting == 1
    change = list_changes(local.db, local.org_id)[0]
    assert change["status"] == "pending" and change["error"]["code"] == "remote_unreachable"
    remote.start()
    assert do_push(local).sent == 1
    assert remote_policy(remote, "Platform")["description"] == "while down"


def test_a_change_the_remote_rejects_is_kept_until_retried_or_discarded(
    remote: Remote, local: LocalSide
) -> None:
    seed = populate(remote, n_incidents=2)
    login(local, remote.url, remote.key)
    do_pull(local)
    # Someone creates "Billing" on the remote; we create our own "Billing" before pulling it.
    clash = policies.create_policy(remote.ctx(), {"name": "Billing"})
    ctx = local.ctx()
    pol = policies.create_policy(ctx, {"name": "Billing"})
    policies.add_layer(ctx, pol["id"], {"position": 1, "ackTimeoutMinutes": 5,
                                        "target": {"type": "schedule",
                                                   "scheduleId": local_of(local, "schedules", seed["primary"])}})  # fmt: skip
    inc_local = local_of(local, "incidents", seed["incidents"][0])
    # A public update: the remote (no status page) refuses it with 400 no_public_surface.
    incidents.post_update(ctx, inc_local, {"body": "we are on it", "visibility": "public"})
    incidents.acknowledge(ctx, inc_local)

    result = do_push(local)
    assert (result.sent, result.failed) == (1, 2)  # the ack went; the create and the update failed
    failed = {c["kind"]: c for c in result.failures}
    assert failed["policy.create"]["error"]["statusCode"] == 409
    assert failed["policy.create"]["error"]["code"] == "name_conflict"
    assert "Billing" in failed["policy.create"]["error"]["message"]
    assert failed["incident.update"]["error"]["code"] == "no_public_surface"
    changes = {c["kind"]: c for c in list_changes(local.db, local.org_id)}
    assert changes["layer.create"]["status"] == "pending"  # waits behind its policy's failed create
    # Waiting means still to be sent: the held layer, not the two failed changes (counted apart).
    assert link.status(local.db, local.org_id)["waiting"] == 1

    # Pushing again neither drops nor resends them.
    again = oncall(local.db_path, "sync", "push")
    assert again.stdout.splitlines()[0] == "Sent 0, failed 0, 1 waiting.", again.stdout

    # The command line shows every failure with the remote's error.
    shown = oncall(local.db_path, "sync", "status")
    assert "1 change(s) waiting, 2 failed, 0 uncertain" in shown.stdout
    assert "409 name_conflict" in shown.stdout and "400 no_public_surface" in shown.stdout

    # Discard the update: gone from the queue, never sent, and the remote never saw it.
    out = oncall(local.db_path, "sync", "discard", failed["incident.update"]["id"])
    assert out.returncode == 0 and "discarded" in out.stdout
    # Fix the clash on the remote, retry the create: it goes, and the waiting layer after it.
    policies.update_policy(remote.ctx(), clash["id"], {"name": "Billing (old)"})
    out = oncall(local.db_path, "sync", "retry", failed["policy.create"]["id"])
    assert out.returncode == 0 and "queued again" in out.stdout
    final = do_push(local)
    assert (final.sent, final.failed, final.waiting) == (2, 0, 0)
    assert len(remote_policy(remote, "Billing")["layers"]) == 1
    r_updates = remote.get(f"/v1/incidents/{seed['incidents'][0]}/updates")["updates"]
    assert "we are on it" not in [u["body"] for u in r_updates]
    statuses = {c["kind"]: c["status"] for c in list_changes(local.db, local.org_id, include_done=True)}
    assert statuses["incident.update"] == "discarded"


def test_429_with_retry_after_is_honoured(remote: Remote, local: LocalSide, proxy: FaultProxy) -> None:
    populate(remote, n_incidents=1)
    login(local, proxy.url, remote.key)
    do_pull(local)
    policies.create_policy(local.ctx(), {"name": "Slow down"})
    proxy.faults.append(
        Fault(method="POST", path_contains="/v1/escalation/policies", status=429, headers={"Retry-After": "1"},
              body={"statusCode": 429, "type": "rate_limit_error", "code": "rate_limited"})
    )  # fmt: skip
    proxy.faults.append(Fault(method="POST", path_contains="/v1/escalation/policies", status=503, times=1))
    started = monotonic()
    with link.make_client(local.db, local.org_id, rand=lambda: 0.5) as c:  # real sleeps
        result = push(local.db, local.org_id, c, clock=local.clock)
        retries = list(c.retries)
    elapsed = monotonic() - started
    assert result.sent == 1
    # Retry-After, then the second retry's backoff: 2 s with jitter (0.5 → 1.5 s).
    assert retries == [(429, 1.0), (503, 1.5)]
    assert elapsed >= 2.4
    assert [s[2] for s in proxy.writes()] == [429, 503, 201]
    assert remote_policy(remote, "Slow down")["name"] == "Slow down"


def test_the_key_is_nowhere_in_the_database_or_the_logs(
    remote: Remote, local: LocalSide, proxy: FaultProxy, caplog: pytest.LogCaptureFixture,
    isolated_credentials: Path,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    populate(remote, n_incidents=3)
    login(local, proxy.url, remote.key)
    do_pull(local)
    policies.create_policy(local.ctx(), {"name": "Secretive"})
    # A remote that echoes the key back in an error message: it must be masked before it is kept.
    proxy.faults.append(
        Fault(method="POST", path_contains="/v1/escalation/policies", status=400,
              body={"statusCode": 400, "code": "bad", "message": f"key {remote.key} is weird"})
    )  # fmt: skip
    result = do_push(local)
    assert result.failed == 1
    assert credentials.mask(remote.key) in result.failures[0]["error"]["message"]
    # Every proxied request carried it, as a bearer token only.
    assert all(h.get("Authorization") == f"Bearer {remote.key}" for h in proxy.headers_seen)

    # The stored key: a file only its owner can read.
    assert stat.S_IMODE(isolated_credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_credentials.parent.stat().st_mode) == 0o700

    local.db.execute("PRAGMA wal_checkpoint(FULL)")
    needle = remote.key.encode()
    for f in local.db_path.parent.glob("local.db*"):
        assert needle not in f.read_bytes(), f"key found in {f.name}"
    assert remote.key not in caplog.text
    assert remote.key not in repr(link.make_client(local.db, local.org_id))
    status = link.status(local.db, local.org_id)
    assert remote.key not in json.dumps(status) and status["key"] == credentials.mask(remote.key)

    # The command line: status, push and pull, as JSON and as text.
    for args in (
        ("sync", "status", "--json"),
        ("sync", "status"),
        ("sync", "push", "--json"),
        ("sync", "pull"),
    ):
        out = oncall(local.db_path, *args)
        assert remote.key not in out.stdout + out.stderr, args


def test_new_user_logs_in_pulls_edits_offline_and_sees_the_change_arrive(
    remote: Remote, tmp_path: Path
) -> None:
    """The whole story through the command line and the console's runner."""
    populate(remote, n_incidents=5)
    db = tmp_path / "fresh.db"
    out = oncall(db, "sync", "login", "--url", remote.url, "--key-stdin", input=remote.key + "\n")
    assert out.returncode == 0, out.stderr
    assert credentials.mask(remote.key) in out.stdout and remote.key not in out.stdout
    out = oncall(db, "sync", "pull")
    assert out.returncode == 0, out.stderr
    assert "2 schedule" in out.stdout and "5 incident" in out.stdout
    assert "Platform" in oncall(db, "policies").stdout

    remote.stop()
    from engine.service import Ctx
    from engine.service.orgs import find_org
    from storage.db import open_db

    ldb = open_db(db)
    ctx = Ctx(db=ldb, org_id=find_org(ldb, None))
    pid = policies.find_policy(ctx, "Platform")["id"]
    policies.update_policy(ctx, pid, {"description": "edited on the train"})
    status = oncall(db, "sync", "status")
    assert "1 change(s) waiting" in status.stdout
    push_out = oncall(db, "sync", "push")
    assert push_out.returncode == 1, push_out.stderr
    # What docs/SYNC.md shows: the counts on stdout, why it holds on stderr.
    assert push_out.stdout == "Sent 0, failed 0, 1 waiting.\n"
    assert push_out.stderr == f"Holding: cannot reach {remote.url} (ConnectError)\n"

    runner = SyncRunner(db, ctx.clock, interval=0.5)
    runner.start()
    try:
        deadline = monotonic() + 20
        while monotonic() < deadline and runner.status()["state"] != "offline":
            time.sleep(0.05)
        assert runner.status()["state"] == "offline" and runner.status()["waiting"] == 1
        remote.start()
        runner.poke()
        while monotonic() < deadline and runner.status()["waiting"] != 0:
            time.sleep(0.1)
        assert runner.status()["waiting"] == 0
        assert remote_policy(remote, "Platform")["description"] == "edited on the train"
        while monotonic() < deadline and runner.status()["state"] != "ok":
            time.sleep(0.1)
        assert runner.status()["lastPullAt"] is not None
    finally:
        runner.stop()
        ldb.close()


def test_a_crash_while_sending_never_creates_twice(remote: Remote, local: LocalSide) -> None:
    """The process died after the remote created the policy and before the answer was recorded."""
    populate(remote, n_incidents=1)
    login(local, remote.url, remote.key)
    do_pull(local)
    # One create answered first: it tells the outbox which remote user our key creates objects as.
    policies.create_policy(local.ctx(), {"name": "Warm-up"})
    assert do_push(local).sent == 1
    pol = policies.create_policy(local.ctx(), {"name": "Crashy"})
    change = list_changes(local.db, local.org_id)[0]
    with client(local) as c:  # the request that reached the remote
        c.request("POST", "/v1/escalation/policies", body={"name": "Crashy"}, idempotency_key="x")
    local.db.execute("UPDATE sync_outbox SET status = 'sending', attempts = 1 WHERE id = ?", (change["id"],))

    result = do_push(local)
    assert (result.sent, result.failed) == (1, 0)
    assert remote_policy(remote, "Crashy")["id"] == remote_of(local, "policies", pol["id"])


def test_pull_never_creates_contact_methods(remote: Remote, local: LocalSide) -> None:
    """Contact methods are local and never pulled: a remote whose people have command and webhook
    methods (even ones its own operator added) gives this machine nothing to run or call. The pull's
    context is ``via="sync"``, which the service refuses a command from in any case."""
    ctx = replace(remote.ctx(), via="operator")
    bob = orgs.add_user(ctx, email="bob@scaling.test", first_name="Bob")["id"]
    for uid in (bob, remote.admin_id):
        contacts.add_contact_method(ctx, uid, {"channel": "command", "address": "touch /tmp/pwned"})
        contacts.add_contact_method(ctx, uid, {"channel": "webhook", "address": "http://127.0.0.1:9/x"})
    login(local, remote.url, remote.key)
    result = do_pull(local)
    assert result.errors == []
    assert local_of(local, "users", bob)  # the people came over ...
    assert local.db.scalar("SELECT count(*) FROM contact_methods") == 0  # ... their contact methods did not
    sync_ctx = replace(local.ctx(), via="sync")
    with pytest.raises(DomainError) as refused:
        contacts.add_contact_method(
            sync_ctx, local_of(local, "users", bob), {"channel": "command", "address": "x"}
        )
    assert refused.value.code == "operator_only" and refused.value.status_code == 403


def test_a_remote_edit_of_title_or_severity_reaches_the_live_table(remote: Remote, local: LocalSide) -> None:
    """The console's live table reads changes by the timeline's cursor: a pulled title or severity edit
    (which the remote allows and the local use cases do not) writes an ``incident_edited`` event, so the
    change feed names the incident with its new row."""
    from engine.service.readmodel import changed_incidents
    from storage.queries import incidents as incident_queries

    seed = populate(remote, n_incidents=3)
    login(local, remote.url, remote.key)
    do_pull(local)
    edited = seed["incidents"][1]
    incident_queries.update_incident(remote.db, edited, {"title": "Renamed upstream", "severity": "critical"})
    position = local.db.scalar("SELECT max(seq) FROM timeline")

    assert do_pull(local).errors == []

    lid = local_of(local, "incidents", edited)
    ids, rows, _ = changed_incidents(local.db, local.org_id, int(position))
    assert ids == [lid]
    assert [(r["title"], r["severity"]) for r in rows] == [("Renamed upstream", "critical")]
    events = incidents.get_incident(local.ctx(), lid)["timeline"]
    assert [e["data"] for e in events if e["kind"] == "incident_edited"] == [
        {"fields": ["title", "severity"], "source": "remote"}
    ]
