"""The sync outbox: local changes to synced objects, queued in the transaction that made them and pushed
to the remote in order.

Recording (:func:`record_change`) is called by the service layer, one line per mutation. It does nothing
unless the organisation is linked to a remote, the object is synced and the change did not itself come from
a pull (:func:`applying_remote`). In a linked organisation new policies (and their layers) are synced, and so
are new non-drill incidents unless they escalate on a policy that was never synced; such incidents are
paged by the remote once they arrive there, never by the local engine.

Sending (:func:`push`) holds a per-organisation lease so one process sends at a time, and walks the queue
in order:

* success: the change is ``done``; the remote id of a created object is recorded on the local row;
* the remote unreachable, rate limited past the client's retries, or failing (5xx): the change stays
  ``pending`` and sending stops (later changes never overtake it) until the next push;
* 401/403: sending stops; the key is the problem, not the change;
* any other 4xx: the change is ``failed`` with the remote's error and kept until the user retries or
  discards it; later changes to the same object (to anything inside it, after a failed create) wait
  behind it, others go on.

Never applied twice, never someone else's object: each change carries an ``Idempotency-Key``; a change
whose previous attempt may have reached the remote (a dropped connection, a crash while ``sending``) is
reconciled first. A status or owner already reached counts as done. A create adopts a remote object only on
proof that this change made it: same content, created by the key's own remote user (learned from the
answers to our earlier creates), inside the send window (give or take :data:`CLOCK_SKEW_MS`), the only
one, and not linked to any other local object. When no matching object can be ours, it is sent again;
when the proof is missing or ambiguous the change becomes ``uncertain`` and waits for the user
(:func:`retry_change`, :func:`discard_change`, :func:`adopt_change`), holding back later changes to the same
object like a failure does.

Local edits to objects the remote manages and this queue cannot send (schedules, their rotation layers and
overrides, people) are refused by :func:`refuse_local_edit` rather than overwritten by the next pull.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.clock import Clock, WallClock
from engine.errors import DomainError, NotFound
from engine.ids import new_id
from engine.model import STATUSES
from engine.service import Ctx
from engine.timefmt import parse_iso, to_epoch_ms, to_iso
from storage.db import Database
from storage.lease import holder_is_gone, holder_name

if TYPE_CHECKING:
    from storage.sync.client import ScalingClient

log = logging.getLogger("oncall.sync.outbox")

KINDS = (
    "policy.create",
    "policy.update",
    "policy.delete",
    "layer.create",
    "layer.update",
    "layer.delete",
    "layer.reorder",
    "incident.create",
    "incident.acknowledge",
    "incident.status",
    "incident.handoff",
    "incident.update",
)
LEASE_TTL_MS = 30_000
CLOCK_SKEW_MS = 60_000
"""How far the remote's clock may be from ours when a send window is compared with a ``createdAt``."""
OPEN_STATUSES = ("pending", "sending", "failed", "uncertain")
"""Changes not yet on the remote (``uncertain``: may be, and the user decides)."""
_OPEN_SQL = "('pending', 'sending', 'failed', 'uncertain')"

_applying_remote: ContextVar[bool] = ContextVar("oncall_sync_applying_remote", default=False)


@contextmanager
def applying_remote() -> Iterator[None]:
    """Changes made inside come from the remote (a pull): they are not queued for pushing back."""
    token = _applying_remote.set(True)
    try:
        yield
    finally:
        _applying_remote.reset(token)


def linked(db: Database, org_id: str) -> bool:
    return db.one("SELECT 1 FROM sync_config WHERE org_id = ?", (org_id,)) is not None


class SyncedObjectReadOnly(DomainError):
    """A local edit to an object the remote manages and the outbox cannot send (409)."""

    status_code = 409

    def __init__(self, what: str) -> None:
        super().__init__(
            "synced_object_read_only",
            f"this {what} is managed by Scaling; change it there (the next pull would undo a local edit)",
        )


def refuse_local_edit(ctx: Ctx, table: str, object_id: str, what: str) -> None:
    """Inside a service mutation: refuse to change ``object_id`` when it came from the linked remote.

    Schedules (with their rotation layers and overrides) and people are pulled but not pushed; an edit
    here would silently be overwritten by the next pull, so it is refused with 409
    ``synced_object_read_only``. Pulls (:func:`applying_remote`) and unlinked organisations pass.
    """
    if _applying_remote.get() or not linked(ctx.db, ctx.org_id):
        return
    if _origin(ctx.db, table, object_id) == "remote":
        raise SyncedObjectReadOnly(what)


class LocalSyncError(DomainError):
    """A change that cannot be expressed for the remote (it names an object that exists only locally)."""

    def __init__(self, message: str) -> None:
        super().__init__("not_on_remote", message)


# -- recording -----------------------------------------------------------------------------------

_POLICY_REMOTE_FIELDS = ("name", "description")


def _origin(db: Database, table: str, object_id: str) -> str | None:
    row = db.one(f"SELECT origin FROM {table} WHERE id = ?", (object_id,))
    return None if row is None else str(row["origin"])


def _synced_create_incident(db: Database, incident_id: str) -> bool:
    row = db.one("SELECT is_drill, escalation_policy_id FROM incidents WHERE id = ?", (incident_id,))
    if row is None or row["is_drill"]:
        return False
    pid = row["escalation_policy_id"]
    return pid is None or _origin(db, "policies", pid) == "remote"


def record_change(
    ctx: Ctx, kind: str, object_id: str, payload: Any = None, *, root_id: str | None = None
) -> bool:
    """Queue a change for the remote, inside the caller's transaction. True when queued.

    ``object_id`` is the local id of the object changed (for ``layer.reorder`` the policy); ``root_id``
    the object it belongs to (a layer's policy, an update's incident), which orders and blocks changes.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown sync change kind {kind!r}")
    if _applying_remote.get():
        return False
    db = ctx.db
    if not linked(db, ctx.org_id):
        return False
    body = dict(payload) if isinstance(payload, dict) else {}
    root = root_id or object_id
    if kind == "policy.create":
        db.update("policies", "id", object_id, {"origin": "remote"})
    elif kind in ("policy.update", "policy.delete", "layer.reorder"):
        if _origin(db, "policies", object_id) != "remote":
            return False
        if kind == "policy.update":
            body = {k: body[k] for k in _POLICY_REMOTE_FIELDS if k in body}
            if not body:
                return False  # only local extensions (repeat, re-page) changed
    elif kind.startswith("layer."):
        if _origin(db, "policies", root) != "remote":
            return False
        if kind == "layer.create":
            db.update("escalation_layers", "id", object_id, {"origin": "remote"})
    elif kind == "incident.create":
        if not _synced_create_incident(db, object_id):
            return False
        db.update("incidents", "id", object_id, {"origin": "remote"})
    elif kind.startswith("incident."):
        if _origin(db, "incidents", root) != "remote":
            return False
    if kind in ("policy.delete", "layer.delete"):
        table = "policies" if kind == "policy.delete" else "escalation_layers"
        rid = db.scalar(f"SELECT remote_id FROM {table} WHERE id = ?", (object_id,))
        if rid:
            body["remoteId"] = rid
    now = ctx.now()
    change_id = new_id("chg", now)
    db.insert(
        "sync_outbox",
        {
            "id": change_id,
            "org_id": ctx.org_id,
            "kind": kind,
            "root_id": root,
            "object_id": object_id,
            "payload": json.dumps(body, separators=(",", ":"), sort_keys=True),
            "idem_key": f"oncall-{change_id}-{secrets.token_hex(8)}",
            "status": "pending",
            "created_at": to_iso(now),
        },
    )
    return True


# -- reading the queue ---------------------------------------------------------------------------


def change_wire(row: sqlite3.Row) -> dict[str, Any]:
    error = None
    if row["error_code"] is not None or row["error_message"] is not None:
        error = {
            "statusCode": row["error_status"],
            "code": row["error_code"],
            "message": row["error_message"],
            "requestId": row["request_id"],
        }
    return {
        "id": row["id"],
        "kind": row["kind"],
        "objectId": row["object_id"],
        "rootId": row["root_id"],
        "status": row["status"],
        "attempts": row["attempts"],
        "payload": json.loads(row["payload"]),
        "error": error,
        "remoteId": row["remote_id"],
        "createdAt": row["created_at"],
        "sentAt": row["sent_at"],
        "candidates": json.loads(row["candidates"]) if row["candidates"] else [],
        "sendWindow": (
            {"start": row["window_start"], "end": row["window_end"]} if row["window_start"] else None
        ),
    }


def list_changes(db: Database, org_id: str, *, include_done: bool = False) -> list[dict[str, Any]]:
    sql = "SELECT * FROM sync_outbox WHERE org_id = ?"
    if not include_done:
        sql += f" AND status IN {_OPEN_SQL}"
    return [change_wire(r) for r in db.all(sql + " ORDER BY seq", (org_id,))]


def waiting_count(db: Database, org_id: str) -> int:
    """How many of the organisation's changes are waiting to be sent (``pending`` or ``sending``); failed
    and uncertain changes wait for a person (retry, discard, adopt) and are counted apart
    (:func:`failed_changes`, :func:`uncertain_changes`), never as waiting."""
    return int(
        db.scalar(
            "SELECT count(*) FROM sync_outbox WHERE org_id = ? AND status IN ('pending', 'sending')",
            (org_id,),
        )
    )


def failed_changes(db: Database, org_id: str) -> list[dict[str, Any]]:
    rows = db.all("SELECT * FROM sync_outbox WHERE org_id = ? AND status = 'failed' ORDER BY seq", (org_id,))
    return [change_wire(r) for r in rows]


def uncertain_changes(db: Database, org_id: str) -> list[dict[str, Any]]:
    """Creates that may or may not be on the remote, waiting for the user (with their ``candidates``)."""
    rows = db.all(
        "SELECT * FROM sync_outbox WHERE org_id = ? AND status = 'uncertain' ORDER BY seq", (org_id,)
    )
    return [change_wire(r) for r in rows]


def uncertain_candidate_ids(db: Database, org_id: str) -> set[str]:
    """Remote ids that an uncertain change may have created: a pull does not import them meanwhile."""
    return {str(c["id"]) for change in uncertain_changes(db, org_id) for c in change["candidates"]}


def pending_roots(db: Database, org_id: str) -> set[str]:
    """Objects with changes not yet on the remote: a pull leaves them alone until they are."""
    rows = db.all(
        f"SELECT DISTINCT root_id, object_id FROM sync_outbox WHERE org_id = ? AND status IN {_OPEN_SQL}",
        (org_id,),
    )
    return {r["root_id"] for r in rows} | {r["object_id"] for r in rows}


def _change_row(db: Database, org_id: str, change_id: str) -> sqlite3.Row:
    row = db.one("SELECT * FROM sync_outbox WHERE org_id = ? AND id = ?", (org_id, change_id))
    if row is None:
        raise NotFound("sync change", change_id)
    return row


def _held_row(db: Database, org_id: str, change_id: str) -> sqlite3.Row:
    row = _change_row(db, org_id, change_id)
    if row["status"] not in ("failed", "uncertain"):
        raise DomainError("not_failed", f"change {change_id} is {row['status']}, not failed or uncertain")
    return row


def retry_change(db: Database, org_id: str, change_id: str) -> dict[str, Any]:
    """Put a failed or uncertain change back in the queue, in its original place.

    An uncertain create is then sent again as it is, without looking for it on the remote: the user
    accepts a possible duplicate rather than taking someone else's object.
    """
    with db.write():
        row = _held_row(db, org_id, change_id)
        values: dict[str, Any] = {"status": "pending"}
        if row["status"] == "uncertain":
            values.update(uncertain=0, candidates=None, window_start=None, window_end=None)
        db.update("sync_outbox", "id", change_id, values)
        return change_wire(_change_row(db, org_id, change_id))


def discard_change(
    db: Database, org_id: str, change_id: str, *, clock: Clock | None = None
) -> dict[str, Any]:
    """Give up a failed or uncertain change; the next pull puts the remote's version back.

    Discarding a create also discards the later changes to that object, and the object stays local-only;
    an incident that will never reach the remote is then paged by the local engine, from now. (An
    uncertain create the remote did apply then comes back with the next pull as the remote's object.)
    """
    with db.write():
        row = _held_row(db, org_id, change_id)
        db.update("sync_outbox", "id", change_id, {"status": "discarded"})
        if row["kind"].endswith(".create"):
            db.execute(
                "UPDATE sync_outbox SET status = 'discarded' WHERE org_id = ? AND seq > ? "
                "AND (object_id = ? OR root_id = ?) AND status IN ('pending', 'failed', 'uncertain')",
                (org_id, row["seq"], row["object_id"], row["object_id"]),
            )
            table = {"policy": "policies", "layer": "escalation_layers", "incident": "incidents"}[
                row["kind"].split(".")[0]
            ]
            db.execute(
                f"UPDATE {table} SET origin = 'local' WHERE id = ? AND remote_id IS NULL", (row["object_id"],)
            )
            if table == "policies":
                db.execute(
                    "UPDATE escalation_layers SET origin = 'local' WHERE policy_id = ? AND remote_id IS NULL",
                    (row["object_id"],),
                )
            if table == "incidents" and not db.scalar(
                "SELECT acknowledged_at FROM incidents WHERE id = ?", (row["object_id"],)
            ):
                from engine.runtime import escalator

                escalator.start(db, (clock or WallClock()).now(), row["object_id"])
        return change_wire(_change_row(db, org_id, change_id))


def adopt_change(
    db: Database, org_id: str, change_id: str, remote_id: str, client: ScalingClient, *, clock: Clock
) -> dict[str, Any]:
    """Settle an uncertain (or failed) create by linking its local object to ``remote_id``.

    The remote object must exist (it is fetched) and must not be linked to another local object already;
    it becomes the local object's remote twin and the change is ``done``, so later changes to the object
    go out. Raises NotFound (404) for an unknown change or remote object, 409 ``remote_already_linked``.
    """
    from storage.sync.client import RemoteError

    row = _held_row(db, org_id, change_id)
    kind = row["kind"]
    if not kind.endswith(".create") and kind != "incident.update":
        raise DomainError("not_a_create", f"change {change_id} ({kind}) creates nothing to adopt")
    table = {
        "policy.create": "policies",
        "layer.create": "escalation_layers",
        "incident.create": "incidents",
        "incident.update": "incident_updates",
    }[kind]
    linked_to = db.scalar(f"SELECT id FROM {table} WHERE remote_id = ?", (remote_id,))
    if linked_to is not None:
        raise DomainError(
            "remote_already_linked", f"remote object {remote_id} is already linked to {linked_to}"
        )
    try:
        if kind == "policy.create":
            data: Any = client.get_policy(remote_id)
        elif kind == "incident.create":
            data = client.get_incident(remote_id)
        else:
            if kind == "layer.create":
                policy_rid = remote_id_of(db, "policy", row["root_id"])
                items = client.get_policy(policy_rid).get("layers")
                if not isinstance(items, list):
                    items = client.list_policy_layers(policy_rid) or []
            else:
                items = client.list_updates(remote_id_of(db, "incident", row["root_id"]))
            data = next((i for i in items if isinstance(i, dict) and str(i.get("id")) == remote_id), None)
            if data is None:
                raise NotFound("remote object", remote_id)
    except RemoteError as exc:
        if exc.http_status == 404:
            raise NotFound("remote object", remote_id) from None
        raise
    with db.write(), applying_remote():
        current = _change_row(db, org_id, change_id)
        if current["status"] not in ("failed", "uncertain"):
            raise DomainError("not_failed", f"change {change_id} is {current['status']} now")
        _apply_result(db, current, remote_id, data)
        _mark_done(db, current["seq"], remote_id, clock)
        db.update("sync_outbox", "seq", current["seq"], {"candidates": None})
        return change_wire(_change_row(db, org_id, change_id))


# -- the lease -----------------------------------------------------------------------------------

_wall = WallClock()


def acquire_lease(db: Database, org_id: str, holder: str, ttl_ms: int = LEASE_TTL_MS) -> bool:
    """Take or renew the push lease for ``holder`` (a :func:`storage.lease.holder_name`).

    Another holder's lease is taken over once it expired, or at once when that holder was a process on
    this machine that no longer exists (``kill -9`` mid-send), as the engine lease does. Wall-clock ms.
    """
    now = to_epoch_ms(_wall.now())
    with db.write():
        row = db.one("SELECT holder, expires_at_ms FROM sync_lease WHERE org_id = ?", (org_id,))
        if (
            row is not None
            and row["holder"] != holder
            and row["expires_at_ms"] > now
            and not holder_is_gone(row["holder"])
        ):
            return False
        db.execute(
            "INSERT INTO sync_lease (org_id, holder, expires_at_ms) VALUES (?, ?, ?) "
            "ON CONFLICT(org_id) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms",
            (org_id, holder, now + ttl_ms),
        )
        return True


def release_lease(db: Database, org_id: str, holder: str) -> None:
    with db.write():
        db.execute("DELETE FROM sync_lease WHERE org_id = ? AND holder = ?", (org_id, holder))


# -- id translation ------------------------------------------------------------------------------

_TABLES = {
    "user": "users",
    "schedule": "schedules",
    "policy": "policies",
    "layer": "escalation_layers",
    "incident": "incidents",
    "update": "incident_updates",
}


def remote_id_of(db: Database, what: str, local_id: str | None) -> str:
    """The remote id of a local object, also after the object was deleted locally (from the queue)."""
    if local_id is None:
        raise LocalSyncError(f"no {what} id")
    table = _TABLES[what]
    rid = db.scalar(f"SELECT remote_id FROM {table} WHERE id = ?", (local_id,))
    if rid:
        return str(rid)
    rid = db.scalar(
        "SELECT remote_id FROM sync_outbox WHERE object_id = ? AND remote_id IS NOT NULL "
        "AND status = 'done' ORDER BY seq DESC LIMIT 1",
        (local_id,),
    )
    if rid:
        return str(rid)
    raise LocalSyncError(f"{what} {local_id} exists only locally, not on the remote")


def _mapped_remote_ids(db: Database, table: str) -> set[str]:
    return {r[0] for r in db.all(f"SELECT remote_id FROM {table} WHERE remote_id IS NOT NULL")}


def _target_to_remote(db: Database, target: Any) -> dict[str, Any]:
    if not isinstance(target, dict):
        raise LocalSyncError("layer target missing")
    if target.get("type") == "schedule":
        return {"type": "schedule", "scheduleId": remote_id_of(db, "schedule", target.get("scheduleId"))}
    return {"type": "users", "userIds": [remote_id_of(db, "user", u) for u in target.get("userIds") or []]}


def _layer_to_remote(db: Database, body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in ("position", "ackTimeoutMinutes"):
        if k in body:
            out[k] = body[k]
    if "target" in body:
        out["target"] = _target_to_remote(db, body["target"])
    return out


def _steps_body(db: Database, policy_id: str) -> dict[str, Any]:
    """The full replacement ``PUT`` body for a remote that models a policy as ``steps``."""
    policy = db.one("SELECT * FROM policies WHERE id = ?", (policy_id,))
    if policy is None:
        raise LocalSyncError(f"policy {policy_id} no longer exists locally")
    steps = []
    for r in db.all("SELECT * FROM escalation_layers WHERE policy_id = ? ORDER BY position", (policy_id,)):
        if r["target_type"] != "schedule":
            raise LocalSyncError(
                "this remote policy uses steps, which can only target schedules; a users target cannot be sent"
            )
        steps.append(
            {
                "targetType": "schedule",
                "targetId": remote_id_of(db, "schedule", r["schedule_id"]),
                "escalateAfterSeconds": max(60, int(r["ack_timeout_minutes"]) * 60),
            }
        )
    return {"name": policy["name"], "description": policy["description"], "steps": steps}


# -- sending -------------------------------------------------------------------------------------


@dataclass
class PushResult:
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


def _next_sendable(db: Database, org_id: str, skip: set[int]) -> sqlite3.Row | None:
    rows = db.all(
        f"SELECT * FROM sync_outbox WHERE org_id = ? AND status IN {_OPEN_SQL} ORDER BY seq", (org_id,)
    )
    # A failed or uncertain create holds back every later change to that object and to what belongs to it
    # (a policy's layers, an incident's updates); any other failure holds back later changes to the same
    # object only (a rejected update never delays an acknowledgement of another incident).
    blocked_roots: set[str] = set()
    blocked_objects: set[str] = set()
    for r in rows:
        if r["status"] in ("failed", "uncertain"):
            blocked_objects.add(r["object_id"])
            if r["kind"].endswith(".create"):
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
    """Send the queue in order until it is empty, the remote is unreachable, or ``should_stop()``."""
    holder = holder or holder_name("push")
    result = PushResult()
    if not acquire_lease(db, org_id, holder):
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
            if not acquire_lease(db, org_id, holder):
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
        release_lease(db, org_id, holder)
    result.waiting = waiting_count(db, org_id)
    return result


class _Failed(Exception):
    def __init__(self, change: dict[str, Any]) -> None:
        super().__init__(change["id"])
        self.change = change


class _HeldUncertain(_Failed):
    """The change is now ``uncertain``: the user decides (later changes to its object wait)."""


class _Uncertain(Exception):
    """Reconcile could not prove which remote object, if any, an uncertain create made."""

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(candidates)} candidate(s)")
        self.candidates = candidates


def _mark(db: Database, seq: int, **values: Any) -> None:
    with db.write():
        db.update("sync_outbox", "seq", seq, values)


def _send_one(db: Database, client: ScalingClient, row: sqlite3.Row, clock: Clock) -> None:
    from storage.sync.client import RemoteError, Unreachable

    seq = row["seq"]
    uncertain = bool(row["uncertain"])
    attempt_at = to_iso(_wall.now())  # wall clock: compared with the remote's createdAt
    _mark(db, seq, status="sending", attempts=row["attempts"] + 1, attempt_at=attempt_at)
    try:
        remote_id, data = _execute(db, client, row, uncertain)
    except Unreachable as exc:
        # A write that may have left opens a new send window; a failed lookup keeps the old one.
        window = {"window_start": attempt_at, "window_end": to_iso(_wall.now())} if exc.maybe_sent else {}
        _mark(
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
    except _Uncertain as unsure:
        ids = ", ".join(str(c["id"]) for c in unsure.candidates)
        _mark(
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
        raise _HeldUncertain(change_wire(_change_row(db, row["org_id"], row["id"]))) from None
    except RemoteError as exc:
        held = exc.retryable or exc.auth_problem
        _mark(
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
        raise _Failed(change_wire(_change_row(db, row["org_id"], row["id"]))) from None
    except LocalSyncError as exc:
        # request_id cleared too: an earlier attempt's request id would describe a different answer.
        _mark(
            db,
            seq,
            status="failed",
            error_status=None,
            error_code=exc.code,
            error_message=exc.message,
            request_id=None,
        )
        raise _Failed(change_wire(_change_row(db, row["org_id"], row["id"]))) from None
    with db.write(), applying_remote():
        _learn_actor(db, row["org_id"], client, row["kind"], data)
        _apply_result(db, row, remote_id, data)
        _mark_done(db, seq, remote_id, clock)


def _mark_done(db: Database, seq: int, remote_id: str | None, clock: Clock) -> None:
    db.update(
        "sync_outbox",
        "seq",
        seq,
        {
            "status": "done",
            "uncertain": 0,
            "remote_id": remote_id,
            "sent_at": to_iso(clock.now()),
            "error_status": None,
            "error_code": None,
            "error_message": None,
            "request_id": None,
        },
    )


# -- who we are on the remote, and proof of authorship -------------------------------------------


def _creator(obj: dict[str, Any]) -> str | None:
    """Who made a remote object: ``createdBy`` (policies, schedules, incidents) or ``postedBy.id``."""
    by = obj.get("createdBy")
    if by is None:
        posted = obj.get("postedBy")
        by = posted.get("id") if isinstance(posted, dict) else posted
    return None if by is None else str(by)


def _created_ms(obj: dict[str, Any]) -> int | None:
    value = obj.get("createdAt") or obj.get("postedAt")
    if not isinstance(value, str):
        return None
    try:
        return to_epoch_ms(parse_iso(value))
    except ValueError:
        return None


def _learn_actor(db: Database, org_id: str, client: ScalingClient, kind: str, data: Any) -> None:
    """Remember the creator the remote recorded for one of our own creates, for the current key.

    (An adopted object's creator is already known: adoption needs it.)
    """
    if not (kind.endswith(".create") or kind == "incident.update") or not isinstance(data, dict):
        return
    actor = _creator(data)
    if actor is None:
        return
    known = _actor_record(db, org_id)
    ids = set(known["ids"]) if known.get("key") == client.key_fingerprint else set()
    if actor in ids:
        return
    record = {"key": client.key_fingerprint, "ids": sorted(ids | {actor})}
    db.execute(
        "UPDATE sync_config SET remote_actor = ? WHERE org_id = ?",
        (json.dumps(record, separators=(",", ":")), org_id),
    )


def _actor_record(db: Database, org_id: str) -> dict[str, Any]:
    raw = db.scalar("SELECT remote_actor FROM sync_config WHERE org_id = ?", (org_id,))
    value = json.loads(raw) if raw else {}
    return value if isinstance(value, dict) else {}


def own_actor_ids(db: Database, org_id: str, client: ScalingClient) -> set[str] | None:
    """The remote user (or key) ids our key creates objects as; None until a create has told us."""
    record = _actor_record(db, org_id)
    if record.get("key") != client.key_fingerprint or not record.get("ids"):
        return None
    return {str(i) for i in record["ids"]}


def _window_ms(row: sqlite3.Row) -> tuple[int, int]:
    """When an uncertain attempt may have been applied: wall-clock ms, widened by the clock skew."""
    start = row["window_start"] or row["attempt_at"] or row["created_at"]
    end = row["window_end"] or to_iso(_wall.now())
    return (
        to_epoch_ms(parse_iso(start)) - CLOCK_SKEW_MS,
        to_epoch_ms(parse_iso(end)) + CLOCK_SKEW_MS,
    )


def _judge(
    db: Database, client: ScalingClient, row: sqlite3.Row, matches: list[dict[str, Any]]
) -> tuple[str | None, Any] | None:
    """Of the unlinked remote objects with this create's content: the one proven ours, or None when
    none can be ours (send again); raises :class:`_Uncertain` when it cannot tell."""
    if not matches:
        return None
    own = own_actor_ids(db, row["org_id"], client)
    lo, hi = _window_ms(row)

    def ours(m: dict[str, Any]) -> bool:
        at = _created_ms(m)
        return own is not None and _creator(m) in own and at is not None and lo <= at <= hi

    def not_ours(m: dict[str, Any]) -> bool:
        by, at = _creator(m), _created_ms(m)
        if own is None or by is None:
            return False
        return by not in own or (at is not None and not lo <= at <= hi)

    proven = [m for m in matches if ours(m)]
    if len(proven) == 1:
        return str(proven[0]["id"]), proven[0]
    if not proven and all(not_ours(m) for m in matches):
        return None
    shown = proven or matches
    raise _Uncertain(
        [
            {
                "id": str(m["id"]),
                "createdBy": _creator(m),
                "createdAt": m.get("createdAt") or m.get("postedAt"),
            }
            for m in shown
        ]
    )


def _status_index(status: Any) -> int:
    return STATUSES.index(status) if status in STATUSES else -1


def _execute(
    db: Database, client: ScalingClient, row: sqlite3.Row, uncertain: bool
) -> tuple[str | None, Any]:
    """Send one change; returns (remote id of the object created or changed, response data)."""
    from storage.sync.client import RemoteError

    kind = row["kind"]
    body = json.loads(row["payload"])
    idem = row["idem_key"]
    oid = row["object_id"]
    root = row["root_id"]
    p = client.path

    if uncertain:
        adopted = _reconcile(db, client, row, body)
        if adopted is not None:
            return adopted

    if kind == "policy.create":
        data = client.request(
            "POST",
            "/v1/escalation/policies",
            body={k: body[k] for k in _POLICY_REMOTE_FIELDS if k in body},
            idempotency_key=idem,
        )
        return _id_of(data), data
    if kind == "policy.update":
        rid = remote_id_of(db, "policy", oid)
        if _shape(db, oid) == "steps":
            return rid, client.request(
                "PUT", p("v1", "escalation", "policies", rid), body=_steps_body(db, oid), idempotency_key=idem
            )
        try:
            data = client.request(
                "PATCH", p("v1", "escalation", "policies", rid), body=body, idempotency_key=idem
            )
        except RemoteError as exc:
            if exc.http_status != 405:
                raise
            data = client.request(
                "PUT", p("v1", "escalation", "policies", rid), body=_steps_body(db, oid), idempotency_key=idem
            )
        return rid, data
    if kind == "policy.delete":
        rid = body.get("remoteId") or remote_id_of(db, "policy", oid)
        try:
            client.request("DELETE", p("v1", "escalation", "policies", rid), idempotency_key=idem)
        except RemoteError as exc:
            if exc.http_status != 404:
                raise
        return rid, None
    if kind.startswith("layer."):
        policy_rid = remote_id_of(db, "policy", root)
        if _shape(db, root) == "steps":
            data = client.request(
                "PUT",
                p("v1", "escalation", "policies", policy_rid),
                body=_steps_body(db, root),
                idempotency_key=idem,
            )
            return None, data
        base: tuple[str, ...] = ("v1", "escalation", "policies", policy_rid, "layers")
        if kind == "layer.create":
            data = client.request("POST", p(*base), body=_layer_to_remote(db, body), idempotency_key=idem)
            return _id_of(data), data
        if kind == "layer.update":
            rid = remote_id_of(db, "layer", oid)
            data = client.request(
                "PATCH", p(*base, rid), body=_layer_to_remote(db, body), idempotency_key=idem
            )
            return rid, data
        if kind == "layer.delete":
            rid = body.get("remoteId") or remote_id_of(db, "layer", oid)
            try:
                client.request("DELETE", p(*base, rid), idempotency_key=idem)
            except RemoteError as exc:
                if exc.http_status != 404:
                    raise
            return rid, None
        if kind == "layer.reorder":
            ids = [remote_id_of(db, "layer", lid) for lid in body.get("layerIds") or []]
            data = client.request("PUT", p(*base, "order"), body={"layerIds": ids}, idempotency_key=idem)
            return None, data
    if kind == "incident.create":
        out: dict[str, Any] = {k: body[k] for k in ("title", "description", "severity") if k in body}
        if body.get("ownerId"):
            out["ownerId"] = remote_id_of(db, "user", body["ownerId"])
        if body.get("ownerScheduleId"):
            out["ownerScheduleId"] = remote_id_of(db, "schedule", body["ownerScheduleId"])
        if body.get("escalationPolicyId"):
            out["escalationPolicyId"] = remote_id_of(db, "policy", body["escalationPolicyId"])
        if body.get("componentIds"):
            out["componentIds"] = body["componentIds"]
        data = client.request("POST", "/v1/incidents", body=out, idempotency_key=idem)
        return _id_of(data), data
    if kind.startswith("incident."):
        inc_rid = remote_id_of(db, "incident", root)
        base = ("v1", "incidents", inc_rid)
        if kind == "incident.acknowledge":
            return inc_rid, client.request("POST", p(*base, "acknowledge"), idempotency_key=idem)
        if kind == "incident.status":
            try:
                return inc_rid, client.request("PATCH", p(*base, "status"), body=body, idempotency_key=idem)
            except RemoteError as exc:
                if exc.code != "invalid_status_transition":
                    raise
                current = client.get_incident(inc_rid)
                if _status_index(current.get("status")) >= _status_index(body.get("status")):
                    return inc_rid, current  # already there: applied before, or by someone else
                raise
        if kind == "incident.handoff":
            target = remote_id_of(db, "user", body.get("targetUserId"))
            data = client.request(
                "POST", p(*base, "handoff"), body={"targetUserId": target}, idempotency_key=idem
            )
            return inc_rid, data
        if kind == "incident.update":
            out = {k: body[k] for k in ("body", "statusChange", "visibility") if body.get(k) is not None}
            data = client.request("POST", p(*base, "updates"), body=out, idempotency_key=idem)
            return _id_of(data), data
    raise LocalSyncError(f"cannot send a change of kind {kind}")


def _id_of(data: Any) -> str:
    from storage.sync.client import RemoteError

    if isinstance(data, dict) and data.get("id") is not None:
        return str(data["id"])
    raise RemoteError(200, "invalid_response", "the remote's answer has no id")


def _shape(db: Database, policy_id: str) -> str:
    return str(db.scalar("SELECT remote_shape FROM policies WHERE id = ?", (policy_id,)) or "layers")


def _reconcile(
    db: Database, client: ScalingClient, row: sqlite3.Row, body: dict[str, Any]
) -> tuple[str | None, Any] | None:
    """After an attempt whose outcome is unknown: the effect, if the remote already has it and it is
    provably ours; None to send again; :class:`_Uncertain` when only the user can tell."""
    kind = row["kind"]
    if kind == "policy.create":
        known = _mapped_remote_ids(db, "policies")
        return _judge(
            db,
            client,
            row,
            [
                pol
                for pol in client.list_policies()
                if pol.get("name") == body.get("name") and str(pol.get("id")) not in known
            ],
        )
    if kind == "layer.create":
        policy_rid = remote_id_of(db, "policy", row["root_id"])
        if _shape(db, row["root_id"]) == "steps":
            return None  # a full replacement: sending it again is harmless
        known = _mapped_remote_ids(db, "escalation_layers")
        pol = client.get_policy(policy_rid)
        layers = pol.get("layers")
        if not isinstance(layers, list):
            layers = client.list_policy_layers(policy_rid) or []
        want = _layer_to_remote(db, body)
        return _judge(
            db,
            client,
            row,
            [
                layer
                for layer in layers
                if isinstance(layer, dict)
                and str(layer.get("id")) not in known
                and layer.get("ackTimeoutMinutes") == want.get("ackTimeoutMinutes")
                and layer.get("target") == want.get("target")
            ],
        )
    if kind == "incident.create":
        known = _mapped_remote_ids(db, "incidents")
        page = next(iter(client.incidents_pages(limit=50)), [])
        return _judge(
            db,
            client,
            row,
            [
                inc
                for inc in page
                if str(inc.get("id")) not in known
                and inc.get("title") == body.get("title")
                and inc.get("severity") == body.get("severity")
            ],
        )
    if kind == "incident.update":
        inc_rid = remote_id_of(db, "incident", row["root_id"])
        known = _mapped_remote_ids(db, "incident_updates")
        return _judge(
            db,
            client,
            row,
            [
                upd
                for upd in client.list_updates(inc_rid)
                if str(upd.get("id")) not in known
                and upd.get("body") == body.get("body")
                and upd.get("visibility") == body.get("visibility")
                and upd.get("statusChange") == body.get("statusChange")
            ],
        )
    if kind == "incident.status":
        inc_rid = remote_id_of(db, "incident", row["root_id"])
        current = client.get_incident(inc_rid)
        if _status_index(current.get("status")) >= _status_index(body.get("status")):
            return inc_rid, current
        return None
    if kind == "incident.handoff":
        inc_rid = remote_id_of(db, "incident", row["root_id"])
        current = client.get_incident(inc_rid)
        if current.get("ownerId") == remote_id_of(db, "user", body.get("targetUserId")):
            return inc_rid, current
        return None
    return None  # idempotent kinds (updates, deletes, reorder, acknowledge): send again


def _escalation_of(data: Any) -> Any:
    if not isinstance(data, dict):
        return None
    for k in ("escalation", "escalationState"):
        if data.get(k) is not None:
            return data[k]
    return None


def _apply_result(db: Database, row: sqlite3.Row, remote_id: str | None, data: Any) -> None:
    """Record what the remote answered: ids of created objects, the escalation state it reports."""
    kind = row["kind"]
    oid = row["object_id"]
    if kind == "policy.create" and remote_id:
        shape = "steps" if isinstance(data, dict) and isinstance(data.get("steps"), list) else None
        db.execute(
            "UPDATE policies SET remote_id = ?, remote_shape = coalesce(?, remote_shape) WHERE id = ?",
            (remote_id, shape, oid),
        )
    elif kind == "layer.create" and remote_id:
        db.update("escalation_layers", "id", oid, {"remote_id": remote_id})
    elif (
        (kind.startswith("layer.") or kind == "policy.update")
        and isinstance(data, dict)
        and isinstance(data.get("steps"), list)
    ):
        _map_steps(db, row["root_id"], data["steps"])
    elif kind == "incident.create" and remote_id:
        db.update("incidents", "id", oid, {"remote_id": remote_id})
    elif kind == "incident.update" and remote_id:
        db.update("incident_updates", "id", oid, {"remote_id": remote_id})
    esc = _escalation_of(data)
    if kind.startswith("incident.") and esc is not None:
        db.update(
            "incidents",
            "id",
            row["root_id"],
            {
                "remote_escalation": json.dumps(
                    local_escalation(db, esc), separators=(",", ":"), sort_keys=True
                )
            },
        )


def local_escalation(db: Database, esc: Any) -> Any:
    """The remote's escalation state with its ids (policy, acknowledger) as local ids where known."""
    if not isinstance(esc, dict):
        return esc
    out = dict(esc)
    for key, table in (("policyId", "policies"), ("acknowledgedBy", "users")):
        if out.get(key) is not None:
            local = db.scalar(f"SELECT id FROM {table} WHERE remote_id = ?", (str(out[key]),))
            out[key] = local or out[key]
    return out


def _map_steps(db: Database, policy_id: str, steps: list[Any]) -> None:
    """After a steps replacement: the i-th step is the i-th local layer."""
    ordered = sorted(
        (s for s in steps if isinstance(s, dict)),
        key=lambda s: int(s["position"]) if isinstance(s.get("position"), int) else 0,
    )
    local = db.all("SELECT id FROM escalation_layers WHERE policy_id = ? ORDER BY position", (policy_id,))
    for layer, step in zip(local, ordered, strict=False):
        if step.get("id") is not None:
            db.update("escalation_layers", "id", layer["id"], {"remote_id": str(step["id"])})


def remote_escalation(db: Database, incident_id: str) -> dict[str, Any] | None:
    """The escalation state the remote last reported for one of its incidents (None if unknown)."""
    raw = db.scalar("SELECT remote_escalation FROM incidents WHERE id = ?", (incident_id,))
    if not raw:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else {"state": value}


__all__ = [
    "KINDS",
    "LocalSyncError",
    "PushResult",
    "adopt_change",
    "applying_remote",
    "discard_change",
    "failed_changes",
    "linked",
    "list_changes",
    "pending_roots",
    "push",
    "record_change",
    "refuse_local_edit",
    "remote_escalation",
    "remote_id_of",
    "retry_change",
    "uncertain_candidate_ids",
    "uncertain_changes",
    "waiting_count",
]
