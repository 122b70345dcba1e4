from __future__ import annotations

from typing import Any

import pytest

from engine.errors import DomainError, NameConflict, NotFound, ValidationError
from engine.service import Ctx, orgs, policies, schedules


@pytest.fixture
def setup(ctx: Ctx) -> dict[str, Any]:
    s1 = schedules.create_schedule(ctx, {"name": "Primary", "timezone": "America/New_York"})
    s2 = schedules.create_schedule(ctx, {"name": "Secondary", "timezone": "Europe/London"})
    pol = policies.create_policy(
        ctx, {"name": "Platform Default", "description": "Default escalation for platform incidents"}
    )
    return {"s1": s1["id"], "s2": s2["id"], "pol": pol}


def _sched_layer(pos: int, timeout: int, sid: str) -> dict[str, Any]:
    return {"position": pos, "ackTimeoutMinutes": timeout, "target": {"type": "schedule", "scheduleId": sid}}


def test_policy_shape_as_in_the_guide(ctx: Ctx, setup) -> None:
    pol = setup["pol"]
    assert pol["id"].startswith("pol_")
    for key in ("id", "orgId", "name", "description", "createdBy", "createdAt", "updatedAt"):
        assert key in pol
    assert pol["createdBy"] == ctx.actor_id


@pytest.mark.parametrize(
    ("body", "err"),
    [
        ({}, ValidationError),
        ({"name": ""}, ValidationError),
        ({"name": "x" * 256}, ValidationError),
        ({"name": 3}, ValidationError),
        ({"name": "Platform Default"}, NameConflict),
        ({"name": "ok", "repeat": -1}, ValidationError),
        ({"name": "ok", "extra": 1}, ValidationError),
    ],
)
def test_policy_validation(ctx: Ctx, setup, body, err) -> None:
    with pytest.raises(err):
        policies.create_policy(ctx, body)


def test_layers_as_in_the_guide(ctx: Ctx, setup) -> None:
    pid = setup["pol"]["id"]
    l1 = policies.add_layer(ctx, pid, _sched_layer(1, 5, setup["s1"]))
    l2 = policies.add_layer(ctx, pid, _sched_layer(2, 10, setup["s2"]))
    l3 = policies.add_layer(
        ctx,
        pid,
        {"position": 3, "ackTimeoutMinutes": 15, "target": {"type": "users", "userIds": [ctx.actor_user_id]}},
    )
    assert l1["id"].startswith("layer_")
    assert set(l1) == {
        "id",
        "policyId",
        "orgId",
        "position",
        "ackTimeoutMinutes",
        "target",
        "createdAt",
        "updatedAt",
    }
    assert l1["target"] == {"type": "schedule", "scheduleId": setup["s1"]}
    assert l3["target"] == {"type": "users", "userIds": [ctx.actor_user_id]}
    got = policies.get_policy(ctx, pid)
    assert [x["id"] for x in got["layers"]] == [l1["id"], l2["id"], l3["id"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"position": 1, "ackTimeoutMinutes": 0, "target": {"type": "users", "userIds": ["u"]}},
            "validation_error",
        ),
        (
            {"position": 1, "ackTimeoutMinutes": 10081, "target": {"type": "users", "userIds": ["u"]}},
            "validation_error",
        ),
        (
            {"position": 0, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": ["u"]}},
            "validation_error",
        ),
        ({"ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": ["u"]}}, "validation_error"),
        ({"position": 1, "ackTimeoutMinutes": 5}, "validation_error"),
        ({"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "team"}}, "validation_error"),
        (
            {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": []}},
            "validation_error",
        ),
        ({"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "schedule"}}, "validation_error"),
        (
            {
                "position": 1,
                "ackTimeoutMinutes": 5,
                "target": {"type": "schedule", "scheduleId": "sched_nope"},
            },
            "invalid_target",
        ),
        (
            {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": ["user_nope"]}},
            "invalid_target",
        ),
    ],
)
def test_layer_validation(ctx: Ctx, setup, body, code) -> None:
    with pytest.raises(DomainError) as err:
        policies.add_layer(ctx, setup["pol"]["id"], body)
    assert err.value.code == code
    assert policies.list_layers(ctx, setup["pol"]["id"]) == []


def test_schedule_of_another_org_is_an_invalid_target(ctx: Ctx, setup) -> None:
    other = orgs.create_org(ctx.db, "Other", "o@example.com", clock=ctx.clock)
    octx = Ctx(db=ctx.db, org_id=other.org["id"], clock=ctx.clock)
    foreign = schedules.create_schedule(octx, {"name": "Theirs", "timezone": "UTC"})
    with pytest.raises(DomainError) as err:
        policies.add_layer(ctx, setup["pol"]["id"], _sched_layer(1, 5, foreign["id"]))
    assert err.value.code == "invalid_target"
    with pytest.raises(NotFound):
        policies.get_policy(octx, setup["pol"]["id"])


def test_insert_at_position_shifts_later_layers(ctx: Ctx, setup) -> None:
    pid = setup["pol"]["id"]
    a = policies.add_layer(ctx, pid, _sched_layer(1, 5, setup["s1"]))
    b = policies.add_layer(ctx, pid, _sched_layer(2, 10, setup["s2"]))
    c = policies.add_layer(ctx, pid, _sched_layer(1, 1, setup["s2"]))
    d = policies.add_layer(ctx, pid, _sched_layer(99, 1, setup["s2"]))
    assert [(x["id"], x["position"]) for x in policies.list_layers(ctx, pid)] == [
        (c["id"], 1),
        (a["id"], 2),
        (b["id"], 3),
        (d["id"], 4),
    ]


def test_reorder_renumbers_and_rejects_anything_but_the_full_set(ctx: Ctx, setup, clock) -> None:
    from datetime import timedelta

    pid = setup["pol"]["id"]
    l1 = policies.add_layer(ctx, pid, _sched_layer(1, 5, setup["s1"]))
    l2 = policies.add_layer(ctx, pid, _sched_layer(2, 10, setup["s2"]))
    clock.advance(timedelta(minutes=15))
    out = policies.reorder_layers(ctx, pid, [l2["id"], l1["id"]])
    assert [(x["id"], x["position"], x["ackTimeoutMinutes"]) for x in out] == [
        (l2["id"], 1, 10),
        (l1["id"], 2, 5),
    ]
    assert all(x["updatedAt"] == "2026-04-07T10:15:00.000Z" for x in out)
    other = policies.create_policy(ctx, {"name": "Other"})
    foreign = policies.add_layer(ctx, other["id"], _sched_layer(1, 5, setup["s1"]))
    for bad in (
        [l2["id"]],
        [l2["id"], l1["id"], foreign["id"]],
        [l2["id"], l2["id"]],
        [l1["id"], foreign["id"]],
        [],
    ):
        with pytest.raises(DomainError) as err:
            policies.reorder_layers(ctx, pid, bad)
        assert err.value.code == "invalid_layer_order"
        assert err.value.status_code == 400
    with pytest.raises(ValidationError):
        policies.reorder_layers(ctx, pid, "l1,l2")
    assert [x["id"] for x in policies.list_layers(ctx, pid)] == [l2["id"], l1["id"]]


def test_update_and_delete_layer(ctx: Ctx, setup) -> None:
    pid = setup["pol"]["id"]
    l1 = policies.add_layer(ctx, pid, _sched_layer(1, 5, setup["s1"]))
    l2 = policies.add_layer(ctx, pid, _sched_layer(2, 10, setup["s2"]))
    upd = policies.update_layer(ctx, pid, l2["id"], {"ackTimeoutMinutes": 20, "position": 1})
    assert upd["ackTimeoutMinutes"] == 20 and upd["position"] == 1
    with pytest.raises(DomainError):
        policies.update_layer(ctx, pid, l2["id"], {"target": {"type": "schedule", "scheduleId": "nope"}})
    policies.delete_layer(ctx, pid, l2["id"])
    assert [(x["id"], x["position"]) for x in policies.list_layers(ctx, pid)] == [(l1["id"], 1)]
    with pytest.raises(NotFound):
        policies.delete_layer(ctx, pid, l2["id"])


def test_rename_and_delete_policy(ctx: Ctx, setup) -> None:
    pid = setup["pol"]["id"]
    other = policies.create_policy(ctx, {"name": "Other"})
    with pytest.raises(NameConflict):
        policies.update_policy(ctx, other["id"], {"name": "Platform Default"})
    assert policies.update_policy(ctx, pid, {"name": "Renamed", "repeat": 2})["repeat"] == 2
    policies.delete_policy(ctx, pid)
    with pytest.raises(NotFound):
        policies.get_policy(ctx, pid)
