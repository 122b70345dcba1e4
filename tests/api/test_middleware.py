"""The API's one middleware (console/api/middleware.py): every answer carries one ``X-Request-Id``, and
bodies are capped whether they are declared or chunked, while bodies within the limit arrive whole."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx

from tests.api.conftest import Live


def _ids(resp: httpx.Response) -> list[str]:
    return [v for k, v in resp.headers.multi_items() if k.lower() == "x-request-id"]


def test_every_answer_carries_one_request_id(live: Live) -> None:
    answers = [
        live.client.get("/v1/incidents"),  # the endpoint sets it
        live.client.get("/v1/openapi.json"),  # the middleware adds it
        live.client.get("/v1/nowhere"),  # routing error: the error handler sets it
        httpx.get(live.url + "/v1/incidents"),  # 401
        live.client.head("/v1/incidents"),
    ]
    seen = set()
    for resp in answers:
        ids = _ids(resp)
        assert len(ids) == 1, (resp.request.url, resp.headers)
        uuid.UUID(ids[0])
        seen.add(ids[0])
        if resp.content and resp.status_code >= 400:
            assert resp.json()["requestId"] == ids[0]
    assert len(seen) == len(answers)


def _chunked(body: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_chunked_bodies_within_the_limit_arrive_whole_and_over_it_are_refused(live: Live) -> None:
    body = json.dumps({"title": "chunked ünïcode", "severity": "low", "description": "d" * 5000}).encode()
    made = live.client.post("/v1/incidents", content=_chunked(body))
    assert made.status_code == 201, made.text
    assert made.json()["data"]["description"] == "d" * 5000
    declared = live.client.post("/v1/incidents", content=body)  # Content-Length within the limit
    assert declared.status_code == 201, declared.text
    over = b'{"title": "' + b"x" * 1_000_001 + b'", "severity": "low"}'
    refused = live.client.post("/v1/incidents", content=_chunked(over, 65536))
    assert refused.status_code == 422 and "larger than 1000000 bytes" in refused.json()["message"]
    assert refused.json()["requestId"] == _ids(refused)[0]
