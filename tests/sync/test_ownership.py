"""Sync never takes someone else's object as its own, a dead pusher never holds the queue, and local edits
to what the remote manages are refused rather than silently overwritten by the next pull (docs/SYNC.md)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.errors import DomainError
from engine.service import incidents, orgs, policies, schedules
from storage.sync import link
from storage.sync.change_queue import list_changes
from tests.helpers import run_oncall
from tests.sync.conftest import ONCALL, Fault, FaultProxy, LocalSide, Remote, free_port
from tests.sync.test_remote import do_pull, do_push, local_of, login, populate, remote_of

# -- helpers ---------------------------------------------------------------------------------------


def key_for(remote: Remote, user_id: str) -> str:
    """An API key of another remote user: the second person writing at the same time."""
    key, _ = orgs.create_key(remote.ctx().as_user(user_id), "second person")
    return key


def post_as(remote: Remote, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(remote.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    r.raise_for_status()
    return dict(r.json()["data"])


def remote_incidents_titled(remote: Remote, title: str) -> list[dict[str, Any]]:
    return [i for i in remote.get("/v1/incidents", limit=100)["incidents"] if i["title"] == title]


def learn_who_we_are(local: LocalSide) -> None:
    """One create answered normally: the outbox learns which remote user its key creates objects as."""
    incidents.create_incident(local.ctx(), {"title": "Warm-up", "severity": "low"})
    assert do_push(local).sent == 1


# -- an uncertain create is adopted only on proof ----------------------------------------------------


def test_two_people_open_the_same_incident_during_a_cut_connection_both_incidents_stay(
    remote: Remote, local: LocalSide, proxy: FaultProxy
) -> None:
    seed = populate(remote, n_incidents=1)
    bob = seed["people"]["bob"]
    bob_key = key_for(remote, bob)
    login(local, proxy.url, remote.key)
    do_pull(local)
    learn_who_we_are(local)
    ours = incidents.create_incident(local.ctx(), {"title": "DB down", "severity": "critical"})
    # Ours reaches the remote; Bob opens an identical one; then our answer is lost.
    proxy.faults.append(
        Fault(method="POST", path_contains="/v1/incidents", drop_after_forward=True,
              then=lambda: post_as(remote, bob_key, "/v1/incidents", {"title": "DB down", "severity": "critical"}))
    )  # fmt: skip
    held = do_push(local)
    assert held.state == "offline" and held.waiting == 1

    done = do_push(local)
    assert (done.sent, done.uncertain, done.waiting) == (1, [], 0)
    both = remote_incidents_titled(remote, "DB down")
    assert sorted(i["createdBy"] for i in both) == sorted([remote.admin_id, bob])
    mine = remote_of(local, "incidents", ours["id"])
    assert next(i for i in both if i["id"] == mine)["createdBy"] == remote.admin_id  # ours, not Bob's

    # The next pull brings Bob's as a second incident: two people, two incidents.
    assert do_pull(local).errors == []
    rows = local.db.all("SELECT remote_id FROM incidents WHERE title = 'DB down'")
    assert sorted(r["remote_id"] for r in rows) == sorted(i["id"] for i in both)


def test_the_same_update_posted_by_someone_else_while_ours_was_lost_is_not_taken_for_ours(
    remote: Remote, local: LocalSide, proxy: FaultProxy
) -> None:
    seed = populate(remote, n_incidents=1)
    bob = seed["people"]["bob"]
    bob_key = key_for(remote, bob)
    login(local, proxy.url, remote.key)
    do_pull(local)
    r_inc = seed["incidents"][0]
    inc = local_of(local, "incidents", r_inc)
    incidents.post_update(local.ctx(), inc, {"body": "Paged the team", "visibility": "internal"})
    assert do_push(local).sent == 1  # the answer names our poster
    ours = incidents.post_update(local.ctx(), inc, {"body": "Looking into it", "visibility": "internal"})
    # Our request is lost on the way (the client cannot know); Bob posts the same words meanwhile.
    proxy.faults.append(
        Fault(method="POST", path_contains="/updates", drop_before_forward=True,
              then=lambda: post_as(remote, bob_key, f"/v1/incidents/{r_inc}/updates",
                                   {"body": "Looking into it", "visibility": "internal"}))
    )  # fmt: skip
    assert do_push(local).state == "offline"

    done = do_push(local)
    assert (done.sent, done.uncertain, done.waiting) == (1, [], 0)
    looking = [
        u for u in remote.get(f"/v1/incidents/{r_inc}/updates")["updates"] if u["body"] == "Looking into it"
    ]
    assert sorted(u["postedBy"]["id"] for u in looking) == sorted([remote.admin_id, bob])
    mine = remote_of(local, "incident_updates", ours["id"])
    assert next(u for u in looking if u["id"] == mine)["postedBy"]["id"] == remote.admin_id


def test_an_unprovable_create_waits_as_uncertain_until_the_user_adopts_it(
    remote: Remote, local: LocalSide, proxy: FaultProxy
) -> None:
    seed = populate(remote, n_incidents=1)
    login(local, proxy.url, remote.key)
    do_pull(local)
    # No create has been answered yet: nothing tells whose "DB down" is on the remote.
    ctx = local.ctx()
    ours = incidents.create_incident(ctx, {"title": "DB down", "severity": "critical"})
    incidents.post_update(ctx, ours["id"], {"body": "Looking into it", "visibility": "internal"})
    other = local_of(local, "incidents", seed["incidents"][0])
    incidents.acknowledge(ctx, other)
    proxy.faults.append(Fault(method="POST", path_contains="/v1/incidents", drop_after_forward=True))
    assert do_push(local).state == "offline"

    again = do_push(local)
    [r_inc] = [i["id"] for i in remote_incidents_titled(remote, "DB down")]
    assert [c["kind"] for c in again.uncertain] == ["incident.create"]
    assert [c["id"] for c in again.uncertain[0]["candidates"]] == [r_inc]
    assert again.sent == 1  # the acknowledgement of another incident is not held up
    kinds = {c["kind"]: c["status"] for c in list_changes(local.db, local.org_id)}
    assert kinds == {"incident.create": "uncertain", "incident.update": "pending"}  # the update waits
    assert local.db.scalar("SELECT remote_id FROM incidents WHERE id = ?", (ours["id"],)) is None

    # A pull meanwhile does not import the candidate as a second local "DB down".
    assert do_pull(local).errors == []
    assert local.db.scalar("SELECT count(*) FROM incidents WHERE title = 'DB down'") == 1

    change_id = again.uncertain[0]["id"]
    shown = run_oncall(local.db_path, "sync", "status")
    assert "1 uncertain" in shown.stdout and "uncertain" in shown.stdout and r_inc in shown.stdout
    bad = run_oncall(local.db_path, "sync", "adopt", change_id, "no-such-incident", ok=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and len(bad.stderr.splitlines()) == 1
    run_oncall(local.db_path, "sync", "adopt", change_id, r_inc)
    assert remote_of(local, "incidents", ours["id"]) == r_inc

    final = do_push(local)
    assert (final.sent, final.waiting) == (1, 0)
    assert len(remote_incidents_titled(remote, "DB down")) == 1
    bodies = [u["body"] for u in remote.get(f"/v1/incidents/{r_inc}/updates")["updates"]]
    assert bodies == ["Looking into it"]


def test_two_identical_creates_by_our_own_user_in_the_window_are_not_guessed_retry_sends_again(
    remote: Remote, local: LocalSide, proxy: FaultProxy
) -> None:
    populate(remote, n_incidents=1)
    login(local, proxy.url, remote.key)
    do_pull(local)
    learn_who_we_are(local)
    ours = incidents.create_incident(local.ctx(), {"title": "DB down", "severity": "critical"})
    # Someone using the same key opens the same incident while ours is in flight: two candidates.
    proxy.faults.append(
        Fault(method="POST", path_contains="/v1/incidents", drop_after_forward=True,
              then=lambda: post_as(remote, remote.key, "/v1/incidents", {"title": "DB down", "severity": "critical"}))
    )  # fmt: skip
    assert do_push(local).state == "offline"
    held = do_push(local)
    candidates = {c["id"] for c in held.uncertain[0]["candidates"]}
    assert (
        candidates == {i["id"] for i in remote_incidents_titled(remote, "DB down")} and len(candidates) == 2
    )

    out = run_oncall(local.db_path, "sync", "retry", held.uncertain[0]["id"])
    assert "queued again" in out.stdout
    assert do_push(local).sent == 1  # sent again as it is: a duplicate is accepted, a merge never
    mine = remote_of(local, "incidents", ours["id"])
    assert mine not in candidates and len(remote_incidents_titled(remote, "DB down")) == 3


# -- the push lease --------------------------------------------------------------------------------


def test_a_pusher_killed_mid_send_does_not_hold_up_the_next_push(
    remote: Remote, local: LocalSide, proxy: FaultProxy
) -> None:
    populate(remote, n_incidents=1)
    login(local, proxy.url, remote.key)
    do_pull(local)
    policies.create_policy(local.ctx(), {"name": "Stalled"})
    release = threading.Event()
    proxy.faults.append(Fault(method="POST", path_contains="/v1/escalation/policies", stall=release))
    proc = subprocess.Popen(
        [ONCALL, "--db", str(local.db_path), "sync", "push"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proxy.stalled.wait(30), "the pusher never sent"
        proc.kill()
        proc.wait(10)
        result = do_push(local)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # "ok", not "busy": the dead pusher's lease (30 s) was taken over at once, not waited out.
    assert (result.state, result.sent, result.waiting) == ("ok", 1, 0)
    assert [p["name"] for p in remote.get("/v1/escalation/policies")].count("Stalled") == 1


# -- local edits to what the remote manages ----------------------------------------------------------

T_START = "2030-01-01T09:00:00.000Z"
T_END = "2030-01-02T09:00:00.000Z"


def test_local_edits_to_synced_schedules_layers_overrides_and_people_are_refused(
    remote: Remote, local: LocalSide
) -> None:
    seed = populate(remote, n_incidents=1)
    login(local, remote.url, remote.key)
    do_pull(local)
    ctx = local.ctx()
    sched = local_of(local, "schedules", seed["primary"])
    layers = [la["id"] for la in schedules.get_schedule(ctx, sched)["layers"]]
    bob = local_of(local, "users", seed["people"]["bob"])
    # An override from before the link (an unlinked organisation edits freely).
    cfg = link.config(local.db, local.org_id)
    assert cfg is not None
    link.unlink(local.db, local.org_id)
    override = schedules.add_override(ctx, sched, {"userId": bob, "start": T_START, "end": T_END})
    link.link(local.db, local.org_id, cfg["baseUrl"], local.clock)

    def state() -> Any:
        return (
            schedules.get_schedule(ctx, sched),
            schedules.list_overrides(ctx, sched),
            orgs.get_user(ctx, bob),
            list_changes(local.db, local.org_id, include_done=True),
        )

    before = state()
    layer_body = {"name": "Extra", "rotationType": "daily", "handoffTime": "09:00", "effectiveFrom": T_START,
                  "participantIds": [bob]}  # fmt: skip
    attempts = {
        "update schedule": lambda: schedules.update_schedule(ctx, sched, {"description": "local"}),
        "delete schedule": lambda: schedules.delete_schedule(ctx, sched),
        "add rotation layer": lambda: schedules.add_rotation_layer(ctx, sched, layer_body),
        "update rotation layer": lambda: schedules.update_rotation_layer(ctx, sched, layers[0], {"handoffTime": "10:00"}),
        "delete rotation layer": lambda: schedules.delete_rotation_layer(ctx, sched, layers[0]),
        "reorder rotation layers": lambda: schedules.reorder_rotation_layers(ctx, sched, list(reversed(layers))),
        "add override": lambda: schedules.add_override(ctx, sched, {"userId": bob, "start": T_START, "end": T_END}),
        "delete override": lambda: schedules.delete_override(ctx, sched, override["id"]),
        "remove person": lambda: orgs.remove_user(ctx, bob),
        "change role": lambda: orgs.change_role(ctx, bob, "org:admin"),
    }  # fmt: skip
    for what, attempt in attempts.items():
        with pytest.raises(DomainError) as refused:
            attempt()
        assert (refused.value.code, refused.value.status_code) == ("synced_object_read_only", 409), what
        assert "managed by Scaling" in refused.value.message, what
    assert state() == before  # nothing saved half-way, nothing queued

    # What is local stays editable in a linked organisation: a schedule made here, a person added here.
    mine = schedules.create_schedule(ctx, {"name": "Mine only", "timezone": "UTC"})
    assert schedules.update_schedule(ctx, mine["id"], {"description": "ok"})["description"] == "ok"
    eve = orgs.add_user(ctx, email="eve@local.test")
    orgs.remove_user(ctx, eve["id"])
    # And a pull still brings the remote's edits in.
    schedules.update_schedule(remote.ctx(), seed["primary"], {"description": "changed in Scaling"})
    assert do_pull(local).errors == []
    assert schedules.get_schedule(ctx, sched)["description"] == "changed in Scaling"


def test_the_http_api_and_the_cli_refuse_an_edit_to_a_synced_object(
    remote: Remote, local: LocalSide, tmp_path: Path
) -> None:
    seed = populate(remote, n_incidents=1)
    login(local, remote.url, remote.key)
    do_pull(local)
    sched = local_of(local, "schedules", seed["primary"])
    bob = local_of(local, "users", seed["people"]["bob"])
    key, _ = orgs.create_key(local.ctx(), "local api")
    api = Remote(db_path=local.db_path, key=key, org_id=local.org_id, admin_id=local.admin_id,
                 port=free_port(), log_path=tmp_path / "local-api.log")  # fmt: skip
    api.start()
    try:
        with api.http() as c:
            r = c.patch(f"/v1/oncall/schedules/{sched}", json={"description": "local"})
            assert r.status_code == 409
            body = r.json()
            assert (body["code"], body["statusCode"]) == ("synced_object_read_only", 409)
            assert "managed by Scaling" in body["message"]
            assert c.get(f"/v1/oncall/schedules/{sched}").json()["data"]["description"] is None
    finally:
        api.stop()
    out = run_oncall(local.db_path, "users", "remove", bob, ok=False)
    assert out.returncode == 2 and out.stderr.startswith("error: this person is managed by Scaling")
    assert orgs.get_user(local.ctx(), bob)["id"] == bob
