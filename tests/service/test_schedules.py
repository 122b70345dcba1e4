from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.errors import DomainError, NameConflict, NotFound, ValidationError
from engine.service import Ctx, orgs, schedules


def _layer(ctx: Ctx, **over: Any) -> dict[str, Any]:
    body = {
        "name": "Primary",
        "rotationType": "weekly",
        "rotationLengthDays": 7,
        "handoffTime": "09:00",
        "effectiveFrom": "2026-04-06T13:00:00.000Z",
        "effectiveUntil": None,
        "participantIds": [ctx.actor_user_id],
    }
    body.update(over)
    return body


@pytest.fixture
def sched(ctx: Ctx) -> dict[str, Any]:
    return schedules.create_schedule(ctx, {"name": "Platform On-call", "timezone": "America/New_York"})


def test_create_schedule_shape(ctx: Ctx, sched) -> None:
    assert sched["id"].startswith("sched_")
    assert set(sched) == {
        "id",
        "orgId",
        "name",
        "description",
        "timezone",
        "createdBy",
        "createdAt",
        "updatedAt",
    }
    assert sched["description"] is None
    assert sched["createdAt"].endswith("Z") and len(sched["createdAt"]) == 24


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "UTC"}, "name"),
        ({"name": "", "timezone": "UTC"}, "name"),
        ({"name": "x" * 256, "timezone": "UTC"}, "name"),
        ({"name": "A"}, "timezone"),
        ({"name": "A", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "A", "timezone": "EST"}, "timezone"),
        ({"name": "A", "timezone": 5}, "timezone"),
        ({"name": "A", "timezone": "UTC", "colour": "red"}, "colour"),
    ],
)
def test_schedule_validation(ctx: Ctx, body, field) -> None:
    with pytest.raises(ValidationError) as err:
        schedules.create_schedule(ctx, body)
    assert err.value.field == field


def test_schedule_name_unique_per_org(ctx: Ctx, sched) -> None:
    with pytest.raises(NameConflict):
        schedules.create_schedule(ctx, {"name": "Platform On-call", "timezone": "UTC"})
    other = orgs.create_org(ctx.db, "Other", "o@example.com", clock=ctx.clock)
    octx = Ctx(db=ctx.db, org_id=other.org["id"], clock=ctx.clock)
    schedules.create_schedule(octx, {"name": "Platform On-call", "timezone": "UTC"})
    with pytest.raises(NotFound):
        schedules.get_schedule(octx, sched["id"])


def test_rotation_layer_positions_are_server_assigned(ctx: Ctx, sched) -> None:
    a = schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, name="A"))
    b = schedules.add_rotation_layer(
        ctx, sched["id"], _layer(ctx, name="B", rotationType="daily", rotationLengthDays=1)
    )
    assert (a["position"], b["position"]) == (0, 1)
    with pytest.raises(ValidationError):
        schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, name="C", position=0))
    with pytest.raises(NameConflict):
        schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, name="A"))


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"rotationType": "monthly"}, "rotationType"),
        ({"rotationType": "daily", "rotationLengthDays": 2}, "rotationLengthDays"),
        ({"rotationType": "weekly", "rotationLengthDays": 14}, "rotationLengthDays"),
        ({"rotationType": "custom", "rotationLengthDays": 0}, "rotationLengthDays"),
        ({"rotationType": "custom", "rotationLengthDays": "3"}, "rotationLengthDays"),
        ({"handoffTime": "9:00"}, "handoffTime"),
        ({"handoffTime": "24:00"}, "handoffTime"),
        ({"handoffTime": "09:60"}, "handoffTime"),
        ({"effectiveFrom": "yesterday"}, "effectiveFrom"),
        ({"effectiveFrom": "2026-04-06T13:00:00"}, "effectiveFrom"),
        ({"effectiveUntil": "2026-04-01T00:00:00Z"}, "effectiveUntil"),
        ({"participantIds": []}, "participantIds"),
        ({"participantIds": "user_1"}, "participantIds"),
    ],
)
def test_rotation_layer_validation(ctx: Ctx, sched, over, field) -> None:
    with pytest.raises(ValidationError) as err:
        schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, **over))
    assert err.value.field == field
    assert schedules.list_rotation_layers(ctx, sched["id"]) == []


def test_custom_rotation_any_length(ctx: Ctx, sched) -> None:
    layer = schedules.add_rotation_layer(
        ctx, sched["id"], _layer(ctx, rotationType="custom", rotationLengthDays=3)
    )
    assert layer["rotationLengthDays"] == 3


def test_unknown_participant_rejected(ctx: Ctx, sched) -> None:
    with pytest.raises(DomainError) as err:
        schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, participantIds=["user_nobody"]))
    assert err.value.code == "invalid_participant"


def test_update_rotation_layer_partial_and_clear_until(ctx: Ctx, sched) -> None:
    layer = schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, effectiveUntil="2026-06-01T00:00:00Z"))
    upd = schedules.update_rotation_layer(ctx, sched["id"], layer["id"], {"handoffTime": "10:30"})
    assert upd["handoffTime"] == "10:30" and upd["effectiveUntil"] == "2026-06-01T00:00:00.000Z"
    upd = schedules.update_rotation_layer(ctx, sched["id"], layer["id"], {"effectiveUntil": None})
    assert upd["effectiveUntil"] is None
    upd = schedules.update_rotation_layer(ctx, sched["id"], layer["id"], {"rotationType": "daily"})
    assert upd["rotationLengthDays"] == 1


def test_reorder_rotation_layers_full_set_only(ctx: Ctx, sched) -> None:
    ids = [schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, name=n))["id"] for n in "ABC"]
    out = schedules.reorder_rotation_layers(ctx, sched["id"], [ids[2], ids[0], ids[1]])
    assert [(layer["id"], layer["position"]) for layer in out] == [(ids[2], 0), (ids[0], 1), (ids[1], 2)]
    for bad in ([ids[0], ids[1]], [*ids, "rot_x"], [ids[0], ids[0], ids[1]], "nope"):
        with pytest.raises((DomainError, ValidationError)):
            schedules.reorder_rotation_layers(ctx, sched["id"], bad)
    assert [x["id"] for x in schedules.list_rotation_layers(ctx, sched["id"])] == [ids[2], ids[0], ids[1]]


def test_delete_rotation_layer_keeps_positions_dense(ctx: Ctx, sched) -> None:
    ids = [schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx, name=n))["id"] for n in "ABC"]
    schedules.delete_rotation_layer(ctx, sched["id"], ids[0])
    assert [x["position"] for x in schedules.list_rotation_layers(ctx, sched["id"])] == [0, 1]


def test_overrides_and_resolution(ctx: Ctx, sched) -> None:
    bob = orgs.add_user(ctx, email="bob@example.com")
    schedules.add_rotation_layer(ctx, sched["id"], _layer(ctx))
    ov = schedules.add_override(
        ctx,
        sched["id"],
        {"userId": bob["id"], "start": "2026-04-08T00:00:00Z", "end": "2026-04-09T00:00:00Z"},
    )
    before = schedules.resolve_schedule(ctx, sched["id"], datetime(2026, 4, 7, 12, tzinfo=UTC))
    during = schedules.resolve_schedule(ctx, sched["id"], datetime(2026, 4, 8, 12, tzinfo=UTC))
    assert before["scheduleOwner"] == ctx.actor_user_id
    assert during["scheduleOwner"] == bob["id"]
    assert during["pagingTargets"] == [bob["id"]]
    assert during["override"]["id"] == ov["id"]
    with pytest.raises(ValidationError):
        schedules.add_override(
            ctx,
            sched["id"],
            {"userId": bob["id"], "start": "2026-04-09T00:00:00Z", "end": "2026-04-08T00:00:00Z"},
        )
    with pytest.raises(DomainError) as err:
        schedules.add_override(
            ctx,
            sched["id"],
            {"userId": "user_ghost", "start": "2026-04-08T00:00:00Z", "end": "2026-04-09T00:00:00Z"},
        )
    assert err.value.code == "invalid_participant"
    schedules.delete_override(ctx, sched["id"], ov["id"])
    assert schedules.list_overrides(ctx, sched["id"]) == []


def test_delete_schedule_refused_while_targeted(ctx: Ctx, sched) -> None:
    from engine.service import policies

    pol = policies.create_policy(ctx, {"name": "P"})
    layer = policies.add_layer(
        ctx,
        pol["id"],
        {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "schedule", "scheduleId": sched["id"]}},
    )
    with pytest.raises(DomainError) as err:
        schedules.delete_schedule(ctx, sched["id"])
    assert err.value.code == "schedule_in_use"
    policies.delete_layer(ctx, pol["id"], layer["id"])
    schedules.delete_schedule(ctx, sched["id"])
    with pytest.raises(NotFound):
        schedules.get_schedule(ctx, sched["id"])


def test_overrides_of_an_unknown_schedule_are_not_found(ctx: Ctx) -> None:
    with pytest.raises(NotFound):
        schedules.list_overrides(ctx, "sched_ghost")
