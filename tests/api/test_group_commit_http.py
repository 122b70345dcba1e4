"""Writes over real HTTP through the group-commit writer, and the answers' bytes (msgspec for float-free
models) against what Starlette's JSONResponse wrote before."""

from __future__ import annotations

import json
import threading
from typing import Any

import msgspec

from console.api.app import plain_json
from console.api.routes import OPERATIONS
from engine.service import responses as res
from tests.api.conftest import Live

WAIT_S = 30


def _starlette_bytes(value: Any) -> bytes:
    """What ``JSONResponse`` renders (starlette.responses.JSONResponse.render)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def test_concurrent_writes_each_get_their_own_answer_and_only_the_valid_ones_are_stored(live: Live) -> None:
    bodies: list[dict[str, Any]] = []
    for i in range(24):
        bodies.append(
            {"title": f"storm {i}", "severity": "high"} if i % 3 else {"title": f"bad {i}", "severity": "?"}
        )
    answers: dict[int, tuple[int, dict[str, Any]]] = {}
    start = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        with live.as_key(live.key) as client:
            start.wait(WAIT_S)
            resp = client.post("/v1/incidents", json=bodies[i])
            answers[i] = (resp.status_code, resp.json())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert len(answers) == len(bodies)
    for i, (status, body) in answers.items():
        if i % 3:
            assert status == 201 and body["data"]["title"] == f"storm {i}", body
        else:
            assert status == 422 and body["code"] == "validation_error" and body["field"] == "severity", body
    created = [answers[i][1]["data"] for i in answers if i % 3]
    assert sorted(c["sequentialId"] for c in created) == list(range(1, len(created) + 1))
    listed = live.client.get("/v1/incidents", params={"limit": 100}).json()["data"]["incidents"]
    assert sorted(c["id"] for c in created) == sorted(i["id"] for i in listed)


def test_float_free_answers_are_the_bytes_json_dumps_wrote(live: Live) -> None:
    tricky = 'quote " back \\ é ☃ 😀 </script> &amp;'
    body = {"title": tricky, "severity": "low", "description": "lines\nand\ttabs"}
    made = live.client.post("/v1/incidents", json=body)
    assert made.status_code == 201
    for resp in (made, live.client.get("/v1/incidents", params={"limit": 5})):
        assert resp.headers["content-type"] == "application/json"
        assert resp.content == _starlette_bytes(json.loads(resp.content))
    assert json.loads(made.content)["data"]["title"] == tricky


class WithFloat(msgspec.Struct):
    ratio: float


class WithAny(msgspec.Struct):
    payload: Any


class Nested(msgspec.Struct):
    items: list[WithFloat] | None


def test_only_models_without_floats_or_free_form_values_take_the_fast_encoder() -> None:
    assert plain_json(res.IncidentPage) and plain_json(res.AlertReceipt) and plain_json(list[res.Policy])
    assert not plain_json(WithFloat) and not plain_json(WithAny) and not plain_json(Nested)
    assert not plain_json(None)
    # Every answer model of the route table is decided (the list is what docs/PERFORMANCE.md reports).
    assert sum(plain_json(op.response) for op in OPERATIONS) >= 60
