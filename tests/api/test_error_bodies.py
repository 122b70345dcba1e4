"""Characterisation: the status and error body of a broad set of bad requests to every endpoint.

The error bodies are a contract (scripts key on them), so the answers recorded in
``error_bodies.json`` before the request models moved to msgspec must stay byte for byte (minus the
``requestId``, which is fresh per request; ids this test created are written as ``{name}``). Each
endpoint gets its body replaced by non-objects, unknown fields, and every field in turn replaced by a
value of each wrong kind, removed, or combined with another bad field; queries get bad values too.
Successful answers are recorded by status only.

Re-record (only when an answer is meant to change, and say so): ``ONCALL_RECORD_ERRORS=1 pytest …``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from tests.api.conftest import Live

_NEW_ID = re.compile(r"\b([a-z]+)_[0-9a-z]{26}\b")  # an id created by one of the requests
GOLDEN = Path(__file__).with_name("error_bodies.json")

MISSING = object()
BAD_VALUES: list[Any] = [
    None,
    True,
    1.5,
    -1,
    0,
    10_081,
    "",
    "   ",
    "\u200b",
    "a\u001b[31mb",
    "line\nbreak",
    "x" * 300,
    [],
    ["a", ""],
    {},
    MISSING,
]
NON_OBJECTS: list[Any] = [MISSING, None, [], "text", 3]


def _cases(ids: dict[str, str]) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(method, path, base body or MISSING, {}) for every endpoint with a body, with a valid base body."""
    pol, lay, sch, rot, inc = (
        ids["policyId"],
        ids["layerId"],
        ids["scheduleId"],
        ids["rotationId"],
        ids["incidentId"],
    )
    user, cm = ids["userId"], ids["contactMethodId"]
    rotation = {
        "name": "Primary 2",
        "rotationType": "weekly",
        "handoffTime": "09:00",
        "effectiveFrom": "2026-04-01T00:00:00Z",
        "participantIds": [user],
    }
    return [
        ("POST", "/v1/escalation/policies", {"name": "P2", "description": "d", "repeat": 1, "repageAfterMinutes": 5}, {}),
        ("PATCH", f"/v1/escalation/policies/{pol}", {"name": "P1", "description": "d", "repeat": 1, "repageAfterMinutes": 5}, {}),
        ("POST", f"/v1/escalation/policies/{pol}/layers", {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [user]}}, {}),
        ("POST", "/v1/escalation/policies/pol_missing/layers", {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [user]}}, {}),
        ("PATCH", f"/v1/escalation/policies/{pol}/layers/{lay}", {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "schedule", "scheduleId": sch}}, {}),
        ("PUT", f"/v1/escalation/policies/{pol}/layers/order", {"layerIds": [lay]}, {}),
        ("POST", "/v1/oncall/schedules", {"name": "S2", "description": "d", "timezone": "UTC"}, {}),
        ("PATCH", f"/v1/oncall/schedules/{sch}", {"name": "S1", "description": "d", "timezone": "UTC"}, {}),
        ("POST", f"/v1/oncall/schedules/{sch}/layers", rotation, {}),
        ("PATCH", f"/v1/oncall/schedules/{sch}/layers/{rot}", {**rotation, "name": "Primary"}, {}),
        ("PUT", f"/v1/oncall/schedules/{sch}/layers/order", {"layerIds": [rot]}, {}),
        ("POST", f"/v1/oncall/schedules/{sch}/overrides", {"userId": user, "start": "2026-04-08T00:00:00Z", "end": "2026-04-09T00:00:00Z", "note": "n"}, {}),
        ("POST", "/v1/incidents", {"title": "T", "description": "d", "severity": "low", "ownerId": None, "ownerScheduleId": None, "escalationPolicyId": None, "componentIds": None}, {}),
        ("PATCH", f"/v1/incidents/{inc}/status", {"status": "identified", "resolutionNote": None}, {}),
        ("POST", f"/v1/incidents/{inc}/updates", {"body": "b", "statusChange": None, "visibility": "internal"}, {}),
        ("POST", f"/v1/incidents/{inc}/handoff", {"targetUserId": user}, {}),
        ("POST", f"/v1/incidents/{inc}/escalate", {"toLayer": 1}, {}),
        ("POST", f"/v1/incidents/{inc}/snooze", {"minutes": 5}, {}),
        ("POST", "/v1/team/members/invite", {"emailAddress": "x@example.com", "role": "org:member"}, {}),
        ("PATCH", f"/v1/team/members/{user}/role", {"role": "org:member"}, {}),
        ("POST", "/v1/users", {"email": "y@example.com", "firstName": "Y", "lastName": "Z", "role": "org:member", "imageUrl": None}, {}),
        ("POST", f"/v1/users/{user}/contact-methods", {"channel": "webhook", "address": "https://8.8.8.8/h", "secret": None}, {}),
        ("PATCH", f"/v1/users/{user}/contact-methods/{cm}", {"address": "https://8.8.8.8/h2", "secret": "s" * 16}, {}),
    ]  # fmt: skip


QUERIES = [
    "/v1/incidents?limit=abc",
    "/v1/incidents?limit=0",
    "/v1/incidents?limit=101",
    "/v1/incidents?status=open",
    "/v1/incidents?severity=huge",
    "/v1/incidents?cursor=nope",
    "/v1/incidents?from=yesterday",
    "/v1/incidents?to=2026-13-01",
    "/v1/incidents?from=2026-04-08&to=2026-04-01",
    "/v1/oncall/schedules/{scheduleId}/resolve?at=soon",
    "/v1/oncall/schedules/{scheduleId}/resolve?at=0001-01-01T00:00:00Z",
    "/v1/oncall/schedules/{scheduleId}/resolve?at=2026-04-07T09:00:00",
]


def _setup(live: Live) -> dict[str, str]:
    c = live.client

    def data(resp: Any) -> Any:
        assert resp.status_code in (200, 201), resp.text
        return resp.json()["data"]

    user = data(c.post("/v1/users", json={"email": "u@example.com", "firstName": "U"}))["id"]
    sch = data(c.post("/v1/oncall/schedules", json={"name": "S1", "timezone": "UTC"}))["id"]
    rot = data(
        c.post(
            f"/v1/oncall/schedules/{sch}/layers",
            json={
                "name": "Primary",
                "rotationType": "weekly",
                "handoffTime": "09:00",
                "effectiveFrom": "2026-04-01T00:00:00Z",
                "participantIds": [user, live.admin_id],
            },
        )
    )["id"]
    pol = data(c.post("/v1/escalation/policies", json={"name": "P1"}))["id"]
    lay = data(
        c.post(
            f"/v1/escalation/policies/{pol}/layers",
            json={"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "schedule", "scheduleId": sch}},
        )
    )["id"]
    inc = data(c.post("/v1/incidents", json={"title": "I", "severity": "high", "escalationPolicyId": pol}))[
        "id"
    ]
    cm = data(c.post(f"/v1/users/{user}/contact-methods", json={"channel": "webhook", "address": "https://8.8.8.8/a"}))["id"]  # fmt: skip
    return {
        "policyId": pol,
        "layerId": lay,
        "scheduleId": sch,
        "rotationId": rot,
        "incidentId": inc,
        "userId": user,
        "adminId": live.admin_id,
        "orgId": live.org_id,
        "contactMethodId": cm,
    }


def _answer(resp: Any, ids: dict[str, str]) -> Any:
    if resp.status_code < 300:
        return resp.status_code
    body = resp.json()
    body.pop("requestId", None)
    text = json.dumps(body, sort_keys=True)
    for name, ident in ids.items():
        text = text.replace(ident, "{" + name + "}")
    return [resp.status_code, json.loads(_NEW_ID.sub(r"\1_<new>", text))]


def _send(live: Live, method: str, path: str, body: Any) -> Any:
    if body is MISSING:
        return live.client.request(method, path)
    return live.client.request(method, path, content=json.dumps(body))


def _label(method: str, path: str, body: Any, ids: dict[str, str]) -> str:
    text = f"{method} {path} " + ("<no body>" if body is MISSING else json.dumps(body, sort_keys=True))
    for name, ident in ids.items():
        text = text.replace(ident, "{" + name + "}")
    return text


def test_error_bodies_are_unchanged(live: Live) -> None:
    ids = _setup(live)
    seen: dict[str, Any] = {}
    for method, path, base, _ in _cases(ids):
        variants: list[Any] = list(NON_OBJECTS) + [{**base, "zzz": 1, "aaa": 2}]
        fields = list(base)
        for name in fields:
            for bad in BAD_VALUES:
                body = {k: v for k, v in base.items() if k != name}
                if bad is not MISSING:
                    body[name] = bad
                variants.append(body)
        # two bad fields at once, in reverse declaration order: which one is reported first
        for first, second in zip(fields[1:], fields, strict=False):
            variants.append(
                {**{first: 1.5, second: 1.5}, **{k: v for k, v in base.items() if k not in (first, second)}}
            )
        for body in variants:
            label = _label(method, path, body, ids)
            if label not in seen:
                seen[label] = _answer(_send(live, method, path, body), ids)
    for query in QUERIES:
        path = query.format(**ids)
        seen[f"GET {query}"] = _answer(live.client.get(path), ids)
    if os.environ.get("ONCALL_RECORD_ERRORS"):
        GOLDEN.write_text(json.dumps(seen, indent=1, sort_keys=True, ensure_ascii=True) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    assert len(seen) > 1000
    changed = {k: (recorded.get(k), v) for k, v in seen.items() if recorded.get(k) != v}
    assert not changed, json.dumps(dict(list(changed.items())[:10]), indent=1)
    assert set(recorded) == set(seen)
