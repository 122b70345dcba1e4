"""``GET /v1/incidents`` is encoded straight from the page's Structs (no builtins in between): its bytes
must stay exactly what the dict path wrote (Starlette's ``JSONResponse`` of the service's wire form), for
every kind of incident the list can hold."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from engine.service import incidents
from tests.api.conftest import Live
from tests.api.test_http import data, policy, schedule


def _json_response_bytes(value: Any) -> bytes:
    """What ``starlette.responses.JSONResponse`` writes for ``value``."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def _varied_incidents(live: Live) -> list[str]:
    """Incidents of every shape: with and without a description, owner and policy; acknowledged,
    resolved; titles that need escaping (quotes, backslash, control characters, non-ASCII, emoji)."""
    pol = policy(live)
    sched = schedule(live)
    bodies: list[dict[str, Any]] = [
        {"title": "plain", "severity": "low"},
        {"title": 'quote " back \\ slash', "severity": "high", "description": "line\nbreak\ttab"},
        {"title": "Zürich – 東京 🔥", "severity": "critical", "description": "é" * 40},
        {"title": "with policy", "severity": "medium", "escalationPolicyId": pol["id"]},
        {"title": "owned", "severity": "high", "ownerScheduleId": sched["id"]},
        {"title": "</script><b>&amp;</b>", "severity": "low", "description": ""},
    ]
    ids = []
    for body in bodies:
        ids.append(data(live.client.post("/v1/incidents", json=body), 201)["id"])
        live.clock.advance(timedelta(minutes=3))
    data(live.client.post(f"/v1/incidents/{ids[3]}/acknowledge"))
    for step in ("identified", "monitoring", "resolved"):
        data(live.client.patch(f"/v1/incidents/{ids[1]}/status", json={"status": step}))
    return ids


def test_list_bytes_are_the_wire_forms_json_response(live: Live) -> None:
    ids = _varied_incidents(live)
    ctx = live.ctx()
    for params in ({"limit": 100}, {"limit": 2}, {"limit": 4, "status": "resolved"}, {"severity": "low"}):
        resp = live.client.get("/v1/incidents", params=params)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/json"
        limit = int(params.get("limit", 20))
        kwargs = {k: v for k, v in params.items() if k != "limit"}
        expected = incidents.list_incidents(ctx, limit=limit, **kwargs)
        assert resp.content == _json_response_bytes({"data": expected})
        assert int(resp.headers["content-length"]) == len(resp.content)
    first = data(live.client.get("/v1/incidents", params={"limit": 2}))
    assert [i["id"] for i in first["incidents"]] == ids[:-3:-1] and first["nextCursor"]
    rest = live.client.get("/v1/incidents", params={"limit": 100, "cursor": first["nextCursor"]})
    expected = incidents.list_incidents(ctx, limit=100, cursor=first["nextCursor"])
    assert rest.content == _json_response_bytes({"data": expected})
    assert [i["id"] for i in expected["incidents"]] == ids[-3::-1] and expected["nextCursor"] is None
    ctx.db.close()


def test_listed_incidents_are_their_own_answers(live: Live) -> None:
    """Each incident of the page has exactly the fields and values ``GET /v1/incidents/{id}`` answers
    (the page reads its columns by position: a wrong index would swap two fields)."""
    ids = _varied_incidents(live)
    listed = data(live.client.get("/v1/incidents", params={"limit": 100}))["incidents"]
    assert [i["id"] for i in listed] == ids[::-1]
    for item in listed:
        one = data(live.client.get(f"/v1/incidents/{item['id']}"))
        assert item == {k: one[k] for k in item}
    statuses = {i["title"]: (i["status"], i["acknowledgedAt"] is not None) for i in listed}
    assert statuses['quote " back \\ slash'] == ("resolved", False)
    assert statuses["with policy"] == ("investigating", True)


def test_an_empty_page(live: Live) -> None:
    resp = live.client.get("/v1/incidents")
    assert resp.content == b'{"data":{"incidents":[],"nextCursor":null}}'
