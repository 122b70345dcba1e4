"""Delivering the outbox: webhook and command channels (``log`` is delivered by the timeline itself).

One pass (:func:`deliver_due`) runs in three short transactions and never holds one across network I/O:

1. claim: pending rows whose ``next_attempt_ms`` has come are marked ``sending`` (attempts + 1);
2. send, outside any transaction, a few at a time;
3. record: ``sent`` on success; otherwise back to ``pending`` with an exponential back-off, or ``failed``
   after :data:`MAX_ATTEMPTS` or a permanent error. Every attempt is a ``page_delivery_attempt`` timeline
   event on the incident; giving up adds ``page_delivery_failed``.

Guarantees: a row the receiver answered 2xx for is never sent again. A page still waiting (first try or a
retry) when its incident is resolved, or a layer's page still waiting when the incident is acknowledged,
is cancelled (``page_delivery_cancelled``): no escalation page goes out after an ack. A row left ``sending`` by an engine
that died mid-send is **not** retried (its receiver may have answered 2xx): the engine that takes over
marks it ``unknown`` and records ``page_delivery_unknown``; the escalation's next layer is the safety net.
So pages are at-most-once per attempt and bounded-retry at-least-once for answered failures.

Webhook: ``POST`` of the JSON page, ``Content-Type: application/json``, ``X-Oncall-Signature:
sha256=<hex HMAC-SHA256 of the raw body with the contact method's secret>``, ``X-Oncall-Idempotency-Key``,
5 s timeout. 2xx is success; 408, 429, 5xx and transport errors are retried; other 4xx are permanent.
Command: the address is split like a shell command line (no shell runs), the page JSON goes to stdin,
``ONCALL_IDEMPOTENCY_KEY`` is set; exit 0 is success, anything else (or 5 s) is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shlex
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.clock import Clock
from engine.timefmt import from_epoch_ms, to_epoch_ms, to_iso
from storage import timeline
from storage.db import Database
from storage.db_clock import write_at

if TYPE_CHECKING:
    import httpx

SEND_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 2.0  # 2 s, 4 s, 8 s (clock seconds) between attempts
SIGNATURE_HEADER = "X-Oncall-Signature"
IDEMPOTENCY_HEADER = "X-Oncall-Idempotency-Key"


@dataclass(frozen=True)
class Result:
    ok: bool
    retryable: bool
    detail: str
    status_code: int | None = None


def sign(secret: str, body: bytes) -> str:
    """The signature header value a receiver recomputes to authenticate a page."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(client: httpx.Client, url: str, secret: str | None, key: str, body: bytes) -> Result:
    import httpx

    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    try:
        resp = client.post(url, content=body, headers=headers, timeout=SEND_TIMEOUT_S)
    except httpx.TimeoutException:
        return Result(False, True, f"timed out after {SEND_TIMEOUT_S:g} s")
    except httpx.HTTPError as exc:
        return Result(False, True, f"{type(exc).__name__}: {exc}")
    code = resp.status_code
    if 200 <= code < 300:
        return Result(True, False, f"HTTP {code}", code)
    retryable = code in (408, 429) or code >= 500
    return Result(False, retryable, f"HTTP {code}", code)


def run_command(command: str, key: str, body: bytes) -> Result:
    try:
        argv = shlex.split(command)
        proc = subprocess.run(
            argv,
            input=body,
            capture_output=True,
            timeout=SEND_TIMEOUT_S,
            env={**os.environ, "ONCALL_IDEMPOTENCY_KEY": key},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(False, True, f"timed out after {SEND_TIMEOUT_S:g} s")
    except (OSError, ValueError) as exc:
        return Result(False, True, f"{type(exc).__name__}: {exc}")
    if proc.returncode == 0:
        return Result(True, False, "exit 0")
    err = proc.stderr.decode(errors="replace").strip().splitlines()
    tail = f": {err[-1][:200]}" if err else ""
    return Result(False, True, f"exit {proc.returncode}{tail}")


def _event(db: Database, row: sqlite3.Row, now: datetime, kind: str, **data: Any) -> None:
    timeline.record(
        db,
        row["incident_id"],
        now,
        kind,
        None,
        userId=row["user_id"],
        channel=row["channel"],
        contactId=row["contact_id"],
        layer=row["layer_position"],
        idempotencyKey=row["idem_key"],
        **data,
    )


def mark_orphans_unknown(db: Database, clock: Clock) -> int:
    """Rows left ``sending`` by a dead engine: never resent (the receiver may have answered); recorded.

    Called by the engine that has just acquired the lease, before it delivers anything.
    """
    with write_at(db, clock) as now:
        rows = db.all("SELECT * FROM outbox WHERE status = 'sending'")
        for row in rows:
            db.execute(
                "UPDATE outbox SET status = 'unknown', lease_until_ms = NULL WHERE seq = ?", (row["seq"],)
            )
            _event(
                db,
                row,
                now,
                "page_delivery_unknown",
                attempt=row["attempts"],
                note="the engine stopped while sending; not retried because the receiver may have answered",
            )
    return len(rows)


_TIMER_REASONS = ("escalation", "snooze_end")


def _stale_reason(row: sqlite3.Row) -> str | None:
    """Why a page waiting to be (re)sent should not go out any more: its incident was resolved, or a
    timer-driven page (a layer's escalation) was overtaken by an acknowledgement. Pages a person asked for
    (handoff, re-page reminder, escalate-now) are only stopped by resolve."""
    if row["incident_status"] == "resolved":
        return "incident resolved"
    acked = row["acknowledged_at"]
    if acked is not None and row["created_at"] <= acked:
        reason = json.loads(row["payload"] or "{}").get("reason")
        if reason in _TIMER_REASONS:
            return "incident acknowledged"
    return None


def claim(db: Database, clock: Clock, limit: int = 20, *, fence: Any = None) -> list[sqlite3.Row]:
    """Mark up to ``limit`` rows due at ``clock``'s now (read inside the transaction) ``sending`` and
    return them; nothing unless ``fence`` still holds."""
    with write_at(db, clock) as now:
        now_ms = to_epoch_ms(now)
        if fence is not None:
            from storage import lease

            if not lease.holds(db, fence):
                return []
        candidates = db.all(
            "SELECT o.*, c.address, c.secret, i.status AS incident_status, i.acknowledged_at "
            "FROM outbox o LEFT JOIN contact_methods c ON c.id = o.contact_id "
            "JOIN incidents i ON i.id = o.incident_id "
            "WHERE o.status = 'pending' AND o.next_attempt_ms <= ? ORDER BY o.next_attempt_ms, o.seq LIMIT ?",
            (now_ms, limit),
        )
        rows = []
        for row in candidates:
            reason = _stale_reason(row)
            if reason is None:
                rows.append(row)
                continue
            db.execute(
                "UPDATE outbox SET status = 'cancelled', lease_until_ms = NULL WHERE seq = ?", (row["seq"],)
            )
            _event(db, row, now, "page_delivery_cancelled", attempt=row["attempts"], reason=reason)
        for row in rows:
            db.execute(
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until_ms = ? WHERE seq = ?",
                (now_ms + int(SEND_TIMEOUT_S * 1000) * 2, row["seq"]),
            )
    return rows


def _send(row: sqlite3.Row, client: httpx.Client) -> Result:
    if row["contact_id"] is not None and row["address"] is None:
        return Result(False, False, "contact method was deleted")
    body = row["payload"].encode()
    if row["channel"] == "webhook":
        return send_webhook(client, row["address"], row["secret"], row["idem_key"], body)
    if row["channel"] == "command":
        return run_command(row["address"], row["idem_key"], body)
    return Result(True, False, "logged")


def record(db: Database, row: sqlite3.Row, clock: Clock, result: Result) -> None:
    """Record one attempt's ``result`` at ``clock``'s now, read inside the transaction."""
    attempt = row["attempts"] + 1
    with write_at(db, clock) as now:
        if result.ok:
            db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, lease_until_ms = NULL, last_error = NULL "
                "WHERE seq = ? AND status = 'sending'",
                (to_iso(now), row["seq"]),
            )
            _event(db, row, now, "page_delivery_attempt", attempt=attempt, ok=True, result=result.detail)
            return
        give_up = not result.retryable or attempt >= MAX_ATTEMPTS
        retry_at = None if give_up else to_epoch_ms(now) + int(BACKOFF_BASE_S * 1000 * 2 ** (attempt - 1))
        db.execute(
            "UPDATE outbox SET status = ?, next_attempt_ms = coalesce(?, next_attempt_ms), lease_until_ms = NULL, "
            "last_error = ? WHERE seq = ? AND status = 'sending'",
            ("failed" if give_up else "pending", retry_at, result.detail, row["seq"]),
        )
        _event(
            db,
            row,
            now,
            "page_delivery_attempt",
            attempt=attempt,
            ok=False,
            result=result.detail,
            retryAt=None if retry_at is None else to_iso(from_epoch_ms(retry_at)),
        )
        if give_up:
            _event(db, row, now, "page_delivery_failed", attempts=attempt, error=result.detail)


def deliver_due(
    db: Database,
    clock: Clock,
    *,
    limit: int = 20,
    client: httpx.Client | None = None,
    workers: int = 4,
    fence: Any = None,
) -> int:
    """One delivery pass over everything due at ``clock.now()``; returns how many attempts were made."""
    rows = claim(db, clock, limit, fence=fence)
    if not rows:
        return 0
    own = client is None
    if client is None:
        import httpx  # imported on first use: the engine starts faster (recovery is timed from spawn)

        client = httpx.Client()
    http = client
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(rows)))) as pool:
            results = list(pool.map(lambda r: _send(r, http), rows))
    finally:
        if own:
            http.close()
    for row, result in zip(rows, results, strict=True):
        record(db, row, clock, result)
    return len(rows)
