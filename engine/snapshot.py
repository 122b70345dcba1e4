"""The policy snapshot an escalation runs on: JSON in the ``escalations`` row, and a fingerprint that tells
whether the live policy still escalates the same way. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from engine.model import EscalationLayer, Policy, Target


def target_data(target: Target) -> dict[str, Any]:
    """A layer target in wire form: ``{type: schedule, scheduleId}`` or ``{type: users, userIds}``."""
    if target.type == "schedule":
        return {"type": "schedule", "scheduleId": target.schedule_id}
    return {"type": "users", "userIds": list(target.user_ids)}


def policy_to_json(plan: Policy) -> dict[str, Any]:
    """The snapshot stored with an escalation (the layers as they were when it started)."""
    return {
        "id": plan.id,
        "name": plan.name,
        "repeat": plan.repeat,
        "repageAfterMinutes": plan.repage_after_minutes,
        "layers": [
            {
                "id": layer.id,
                "position": layer.position,
                "ackTimeoutMinutes": layer.ack_timeout_minutes,
                "target": target_data(layer.target),
            }
            for layer in plan.layers
        ],
    }


def policy_from_json(data: dict[str, Any]) -> Policy:
    """The :class:`Policy` a stored snapshot describes (positions renumbered from 1)."""
    layers = tuple(
        EscalationLayer(
            id=item["id"],
            position=i,
            ack_timeout_minutes=int(item["ackTimeoutMinutes"]),
            target=Target(
                type=item["target"]["type"],
                schedule_id=item["target"].get("scheduleId"),
                user_ids=tuple(item["target"].get("userIds") or ()),
            ),
        )
        for i, item in enumerate(data["layers"], start=1)
    )
    return Policy(
        id=data["id"],
        name=data.get("name", ""),
        layers=layers,
        repeat=int(data.get("repeat") or 0),
        repage_after_minutes=data.get("repageAfterMinutes"),
    )


def policy_fingerprint(plan: Policy) -> str:
    """Equal for two policies that escalate identically (ids, order, timeouts, targets, extensions)."""
    parts = [str(plan.repeat), str(plan.repage_after_minutes)]
    for layer in plan.layers:
        t = layer.target
        parts.append(
            f"{layer.id}/{layer.ack_timeout_minutes}/{t.type}/{t.schedule_id}/{','.join(t.user_ids)}"
        )
    return "|".join(parts)
