"""What gets queued (and what does not), who pages, and where the key is kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.clock import VirtualClock
from engine.service import Ctx, incidents, policies
from storage.sync import credentials, link
from storage.sync.change_queue import (
    applying_remote,
    discard_change,
    list_changes,
    record_change,
    retry_change,
    waiting_count,
)

KEY = "scl_live_0123456789abcdefghijklmnopqrstuv"


def kinds(ctx: Ctx) -> list[str]:
    return [c["kind"] for c in list_changes(ctx.db, ctx.org_id)]


def test_nothing_is_queued_until_the_organisation_is_linked(ctx: Ctx) -> None:
    pol = policies.create_policy(ctx, {"name": "Local only"})
    inc = incidents.create_incident(ctx, {"title": "t", "severity": "low", "ownerId": ctx.actor_user_id})
    incidents.acknowledge(ctx, inc["id"])
    assert kinds(ctx) == []
    assert ctx.db.scalar("SELECT origin FROM policies WHERE id = ?", (pol["id"],)) == "local"


def test_in_a_linked_org_new_policies_and_incidents_are_synced_and_not_paged_locally(
    ctx: Ctx, clock: VirtualClock
) -> None:
    before = policies.create_policy(ctx, {"name": "Pre-link"})
    policies.add_layer(ctx, before["id"], {"position": 1, "ackTimeoutMinutes": 5,
                                           "target": {"type": "users", "userIds": [ctx.actor_user_id]}})  # fmt: skip
    link.link(ctx.db, ctx.org_id, "https://api.scaling.cloud", clock)

    pol = policies.create_policy(ctx, {"name": "Synced", "repeat": 2})
    policies.add_layer(ctx, pol["id"], {"position": 1, "ackTimeoutMinutes": 5,
                                        "target": {"type": "users", "userIds": [ctx.actor_user_id]}})  # fmt: skip
    policies.update_policy(ctx, pol["id"], {"repeat": 1})  # a local extension only: nothing to send
    synced = incidents.create_incident(
        ctx, {"title": "remote", "severity": "high", "escalationPolicyId": pol["id"]}
    )
    # An incident on a policy that was never synced stays local and is paged by the local engine.
    local = incidents.create_incident(
        ctx, {"title": "local", "severity": "high", "escalationPolicyId": before["id"]}
    )
    drill = incidents.create_incident(
        ctx, {"title": "drill", "severity": "low", "escalationPolicyId": pol["id"]}, is_drill=True
    )
    policies.update_policy(ctx, before["id"], {"description": "still local"})

    assert kinds(ctx) == ["policy.create", "layer.create", "incident.create"]
    origin = {r["id"]: r["origin"] for r in ctx.db.all("SELECT id, origin FROM incidents")}
    assert origin == {synced["id"]: "remote", local["id"]: "local", drill["id"]: "local"}
    paged = {r[0] for r in ctx.db.all("SELECT incident_id FROM escalations")}
    assert synced["id"] not in paged and local["id"] in paged and drill["id"] in paged
    body = list_changes(ctx.db, ctx.org_id)[0]["payload"]
    assert body == {"name": "Synced", "repeat": 2}  # sent as name only (see the push tests)


def test_changes_from_a_pull_are_never_queued(ctx: Ctx, clock: VirtualClock) -> None:
    link.link(ctx.db, ctx.org_id, "https://api.scaling.cloud", clock)
    with applying_remote():
        pol = policies.create_policy(ctx, {"name": "Pulled"}, origin="remote", remote_id="ep_9")
        policies.update_policy(ctx, pol["id"], {"description": "from remote"})
        inc = incidents.create_incident(
            ctx, {"title": "x", "severity": "low", "escalationPolicyId": pol["id"]},
            origin="remote", remote_id="inc-9", page=False,
        )  # fmt: skip
    assert kinds(ctx) == []
    assert ctx.db.scalar("SELECT count(*) FROM escalations WHERE incident_id = ?", (inc["id"],)) == 0
    # The same objects changed locally afterwards are queued.
    policies.update_policy(ctx, pol["id"], {"description": "mine"})
    incidents.acknowledge(ctx, inc["id"])
    assert kinds(ctx) == ["policy.update", "incident.acknowledge"]


def test_the_hook_runs_in_the_callers_transaction(ctx: Ctx, clock: VirtualClock) -> None:
    link.link(ctx.db, ctx.org_id, "https://api.scaling.cloud", clock)
    with pytest.raises(RuntimeError), ctx.db.write():
        policies.create_policy(ctx, {"name": "Rolled back"})
        raise RuntimeError("boom")
    assert kinds(ctx) == [] and ctx.db.scalar("SELECT count(*) FROM policies WHERE name = 'Rolled back'") == 0
    with pytest.raises(ValueError):
        record_change(ctx, "policy.explode", "x")


def test_retry_and_discard_only_apply_to_failed_changes(ctx: Ctx, clock: VirtualClock) -> None:
    link.link(ctx.db, ctx.org_id, "https://api.scaling.cloud", clock)
    pol = policies.create_policy(ctx, {"name": "P"})
    policies.add_layer(ctx, pol["id"], {"position": 1, "ackTimeoutMinutes": 5,
                                        "target": {"type": "users", "userIds": [ctx.actor_user_id]}})  # fmt: skip
    create, layer = list_changes(ctx.db, ctx.org_id)
    with pytest.raises(Exception) as info:
        retry_change(ctx.db, ctx.org_id, create["id"])
    assert "not failed" in str(info.value)
    ctx.db.execute("UPDATE sync_outbox SET status = 'failed' WHERE id = ?", (create["id"],))
    assert retry_change(ctx.db, ctx.org_id, create["id"])["status"] == "pending"
    ctx.db.execute("UPDATE sync_outbox SET status = 'failed' WHERE id = ?", (create["id"],))
    # Discarding a create takes what depends on it along, and the policy stays local-only.
    discard_change(ctx.db, ctx.org_id, create["id"])
    assert waiting_count(ctx.db, ctx.org_id) == 0
    assert ctx.db.scalar("SELECT origin FROM policies WHERE id = ?", (pol["id"],)) == "local"
    assert {c["status"] for c in list_changes(ctx.db, ctx.org_id, include_done=True)} == {"discarded"}
    assert layer["kind"] == "layer.create"


def test_key_file_is_owner_only_and_the_environment_wins(
    isolated_credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert credentials.load_key("org_1") is None
    assert credentials.store_key("org_1", KEY) == "file"
    assert stat.S_IMODE(isolated_credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_credentials.parent.stat().st_mode) == 0o700
    stored = credentials.load_key("org_1")
    assert stored is not None and stored.source == "file" and stored.key.reveal() == KEY
    assert str(stored.key) == "scl_live_…stuv" and KEY not in repr(stored)

    monkeypatch.setenv("SCALING_API_KEY", "scl_live_fromenvironment000000000000")
    env = credentials.load_key("org_1")
    assert env is not None and env.source == "env" and env.key.masked == "scl_live_…0000"
    monkeypatch.delenv("SCALING_API_KEY")

    # A file someone loosened is tightened before it is read.
    os.chmod(isolated_credentials, 0o644)
    assert credentials.load_key("org_1") is not None
    assert stat.S_IMODE(isolated_credentials.stat().st_mode) == 0o600

    assert credentials.delete_key("org_1") is True
    assert credentials.load_key("org_1") is None
    with pytest.raises(credentials.CredentialError):
        credentials.store_key("org_1", "has space")


def test_a_discarded_incident_create_is_paged_by_the_local_engine(ctx: Ctx, clock: VirtualClock) -> None:
    link.link(ctx.db, ctx.org_id, "https://api.scaling.cloud", clock)
    pol = policies.create_policy(ctx, {"name": "P"})
    policies.add_layer(ctx, pol["id"], {"position": 1, "ackTimeoutMinutes": 5,
                                        "target": {"type": "users", "userIds": [ctx.actor_user_id]}})  # fmt: skip
    inc = incidents.create_incident(ctx, {"title": "t", "severity": "high", "escalationPolicyId": pol["id"]})
    incidents.post_update(ctx, inc["id"], {"body": "looking", "visibility": "internal"})
    assert ctx.db.scalar("SELECT count(*) FROM escalations WHERE incident_id = ?", (inc["id"],)) == 0
    create = next(c for c in list_changes(ctx.db, ctx.org_id) if c["kind"] == "incident.create")
    ctx.db.execute("UPDATE sync_outbox SET status = 'failed' WHERE id = ?", (create["id"],))
    discard_change(ctx.db, ctx.org_id, create["id"], clock=clock)
    assert ctx.db.scalar("SELECT origin FROM incidents WHERE id = ?", (inc["id"],)) == "local"
    assert ctx.db.scalar("SELECT count(*) FROM escalations WHERE incident_id = ?", (inc["id"],)) == 1
    # The update queued behind the create went with it.
    assert [c["kind"] for c in list_changes(ctx.db, ctx.org_id)] == ["policy.create", "layer.create"]
