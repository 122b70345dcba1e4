"""ScalingClient at the network edge (httpx.MockTransport): envelopes, errors, retries, key hygiene."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from engine.clock import WallClock
from engine.errors import DomainError
from storage.sync.client import (
    RemoteError,
    ScalingClient,
    Unreachable,
    backoff_delay,
    list_items,
    normalise_base_url,
)
from storage.sync.credentials import Secret, mask, redact

KEY = "scl_live_abcdefghijklmnopqrstuvwxyz012345"


def make(
    handler: Callable[[httpx.Request], httpx.Response], *, rand: float = 0.5, **kw: Any
) -> tuple[ScalingClient, list[float]]:
    sleeps: list[float] = []
    c = ScalingClient(
        "https://api.scaling.cloud",
        Secret(KEY),
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        rand=lambda: rand,
        **kw,
    )
    return c, sleeps


def test_bearer_auth_and_idempotency_key_on_writes() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(201, json={"data": {"id": "pol_1"}})

    c, _ = make(handler)
    assert c.request("POST", "/v1/escalation/policies", body={"name": "A"}, idempotency_key="k-1") == {
        "id": "pol_1"
    }
    req = seen[0]
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert req.headers["Idempotency-Key"] == "k-1"
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.content) == {"name": "A"}
    assert str(req.url) == "https://api.scaling.cloud/v1/escalation/policies"


def test_envelopes_and_list_shapes() -> None:
    answers = {
        "/v1/escalation/policies": {"data": [{"id": "ep_1"}]},
        "/v1/oncall/schedules": {"data": {"schedules": [{"id": "sch_1"}]}},
        "/v1/users": {"data": {"users": [{"id": "user_1"}]}},
        "/v1/incidents": {"data": {"incidents": [{"id": "a"}], "nextCursor": None}},
        "/v1/escalation/policies/ep_1": {"id": "ep_1", "steps": []},  # no envelope at all
    }

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[req.url.path])

    c, _ = make(handler)
    assert c.list_policies() == [{"id": "ep_1"}]
    assert c.list_schedules() == [{"id": "sch_1"}]
    assert c.list_users() == [{"id": "user_1"}]
    assert list(c.incidents_pages()) == [[{"id": "a"}]]
    assert c.get_policy("ep_1") == {"id": "ep_1", "steps": []}
    assert list_items({"members": [1], "invitations": [2]}, "members") == [1]
    assert list_items(None) == []


def test_users_fall_back_to_team_members() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/v1/users":
            return httpx.Response(404, json={"statusCode": 404, "code": "not_found"})
        return httpx.Response(200, json={"data": {"members": [{"id": "user_2"}], "invitations": []}})

    c, _ = make(handler)
    assert c.list_users() == [{"id": "user_2"}]


def test_ids_of_any_form_are_quoted_into_paths() -> None:
    paths: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        paths.append(req.url.raw_path.decode())
        return httpx.Response(200, json={"data": {"id": "x"}})

    c, _ = make(handler)
    for ident in ("d4e5f6a7-b8c9-0123-defa-234567890123", "inc_01jqm5x3k8vz9e2f4g7h", "a/b c?d"):
        c.get_incident(ident)
    assert paths == [
        "/v1/incidents/d4e5f6a7-b8c9-0123-defa-234567890123",
        "/v1/incidents/inc_01jqm5x3k8vz9e2f4g7h",
        "/v1/incidents/a%2Fb%20c%3Fd",
    ]


def test_pagination_follows_next_cursor_until_null() -> None:
    pages = {None: (["c", "b"], "cur1"), "cur1": (["a"], None)}

    def handler(req: httpx.Request) -> httpx.Response:
        items, nxt = pages[req.url.params.get("cursor")]
        return httpx.Response(
            200, json={"data": {"incidents": [{"id": i} for i in items], "nextCursor": nxt}}
        )

    c, _ = make(handler)
    assert [[i["id"] for i in p] for p in c.incidents_pages(limit=2)] == [["c", "b"], ["a"]]


@pytest.mark.parametrize(
    ("status", "body", "code", "message", "rid"),
    [
        (409, {"statusCode": 409, "type": "invalid_request_error", "code": "name_conflict",
               "requestId": "r-1", "message": "Policy exists"}, "name_conflict", "Policy exists", "r-1"),
        (404, {"statusCode": 404, "type": "invalid_request_error", "code": "not_found", "requestId": "r-2"},
         "not_found", "Not Found", "r-2"),
        (400, {"error": {"code": "invalid_target", "message": "bad schedule"}}, "invalid_target", "bad schedule", None),
        (422, "<html>nope</html>", "http_422", "<html>nope</html>", None),
    ],
)  # fmt: skip
def test_error_bodies_with_or_without_message(
    status: int, body: Any, code: str, message: str, rid: Any
) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    c, sleeps = make(handler)
    with pytest.raises(RemoteError) as info:
        c.request("GET", "/v1/incidents/x")
    err = info.value
    assert (err.http_status, err.code, err.message, err.request_id) == (status, code, message, rid)
    assert not err.retryable and sleeps == []  # a 4xx is a verdict: never retried


def _sequence(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)

    def handler(req: httpx.Request) -> httpx.Response:
        return queue.pop(0)

    return handler


def test_429_honours_retry_after_seconds_and_caps_it_at_60() -> None:
    c, sleeps = make(
        _sequence(
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": "3600"}),
            httpx.Response(200, json={"data": []}),
        )
    )
    assert c.list_policies() == []
    assert sleeps == [7.0, 60.0]


def test_429_with_an_http_date_retry_after() -> None:
    when = format_datetime(WallClock().now() + timedelta(seconds=30), usegmt=True)
    c, sleeps = make(
        _sequence(httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200, json={}))
    )
    c.request("GET", "/v1/users")
    assert 25 <= sleeps[0] <= 30


def test_gateway_errors_back_off_exponentially_with_jitter_then_give_up() -> None:
    responses = [httpx.Response(s) for s in (502, 503, 504, 503)]
    c, sleeps = make(_sequence(*responses), rand=0.0)
    with pytest.raises(RemoteError) as info:
        c.request("POST", "/v1/incidents", body={})
    assert info.value.http_status == 503 and info.value.retryable
    assert sleeps == [0.5, 1.0, 2.0]  # 1, 2, 4 s with the jitter at its lowest (half)
    c2, sleeps2 = make(
        _sequence(httpx.Response(502), httpx.Response(200, json={"data": {"id": "i"}})), rand=1.0
    )
    assert c2.request("POST", "/v1/incidents", body={}) == {"id": "i"}
    assert sleeps2 == [1.0]
    assert backoff_delay(10, lambda: 1.0) == 30.0  # capped
    assert all(0.5 <= backoff_delay(0) <= 1.0 for _ in range(50))


def test_500_is_not_retried_by_the_client_but_is_retryable_later() -> None:
    c, sleeps = make(_sequence(httpx.Response(500, json={"statusCode": 500, "code": "internal_error"})))
    with pytest.raises(RemoteError) as info:
        c.request("GET", "/v1/users")
    assert info.value.retryable and sleeps == []


def test_network_failures_are_unreachable_and_say_whether_a_write_may_have_landed() -> None:
    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    def timeout(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=req)

    c, _ = make(refuse)
    with pytest.raises(Unreachable) as info:
        c.request("POST", "/v1/incidents", body={})
    assert info.value.maybe_sent is False
    c, _ = make(timeout)
    with pytest.raises(Unreachable) as info:
        c.request("POST", "/v1/incidents", body={})
    assert info.value.maybe_sent is True
    with pytest.raises(Unreachable) as info:
        c.request("GET", "/v1/incidents")
    assert info.value.maybe_sent is False


def test_the_key_never_shows() -> None:
    def echo(req: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"code": "bad", "message": f"header was {req.headers['Authorization']}"}
        )

    c, _ = make(echo)
    assert KEY not in repr(c) and KEY not in str(Secret(KEY)) and KEY not in repr(Secret(KEY))
    with pytest.raises(RemoteError) as info:
        c.request("GET", "/v1/users")
    assert KEY not in str(info.value) and KEY not in info.value.describe()
    assert mask(KEY) == "scl_live_…2345"
    assert redact(f"x {KEY} y", KEY) == "x scl_live_…2345 y"


def test_base_urls() -> None:
    assert normalise_base_url(None) == "https://api.scaling.cloud"
    assert normalise_base_url("https://api.scaling.cloud/v1/") == "https://api.scaling.cloud"
    assert normalise_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert normalise_base_url("http://localhost:1") == "http://localhost:1"
    with pytest.raises(DomainError) as info:
        normalise_base_url("http://api.example.com")
    assert info.value.code == "insecure_base_url"
    with pytest.raises(DomainError):
        normalise_base_url("ftp://x")
