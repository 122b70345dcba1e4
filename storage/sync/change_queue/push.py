"""The push loop: send the open changes in order, under the organisation's push lease.

One process pushes an organisation at a time: it holds the lease row ``push:<org>`` of
:mod:`storage.lease` (the engine lease's implementation with another name and a 30 s TTL), renewed before
each change; a holder that was a process on this machine that no longer exists is taken over at once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, WallClock
from engine.timefmt import to_iso
from storage import lease
from storage.db import Database
from storage.sync.change_queue.kinds import CHANGE_KINDS, Sending, apply_answer, kind_of, send
from storage.sync.change_queue.queue import (
    HELD_STATUSES,
    change_row,
    change_wire,
    mark,
    mark_done,
    open_rows,
    waiting_count,
)
from storage.sync.change_queue.reconcile import Uncertain, learn_actor
from storage.sync.change_queue.record import applying_remote
from storage.sync.change_queue.remote_ids import LocalSyncError

if TYPE_CHECKING:
    from storage.sync.client import ScalingClient

log = logging.getLogger("oncall.sync.outbox")

LEASE_TTL_MS = 30_000

_wall = WallClock()


def lease_name(org_id: str) -> str:
    """The push lease's row in the lease table."""
    return f"push:{org_id}"


@dataclass
class PushResult:
    """What one push did: counts, ``state`` ok | offline | error | busy, and the changes it left held."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0
    state: str = "ok"  # ok | offline | error | busy
    error: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    uncertain: list[dict[str, Any]] = field(default_factory=list)  # changes this push left uncertain

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "waiting": self.waiting,
            "state": self.state,
            "error": self.error,
            "failures": self.failures,
            "uncertain": self.uncertain,
        }


class _Hold(Exception):
    """Stop sending for now (offline, rate limited, server failing, key refused)."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state = state
        self.message = message


class _Failed(Exception):
    def __init__(self, change: dict[str, Any]) -> None:
        super().__init__(change["id"])
        self.change = change


class _HeldUncertain(_Failed):
    """The change is now ``uncertain``: the user decides (later changes to its object wait)."""


def _next_sendable(db: Database, org_id: str, skip: set[int]) -> sqlite3.Row | None:
    # A failed or uncertain create holds back every later change to that object and to what belongs to it
    # (a policy's layers, an incident's updates); any other failure holds back later changes to the same
    # object only (a rejected update never delays an acknowledgement of another incident).
    blocked_roots: set[str] = set()
    blocked_objects: set[str] = set()
    for r in open_rows(db, org_id):
        if r["status"] in HELD_STATUSES:
            blocked_objects.add(r["object_id"])
            kind = CHANGE_KINDS.get(r["kind"])
            if kind is not None and kind.is_create:
                blocked_roots.add(r["object_id"])
            continue
        if r["root_id"] in blocked_roots or r["object_id"] in blocked_objects or r["seq"] in skip:
            continue
        return r
    return None


def push(
    db: Database,
    org_id: str,
    client: ScalingClient,
    *,
    clock: Clock,
    holder: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> PushResult:
    """Send the queue in order until it is empty, the remote is unreachable, or ``should_stop()``.

    ``holder`` is a :func:`storage.lease.holder_name`; ``state`` is ``busy`` when another process holds
    the push lease (or took it over mid-push). ``clock`` stamps ``sentAt``; send windows are wall-clock.
    """
    holder = holder or lease.holder_name("push")
    name = lease_name(org_id)
    ttl_s = LEASE_TTL_MS / 1000
    result = PushResult()
    fence = lease.acquire(db, holder, ttl_s, name=name)
    if fence is None:
        result.state = "busy"
        result.waiting = waiting_count(db, org_id)
        return result
    try:
        # A change left "sending" was interrupted (a crash): it may or may not have reached the remote, at
        # any moment from its attempt (or, not recorded, its creation) until now.
        with db.write():
            db.execute(
                "UPDATE sync_outbox SET status = 'pending', uncertain = 1, "
                "window_start = coalesce(attempt_at, created_at), window_end = ? "
                "WHERE org_id = ? AND status = 'sending'",
                (to_iso(_wall.now()), org_id),
            )
        skip: set[int] = set()
        while not should_stop():
            row = _next_sendable(db, org_id, skip)
            if row is None:
                break
            if lease.acquire(db, holder, ttl_s, name=name) is None:
                # Held past its expiry (a long retry) and taken over: the other sender goes on.
                result.state = "busy"
                break
            try:
                _send_one(db, client, row, clock)
                result.sent += 1
            except _Hold as hold:
                result.state = hold.state
                result.error = hold.message
                break
            except _HeldUncertain as held:
                result.uncertain.append(held.change)
            except _Failed as failed:
                result.failed += 1
                result.failures.append(failed.change)
        with db.write():
            db.execute("UPDATE sync_config SET last_push_error = ? WHERE org_id = ?", (result.error, org_id))
    finally:
        lease.release(db, fence, name=name)
    result.waiting = waiting_count(db, org_id)
    return result


def _wire(db: Database, row: sqlite3.Row) -> dict[str, Any]:
    return change_wire(change_row(db, row["org_id"], row["id"]))


def _send_one(db: Database, client: ScalingClient, row: sqlite3.Row, clock: Clock) -> None:
    from storage.sync.client import RemoteError, Unreachable

    seq = row["seq"]
    uncertain = bool(row["uncertain"])
    attempt_at = to_iso(_wall.now())  # wall clock: compared with the remote's createdAt
    mark(db, seq, status="sending", attempts=row["attempts"] + 1, attempt_at=attempt_at)
    try:
        remote_id, data = send(Sending(db, client, row, json.loads(row["payload"])), uncertain=uncertain)
    except Unreachable as exc:
        # A write that may have left opens a new send window; a failed lookup keeps the old one.
        window = {"window_start": attempt_at, "window_end": to_iso(_wall.now())} if exc.maybe_sent else {}
        mark(
            db,
            seq,
            status="pending",
            uncertain=int(uncertain or exc.maybe_sent),
            error_status=None,
            error_code=exc.code,
            error_message=exc.message,
            request_id=None,
            **window,
        )
        raise _Hold("offline", exc.message) from None
    except Uncertain as unsure:
        ids = ", ".join(str(c["id"]) for c in unsure.candidates)
        mark(
            db,
            seq,
            status="uncertain",
            candidates=json.dumps(unsure.candidates, separators=(",", ":")),
            error_status=None,
            error_code="outcome_unknown",
            error_message=(
                "the remote may have applied this change but nothing proves which object it made "
                f"(candidates: {ids}); run `oncall sync adopt ID REMOTE_ID`, `retry ID` or `discard ID`"
            ),
            request_id=None,
        )
        log.warning("change %s (%s) is uncertain; candidates %s", row["id"], row["kind"], ids)
        raise _HeldUncertain(_wire(db, row)) from None
    except RemoteError as exc:
        held = exc.retryable or exc.auth_problem
        mark(
            db,
            seq,
            status="pending" if held else "failed",
            error_status=exc.http_status,
            error_code=exc.code,
            error_message=exc.message,
            request_id=exc.request_id,
        )
        if held:
            raise _Hold("error", exc.describe()) from None
        log.warning("change %s (%s) rejected: %s", row["id"], row["kind"], exc.describe())
        raise _Failed(_wire(db, row)) from None
    except LocalSyncError as exc:
        # request_id cleared too: an earlier attempt's request id would describe a different answer.
        mark(
            db,
            seq,
            status="failed",
            error_status=None,
            error_code=exc.code,
            error_message=exc.message,
            request_id=None,
        )
        raise _Failed(_wire(db, row)) from None
    with db.write(), applying_remote():
        if kind_of(row["kind"]).makes_remote_object:
            learn_actor(db, row["org_id"], client, data)
        apply_answer(db, row, remote_id, data)
        mark_done(db, seq, remote_id, clock)
