"""``ScalingClient``: the remote Scaling API over httpx, with the tolerance the reference asks for.

* Bearer auth (``Authorization: Bearer scl_live_…``); the key is a :class:`Secret` and never appears in an
  exception, a log line or a repr.
* Base URL ``https://api.scaling.cloud`` with ``/v1/…`` in every path (a trailing ``/v1`` on the configured
  URL is accepted and dropped). Plain ``http://`` is refused except for loopback hosts, as the official
  provider does: the key would otherwise cross the network in the clear.
* Every success body is ``{"data": …}``; a body without ``data`` is taken as the payload itself. Lists come
  bare (policies, schedules) or wrapped (``{"incidents", "nextCursor"}``, ``{"users"}``, ``{"members"}``):
  :func:`list_items` accepts either.
* Errors: ``{statusCode, type, code, requestId}`` with an optional ``message`` (also tolerated nested under
  ``error``, or as a non-JSON body), turned into :class:`RemoteError`.
* Retries (reference §2.1): 429 waits ``Retry-After`` (seconds or an HTTP date, capped at 60 s); 502, 503
  and 504 back off exponentially from 1 s with jitter, capped at 30 s; at most 3 retries, then the error is
  raised with ``retryable=True``. Network failures raise :class:`Unreachable` at once (the caller holds
  its queue while offline); ``maybe_sent`` says whether a write may have reached the server.
* IDs are opaque strings, quoted into paths as they are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from engine.clock import WallClock, monotonic
from engine.errors import DomainError
from storage.sync.credentials import DEFAULT_BASE_URL, Secret, redact

log = logging.getLogger("oncall.sync.client")

RETRY_STATUSES = (502, 503, 504)
MAX_RETRY_AFTER_S = 60.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
MAX_RETRIES = 3
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


class RemoteError(DomainError):
    """The remote answered with an error status."""

    def __init__(
        self,
        http_status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message)
        self.status_code = http_status
        self.http_status = http_status
        self.request_id = request_id
        self.error_type = error_type
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying again later: rate limited, the gateway or the server failing, not a verdict."""
        return self.http_status == 429 or self.http_status >= 500

    @property
    def auth_problem(self) -> bool:
        return self.http_status in (401, 403) and self.code != "redaction_not_permitted"

    def describe(self) -> str:
        rid = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.http_status} {self.code}: {self.message}{rid}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "statusCode": self.http_status,
            "code": self.code,
            "message": self.message,
            "requestId": self.request_id,
        }


class Unreachable(DomainError):
    """No answer from the remote (connection refused, DNS, timeout, dropped connection)."""

    status_code = 503

    def __init__(self, message: str, *, maybe_sent: bool) -> None:
        super().__init__("remote_unreachable", message)
        self.maybe_sent = maybe_sent


def normalise_base_url(url: str | None) -> str:
    """``https://host[:port]`` without a trailing slash or ``/v1``; refuses plain http off loopback."""
    raw = (url or DEFAULT_BASE_URL).strip().rstrip("/")
    if raw.endswith("/v1"):
        raw = raw[: -len("/v1")]
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError("invalid_base_url", f"not an http(s) URL: {raw!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise DomainError(
            "insecure_base_url",
            f"refusing to send the API key over plain http to {parts.hostname}; use https",
        )
    return raw


def list_items(payload: Any, *keys: str) -> list[Any]:
    """A list from a bare array or from the first of ``keys`` (then ``items``/``data``) in an object."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for k in (*keys, "items", "data", "results"):
            v = payload.get(k)
            if isinstance(v, list):
                return v
    return []


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        secs = (when - WallClock().now()).total_seconds()
    return max(0.0, min(MAX_RETRY_AFTER_S, secs))


def backoff_delay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential from 1 s, capped at 30 s, with jitter: a uniform pick in [d/2, d]."""
    d = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2**attempt))
    return d / 2 + rand() * d / 2


def parse_error(response: httpx.Response, key: Secret | None = None) -> RemoteError:
    """A :class:`RemoteError` from any error answer: the reference's shape, optional ``message``,
    nested ``{"error": {...}}``, or a body that is not JSON at all."""
    status = response.status_code
    rid = response.headers.get("x-request-id")
    code = f"http_{status}"
    message = ""
    etype = None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        code = str(body.get("code") or code)
        etype = body.get("type") if isinstance(body.get("type"), str) else None
        msg = body.get("message")
        message = msg if isinstance(msg, str) else ""
        rid = str(body.get("requestId") or rid or "") or None
    elif response.content:
        message = response.text[:200].strip()
    if not message:
        message = response.reason_phrase or "error"
    retry_after = _retry_after_seconds(response.headers.get("retry-after")) if status == 429 else None
    return RemoteError(
        status,
        code,
        redact(message, key),
        request_id=rid,
        error_type=etype,
        retry_after=retry_after,
    )


class ScalingClient:
    """A thread-safe client for one remote organisation.

    ``sleep`` waits between retries (inject an ``Event.wait`` to make a runner stoppable, or a recorder in
    tests); ``rand`` supplies the jitter.
    """

    def __init__(
        self,
        base_url: str,
        key: Secret,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], Any] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self._key = key
        self.max_retries = max_retries
        self._sleep = sleep or threading.Event().wait
        self._rand = rand
        self.retries: list[tuple[int, float]] = []  # (status, delay) of every retry, for status and tests
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "oncall-sync/0.1"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"ScalingClient({self.base_url}, key={self._key.masked})"

    @property
    def key_fingerprint(self) -> str:
        """A SHA-256 prefix of the key (16 hex digits): tells keys apart without storing one."""
        return hashlib.sha256(self._key.reveal().encode()).hexdigest()[:16]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ScalingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The unwrapped ``data`` of a success (None for 204), or raise RemoteError / Unreachable."""
        headers = {"Authorization": f"Bearer {self._key.reveal()}"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, separators=(",", ":")).encode()
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        attempt = 0
        while True:
            started = monotonic()
            try:
                response = self._http.request(method, path, content=content, params=params, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise Unreachable(
                    f"cannot reach {self.base_url} ({type(exc).__name__})", maybe_sent=False
                ) from None
            except httpx.HTTPError as exc:
                # The request may have left: a timeout or a dropped connection after sending.
                raise Unreachable(
                    f"no answer from {self.base_url} ({type(exc).__name__})", maybe_sent=method != "GET"
                ) from None
            log.debug(
                "%s %s -> %s in %.0f ms", method, path, response.status_code, (monotonic() - started) * 1000
            )
            if response.status_code < 400:
                return self._payload(response)
            err = parse_error(response, self._key)
            retry = response.status_code == 429 or response.status_code in RETRY_STATUSES
            if not retry or attempt >= self.max_retries:
                raise err
            if response.status_code == 429 and err.retry_after is not None:
                delay = err.retry_after
            else:
                delay = backoff_delay(attempt, self._rand)
            self.retries.append((response.status_code, delay))
            log.info("%s %s answered %s; retrying in %.1f s", method, path, response.status_code, delay)
            if self._sleep(delay) is True:  # an Event.wait that was set: we are stopping
                raise err
            attempt += 1

    def _payload(self, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError:
            raise RemoteError(
                response.status_code, "invalid_response", "the remote answered with a body that is not JSON"
            ) from None
        if isinstance(body, dict) and "data" in body:
            return body["data"]
        return body

    # -- resources ------------------------------------------------------------------------------

    @staticmethod
    def path(*parts: str) -> str:
        return "/" + "/".join(quote(str(p), safe="") if i else str(p) for i, p in enumerate(parts))

    def list_users(self) -> list[dict[str, Any]]:
        """``GET /v1/users`` (``{"users"}``), or the team members list when that is missing."""
        try:
            data = self.request("GET", "/v1/users")
            return [u for u in list_items(data, "users", "members") if isinstance(u, dict)]
        except RemoteError as exc:
            if exc.http_status not in (404, 405):
                raise
            missing = exc
        try:
            data = self.request("GET", "/v1/team/members")
        except RemoteError as exc:
            if exc.http_status in (401, 403):  # team endpoints are admin-only: the key itself is fine
                raise missing from None
            raise
        return [u for u in list_items(data, "members", "users") if isinstance(u, dict)]

    def list_schedules(self) -> list[dict[str, Any]]:
        data = self.request("GET", "/v1/oncall/schedules")
        return [s for s in list_items(data, "schedules") if isinstance(s, dict)]

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        return dict(self.request("GET", self.path("v1", "oncall", "schedules", schedule_id)) or {})

    def list_policies(self) -> list[dict[str, Any]]:
        data = self.request("GET", "/v1/escalation/policies")
        return [p for p in list_items(data, "policies", "escalationPolicies") if isinstance(p, dict)]

    def get_policy(self, policy_id: str) -> dict[str, Any]:
        return dict(self.request("GET", self.path("v1", "escalation", "policies", policy_id)) or {})

    def list_policy_layers(self, policy_id: str) -> list[dict[str, Any]] | None:
        """The layers sub-collection, or None where the remote has no such endpoint."""
        try:
            data = self.request("GET", self.path("v1", "escalation", "policies", policy_id, "layers"))
        except RemoteError as exc:
            if exc.http_status in (404, 405):
                return None
            raise
        return [layer for layer in list_items(data, "layers") if isinstance(layer, dict)]

    def incidents_pages(self, *, limit: int = 100) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``GET /v1/incidents``, newest first, following ``nextCursor`` until it is null."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            data = self.request("GET", "/v1/incidents", params=params)
            items = [i for i in list_items(data, "incidents") if isinstance(i, dict)]
            yield items
            nxt = data.get("nextCursor") if isinstance(data, dict) else None
            if not nxt or not items or nxt in seen:
                return
            seen.add(nxt)
            cursor = str(nxt)

    def get_incident(self, incident_id: str) -> dict[str, Any]:
        return dict(self.request("GET", self.path("v1", "incidents", incident_id)) or {})

    def list_updates(self, incident_id: str) -> list[dict[str, Any]]:
        data = self.request("GET", self.path("v1", "incidents", incident_id, "updates"))
        return [u for u in list_items(data, "updates") if isinstance(u, dict)]
